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
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
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
