package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

type obj = map[string]any

func failure(slackErr string) obj { return obj{"ok": false, "error": slackErr} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handleAPI serves POST (or GET) APIURL+method.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	params, body, token, err := readParams(r)
	if err != nil {
		writeJSON(w, http.StatusOK, failure("invalid_arguments"))
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method, Params: params, Body: body, At: time.Now()})
	f, failed := s.popFaultLocked(method)
	d := s.delays[method]
	scopes := s.scopes
	s.notifyLocked()
	s.mu.Unlock()
	if token == BotToken {
		w.Header().Set("X-OAuth-Scopes", scopes)
	}
	s.logf("%s %v %s", method, params, body)

	if !s.delay(r, d) {
		return
	}
	if failed {
		f.write(w)
		return
	}
	writeJSON(w, http.StatusOK, s.answer(method, token, params))
}

// readParams reads a call's parameters from its form, query or JSON body, and
// its token from the Authorization header or the token parameter.
func readParams(r *http.Request) (params url.Values, body json.RawMessage, token string, err error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		params = r.URL.Query()
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, nil, "", err
		}
		if strings.TrimSpace(string(raw)) != "" {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				return nil, nil, "", err
			}
			for k, v := range fields {
				var str string
				if json.Unmarshal(v, &str) == nil {
					params.Set(k, str)
				} else {
					params.Set(k, string(v))
				}
			}
			body = raw
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return nil, nil, "", err
		}
		params = cloneValues(r.Form)
	}
	token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = params.Get("token")
	}
	params.Del("token")
	return params, body, token, nil
}

