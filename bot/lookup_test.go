package bot

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/ory"
)

// /ory show and /ory sessions answer the asker alone, with the email
// masked, and change nothing.
func TestShowAndSessions(t *testing.T) {
	const (
		quiet = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e" // no sessions
		busy  = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f" // more sessions than one answer shows
	)
	f := newFlow(t, func(_ *Config, o *fakeOry) {
		o.identities = append(o.identities,
			ory.Identity{ID: quiet, State: ory.StateInactive, Email: "quiet@example.com", Fingerprint: "q"},
			ory.Identity{ID: busy, State: ory.StateActive, Fingerprint: "b"},
			ory.Identity{ID: "twin-1", Email: "twin@example.com"}, ory.Identity{ID: "twin-2", Email: "twin@example.com"})
		for i := range maxSessionsShown + 5 {
			o.sessions = append(o.sessions, ory.Session{ID: fmt.Sprintf("s%02d", i), IdentityID: busy, Active: true, UserAgent: strings.Repeat("u", 80)})
		}
	})
	tests := []struct {
		text string
		want []string
		not  []string
	}{
		{
			text: "show " + flowTargetEmail,
			want: []string{"*Identity* `" + rigIdentity + "`", "• Email: t***@example.com", "• State: active", "• Schema: default",
				"• Credentials: `lookup_secret`, `oidc`, `password`, `totp`, `webauthn`", "• Active sessions: 1"},
			not: []string{flowTargetEmail, "google:123"},
		},
		{
			text: "show " + strings.ToUpper(rigIdentity),
			want: []string{"*Identity* `" + rigIdentity + "`"},
		},
		{
			text: "show " + busy,
			want: []string{"• Email: –", "• Schema: –", "• Credentials: none", "• Active sessions: 25"},
		},
		{
			text: "show nobody@example.com",
			want: []string{"No identity in Ory has the email `nobody@example.com` as a login identifier."},
		},
		{
			text: "show 99999999-9999-4999-8999-999999999999",
			want: []string{"Ory has no identity with id `99999999-9999-4999-8999-999999999999`."},
		},
		{
			text: "show twin@example.com",
			want: []string{"That email matches 2 identities in Ory"},
		},
		{
			text: "sessions " + flowTargetEmail,
			want: []string{"*Active sessions of* `" + rigIdentity + "` (1):", "• `" + flowSessionID + "` · authenticated <!date^", "aal2 · Firefox"},
			not:  []string{flowOldSessionID},
		},
		{
			text: "sessions " + quiet,
			want: []string{"Identity `" + quiet + "` has no active sessions."},
		},
		{
			text: "sessions " + busy,
			want: []string{"(25):", "`s19`", "…and 5 more.", strings.Repeat("u", 59) + "…"},
			not:  []string{"`s20`", strings.Repeat("u", 60)},
		},
	}
	for _, tt := range tests {
		got := f.ask("UREQ", tt.text)
		mustContain(t, "/ory "+tt.text, got, tt.want...)
		mustNotContain(t, "/ory "+tt.text, got, tt.not...)
	}
	f.noActions()
	if n := len(f.fs.Messages("")); n != 0 {
		t.Errorf("%d messages posted, want none: lookups answer the asker alone", n)
	}
}

// Ory failing on a lookup is put in words for the asker.
func TestLookupOryFailure(t *testing.T) {
	f := newFlow(t, nil)
	f.o.setErr("Sessions", &ory.Error{Op: "list sessions", Status: 429, Err: ory.ErrRateLimited})
	mustContain(t, "show", f.ask("UREQ", "show "+flowTargetEmail), "Ory's rate limit was hit")
	f.o.setErr("Sessions", nil)
	f.o.setErr("IdentityByEmail", &ory.Error{Op: "list identities", Status: 401, Err: ory.ErrUnauthorized})
	mustContain(t, "sessions", f.ask("UREQ", "sessions "+flowTargetEmail), "ORY_API_KEY")
	f.o.setErr("Session", &ory.Error{Op: "get session", Status: 503, Err: ory.ErrUnavailable})
	mustContain(t, "revoke-session", f.ask("UREQ", "revoke-session "+flowSessionID+" -- x"), "Ory could not be reached", "Nothing was requested.")
}

// revoke-session is refused before the card for a session Ory does not
// have and for one that no longer works.
func TestRevokeSessionRefusals(t *testing.T) {
	f := newFlow(t, nil)
	mustContain(t, "unknown session", f.ask("UREQ", "revoke-session 99999999-9999-4999-8999-999999999999 -- x"),
		"Ory has no session with id `99999999-9999-4999-8999-999999999999`")
	mustContain(t, "inactive session", f.ask("UREQ", "revoke-session "+flowOldSessionID+" -- x"),
		"Session `"+flowOldSessionID+"` is already inactive")
	// An inactive identity's sessions come back with it, so they may be
	// revoked although Kratos reports them inactive.
	f.o.edit(rigIdentity, func(i *ory.Identity) { i.State = ory.StateInactive })
	mustContain(t, "inactive identity's session", f.ask("UREQ", "revoke-session "+flowOldSessionID+" -- x"), "is waiting for approval")
	if n := len(f.fs.Messages("COPS")); n != 1 {
		t.Errorf("%d cards, want one", n)
	}
}

