package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// The end-to-end tests of the approval policy and the life of a request:
// who may ask and decide (ORYBOT_REQUESTERS, ORYBOT_APPROVERS with user
// groups, ORYBOT_CHANNELS), N approvals, nobody acting on their own
// identity, expiry, deny, cancel, the stale check and /ory pending. Where an
// action could have happened, they check Kratos's own state and the calls
// that reached it.

// answer types text as user in channel and returns the one ephemeral reply
// that follows an empty ack.
func (h *harness) answer(t *testing.T, user, channel, text string) string {
	t.Helper()
	env, ack := h.command(t, user, channel, text)
	if ack != "" {
		t.Fatalf("ack for %q carried %q, want an empty ack", text, ack)
	}
	return unescape.Replace(h.response(t, env, 1))
}

// clickReply clicks a card's button and returns the ephemeral reply.
func (h *harness) clickReply(t *testing.T, user string, card slacktest.Message, action, id string) string {
	t.Helper()
	return unescape.Replace(h.response(t, h.click(t, user, card, action, id), 1))
}

// waitDM waits for a direct message to user about request id that contains
// want, and returns it.
func (h *harness) waitDM(t *testing.T, user, id, want string) string {
	t.Helper()
	var got string
	err := h.slack.WaitFor(ctxT(t), func() bool {
		for _, m := range h.slack.Messages(user) {
			if strings.Contains(m.Text, id) && strings.Contains(m.Text, want) {
				got = m.Text
				return true
			}
		}
		return false
	})
	if err != nil {
		var all []string
		for _, m := range h.slack.Messages(user) {
			all = append(all, m.Text)
		}
		t.Fatalf("no direct message to %s about %s containing %q; got %q", user, id, want, all)
	}
	return got
}

// checkPending fails the test unless request id is still pending with its
// buttons on the card.
func (h *harness) checkPending(t *testing.T, id string) {
	t.Helper()
	if got := h.status(t, id); got != store.StatusPending {
		t.Errorf("status of %s = %s, want pending", id, got)
	}
	if !hasButtons(h.card(t, id)) {
		t.Errorf("card of %s lost its buttons", id)
	}
}

// checkUntouched fails the test unless identity id is still in state and
// the bot made no changing Ory call since mutations was counted.
func (h *harness) checkUntouched(t *testing.T, id, state string, mutations int) {
	t.Helper()
	if got := h.state(t, id); got != state {
		t.Errorf("Kratos state of %s = %q, want %q", id, got, state)
	}
	if n := h.mutations() - mutations; n != 0 {
		t.Errorf("%d changing Ory calls, want none: %q", n, h.proxy.Calls())
	}
}

// events lists the audit events recorded about request id, in order.
func (h *harness) events(id string) []string {
	var out []string
	for _, r := range h.auditRecords(id) {
		for _, ev := range []string{"requested", "approved", "step", "done", "failed", "denied", "expired", "cancelled", "stale"} {
			if strings.Contains(r, "*"+ev+"* · ") {
				out = append(out, ev)
			}
		}
	}
	return out
}

// waitEvents waits until the audit channel holds want (comma-separated
// events) for request id, and fails if it holds anything else.
func (h *harness) waitEvents(t *testing.T, id, want string) {
	t.Helper()
	err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.events(id)) >= strings.Count(want, ",")+1 })
	time.Sleep(100 * time.Millisecond) // room for a wrong extra record
	if got := strings.Join(h.events(id), ","); err != nil || got != want {
		t.Errorf("audit events of %s = %s, want %s", id, got, want)
	}
}

