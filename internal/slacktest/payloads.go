package slacktest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SlashCommand describes a slash command a user typed.
type SlashCommand struct {
	User        string // user ID, e.g. "U123"
	UserName    string // default: the name given to SetUser, else User lowercased
	Channel     string // channel ID, e.g. "C123"
	ChannelName string // default: Channel lowercased
	Command     string // e.g. "/ory"
	Text        string // what follows the command
	Team        string // the user's workspace; default TeamID (another is a Slack Connect user)
}

// SlashCommand sends a slash_commands envelope with a fresh response_url
// (served by the Server, see ResponsePosts) and trigger_id, both also set on
// the returned Envelope.
func (s *Server) SlashCommand(ctx context.Context, cmd SlashCommand) (*Envelope, error) {
	env := &Envelope{Type: "slash_commands"}
	env.ResponseURL, env.TriggerID = s.newResponseURL()
	payload, err := json.Marshal(map[string]string{
		"token":        "verification-token",
		"team_id":      or(cmd.Team, TeamID),
		"team_domain":  "orybot-test",
		"channel_id":   cmd.Channel,
		"channel_name": or(cmd.ChannelName, strings.ToLower(cmd.Channel)),
		"user_id":      cmd.User,
		"user_name":    or(cmd.UserName, s.userName(cmd.User)),
		"command":      cmd.Command,
		"text":         cmd.Text,
		"response_url": env.ResponseURL,
		"trigger_id":   env.TriggerID,
		"api_app_id":   AppID,
	})
	if err != nil {
		return nil, err
	}
	env.Payload = payload
	return s.send(ctx, env)
}

// BlockAction describes a click on a button in a message.
type BlockAction struct {
	User        string // user ID
	UserName    string // default: the name given to SetUser, else User lowercased
	Channel     string // channel ID
	ChannelName string // default: Channel lowercased
	MessageTS   string // ts of the message holding the button
	ActionID    string
	BlockID     string
	Value       string
	Team        string // the user's workspace; default TeamID (another is a Slack Connect user)
}

// BlockAction sends an interactive envelope with a block_actions payload for a
// button click, with a fresh response_url and trigger_id. If the bot posted
// the message at MessageTS in Channel, the payload carries its current text
// and blocks, as Slack's does.
func (s *Server) BlockAction(ctx context.Context, a BlockAction) (*Envelope, error) {
	env := &Envelope{Type: "interactive"}
	env.ResponseURL, env.TriggerID = s.newResponseURL()
	now := time.Now()
	actionTS := fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
	userName := or(a.UserName, s.userName(a.User))
	payload := map[string]any{
		"type":       "block_actions",
		"token":      "verification-token",
		"api_app_id": AppID,
		"team":       map[string]any{"id": or(a.Team, TeamID), "domain": "orybot-test"},
		"user":       map[string]any{"id": a.User, "username": userName, "name": userName, "team_id": or(a.Team, TeamID)},
		"channel":    map[string]any{"id": a.Channel, "name": or(a.ChannelName, strings.ToLower(a.Channel))},
		"container": map[string]any{
			"type":         "message",
			"message_ts":   a.MessageTS,
			"channel_id":   a.Channel,
			"is_ephemeral": false,
		},
		"trigger_id":   env.TriggerID,
		"response_url": env.ResponseURL,
		"actions": []map[string]any{{
			"type":      "button",
			"action_id": a.ActionID,
			"block_id":  a.BlockID, // slack-go tells block actions from attachment actions by block_id
			"value":     a.Value,
			"action_ts": actionTS,
		}},
	}
	s.mu.Lock()
	for _, m := range s.messages {
		if m.Channel == a.Channel && m.TS == a.MessageTS {
			payload["message"] = messageJSON(m)
		}
	}
	s.mu.Unlock()
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	env.Payload = raw
	return s.send(ctx, env)
}

// newResponseURL mints a response_url served by the Server and a trigger_id.
func (s *Server) newResponseURL() (responseURL, triggerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nextLocked()
	responseURL = fmt.Sprintf("%s/response/R%d", s.base, n)
	s.responseURLs[responseURL] = true
	return responseURL, fmt.Sprintf("%d.%d.%s", 1000000000+n, 738474920, rand.Text()[:12])
}

func (s *Server) userName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok && u.name != "" {
		return u.name
	}
	return strings.ToLower(id)
}

// newUUID returns a random version 4 UUID, the form of Slack's envelope IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// ViewSubmission describes a user submitting a modal.
type ViewSubmission struct {
	User            string // user ID
	UserName        string // default: the name given to SetUser, else User lowercased
	ViewID          string // the id views.open answered, see Views
	CallbackID      string
	PrivateMetadata string
	// Values maps block id → action id → the text the user entered, as in
	// view.state.values of Slack's payload (plain_text_input elements).
	Values map[string]map[string]string
}

// ViewSubmission sends an interactive envelope with a view_submission
// payload, as Slack does when the user presses a modal's submit button.
func (s *Server) ViewSubmission(ctx context.Context, v ViewSubmission) (*Envelope, error) {
	env := &Envelope{Type: "interactive"}
	_, env.TriggerID = s.newResponseURL()
	values := map[string]any{}
	for block, actions := range v.Values {
		m := map[string]any{}
		for action, text := range actions {
			m[action] = map[string]any{"type": "plain_text_input", "value": text}
		}
		values[block] = m
	}
	userName := or(v.UserName, s.userName(v.User))
	raw, err := json.Marshal(map[string]any{
		"type":       "view_submission",
		"token":      "verification-token",
		"api_app_id": AppID,
		"team":       map[string]any{"id": TeamID, "domain": "orybot-test"},
		"user":       map[string]any{"id": v.User, "username": userName, "name": userName, "team_id": TeamID},
		"trigger_id": env.TriggerID,
		"view": map[string]any{
			"id":               v.ViewID,
			"type":             "modal",
			"callback_id":      v.CallbackID,
			"private_metadata": v.PrivateMetadata,
			"state":            map[string]any{"values": values},
		},
	})
	if err != nil {
		return nil, err
	}
	env.Payload = raw
	return s.send(ctx, env)
}
