package main

import (
	"testing"
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