func TestRequestersAndChannelsEndToEnd(t *testing.T) {
	const (
		requesters = "SREQUESTERS"
		other      = "CELSEWHERE"
		second     = "CSECOPS"
	)
	h := newHarness(t)
	// The requester may ask only through the group; approver1 by id.
	h.slack.SetUserGroup(requesters, requester)
	h.setenv(t, "ORYBOT_REQUESTERS", approver1+","+requesters)
	h.setenv(t, "ORYBOT_CHANNELS", opsChan+","+second)
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "target@customer.example")

	t.Run("outsider is refused", func(t *testing.T) {
		posts, muts := len(h.slack.Messages("")), h.mutations()
		for _, text := range []string{
			"deactivate " + id + " -- not mine to ask",
			"lockout target@customer.example -- not mine to ask",
			"show " + id,
			"sessions target@customer.example",
		} {
			reply := h.answer(t, outsider, opsChan, text)
			contains(t, "reply to the outsider's "+text, reply, "not allowed", "ORYBOT_REQUESTERS")
			if strings.Contains(reply, "State:") || strings.Contains(reply, "t***@") {
				t.Errorf("the outsider learned about the identity: %q", reply)
			}
		}
		if n := len(h.slack.Messages("")) - posts; n != 0 {
			t.Errorf("the outsider's commands posted %d messages, want none", n)
		}
		h.checkUntouched(t, id, "active", muts)
	})

	t.Run("requester through a user group", func(t *testing.T) {
		reqID, card := h.request(t, "deactivate "+id+" -- allowed through the group")
		h.click(t, approver1, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
		// And approver1, named by id, may ask too.
		reqID, card = h.requestBy(t, approver1, "activate "+id+" -- allowed by id")
		h.click(t, approver2, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
	})

	t.Run("unlisted channel is refused in the ack", func(t *testing.T) {
		posts := func() int { return len(h.slack.Messages(other)) + len(h.slack.Messages(opsChan)) }
		before, calls := posts(), len(h.proxy.Calls())
		for _, text := range []string{"deactivate " + id + " -- wrong channel", "pending", "show " + id} {
			env, ack := h.command(t, requester, other, text)
			contains(t, "ack in "+other, ack, "not accepted in this channel", "<#"+opsChan+">", "<#"+second+">")
			time.Sleep(100 * time.Millisecond) // room for a wrong reply
			if n := len(h.slack.ResponsePosts(env.ResponseURL)); n != 0 {
				t.Errorf("%q in %s got %d replies besides the ack, want none", text, other, n)
			}
		}
		if n := posts() - before; n != 0 {
			t.Errorf("commands in an unlisted channel posted %d messages, want none", n)
		}
		if n := len(h.proxy.Calls()) - calls; n != 0 {
			t.Errorf("commands in an unlisted channel made %d Ory calls, want none", n)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
		// Help still works anywhere, so people can find out where to go.
		_, ack := h.command(t, requester, other, "help")
		contains(t, "help in "+other, ack, "/ory deactivate")
	})

	t.Run("listed channel works", func(t *testing.T) {
		// The second listed channel, not only the first.
		env, ack := h.command(t, requester, second, "revoke-sessions "+id+" -- second channel")
		if ack != "" {
			t.Fatalf("ack in %s = %q, want an empty ack", second, ack)
		}
		contains(t, "reply in "+second, h.response(t, env, 1), "is waiting for approval")
		if n := len(h.slack.Messages(second)); n != 1 {
			t.Errorf("%d cards in %s, want 1", n, second)
		}
	})
}

func TestApproverGroupChangesEndToEnd(t *testing.T) {
	h := newHarness(t)
	const ttl = time.Second
	h.setenv(t, "ORYBOT_GROUP_CACHE_TTL", ttl.String())
	h.startBot(t)
	a := h.kratos.CreateIdentity(t, "a@customer.example")
	b := h.kratos.CreateIdentity(t, "b@customer.example")
	reqA, cardA := h.request(t, "deactivate "+a+" -- first")
	reqB, cardB := h.request(t, "deactivate "+b+" -- second")

	// approver2 is an approver only through the group.
	h.click(t, approver2, cardA, "approve", reqA)
	h.waitCard(t, reqA, "*Done*")
	if got := h.state(t, a); got != "inactive" {
		t.Errorf("Kratos state of a = %q, want inactive", got)
	}

	// Leaving the group takes away the right once the cache has expired.
	h.slack.SetUserGroup(group, requester)
	time.Sleep(ttl + 200*time.Millisecond)
	muts := h.mutations()
	contains(t, "reply to a former member's approval", h.clickReply(t, approver2, cardB, "approve", reqB), "not allowed", "ORYBOT_APPROVERS", "still pending")
	contains(t, "reply to a former member's deny", h.denyRefused(t, approver2, cardB, reqB), "not allowed", "still pending")
	h.checkPending(t, reqB)
	h.checkUntouched(t, b, "active", muts)

	// Joining it gives the right, again after the cache has expired.
	h.slack.SetUserGroup(group, requester, outsider)
	time.Sleep(ttl + 200*time.Millisecond)
	h.click(t, outsider, cardB, "approve", reqB)
	card := h.waitCard(t, reqB, "*Done*")
	contains(t, "card", blocks(card), "<@"+outsider+">")
	if got := h.state(t, b); got != "inactive" {
		t.Errorf("Kratos state of b = %q, want inactive", got)
	}
}

// cardButton is a button of a card, as Block Kit JSON has it.
type cardButton struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Confirm  *struct {
		Title   struct{ Text string } `json:"title"`
		Text    struct{ Text string } `json:"text"`
		Confirm struct{ Text string } `json:"confirm"`
		Deny    struct{ Text string } `json:"deny"`
	} `json:"confirm"`
}

// buttons returns the buttons of a card by action id.
func buttons(t *testing.T, card slacktest.Message) map[string]cardButton {
	t.Helper()
	var bs []struct {
		Type     string       `json:"type"`
		Elements []cardButton `json:"elements"`
	}
	if err := json.Unmarshal(card.Blocks, &bs); err != nil {
		t.Fatalf("card blocks: %v", err)
	}
	out := map[string]cardButton{}
	for _, b := range bs {
		if b.Type == "actions" {
			for _, e := range b.Elements {
				out[e.ActionID] = e
			}
		}
	}
	return out
}

func TestApprovalsRequiredEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_APPROVALS_REQUIRED", "deactivate:2")
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "two@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- needs two")
	muts := h.mutations()

	t.Run("approve asks to confirm", func(t *testing.T) {
		approve, ok := buttons(t, card)["approve"]
		switch {
		case !ok:
			t.Fatalf("pending card has no Approve button: %s", card.Blocks)
		case approve.Value != reqID:
			t.Errorf("Approve carries %q, want the request id %s", approve.Value, reqID)
		case approve.Confirm == nil:
			t.Fatalf("Approve has no confirm dialog: %s", card.Blocks)
		}
		c := approve.Confirm
		dialog := c.Title.Text + " " + c.Text.Text
		contains(t, "confirm dialog", dialog, "deactivate", id)
		if c.Confirm.Text == "" || c.Deny.Text == "" {
			t.Errorf("confirm dialog lacks its buttons: %+v", *c)
		}
		if strings.Contains(dialog, "two@customer.example") {
			t.Errorf("confirm dialog shows the full email: %q", dialog)
		}
	})

	t.Run("the requester never counts", func(t *testing.T) {
		// The requester is in the approver group.
		contains(t, "reply to the requester", h.clickReply(t, requester, card, "approve", reqID), "someone else must approve")
	})

	t.Run("first approval", func(t *testing.T) {
		contains(t, "reply to the first approver", h.clickReply(t, approver2, card, "approve", reqID), "is recorded", "1 more")
		card = h.waitCard(t, reqID, "1 more needed")
		contains(t, "card after one approval", blocks(card), "<@"+approver2+">", "1 of 2")
		if strings.Contains(blocks(card), "<@"+requester+">,") || strings.Contains(blocks(card), "2 of 2") {
			t.Errorf("card counts the requester: %s", blocks(card))
		}
		h.checkPending(t, reqID)
		h.checkUntouched(t, id, "active", muts)
	})

	t.Run("the same approver counts once", func(t *testing.T) {
		contains(t, "reply to the second click", h.clickReply(t, approver2, card, "approve", reqID), "already approved", "counts once", "1 more")
		h.checkPending(t, reqID)
		contains(t, "card", blocks(h.card(t, reqID)), "1 of 2", "1 more needed")
		h.checkUntouched(t, id, "active", muts)
	})

	t.Run("a second approver runs it", func(t *testing.T) {
		patches := h.proxy.patches.Load()
		h.click(t, approver1, card, "approve", reqID)
		card = h.waitCard(t, reqID, "*Done*")
		if hasButtons(card) {
			t.Errorf("done card still has buttons")
		}
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
		if n := h.proxy.patches.Load() - patches; n != 1 {
			t.Errorf("%d Ory PATCH calls, want 1", n)
		}
		h.waitEvents(t, reqID, "requested,approved,approved,step,done")
		var by []string
		for _, r := range h.auditRecords(reqID) {
			if strings.Contains(r, "*approved* · ") {
				by = append(by, unescape.Replace(r))
			}
		}
		if len(by) == 2 {
			contains(t, "first approval record", by[0], "<@"+approver2+">")
			contains(t, "second approval record", by[1], "<@"+approver1+">")
		}
	})

	t.Run("verbs not named need one", func(t *testing.T) {
		reqID, card := h.request(t, "activate "+id+" -- one is enough")
		h.click(t, approver1, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
	})
}

