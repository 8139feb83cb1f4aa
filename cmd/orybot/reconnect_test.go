package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/orybot/orybot/store"
)

// Slack refreshes socket-mode connections every few hours with a
// disconnect envelope, and networks drop connections; the bot must keep
// working on the new connection, with its pending requests.
func TestReconnect(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "reconnect@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- before the refresh")

	before := h.slack.Connections()
	if err := h.slack.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if err := h.slack.WaitFor(ctxT(t), func() bool { return h.slack.Connections() > before }); err != nil {
		t.Fatalf("bot did not reconnect after a disconnect envelope")
	}
	before = h.slack.Connections()
	if err := h.slack.DropConnection(); err != nil {
		t.Fatal(err)
	}
	if err := h.slack.WaitFor(ctxT(t), func() bool { return h.slack.Connections() > before }); err != nil {
		t.Fatalf("bot did not reconnect after the connection dropped")
	}

	h.click(t, approver1, card, "approve", reqID)
	h.waitCard(t, reqID, "Done")
	if got := h.state(t, id); got != "inactive" {
		t.Errorf("state = %q, want inactive", got)
	}
	_, ack := h.command(t, requester, opsChan, "help")
	contains(t, "help after reconnecting", ack, "/ory deactivate")
}

// A request approved by a bot that died before recording the outcome must
// not say "running…" for ever: the next bot ends it as failed, saying the
// outcome is unknown.
func TestInterruptedRequestIsEnded(t *testing.T) {
	h := newHarness(t)
	stop := h.startBot(t)
	id := h.kratos.CreateIdentity(t, "interrupted@customer.example")
	reqID, _ := h.request(t, "deactivate "+id+" -- interrupted")
	stop()

	// What a bot that died right after the approval leaves behind.
	st, err := store.Open(t.Context(), h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Approve(t.Context(), reqID, approver1, 1, time.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	h.startBot(t)
	card := h.waitCard(t, reqID, "Failed")
	contains(t, "card", string(card.Blocks), "stopped while running", "/ory show "+id)
	contains(t, "audit record", h.waitAudit(t, reqID), "failed")
	if got := h.status(t, reqID); got != store.StatusFailed {
		t.Errorf("status = %s, want failed", got)
	}
}

// Revoked or mistyped Slack tokens stop the bot with a message naming the
// variable, rather than leaving it retrying in silence.
func TestBadSlackTokensStopTheBot(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct{ key, value string }{
		{"SLACK_BOT_TOKEN", "xoxb-revoked"},
		{"SLACK_APP_TOKEN", "xapp-revoked"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			h.setenv(t, tt.key, tt.value)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := run(ctx, nil, h.getenv, &bytes.Buffer{}, h.logs)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("run = %v (ctx %v), want it to stop by itself with an error", err, ctx.Err())
			}
			contains(t, "error", err.Error(), "invalid_auth", tt.key)
		})
	}
}
