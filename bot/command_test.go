package bot

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// ack returns the text of the ack of env, "" if the ack had no payload.
func (f *flow) ack(env *slacktest.Envelope) string {
	f.t.Helper()
	a, err := env.WaitAck(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if a.Payload == nil {
		return ""
	}
	var p struct {
		Text         string `json:"text"`
		ResponseType string `json:"response_type"`
	}
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		f.t.Fatalf("ack %s: %v", a.Payload, err)
	}
	if p.ResponseType != "ephemeral" {
		f.t.Errorf("ack %q is %q, want ephemeral", p.Text, p.ResponseType)
	}
	return p.Text
}

// Typing mistakes, help and unknown audit subcommands are answered in the
// ack itself, before any I/O, with words for each mistake.
func TestAnsweredInTheAck(t *testing.T) {
	f := newFlow(t, nil)
	long := strings.Repeat("x", commands.MaxReasonLen+1)
	tests := []struct {
		text string
		want []string
		help bool // the help text is shown
	}{
		{"", []string{"Tell me what to do: type a command after `/ory`."}, true},
		{"frobnicate a@example.com", []string{"I don't know the command `frobnicate`."}, true},
		{"show", []string{"Say which identity: give its id or email.", "Usage: `/ory show <identity-id or email>`"}, true},
		{"show bob", []string{"`bob` is neither an identity id", "Usage: `/ory show"}, true},
		{"revoke-session bob -- x", []string{"`bob` is not a session id", "Usage: `/ory revoke-session <session-id> -- <reason>`"}, true},
		{"cancel XYZ", []string{"`XYZ` is not a request id", "Usage: `/ory cancel <request-id>`"}, true},
		{"delete-credential a@example.com -- x", []string{"Some arguments are missing.", "Usage: `/ory delete-credential"}, true},
		{"show a@example.com extra words", []string{"I didn't expect `extra words` there."}, true},
		{"deactivate a@example.com", []string{"A reason is required", "Usage: `/ory deactivate"}, true},
		{"deactivate a@example.com -- " + long, []string{"The reason is too long: keep it under 500 characters."}, true},
		{"help", []string{"*orybot* acts on Ory identities", "`/ory lockout"}, true},
		{"audit foo", []string{"I don't know `/ory audit foo`. Did you mean `/ory audit verify`?"}, false},
	}
	for _, tt := range tests {
		env := f.command("UREQ", tt.text)
		got := f.ack(env)
		mustContain(t, "ack of /ory "+tt.text, got, tt.want...)
		if hasHelp := strings.Contains(got, helpText()); hasHelp != tt.help {
			t.Errorf("ack of /ory %s: help shown = %v, want %v", tt.text, hasHelp, tt.help)
		}
	}
	if n := len(f.fs.ResponsePosts("")); n != 0 {
		t.Errorf("%d replies after the acks, want none: everything was said in the ack", n)
	}
	f.noActions()
}

// parseWords has words for every sentinel commands.Parse returns, and a
// fallback for one it does not know.
func TestParseWords(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{commands.ErrEmpty, "Tell me what to do"},
		{commands.ErrUnknownVerb, "I don't know the command `v`."},
		{commands.ErrMissingTarget, "Say which identity"},
		{commands.ErrBadTarget, "`v` is neither an identity id"},
		{commands.ErrBadSessionID, "`v` is not a session id"},
		{commands.ErrBadRequestID, "`v` is not a request id"},
		{commands.ErrMissingArgs, "Some arguments are missing."},
		{commands.ErrExtraArgs, "I didn't expect `v` there."},
		{commands.ErrReasonRequired, "A reason is required"},
		{commands.ErrReasonTooLong, "The reason is too long"},
		{errors.New("a sentinel added later"), "I couldn't read that command. Usage: `/ory lockout"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		pe := &commands.ParseError{Err: tt.err, Verb: commands.Lockout, Value: "v"}
		got := parseWords(pe)
		mustContain(t, "parseWords("+tt.err.Error()+")", got, tt.want)
		if seen[got] {
			t.Errorf("parseWords(%v) = %q, the same words as another error", tt.err, got)
		}
		seen[got] = true
		// userWords finds a parse error however it is wrapped.
		if w, known := userWords(errWrap{pe}); !known || w != got {
			t.Errorf("userWords(wrapped %v) = %q, %v; want %q, true", tt.err, w, known, got)
		}
	}
}

type errWrap struct{ err error }

func (e errWrap) Error() string { return "wrapped: " + e.err.Error() }
func (e errWrap) Unwrap() error { return e.err }