func TestOwnIdentityEndToEnd(t *testing.T) {
	h := newHarness(t)
	// Slack's email differs in case from Ory's; it is the same mailbox.
	h.slack.SetUser(requester, "ureq", "UReq@Corp.Example")
	h.startBot(t)

	t.Run("requester", func(t *testing.T) {
		own := h.kratos.CreateIdentity(t, "ureq@corp.example")
		muts := h.mutations()
		cards := len(h.slack.Messages(opsChan))
		// By id, so the bot must look at the identity, not at what was typed.
		for _, target := range []string{own, "ureq@corp.example"} {
			contains(t, "reply", h.answer(t, requester, opsChan, "deactivate "+target+" -- myself"),
				"cannot act on your own identity", "Nothing was requested")
		}
		if n := len(h.slack.Messages(opsChan)) - cards; n != 0 {
			t.Errorf("%d cards for the requester's own identity, want none", n)
		}
		h.checkUntouched(t, own, "active", muts)
	})

	t.Run("approver", func(t *testing.T) {
		// approver1's Slack email is uapp1@corp.example.
		id := h.kratos.CreateIdentity(t, "uapp1@corp.example")
		reqID, card := h.request(t, "deactivate "+id+" -- approver's account")
		muts := h.mutations()
		contains(t, "reply to the approver's approval", h.clickReply(t, approver1, card, "approve", reqID),
			"acts on your own identity", "still pending")
		contains(t, "reply to the approver's deny", h.denyRefused(t, approver1, card, reqID),
			"acts on your own identity", "still pending")
		h.checkPending(t, reqID)
		h.checkUntouched(t, id, "active", muts)

		h.click(t, approver2, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
	})
}

func TestExpiryWhileBotIsDownEndToEnd(t *testing.T) {
	h := newHarness(t)
	const ttl = 2 * time.Second
	h.setenv(t, "ORYBOT_REQUEST_TTL", ttl.String())
	stop := h.startBot(t)
	id := h.kratos.CreateIdentity(t, "down@customer.example")
	reqID, _ := h.request(t, "deactivate "+id+" -- nobody around")
	stop()
	time.Sleep(ttl + 200*time.Millisecond)
	if got := h.status(t, reqID); got != store.StatusPending {
		t.Fatalf("status while the bot is down = %s, want pending", got)
	}

	muts := h.mutations()
	h.startBot(t)
	// The sweep runs every 20 seconds; it must also run at start.
	start := time.Now()
	card := h.waitCard(t, reqID, "Expired")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("card said expired %v after start, want within seconds", d.Round(time.Millisecond))
	}
	if hasButtons(card) {
		t.Errorf("expired card still has buttons")
	}
	contains(t, "audit record", h.waitAudit(t, reqID), "expired")
	contains(t, "message to the requester", h.waitDM(t, requester, reqID, "Expired"), "Nothing was changed")
	if got := h.status(t, reqID); got != store.StatusExpired {
		t.Errorf("status = %s, want expired", got)
	}
	h.checkUntouched(t, id, "active", muts)
}

func TestExpiryWhileBotIsRunningEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_REQUEST_TTL", "1s")
	h.setenv(t, "ORYBOT_SWEEP_INTERVAL", "250ms")
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "idle@customer.example")
	muts := h.mutations()
	reqID, _ := h.request(t, "deactivate "+id+" -- nobody clicks")
	start := time.Now()
	card := h.waitCard(t, reqID, "Expired")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("card said expired %v after the request, want within seconds", d.Round(time.Millisecond))
	}
	if hasButtons(card) {
		t.Errorf("expired card still has buttons")
	}
	contains(t, "audit record", h.waitAudit(t, reqID), "expired")
	h.waitDM(t, requester, reqID, "Expired")
	h.checkUntouched(t, id, "active", muts)
}

func TestDenyAndCancelEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	n := 0
	newRequest := func(t *testing.T) (id, reqID string, card slacktest.Message) {
		n++
		id = h.kratos.CreateIdentity(t, fmt.Sprintf("user%d@customer.example", n))
		reqID, card = h.request(t, "lockout "+id+" -- "+t.Name())
		return id, reqID, card
	}

	t.Run("deny by someone who may not decide is refused", func(t *testing.T) {
		id, reqID, card := newRequest(t)
		muts := h.mutations()
		contains(t, "reply to the outsider", h.denyRefused(t, outsider, card, reqID), "not allowed", "still pending")
		views := len(h.slack.Views())
		contains(t, "reply to the requester", h.clickReply(t, requester, card, "deny", reqID), "someone else must", "still pending")
		if n := len(h.slack.Views()) - views; n != 0 {
			t.Errorf("the requester's Deny opened %d dialogs, want none", n)
		}
		h.checkPending(t, reqID)
		h.checkUntouched(t, id, "active", muts)
	})

	t.Run("deny without a reason", func(t *testing.T) {
		id, reqID, card := newRequest(t)
		muts := h.mutations()
		h.deny(t, approver1, card, reqID, "")
		card = h.waitCard(t, reqID, "Denied")
		if hasButtons(card) {
			t.Errorf("denied card still has buttons")
		}
		contains(t, "denied card", blocks(card), "<@"+approver1+">", "Nothing was changed")
		if b := blocks(card); strings.Contains(b, ": .") || strings.Contains(b, "<@"+approver1+">: ") {
			t.Errorf("denied card shows an empty reason: %s", b)
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "denied", "<@"+approver1+">")
		h.waitDM(t, requester, reqID, "Denied")
		if got := h.status(t, reqID); got != store.StatusDenied {
			t.Errorf("status = %s, want denied", got)
		}
		h.checkUntouched(t, id, "active", muts)
		contains(t, "cancel of a denied request", h.answer(t, requester, opsChan, "cancel "+reqID), "already denied by <@"+approver1+">")
	})

	t.Run("deny submitted after another approved", func(t *testing.T) {
		id, reqID, card := newRequest(t)
		// approver1 opens the dialog and hesitates; approver2 approves.
		before := len(h.slack.Views())
		h.click(t, approver1, card, "deny", reqID)
		if err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.slack.Views()) > before }); err != nil {
			t.Fatalf("Deny opened no dialog")
		}
		v := h.slack.Views()[before]
		h.click(t, approver2, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		env, err := h.slack.ViewSubmission(ctxT(t), slacktest.ViewSubmission{
			User: approver1, ViewID: v.ID, CallbackID: "deny_reason", PrivateMetadata: reqID,
			Values: map[string]map[string]string{"reason": {"reason": "too late"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitAck(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		err = h.slack.WaitFor(ctxT(t), func() bool {
			return slices.ContainsFunc(h.slack.Ephemerals(approver1), func(e slacktest.Ephemeral) bool {
				return strings.Contains(e.Text, reqID) && strings.Contains(e.Text, "already approved")
			})
		})
		if err != nil {
			t.Errorf("the late denier was not told the request was already approved")
		}
		if got := h.status(t, reqID); got != store.StatusDone {
			t.Errorf("status = %s, want done", got)
		}
		if strings.Contains(blocks(h.card(t, reqID)), "Denied") {
			t.Errorf("a late deny changed the done card")
		}
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
		h.waitEvents(t, reqID, "requested,approved,step,step,done")
	})

	t.Run("cancel button", func(t *testing.T) {
		id, reqID, card := newRequest(t)
		calls := len(h.proxy.Calls())
		contains(t, "reply to an approver", h.clickReply(t, approver1, card, "cancel", reqID), "Only the requester", "<@"+requester+">")
		contains(t, "reply to the outsider", h.clickReply(t, outsider, card, "cancel", reqID), "Only the requester")
		h.checkPending(t, reqID)

		contains(t, "reply to the requester", h.clickReply(t, requester, card, "cancel", reqID), "is cancelled")
		card = h.waitCard(t, reqID, "Cancelled")
		if hasButtons(card) {
			t.Errorf("cancelled card still has buttons")
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "cancelled")
		h.waitDM(t, requester, reqID, "Cancelled")
		if got := h.status(t, reqID); got != store.StatusCancelled {
			t.Errorf("status = %s, want cancelled", got)
		}
		if got := h.proxy.Calls()[calls:]; len(got) != 0 {
			t.Errorf("cancelling made Ory calls: %q", got)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
		// An approval after the cancel changes nothing.
		contains(t, "reply to a late approval", h.clickReply(t, approver1, card, "approve", reqID), "cancelled")
		if got := h.proxy.Calls()[calls:]; len(got) != 0 {
			t.Errorf("a late approval made Ory calls: %q", got)
		}
		contains(t, "cancel of a cancelled request", h.answer(t, requester, opsChan, "cancel "+reqID), "cancelled by its requester")
	})

	t.Run("cancel command", func(t *testing.T) {
		id, reqID, _ := newRequest(t)
		calls := len(h.proxy.Calls())
		contains(t, "reply to an approver", h.answer(t, approver1, opsChan, "cancel "+reqID), "Only the requester")
		h.checkPending(t, reqID)
		contains(t, "reply to the requester", h.answer(t, requester, opsChan, "cancel "+reqID), "is cancelled")
		h.waitCard(t, reqID, "Cancelled")
		h.waitEvents(t, reqID, "requested,cancelled")
		if got := h.proxy.Calls()[calls:]; len(got) != 0 {
			t.Errorf("cancelling made Ory calls: %q", got)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
	})

	t.Run("cancel of a done request", func(t *testing.T) {
		_, reqID, card := newRequest(t)
		h.click(t, approver1, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		contains(t, "reply", h.answer(t, requester, opsChan, "cancel "+reqID), "already approved by <@"+approver1+">", "done")
		if got := h.status(t, reqID); got != store.StatusDone {
			t.Errorf("status = %s, want done", got)
		}
		contains(t, "cancel of an unknown request", h.answer(t, requester, opsChan, "cancel zzzzzzzzzz"), "does not exist")
	})
}

func TestStaleRequestEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)

	// approve approves a request whose identity changed, checks that it
	// ends as stale saying what changed, and returns the card.
	approve := func(t *testing.T, reqID string, card slacktest.Message, muts int, changed string) string {
		t.Helper()
		h.click(t, approver1, card, "approve", reqID)
		card = h.waitCard(t, reqID, "Not run")
		b := blocks(card)
		contains(t, "stale card", b, changed, "<@"+approver1+">")
		if hasButtons(card) {
			t.Errorf("stale card still has buttons")
		}
		if strings.Contains(b, "✓") {
			t.Errorf("stale card says something was done: %s", b)
		}
		if got := h.status(t, reqID); got != store.StatusStale {
			t.Errorf("status = %s, want stale", got)
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "stale", changed)
		h.waitDM(t, requester, reqID, changed)
		if n := h.mutations() - muts; n != 0 {
			t.Errorf("%d changing Ory calls, want none: %q", n, h.proxy.Calls())
		}
		return b
	}

	t.Run("email", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "before@customer.example")
		reqID, card := h.request(t, "lockout "+id+" -- compromised")
		patches, muts := h.proxy.patches.Load(), h.mutations()
		h.kratos.SetEmail(t, id, "renamed@elsewhere.example")
		approve(t, reqID, card, muts, "its email changed")
		// Neither the new address nor its masked form may show anywhere.
		if strings.Contains(h.slack.AllText(), "elsewhere.example") {
			t.Errorf("the bot sent the new email to Slack")
		}
		if strings.Contains(h.logs.String(), "elsewhere.example") {
			t.Errorf("the bot logged the new email")
		}
		if n := h.proxy.patches.Load() - patches; n != 0 {
			t.Errorf("%d Ory PATCH calls, want 0", n)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
	})

	t.Run("state", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "state@customer.example")
		reqID, card := h.request(t, "deactivate "+id+" -- compromised")
		patches, muts := h.proxy.patches.Load(), h.mutations()
		h.kratos.SetState(t, id, "inactive")
		approve(t, reqID, card, muts, "its state went from active to inactive")
		if n := h.proxy.patches.Load() - patches; n != 0 {
			t.Errorf("%d Ory PATCH calls, want 0", n)
		}
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive (as the admin set it)", got)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "creds@customer.example")
		reqID, card := h.request(t, "revoke-sessions "+id+" -- compromised")
		muts := h.mutations()
		h.kratos.AddTOTP(t, "creds@customer.example") // logs in, so there is a session
		approve(t, reqID, card, muts, "its credentials changed")
		if got := h.activeSessions(t, id); len(got) != 1 {
			t.Errorf("active sessions = %v, want the one AddTOTP made", got)
		}
		if got := h.credentialTypes(t, id); !slices.Equal(got, []string{"password", "totp"}) {
			t.Errorf("credential types = %v, want [password totp]", got)
		}
	})
}

var pendingLineRE = regexp.MustCompile("(?m)^• `([a-z0-9]+)` (.*)$")

// pending runs /ory pending as user and returns the listed request ids and
// their lines.
func (h *harness) pending(t *testing.T, user string) (ids []string, lines map[string]string, text string) {
	t.Helper()
	text = h.answer(t, user, opsChan, "pending")
	lines = map[string]string{}
	for _, m := range pendingLineRE.FindAllStringSubmatch(text, -1) {
		ids = append(ids, m[1])
		lines[m[1]] = m[2]
	}
	return ids, lines, text
}

func TestPendingListEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_APPROVALS_REQUIRED", "deactivate:2")
	stop := h.startBot(t)
	n := 0
	ask := func(user, verb string) (string, slacktest.Message) {
		n++
		id := h.kratos.CreateIdentity(t, fmt.Sprintf("p%d@customer.example", n))
		return h.requestBy(t, user, fmt.Sprintf("%s %s -- pending list %d", verb, id, n))
	}
	halfway, halfwayCard := ask(requester, "deactivate") // approved once by approver2
	h.click(t, approver2, halfwayCard, "approve", halfway)
	h.waitCard(t, halfway, "1 more needed")
	open, _ := ask(requester, "lockout")
	denied, deniedCard := ask(requester, "revoke-sessions")
	h.deny(t, approver1, deniedCard, denied, "no")
	h.waitCard(t, denied, "Denied")
	cancelled, cancelledCard := ask(requester, "lockout")
	h.click(t, requester, cancelledCard, "cancel", cancelled)
	h.waitCard(t, cancelled, "Cancelled")
	done, doneCard := ask(requester, "lockout")
	h.click(t, approver1, doneCard, "approve", done)
	h.waitCard(t, done, "*Done*")
	approvers, _ := ask(approver1, "lockout")
	// approver2's Slack email is uapp2@corp.example.
	theirs, _ := h.requestBy(t, requester, "lockout "+h.kratos.CreateIdentity(t, "uapp2@corp.example")+" -- approver2's account")

	// One that expires and is not swept yet: the list must not rely on the
	// sweep.
	stop()
	h.setenv(t, "ORYBOT_REQUEST_TTL", "1s")
	h.startBot(t)
	expired, _ := ask(requester, "lockout")
	time.Sleep(1200 * time.Millisecond)
	if got := h.status(t, expired); got != store.StatusPending {
		t.Logf("the expired request was swept already (status %s)", got)
	}
	gone := map[string]string{denied: "denied", cancelled: "cancelled", done: "done", expired: "expired"}

	check := func(t *testing.T, user string, want []string, roles map[string]string) {
		t.Helper()
		ids, lines, text := h.pending(t, user)
		ids = slices.DeleteFunc(ids, func(id string) bool { return id == theirs }) // see below
		if !slices.Equal(ids, want) {
			t.Errorf("pending for %s lists %v, want %v (oldest first); text:\n%s", user, ids, want, text)
		}
		for _, id := range ids {
			if why, ok := gone[id]; ok {
				t.Errorf("pending for %s lists the %s request %s", user, why, id)
			}
		}
		for id, role := range roles {
			contains(t, "line of "+id+" for "+user, lines[id], role)
		}
		for _, id := range ids {
			card := h.card(t, id)
			link := fmt.Sprintf("https://slack.com/archives/%s/p%s", opsChan, strings.ReplaceAll(card.TS, ".", ""))
			contains(t, "line of "+id+" for "+user, lines[id], link)
		}
	}

	t.Run("approver who approved one already", func(t *testing.T) {
		check(t, approver2, []string{open, approvers}, map[string]string{
			open:      "asked by <@" + requester + ">; 0 of 1",
			approvers: "asked by <@" + approver1 + ">",
		})
	})
	t.Run("approver with a request of their own", func(t *testing.T) {
		check(t, approver1, []string{halfway, open, approvers}, map[string]string{
			halfway:   "1 of 2 approvals",
			approvers: "cancel",
		})
	})
	t.Run("requester", func(t *testing.T) {
		// The requester is also in the approver group.
		check(t, requester, []string{halfway, open, approvers}, map[string]string{
			halfway:   "cancel",
			open:      "cancel",
			approvers: "asked by <@" + approver1 + ">",
		})
	})
	t.Run("approver whose identity it is", func(t *testing.T) {
		ids, _, _ := h.pending(t, approver1)
		if !slices.Contains(ids, theirs) {
			t.Errorf("pending for %s does not list %s, which they may approve", approver1, theirs)
		}
		ids, _, text := h.pending(t, approver2)
		if slices.Contains(ids, theirs) {
			t.Errorf("pending for %s lists %s, which acts on their own identity, so they may not approve it; text:\n%s", approver2, theirs, text)
		}
	})
	t.Run("neither", func(t *testing.T) {
		ids, _, text := h.pending(t, outsider)
		if len(ids) != 0 {
			t.Errorf("pending for the outsider lists %v", ids)
		}
		contains(t, "pending for the outsider", text, "No open requests")
	})
}