// answer computes the reply to a Web API call.
func (s *Server) answer(method, token string, p url.Values) obj {
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	switch {
	case token == "":
		return failure("not_authed")
	case token != want:
		return failure("invalid_auth")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	switch method {
	case "auth.test":
		return obj{"ok": true, "url": "https://orybot-test.slack.com/", "team": "Orybot Test", "user": "orybot",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}
	case "apps.connections.open":
		ticket := fmt.Sprintf("%d-%s", s.nextLocked(), newUUID())
		s.tickets[ticket] = true
		u := "ws" + strings.TrimPrefix(s.base, "http") + "/link?ticket=" + ticket + "&app_id=" + AppID
		return obj{"ok": true, "url": u}
	case "chat.postMessage":
		return s.postMessageLocked(p)
	case "chat.update":
		return s.updateLocked(p)
	case "chat.postEphemeral":
		return s.postEphemeralLocked(p)
	case "chat.delete":
		return s.deleteLocked(p)
	case "usergroups.users.list":
		if s.planUpgrade {
			return failure("plan_upgrade_required")
		}
		users, ok := s.groups[p.Get("usergroup")]
		if !ok {
			return failure("no_such_subteam")
		}
		return obj{"ok": true, "users": append([]string{}, users...)}
	case "users.info":
		u, ok := s.users[p.Get("user")]
		if !ok {
			return failure("user_not_found")
		}
		return obj{"ok": true, "user": obj{
			"id": p.Get("user"), "team_id": TeamID, "name": u.name, "real_name": u.name,
			"profile": obj{"email": u.email, "real_name": u.name, "display_name": u.name},
		}}
	case "views.open":
		if p.Get("trigger_id") == "" {
			return failure("invalid_trigger_id")
		}
		if !json.Valid([]byte(p.Get("view"))) {
			return failure("invalid_arguments")
		}
		v := View{ID: fmt.Sprintf("V%06d", s.nextLocked()), TriggerID: p.Get("trigger_id"), View: json.RawMessage(p.Get("view"))}
		s.views = append(s.views, v)
		var view obj
		_ = json.Unmarshal(v.View, &view)
		view["id"] = v.ID
		return obj{"ok": true, "view": view}
	case "conversations.info":
		ch := p.Get("channel")
		if ch == "" {
			return failure("channel_not_found")
		}
		return obj{"ok": true, "channel": obj{
			"id": ch, "name": strings.ToLower(ch), "is_channel": true, "is_member": s.isMemberLocked(ch),
		}}
	default:
		return failure("unknown_method")
	}
}

// checkPostLocked checks the parameters shared by the chat methods.
func (s *Server) checkPostLocked(p url.Values) (slackErr string) {
	switch {
	case p.Get("channel") == "":
		return "channel_not_found"
	case s.archived[p.Get("channel")]:
		return "is_archived"
	case !s.isMemberLocked(p.Get("channel")):
		return "not_in_channel"
	case p.Has("blocks") && !json.Valid([]byte(p.Get("blocks"))):
		return "invalid_blocks"
	}
	return ""
}

func (s *Server) postMessageLocked(p url.Values) obj {
	if e := s.checkPostLocked(p); e != "" {
		return failure(e)
	}
	if p.Get("text") == "" && p.Get("blocks") == "" && p.Get("attachments") == "" {
		return failure("no_text")
	}
	m := &Message{
		Channel:  p.Get("channel"),
		TS:       s.newTSLocked(),
		ThreadTS: p.Get("thread_ts"),
		Text:     p.Get("text"),
		Blocks:   rawJSON(p.Get("blocks")),
	}
	m.Versions = []MessageVersion{{Text: m.Text, Blocks: m.Blocks, At: time.Now()}}
	s.messages = append(s.messages, m)
	return obj{"ok": true, "channel": m.Channel, "ts": m.TS, "message": messageJSON(m)}
}

func (s *Server) updateLocked(p url.Values) obj {
	if e := s.checkPostLocked(p); e != "" {
		return failure(e)
	}
	i := slices.IndexFunc(s.messages, func(m *Message) bool {
		return m.Channel == p.Get("channel") && m.TS == p.Get("ts")
	})
	if i < 0 {
		return failure("message_not_found")
	}
	m := s.messages[i]
	if p.Has("text") {
		m.Text = p.Get("text")
	}
	if p.Has("blocks") {
		m.Blocks = rawJSON(p.Get("blocks"))
	}
	m.Versions = append(m.Versions, MessageVersion{Text: m.Text, Blocks: m.Blocks, At: time.Now()})
	return obj{"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text, "message": messageJSON(m)}
}

func (s *Server) postEphemeralLocked(p url.Values) obj {
	if e := s.checkPostLocked(p); e != "" {
		return failure(e)
	}
	ch, u := p.Get("channel"), p.Get("user")
	if u == "" {
		return failure("user_not_found")
	}
	if users, set := s.channelUsers[ch]; set && !slices.Contains(users, u) {
		return failure("user_not_in_channel")
	}
	e := Ephemeral{
		Channel:  ch,
		User:     u,
		TS:       s.newTSLocked(),
		ThreadTS: p.Get("thread_ts"),
		Text:     p.Get("text"),
		Blocks:   rawJSON(p.Get("blocks")),
		At:       time.Now(),
	}
	s.ephemerals = append(s.ephemerals, e)
	return obj{"ok": true, "message_ts": e.TS}
}

// newTSLocked returns a unique, increasing message timestamp. s.mu must be held.
func (s *Server) newTSLocked() string {
	return fmt.Sprintf("%d.000100", 1700000000+s.nextLocked())
}

// messageJSON renders m the way the Web API returns messages.
func messageJSON(m *Message) obj {
	o := obj{"type": "message", "user": BotUserID, "bot_id": BotID, "app_id": AppID, "team": TeamID,
		"text": m.Text, "ts": m.TS}
	if m.ThreadTS != "" {
		o["thread_ts"] = m.ThreadTS
	}
	if len(m.Blocks) > 0 {
		o["blocks"] = m.Blocks
	}
	return o
}

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// handleResponseURL records a POST to a response_url minted by the Server.
func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	u := s.base + r.URL.Path
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
	}
	if r.Method != http.MethodPost || json.Unmarshal(body, &msg) != nil {
		s.logf("bad post to response URL %s: %s", u, body)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if string(msg.Blocks) == "null" {
		msg.Blocks = nil
	}
	s.mu.Lock()
	known := s.responseURLs[u]
	if known {
		s.responsePosts = append(s.responsePosts, ResponsePost{
			URL: u, Text: msg.Text, Blocks: msg.Blocks, ResponseType: msg.ResponseType,
			ReplaceOriginal: msg.ReplaceOriginal, DeleteOriginal: msg.DeleteOriginal,
			Body: body, At: time.Now(),
		})
	}
	f, failed := s.popFaultLocked("response_url")
	d := s.delays["response_url"]
	s.notifyLocked()
	s.mu.Unlock()
	s.logf("response URL %s: %s", u, body)

	if !known {
		http.Error(w, "no_such_response_url", http.StatusNotFound)
		return
	}
	if !s.delay(r, d) {
		return
	}
	if failed {
		f.write(w)
		return
	}
	writeJSON(w, http.StatusOK, obj{"ok": true})
}
