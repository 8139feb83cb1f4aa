package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Envelope is a Socket Mode request the Server sent to the client.
type Envelope struct {
	ID           string
	Type         string // "slash_commands", "interactive", "events_api", ...
	Payload      json.RawMessage
	RetryAttempt int
	SentAt       time.Time
	// Connection is the number of the connection the envelope was sent
	// on, counting from 1 in the order clients connected.
	Connection  int
	ResponseURL string // for slash commands and block actions
	TriggerID   string // for slash commands and block actions

	acked chan struct{} // closed once ack is set
	ack   Ack
}

// Ack is a Socket Mode response the client sent: {"envelope_id", "payload"}.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil if the client sent no payload
	At         time.Time
}

// WaitAck waits for the first acknowledgement of e.
func (e *Envelope) WaitAck(ctx context.Context) (Ack, error) {
	select {
	case <-e.acked:
		return e.ack, nil
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("slacktest: envelope %s (%s) not acknowledged: %w", e.ID, e.Type, ctx.Err())
	}
}

// Acks returns every acknowledgement the Server received, in order,
// including repeated ones and ones for unknown envelopes.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// Connections returns how many times a Socket Mode client connected (was sent
// hello). It grows by one with every reconnection.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// WaitConnected waits until a Socket Mode client is connected and has been
// sent hello. After Disconnect or DropConnection it waits for the reconnection.
func (s *Server) WaitConnected(ctx context.Context) error {
	_, err := s.waitConn(ctx)
	return err
}

func (s *Server) waitConn(ctx context.Context) (*wsConn, error) {
	for {
		s.mu.Lock()
		c, changed, closed := s.current, s.changed, s.closed
		if s.roundRobin && len(s.live) > 0 {
			c = s.live[s.turn%len(s.live)]
			s.turn++
		}
		s.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case c != nil:
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("slacktest: no socket mode client connected: %w", ctx.Err())
		}
	}
}

// Disconnect sends {"type":"disconnect","reason":reason} to the connected
// client, which makes slack-go reconnect (reason is usually
// "refresh_requested", "warning" or "link_disabled").
func (s *Server) Disconnect(reason string) error {
	c, err := s.takeCurrent()
	if err != nil {
		return err
	}
	return c.writeJSON(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "slacktest"},
	})
}

// DropConnection closes the connected client's TCP connection abruptly,
// without a WebSocket close frame.
func (s *Server) DropConnection() error {
	c, err := s.takeCurrent()
	if err != nil {
		return err
	}
	return c.ws.Close()
}

// takeCurrent returns the current connection and forgets it, so that nothing
// more is sent to it and WaitConnected waits for the next one.
func (s *Server) takeCurrent() (*wsConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.current
	if c == nil {
		return nil, errors.New("slacktest: no socket mode client connected")
	}
	s.current = nil
	s.notifyLocked()
	return c, nil
}

// Send sends a Socket Mode envelope of type typ ("slash_commands",
// "interactive", "events_api") with payload, which is marshalled to JSON
// (pass a json.RawMessage to send it as is). A retryAttempt above 0 marks a
// redelivery. If no client is connected, Send waits for one. It returns once
// the envelope is written; use Envelope.WaitAck to wait for the answer.
func (s *Server) Send(ctx context.Context, typ string, payload any, retryAttempt int) (*Envelope, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("slacktest: marshalling payload: %w", err)
	}
	return s.send(ctx, &Envelope{Type: typ, Payload: raw, RetryAttempt: retryAttempt})
}

func (s *Server) send(ctx context.Context, env *Envelope) (*Envelope, error) {
	c, err := s.waitConn(ctx)
	if err != nil {
		return nil, err
	}
	env.ID = newUUID()
	env.Connection = c.n
	env.acked = make(chan struct{})
	retryReason := ""
	if env.RetryAttempt > 0 {
		retryReason = "timeout"
	}
	frame := map[string]any{
		"envelope_id":              env.ID,
		"type":                     env.Type,
		"payload":                  env.Payload,
		"accepts_response_payload": env.Type != "events_api",
		"retry_attempt":            env.RetryAttempt,
		"retry_reason":             retryReason,
	}
	env.SentAt = time.Now()
	s.mu.Lock()
	s.envelopes[env.ID] = env
	s.mu.Unlock()
	if err := c.writeJSON(frame); err != nil {
		return nil, fmt.Errorf("slacktest: sending %s envelope: %w", env.Type, err)
	}
	s.logf("sent %s envelope %s: %s", env.Type, env.ID, env.Payload)
	return env, nil
}

// wsConn is one Socket Mode WebSocket connection.
type wsConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex // gorilla allows one concurrent writer
	done chan struct{}
	n    int // which connection this is, from 1
}

func (c *wsConn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// handleLink upgrades a dial of the URL handed out by apps.connections.open.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket) // tickets are single use
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.conns[c] = true
	s.wg.Add(2)
	s.mu.Unlock()
	go s.readLoop(c)

	err = c.writeJSON(map[string]any{
		"type":            "hello",
		"num_connections": 1,
		"connection_info": map[string]any{"app_id": AppID},
		"debug_info": map[string]any{
			"host":                        "slacktest",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
	})
	go s.pingLoop(c) // returns at once if the connection is gone
	if err != nil {
		_ = ws.Close()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[c] { // still alive
		s.connections++
		c.n = s.connections
		s.current = c
		s.live = append(s.live, c)
		s.notifyLocked()
	}
	s.logf("socket mode client connected (connection %d)", s.connections)
}

// readLoop records the client's acknowledgements until the connection ends.
func (s *Server) readLoop(c *wsConn) {
	defer s.wg.Done()
	defer func() {
		_ = c.ws.Close()
		close(c.done)
		s.mu.Lock()
		delete(s.conns, c)
		s.live = slices.DeleteFunc(s.live, func(x *wsConn) bool { return x == c })
		if s.current == c {
			s.current = nil
		}
		s.notifyLocked()
		s.mu.Unlock()
	}()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			s.logf("socket mode connection ended: %v", err)
			return
		}
		at := time.Now()
		var msg struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &msg); err != nil || msg.EnvelopeID == "" {
			s.logf("ignoring unexpected frame from client: %s", data)
			continue
		}
		if string(msg.Payload) == "null" {
			msg.Payload = nil
		}
		s.logf("ack for envelope %s: %s", msg.EnvelopeID, msg.Payload)
		ack := Ack{EnvelopeID: msg.EnvelopeID, Payload: msg.Payload, At: at}
		s.mu.Lock()
		s.acks = append(s.acks, ack)
		if env := s.envelopes[msg.EnvelopeID]; env != nil {
			select {
			case <-env.acked: // keep the first ack
			default:
				env.ack = ack
				close(env.acked)
			}
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// pingLoop sends WebSocket pings, without which slack-go reconnects.
func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	ticker := time.NewTicker(s.pingInterval)
	defer ticker.Stop()
	for {
		// WriteControl may be called concurrently with the other writes.
		if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second)); err != nil {
			return
		}
		select {
		case <-ticker.C:
		case <-c.done:
			return
		case <-s.quit:
			return
		}
	}
}
