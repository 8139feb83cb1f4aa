// Package slacktest is a fake Slack for tests.
//
// It speaks the real Socket Mode protocol over a real WebSocket and answers a
// small part of the Web API over HTTP, so that slack-go's own clients talk to
// it unmodified:
//
//	srv := slacktest.New(t)
//	api := slack.New(slacktest.BotToken,
//		slack.OptionAPIURL(srv.APIURL()),
//		slack.OptionAppLevelToken(slacktest.AppToken))
//	client := socketmode.New(api)
//	go client.RunContext(ctx)
//
//	env, err := srv.SlashCommand(ctx, slacktest.SlashCommand{User: "U1", Channel: "C1", Command: "/ory", Text: "help"})
//	ack, err := env.WaitAck(ctx)
//
// The Server records every Web API call, every acknowledgement and every post
// to a response_url, and lets tests inject faults (Slack errors, rate limits,
// HTTP 500s, delays, dropped connections).
package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Identities the fake Slack workspace uses.
const (
	// BotToken is the bot token (xoxb-) the Web API accepts.
	BotToken = "xoxb-test-bot-token"
	// AppToken is the app-level token (xapp-) apps.connections.open accepts.
	AppToken = "xapp-test-app-token"
	// BotUserID is the bot's user ID, as answered by auth.test.
	BotUserID = "UBOT"
	// BotID is the bot's bot ID, as answered by auth.test.
	BotID = "BBOT"
	// TeamID is the ID of the fake workspace.
	TeamID = "T0TEST"
	// AppID is the ID of the app the bot belongs to.
	AppID = "A0TEST"
)

// ErrClosed is returned by methods that wait when the Server has been closed.
var ErrClosed = errors.New("slacktest: server closed")

// Option configures a Server in New.
type Option func(*Server)

// WithPingInterval sets how often the Server sends WebSocket PING frames to a
// connected Socket Mode client (default 2s). slack-go drops a connection that
// receives no ping within its own interval (30s by default).
func WithPingInterval(d time.Duration) Option {
	return func(s *Server) { s.pingInterval = d }
}

// WithDebugLog makes the Server log every Web API call and WebSocket frame
// with t.Logf.
func WithDebugLog() Option {
	return func(s *Server) { s.debug = true }
}

// Server is a fake Slack: a Socket Mode endpoint and a Web API on
// 127.0.0.1. All methods are safe for concurrent use.
type Server struct {
	t            testing.TB
	http         *httptest.Server
	base         string // "http://127.0.0.1:PORT"
	upgrader     websocket.Upgrader
	pingInterval time.Duration
	debug        bool
	quit         chan struct{} // closed by Close
	wg           sync.WaitGroup

	mu            sync.Mutex
	changed       chan struct{} // closed and replaced on every state change
	closed        bool
	seq           int
	tickets       map[string]bool
	conns         map[*wsConn]bool
	current       *wsConn // the connection envelopes go to
	roundRobin    bool
	live          []*wsConn // connected clients, oldest first, for roundRobin
	turn          int       // the next one's place in live
	connections   int
	envelopes     map[string]*Envelope
	acks          []Ack
	calls         []Call
	faults        map[string][]fault
	delays        map[string]time.Duration
	members       map[string]bool
	archived      map[string]bool
	channelUsers  map[string][]string
	groups        map[string][]string
	users         map[string]user
	planUpgrade   bool
	messages      []*Message
	deleted       []Message
	ephemerals    []Ephemeral
	views         []View
	responseURLs  map[string]bool
	responsePosts []ResponsePost
	scopes        string // X-OAuth-Scopes of bot-token calls
}

type user struct{ name, email string }

// DefaultScopes are the bot scopes the Server reports in X-OAuth-Scopes, as
// Slack does on every Web API answer: those of orybot's manifest.
const DefaultScopes = "commands,chat:write,usergroups:read,users:read,users:read.email"

// SetScopes sets the scopes reported for the bot token, comma-separated.
func (s *Server) SetScopes(scopes string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = scopes
}

// New starts a fake Slack on a free port of 127.0.0.1. It is closed by
// t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:            t,
		pingInterval: 2 * time.Second,
		quit:         make(chan struct{}),
		changed:      make(chan struct{}),
		tickets:      map[string]bool{},
		scopes:       DefaultScopes,
		conns:        map[*wsConn]bool{},
		envelopes:    map[string]*Envelope{},
		faults:       map[string][]fault{},
		delays:       map[string]time.Duration{},
		members:      map[string]bool{},
		archived:     map[string]bool{},
		channelUsers: map[string][]string{},
		groups:       map[string][]string{},
		users:        map[string]user{},
		responseURLs: map[string]bool{},
		upgrader: websocket.Upgrader{
			// slack-go sends "Origin: https://api.slack.com".
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	for _, opt := range opts {
		opt(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.handleAPI)
	mux.HandleFunc("/link", s.handleLink)
	mux.HandleFunc("/response/{id}", s.handleResponseURL)
	s.http = httptest.NewUnstartedServer(mux)
	s.base = "http://" + s.http.Listener.Addr().String()
	s.http.Start()
	t.Cleanup(s.Close)
	return s
}

// Close drops every connection and stops the Server. New registers it with
// t.Cleanup; calling it again is harmless.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := slices.Collect(maps.Keys(s.conns))
	close(s.quit)
	s.notifyLocked()
	s.mu.Unlock()

	for _, c := range conns {
		_ = c.ws.Close()
	}
	s.wg.Wait()
	s.http.Close()
}