func TestUserGroupsUnavailableAtStart(t *testing.T) {
	h := newHarness(t)

	// start runs the bot and returns run's error; it fails the test if run
	// does not return, stopping it if it got as far as running.
	start := func(t *testing.T) error {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- run(ctx, nil, h.getenv, &bytes.Buffer{}, h.logs) }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			cancel()
			<-done
			t.Fatalf("run did not return within 10s")
			return nil
		}
	}

	t.Run("approver group without user groups", func(t *testing.T) {
		h.slack.SetPlanUpgradeRequired(true)
		t.Cleanup(func() { h.slack.SetPlanUpgradeRequired(false) })
		err := start(t)
		if err == nil {
			t.Fatal("run started with a user group in ORYBOT_APPROVERS on a workspace without user groups")
		}
		contains(t, "error", err.Error(), "ORYBOT_APPROVERS", "plan_upgrade_required")
		if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), slacktest.BotToken) {
			t.Errorf("error reveals a secret: %v", err)
		}
	})

	t.Run("requester group without user groups", func(t *testing.T) {
		h.slack.SetPlanUpgradeRequired(true)
		t.Cleanup(func() { h.slack.SetPlanUpgradeRequired(false) })
		h.setenv(t, "ORYBOT_APPROVERS", approver1+","+approver2)
		h.setenv(t, "ORYBOT_REQUESTERS", "SREQUESTERS")
		err := start(t)
		if err == nil {
			t.Fatal("run started with a user group in ORYBOT_REQUESTERS on a workspace without user groups")
		}
		contains(t, "error", err.Error(), "ORYBOT_REQUESTERS", "plan_upgrade_required")
	})

	t.Run("unknown group", func(t *testing.T) {
		h.setenv(t, "ORYBOT_APPROVERS", approver1+",SNOSUCHGROUP")
		err := start(t)
		if err == nil {
			t.Fatal("run started with an unknown user group in ORYBOT_APPROVERS")
		}
		contains(t, "error", err.Error(), "ORYBOT_APPROVERS", "no_such_subteam")
	})

	t.Run("users only work without user groups", func(t *testing.T) {
		h.slack.SetPlanUpgradeRequired(true)
		t.Cleanup(func() { h.slack.SetPlanUpgradeRequired(false) })
		h.setenv(t, "ORYBOT_APPROVERS", approver1+","+approver2)
		h.startBot(t)
		id := h.kratos.CreateIdentity(t, "free@customer.example")
		reqID, card := h.request(t, "deactivate "+id+" -- free plan")
		contains(t, "reply to an outsider", h.clickReply(t, outsider, card, "approve", reqID), "not allowed")
		h.click(t, approver2, card, "approve", reqID)
		h.waitCard(t, reqID, "*Done*")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
	})
}

// An approver whom ORYBOT_REQUESTERS does not name may still list what
// waits for their approval, but not ask for anything.
func TestPendingForApproverOutsideRequestersEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_REQUESTERS", requester)
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "listed@customer.example")
	reqID, _ := h.request(t, "deactivate "+id+" -- pending for an approver")

	env, _ := h.command(t, approver1, opsChan, "pending")
	contains(t, "pending for approver1", h.response(t, env, 1), reqID)
	env, _ = h.command(t, approver1, opsChan, "deactivate "+id+" -- not a requester")
	contains(t, "request by approver1", h.response(t, env, 1), "not allowed to use `/ory`")
	env, _ = h.command(t, outsider, opsChan, "pending")
	contains(t, "pending for an outsider", h.response(t, env, 1), "not allowed to use `/ory`")
}