// ORYBOT_REQUESTERS limits who may use /ory (users and user groups);
// approvers may still list what waits for them. ORYBOT_CHANNELS limits
// where; help works anywhere.
func TestWhoMayUseOry(t *testing.T) {
	f := newFlow(t, func(c *Config, _ *fakeOry) {
		c.Requesters = []string{"UREQ", "SREQUESTERS"}
		c.Channels = []string{"COPS", "CSEC"}
	})
	const refused = "You are not allowed to use `/ory`: only the users and groups in ORYBOT_REQUESTERS are."
	tests := []struct {
		user, channel, text string
		ack                 string // what the ack says, if it answers
		reply               string // else what the reply says
	}{
		{user: "UOTHER", channel: "COPS", text: "show " + flowTargetEmail, reply: refused},
		{user: "UOTHER", channel: "COPS", text: "deactivate " + flowTargetEmail + " -- x", reply: refused},
		{user: "UOTHER", channel: "COPS", text: "pending", reply: refused},
		{user: "UOTHER", channel: "COPS", text: "audit verify", reply: refused},
		{user: "UAPP", channel: "COPS", text: "show " + flowTargetEmail, reply: refused},
		{user: "UAPP", channel: "COPS", text: "pending", reply: "No open requests that you can act on."},
		{user: "UAPP2", channel: "COPS", text: "pending", reply: "No open requests that you can act on."},
		{user: "UGRP", channel: "CSEC", text: "show " + flowTargetEmail, reply: "*Identity* `" + rigIdentity + "`"},
		{user: "UREQ", channel: "CSEC", text: "sessions " + flowTargetEmail, reply: flowSessionID},
		{user: "UREQ", channel: "CELSE", text: "show " + flowTargetEmail, ack: "`/ory` is not accepted in this channel. Use it in <#COPS>, <#CSEC>."},
		{user: "UREQ", channel: "CELSE", text: "deactivate " + flowTargetEmail + " -- x", ack: "`/ory` is not accepted in this channel."},
		{user: "UOTHER", channel: "CELSE", text: "help", ack: "*orybot* acts on Ory identities"},
	}
	for _, tt := range tests {
		env := f.commandIn(tt.user, tt.channel, tt.text)
		ack := f.ack(env)
		what := tt.user + " in " + tt.channel + ": /ory " + tt.text
		if tt.ack != "" {
			mustContain(t, "ack to "+what, ack, tt.ack)
			continue
		}
		if ack != "" {
			t.Errorf("ack to %s = %q, want an empty ack", what, ack)
		}
		mustContain(t, "reply to "+what, f.reply(env), tt.reply)
	}
	if n := len(f.fs.Messages("COPS")); n != 0 {
		t.Errorf("%d cards posted, want none", n)
	}
	f.noActions()
}

// When Slack cannot list a user group, nobody is let through on a guess:
// the user is told, and nothing is requested or decided.
func TestUserGroupLookupFails(t *testing.T) {
	f := newFlow(t, func(c *Config, _ *fakeOry) { c.Requesters = []string{"UREQ", "SREQUESTERS"} })
	reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
	f.fs.SetPlanUpgradeRequired(true)
	f.clock.advance(10 * time.Minute) // past the group cache

	mustContain(t, "non-requester", f.ask("UGRP", "show "+flowTargetEmail), "Slack could not list a user group", "plan_upgrade_required")
	mustContain(t, "pending for a non-approver", f.ask("UGRP", "pending"), "Slack could not list a user group")
	mustContain(t, "approval by a group member", f.reply(f.click("UAPP2", actionApprove, reqID, ts)),
		"Slack could not list a user group", "The request is still pending.")
	if r := f.get(reqID); r.Status != store.StatusPending || len(r.Approvals) != 0 {
		t.Errorf("request is %s with %d approvals, want pending with none", r.Status, len(r.Approvals))
	}
	f.noActions()
}

// A changing request made in a direct message is refused in the ack:
// approvers could not see its card there.
func TestChangingRequestInDirectMessage(t *testing.T) {
	f := newFlow(t, nil)
	mustContain(t, "ack", f.ack(f.commandIn("UREQ", "D0DIRECT", "lockout "+flowTargetEmail+" -- x")), "requests need a channel")
	if got := f.ack(f.commandIn("UREQ", "D0DIRECT", "show "+flowTargetEmail)); got != "" {
		t.Errorf("ack of show in a DM = %q, want it answered after the ack", got)
	}
}

// A failing group of ORYBOT_REQUESTERS must be named as such, so that the
// admin checks the right setting.
func TestRequesterGroupFailureNamesTheSetting(t *testing.T) {
	f := newFlow(t, func(c *Config, _ *fakeOry) { c.Requesters = []string{"UREQ", "SREQUESTERS"} })
	f.fs.SetPlanUpgradeRequired(true)
	f.clock.advance(10 * time.Minute)
	got := f.ask("UGRP", "show "+flowTargetEmail)
	mustContain(t, "reply", got, "ORYBOT_REQUESTERS")
	mustNotContain(t, "reply", got, "ORYBOT_APPROVERS")
}