// APIURL returns the Web API base URL to pass to slack.OptionAPIURL, with the
// trailing slash slack-go expects: "http://127.0.0.1:PORT/api/".
func (s *Server) APIURL() string { return s.base + "/api/" }

// WaitFor blocks until cond returns true, ctx ends or the Server is closed.
// cond is checked after every change of the Server's state and every 20ms; it
// may call the Server's methods.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		changed, closed := s.changed, s.closed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("slacktest: condition not met: %w", ctx.Err())
		}
	}
}

// notifyLocked wakes everything waiting for a state change. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextLocked returns a new sequence number. s.mu must be held.
func (s *Server) nextLocked() int {
	s.seq++
	return s.seq
}

func (s *Server) logf(format string, args ...any) {
	if s.debug {
		s.t.Logf("slacktest: "+format, args...)
	}
}

// SetMember sets whether the bot is a member of channel. By default the bot
// is a member of every channel; in a channel it is not a member of,
// chat.postMessage, chat.update and chat.postEphemeral fail with
// not_in_channel.
func (s *Server) SetMember(channel string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[channel] = member
}

func (s *Server) isMemberLocked(channel string) bool {
	member, set := s.members[channel]
	return member || !set
}

// SetChannelUsers sets the users in channel. Once set, chat.postEphemeral to
// any other user in that channel fails with user_not_in_channel. By default
// every user is in every channel.
func (s *Server) SetChannelUsers(channel string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelUsers[channel] = slices.Clone(users)
}

// SetUserGroup sets the members of user group id, as answered by
// usergroups.users.list.
func (s *Server) SetUserGroup(id string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = slices.Clone(users)
}

// SetUser adds or replaces a user, as answered by users.info.
func (s *Server) SetUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = user{name: name, email: email}
}

// SetPlanUpgradeRequired makes usergroups.users.list fail with
// plan_upgrade_required, as on free workspaces.
func (s *Server) SetPlanUpgradeRequired(required bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.planUpgrade = required
}

// Call is one Web API request the Server received.
type Call struct {
	Method string
	// Params holds the form or query parameters, without the token. For a
	// JSON body it holds the top-level fields: strings as they are, other
	// values as JSON.
	Params url.Values
	// Body is the raw request body if it was JSON, else nil.
	Body json.RawMessage
	At   time.Time
}

// Calls returns the Web API calls to method in the order they arrived, or all
// calls if method is "". Calls answered with an injected fault and calls to
// unknown methods are included.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Params = cloneValues(c.Params)
			out = append(out, c)
		}
	}
	return out
}

// Message is a message posted with chat.postMessage, in its current state.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage // as sent, nil if none
	// Versions holds every version of the message, oldest first: the one
	// posted, then one per chat.update. The last one is the current one.
	Versions []MessageVersion
}

// MessageVersion is the content of a message at one point in time.
type MessageVersion struct {
	Text   string
	Blocks json.RawMessage
	At     time.Time
}

// Messages returns the messages posted to channel, or to any channel if
// channel is "", in the order they were posted, with updates applied.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if channel == "" || m.Channel == channel {
			c := *m
			c.Versions = slices.Clone(m.Versions)
			out = append(out, c)
		}
	}
	return out
}

// View is a modal opened with views.open.
type View struct {
	ID        string
	TriggerID string
	View      json.RawMessage // the view as sent
}

// Views returns the modals opened so far, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.views)
}

// Ephemeral is a message posted with chat.postEphemeral.
type Ephemeral struct {
	Channel  string
	User     string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	At       time.Time
}

// Ephemerals returns the ephemeral messages posted to user, or to anyone if
// user is "", in order.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if user == "" || e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// ResponsePost is a JSON body POSTed to a response_url.
type ResponsePost struct {
	URL             string
	Text            string
	Blocks          json.RawMessage
	ResponseType    string // "ephemeral", "in_channel" or ""
	ReplaceOriginal bool
	DeleteOriginal  bool
	Body            json.RawMessage // the whole body
	At              time.Time
}

// ResponsePosts returns what was POSTed to responseURL, or to any response
// URL if responseURL is "", in order, including posts answered with an
// injected fault.
func (s *Server) ResponsePosts(responseURL string) []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ResponsePost
	for _, p := range s.responsePosts {
		if responseURL == "" || p.URL == responseURL {
			out = append(out, p)
		}
	}
	return out
}

// AllText returns every string the bot sent to the Server, one per line:
// every Web API parameter but the token (JSON values are also decoded, so
// text inside blocks appears unescaped), every response_url body and every
// acknowledgement payload. Use it to assert that a secret never leaked.
func (s *Server) AllText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		for _, k := range slices.Sorted(maps.Keys(c.Params)) {
			for _, v := range c.Params[k] {
				out = appendStrings(out, v)
			}
		}
		out = appendStrings(out, string(c.Body))
	}
	for _, p := range s.responsePosts {
		out = appendStrings(out, string(p.Body))
	}
	for _, a := range s.acks {
		out = appendStrings(out, string(a.Payload))
	}
	return strings.Join(out, "\n")
}

// appendStrings appends v and, if v is JSON, every string inside it.
func appendStrings(out []string, v string) []string {
	if v == "" {
		return out
	}
	out = append(out, v)
	t := strings.TrimSpace(v)
	if !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") && !strings.HasPrefix(t, `"`) {
		return out
	}
	var decoded any
	if json.Unmarshal([]byte(t), &decoded) != nil {
		return out
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = appendStrings(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			keys := slices.Collect(maps.Keys(x))
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k])
			}
		}
	}
	walk(decoded)
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
