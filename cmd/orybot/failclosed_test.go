package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/kratostest"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// The end-to-end tests of issue 10: the bot fails closed against hostile
// identity data, users of other workspaces, permissions that change while
// a request waits, forged payloads and a dead audit channel.

// markup is Slack markup that must never reach a message the bot posts as
// markup: it would ping everyone or show a disguised link.
var markup = []string{"<!channel>", "<!here>", "<!everyone>", "<https://evil.example", "<@UEVIL>"}

// assertNoMarkup fails the test if anything the bot sent to Slack carries
// hostile markup raw.
func (h *harness) assertNoMarkup(t *testing.T) {
	t.Helper()
	all := h.slack.AllText()
	for _, m := range markup {
		if i := strings.Index(all, m); i >= 0 {
			t.Errorf("the bot sent %q raw to Slack: …%s…", m, all[max(0, i-200):min(len(all), i+100)])
		}
	}
}

func TestHostileMarkupEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	pinger := h.kratos.CreateIdentity(t, `"x@<!channel>"@customer.example`)
	linker := h.kratos.CreateIdentity(t, `"<https://evil.example|verify>"@customer.example`)
	sessionID, _ := h.kratos.LoginWithUserAgent(t, `"x@<!channel>"@customer.example`, "<https://evil.example|Verify your approval> <!here> <@UEVIL>")

	show := h.lookup(t, "show "+pinger)
	contains(t, "show", slackUnescape.Replace(show), `"***@customer.example`)
	h.lookup(t, "show "+linker)
	sessions := h.lookup(t, "sessions "+pinger)
	contains(t, "sessions", slackUnescape.Replace(sessions), sessionID, "Verify your approval")

	// A card for each hostile identity and for the hostile session, with a
	// hostile reason; one approved, one denied with a hostile reason.
	reqID, card := h.request(t, "revoke-session "+sessionID+" -- <!here> see <https://evil.example|this>")
	contains(t, "card", slackUnescape.Replace(blocks(card)), "Verify your approval", `"***@customer.example`)
	h.click(t, approver1, card, "approve", reqID)
	h.waitCard(t, reqID, "Done")
	reqID, card = h.request(t, "deactivate "+linker+" -- <!everyone>")
	h.deny(t, approver1, card, reqID, "<!here> it was <https://evil.example|them>")
	h.waitCard(t, reqID, "Denied")
	h.settled(t, reqID)
	// Errors that quote what the user typed.
	h.refused(t, "deactivate <!channel>@x -- test")
	h.refused(t, "delete-credential "+pinger+" <!here> -- test")
	h.assertNoMarkup(t)
}

func TestOwnIdentityByEveryAddressEndToEnd(t *testing.T) {
	h := newHarness(t, kratostest.WithSchema("emails", []byte(kratostest.EmailsSchema)))
	h.startBot(t)
	emails := func(second string) string {
		return h.kratos.CreateIdentityWithTraits(t, "emails", map[string]any{
			"emails": []string{"first-" + second, second},
		})
	}

	t.Run("requester", func(t *testing.T) {
		id := emails(strings.ToUpper(strings.ToLower(requester) + "@corp.example"))
		contains(t, "reply", h.refused(t, "deactivate "+id+" -- mine"), "your own identity")
	})

	t.Run("approver", func(t *testing.T) {
		id := emails(strings.ToLower(approver1) + "@corp.example")
		reqID, card := h.request(t, "deactivate "+id+" -- the approver's second address")
		muts := h.mutations()
		contains(t, "reply", h.clickReply(t, approver1, card, "approve", reqID), "your own identity", "still pending")
		if got := h.status(t, reqID); got != store.StatusPending {
			t.Errorf("status = %s, want pending", got)
		}
		if n := h.mutations() - muts; n != 0 {
			t.Errorf("%d changing Ory calls, want none", n)
		}
		// Another approver may.
		h.click(t, approver2, card, "approve", reqID)
		h.waitCard(t, reqID, "Done")
	})
}

func TestOutsidersAndStalePermissionsEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_REQUESTERS", requester+","+outsider)
	stop := h.startBot(t)

	t.Run("a user of another team", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "connect@customer.example")
		env, err := h.slack.SlashCommand(ctxT(t), slacktest.SlashCommand{User: requester, Channel: opsChan, Command: "/ory",
			Text: "deactivate " + id + " -- from outside", Team: "T0OTHER"})
		if err != nil {
			t.Fatal(err)
		}
		ack, err := env.WaitAck(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		contains(t, "ack", string(ack.Payload), "only serves members of its own Slack workspace")

		reqID, card := h.request(t, "deactivate "+id+" -- from inside")
		muts := h.mutations()
		click, err := h.slack.BlockAction(ctxT(t), slacktest.BlockAction{User: approver1, Channel: opsChan, MessageTS: card.TS,
			ActionID: "approve", BlockID: "decide", Value: reqID, Team: "T0OTHER"})
		if err != nil {
			t.Fatal(err)
		}
		contains(t, "reply", h.response(t, click, 1), "only serves members of its own Slack workspace")
		if got := h.status(t, reqID); got != store.StatusPending {
			t.Errorf("status = %s, want pending", got)
		}
		if n := h.mutations() - muts; n != 0 {
			t.Errorf("%d changing Ory calls, want none", n)
		}
		contains(t, "log", h.logs.String(), "refused: user of another team")
	})

	t.Run("an approver without a Slack email", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "noemail@customer.example")
		reqID, card := h.request(t, "deactivate "+id+" -- approver without email")
		h.slack.SetUser(approver2, "uapp2", "")
		defer h.slack.SetUser(approver2, "uapp2", "uapp2@corp.example")
		muts := h.mutations()
		contains(t, "reply", h.clickReply(t, approver2, card, "approve", reqID), "no email address", "still pending")
		if n := h.mutations() - muts; n != 0 {
			t.Errorf("%d changing Ory calls, want none", n)
		}
		// A requester without one may not ask either.
		h.slack.SetUser(outsider, "uother", "")
		defer h.slack.SetUser(outsider, "uother", "uother@corp.example")
		contains(t, "reply", h.answer(t, outsider, opsChan, "deactivate "+id+" -- no email"), "no email address", "Nothing was requested")
	})

	t.Run("a requester removed before approval", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "removed@customer.example")
		reqID, card := h.request(t, "deactivate "+id+" -- asked, then removed")
		stop()
		h.setenv(t, "ORYBOT_REQUESTERS", outsider)
		h.startBot(t)
		muts := h.mutations()
		h.click(t, approver1, card, "approve", reqID)
		card = h.waitCard(t, reqID, "Failed")
		contains(t, "card", blocks(card), "no longer allowed", "ORYBOT_REQUESTERS", "Nothing was sent to Ory")
		h.waitDM(t, requester, reqID, "no longer allowed")
		if n := h.mutations() - muts; n != 0 {
			t.Errorf("%d changing Ory calls, want none", n)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("state = %s, want active", got)
		}
	})
}

func TestMalformedInteractionsEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "forged@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- forged payloads")
	muts := h.mutations()

	forged := func(action, value string) string {
		t.Helper()
		env, err := h.slack.BlockAction(ctxT(t), slacktest.BlockAction{User: approver1, Channel: opsChan, MessageTS: card.TS,
			ActionID: action, BlockID: "decide", Value: value})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitAck(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		return h.response(t, env, 1)
	}
	contains(t, "unknown action", forged("launch_missiles", reqID), "I don't know that button")
	contains(t, "empty value", forged("approve", ""), "does not name a request")
	contains(t, "huge value", forged("approve", strings.Repeat("x", 5000)), "does not name a request")
	contains(t, "unknown request", forged("approve", "zzzzzzzzzz"), "does not exist")

	// A dialog submission without state, and one for an unknown request:
	// both have no response_url, so the answer comes by direct message.
	raw, _ := json.Marshal(map[string]any{
		"type": "view_submission", "api_app_id": slacktest.AppID,
		"team": map[string]any{"id": slacktest.TeamID},
		"user": map[string]any{"id": approver1, "team_id": slacktest.TeamID},
		"view": map[string]any{"id": "V1", "type": "modal", "callback_id": "deny_reason", "private_metadata": reqID},
	})
	env, err := h.slack.Send(ctxT(t), "interactive", json.RawMessage(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	h.waitText(t, approver1, "arrived without its contents")
	env, err = h.slack.ViewSubmission(ctxT(t), slacktest.ViewSubmission{User: approver1, ViewID: "V2", CallbackID: "deny_reason",
		PrivateMetadata: "zzzzzzzzzz", Values: map[string]map[string]string{"reason": {"reason": strings.Repeat("r", 5000)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	h.waitText(t, approver1, "does not exist")

	// A 5,000-character reason is refused in the ack.
	_, ack := h.command(t, requester, opsChan, "deactivate "+id+" -- "+strings.Repeat("because ", 625))
	contains(t, "ack", ack, "The reason is too long")

	if got := h.status(t, reqID); got != store.StatusPending {
		t.Errorf("status = %s, want pending", got)
	}
	if n := h.mutations() - muts; n != 0 {
		t.Errorf("%d changing Ory calls, want none", n)
	}
	// The bot still serves.
	h.click(t, approver1, card, "approve", reqID)
	h.waitCard(t, reqID, "Done")
	if strings.Contains(h.logs.String(), "panic") {
		t.Logf("a handler panicked and was recovered")
	}
}

// waitText waits for a direct message to user that contains want.
func (h *harness) waitText(t *testing.T, user, want string) {
	t.Helper()
	err := h.slack.WaitFor(ctxT(t), func() bool {
		for _, m := range h.slack.Messages(user) {
			if strings.Contains(m.Text, want) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no direct message to %s saying %q", user, want)
	}
}

func TestAuditChannelArchivedEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_AUDIT_MAX_LAG", "2s")
	h.startBot(t)
	first := h.kratos.CreateIdentity(t, "archived1@customer.example")
	second := h.kratos.CreateIdentity(t, "archived2@customer.example")

	h.slack.SetArchived(auditChan, true)
	reqID, card := h.request(t, "deactivate "+first+" -- before the lag")
	time.Sleep(2500 * time.Millisecond)

	contains(t, "refusal", h.refused(t, "deactivate "+second+" -- after the lag"), "audit channel", "unreachable since", "<!date^")
	contains(t, "show", h.lookup(t, "show "+second), "State: active")
	muts := h.mutations()
	contains(t, "approval", h.clickReply(t, approver1, card, "approve", reqID), "unreachable since", "still pending")
	if n := h.mutations() - muts; n != 0 {
		t.Errorf("%d changing Ory calls, want none", n)
	}

	h.slack.SetArchived(auditChan, false)
	st, err := store.Open(t.Context(), h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = h.slack.WaitFor(ctxT(t), func() bool {
		oldest, err := st.OldestUndelivered(t.Context())
		return err == nil && oldest.IsZero()
	})
	if err != nil {
		t.Fatalf("the queued audit records were not all posted once the channel was back")
	}
	var seqs []string
	for _, m := range h.slack.Messages(auditChan) {
		if s := auditSeqRE.FindStringSubmatch(string(m.Blocks)); s != nil {
			seqs = append(seqs, s[1])
		}
	}
	for i, s := range seqs {
		if want := itoa(i + 1); s != want {
			t.Fatalf("audit channel posts have numbers %v, want 1, 2, 3… in order", seqs)
		}
	}
	h.request(t, "deactivate "+second+" -- the channel is back")
	contains(t, "log", h.logs.String(), "is_archived")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
