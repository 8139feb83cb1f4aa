package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/slacktest"
)

// openDenyDialog clicks Deny as user, waits for the dialog it opens and
// returns it.
func (h *harness) openDenyDialog(t *testing.T, user string, card slacktest.Message, id string) slacktest.View {
	t.Helper()
	before := len(h.slack.Views())
	h.click(t, user, card, "deny", id)
	if err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.slack.Views()) > before }); err != nil {
		t.Fatalf("Deny by %s opened no dialog", user)
	}
	return h.slack.Views()[before]
}

// denyRefused clicks Deny as user, submits the dialog, and returns the
// ephemeral message that refuses the denial.
func (h *harness) denyRefused(t *testing.T, user string, card slacktest.Message, id string) string {
	t.Helper()
	v := h.openDenyDialog(t, user, card, id)
	before := len(h.slack.Ephemerals(user))
	env, err := h.slack.ViewSubmission(ctxT(t), slacktest.ViewSubmission{
		User: user, ViewID: v.ID, CallbackID: "deny_reason", PrivateMetadata: id,
		Values: map[string]map[string]string{"reason": {"reason": "not mine to deny"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var got string
	err = h.slack.WaitFor(ctxT(t), func() bool {
		i := slices.IndexFunc(h.slack.Ephemerals(user)[before:], func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, id) })
		if i >= 0 {
			got = h.slack.Ephemerals(user)[before+i].Text
		}
		return i >= 0
	})
	if err != nil {
		t.Fatalf("the denial by %s was neither refused nor reported", user)
	}
	return unescape.Replace(got)
}

// The deny dialog opens at once even when the user-group lookup that
// decides who may deny is slow: Slack's trigger id lives three seconds.
func TestDenyDialogOpensBeforeTheGroupLookup(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_GROUP_CACHE_TTL", "1ms") // every check asks Slack
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "slowgroup@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- slow group lookup")
	h.slack.SetDelay("usergroups.users.list", 4*time.Second)

	before := len(h.slack.Calls("views.open"))
	start := time.Now()
	v := h.openDenyDialog(t, approver2, card, reqID)
	opened := h.slack.Calls("views.open")[before].At
	if d := opened.Sub(start); d > 2*time.Second {
		t.Errorf("views.open came %v after the click, want well within the trigger id's 3 s", d)
	}
	env, err := h.slack.ViewSubmission(ctxT(t), slacktest.ViewSubmission{
		User: approver2, ViewID: v.ID, CallbackID: "deny_reason", PrivateMetadata: reqID,
		Values: map[string]map[string]string{"reason": {"reason": "slow but sure"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	h.waitCard(t, reqID, "Denied")
}