// /ory pending lists what each user may act on: approvers the requests they
// have not approved and that are not about their own identity, requesters
// their own.
func TestPending(t *testing.T) {
	f := newFlow(t, func(c *Config, _ *fakeOry) { c.ApprovalsRequired = map[string]int{"lockout": 2} })
	lockout, ts := f.request("lockout " + flowTargetEmail + " -- takeover")
	deactivate, _ := f.request("deactivate " + flowTargetEmail + " -- phished")
	f.reply(f.click("UAPP", actionApprove, lockout, ts)) // 1 of 2
	cancelled, cts := f.request("revoke-sessions " + flowTargetEmail + " -- x")
	f.reply(f.click("UREQ", actionCancel, cancelled, cts))
	card, _ := f.card(lockout)

	line := func(id string) string { return "• `" + id + "` `" }
	tests := []struct {
		user string
		want []string
		not  []string
	}{
		{
			user: "UREQ",
			want: []string{"*Open requests you can act on:*", line(lockout), line(deactivate), "(yours; you may cancel it)",
				fmt.Sprintf("<https://slack.com/archives/COPS/p%s|open the card>", strings.ReplaceAll(card.TS, ".", ""))},
			not: []string{cancelled},
		},
		{
			user: "UAPP", // approved the lockout already
			want: []string{line(deactivate), "(asked by <@UREQ>; 0 of 1 approvals)"},
			not:  []string{lockout, cancelled},
		},
		{
			user: "UAPP2",
			want: []string{line(lockout), "(asked by <@UREQ>; 1 of 2 approvals)", line(deactivate)},
		},
		{
			user: "UOTHER",
			want: []string{"No open requests that you can act on."},
		},
	}
	for _, tt := range tests {
		got := f.ask(tt.user, "pending")
		mustContain(t, "pending for "+tt.user, got, tt.want...)
		mustNotContain(t, "pending for "+tt.user, got, tt.not...)
	}

	// An approver does not see requests about their own identity.
	f.fs.SetUser("UAPP2", "app2", flowTargetEmail)
	f.clock.advance(10 * time.Minute) // past the email cache
	mustContain(t, "pending for the target", f.ask("UAPP2", "pending"), "No open requests that you can act on.")
}

// /ory audit verify checks the hash chain and says how it ends, or that
// it does not verify.
func TestAuditVerify(t *testing.T) {
	f := newFlow(t, nil)
	mustContain(t, "empty trail", f.ask("UREQ", "audit verify"), ":white_check_mark: The audit trail verifies: 0 records, the last with hash `–`")
	reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
	f.approveAndWait("UAPP", reqID, ts)
	recs := f.audit(reqID)
	last := recs[len(recs)-1]
	mustContain(t, "trail", f.ask("UREQ", "audit verify"),
		fmt.Sprintf("The audit trail verifies: %d records, the last with hash `%s`", last.Seq, last.Hash), "<#CAUDIT>")

	// Someone with write access to the database rewrites a result.
	db, err := sql.Open("sqlite", "file:"+f.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(f.ctx, `UPDATE audit_log SET result = 'nothing happened' WHERE seq = $1`, last.Seq); err != nil {
		t.Fatal(err)
	}
	got := f.ask("UREQ", "audit verify")
	mustContain(t, "tampered trail", got, ":rotating_light: The audit trail does *not* verify",
		fmt.Sprintf("audit record %d does not match: hash mismatch", last.Seq), "<#CAUDIT>")
	mustNotContain(t, "tampered trail", got, "verifies:")
}

// An approver whose Slack profile has no email cannot decide others'
// requests, so pending leaves them out and says why.
func TestPendingSaysWhyWithoutEmail(t *testing.T) {
	f := newFlow(t, nil)
	f.request("deactivate " + flowTargetEmail + " -- phished")
	f.fs.SetUser("UAPP", "app", "")
	got := f.ask("UAPP", "pending")
	mustContain(t, "pending", got, "No open requests that you can act on.", "no email address")
}

// A requester whose Slack profile has no email is refused before Ory is
// asked anything.
func TestRequesterWithoutEmailRefusedFirst(t *testing.T) {
	f := newFlow(t, nil)
	f.fs.SetUser("UREQ", "req", "")
	got := f.ask("UREQ", "deactivate "+flowTargetEmail+" -- phished")
	mustContain(t, "reply", got, "no email address", "Nothing was requested.")
	if calls := f.o.Calls(); len(calls) != 0 {
		t.Errorf("Ory was asked %q, want nothing", calls)
	}
}
