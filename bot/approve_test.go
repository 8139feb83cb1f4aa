package bot

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// Approving a request runs exactly its verb's Ory calls, once, in order,
// and the card, the requester and the audit trail all say what they did.
func TestApprovalRunsTheVerbsSteps(t *testing.T) {
	id := rigIdentity
	tests := []struct {
		text    string
		actions []string // Ory calls that change something
		result  []string // lines of the result, in the card and the store
		steps   []string // subjects of the step records
	}{
		{
			text:    "deactivate " + flowTargetEmail + " -- phished",
			actions: []string{"SetState " + id + " inactive"},
			result:  []string{"✓ identity is now inactive"},
			steps:   []string{""},
		},
		{
			text:    "activate " + id + " -- recovered",
			actions: []string{"SetState " + id + " active"},
			result:  []string{"✓ identity is now active"},
			steps:   []string{""},
		},
		{
			text:    "lockout " + flowTargetEmail + " -- account takeover",
			actions: []string{"SetState " + id + " inactive", "RevokeSessions " + id},
			result:  []string{"✓ identity is now inactive", "✓ revoked all sessions; 1 was active"},
			steps:   []string{"", ""},
		},
		{
			text:    "revoke-session " + flowSessionID + " -- unknown device",
			actions: []string{"RevokeSession " + flowSessionID},
			result:  []string{"✓ revoked session " + flowSessionID + " of identity " + id},
			steps:   []string{flowSessionID},
		},
		{
			text:    "revoke-sessions " + flowTargetEmail + " -- password leaked",
			actions: []string{"RevokeSessions " + id},
			result:  []string{"✓ revoked all sessions; 1 was active"},
			steps:   []string{""},
		},
		{
			text:    "delete-credential " + flowTargetEmail + " totp -- lost phone",
			actions: []string{"DeleteCredential " + id + " totp"},
			result:  []string{"✓ removed the totp credential"},
			steps:   []string{"totp"},
		},
		{
			text:    "delete-credential " + flowTargetEmail + " oidc google:123 -- unlink",
			actions: []string{"DeleteCredential " + id + " oidc google:123"},
			result:  []string{"✓ removed the oidc credential"},
			steps:   []string{"oidc"},
		},
		{
			text: "reset-2fa " + flowTargetEmail + " -- lost phone",
			actions: []string{"DeleteCredential " + id + " totp", "DeleteCredential " + id + " lookup_secret",
				"DeleteCredential " + id + " webauthn"},
			result: []string{"✓ removed the totp credential", "✓ removed the lookup_secret credential", "✓ removed the webauthn credential"},
			steps:  []string{"totp", "lookup_secret", "webauthn"},
		},
	}
	for _, tt := range tests {
		name := strings.Join(strings.Fields(tt.text)[:1], "")
		if strings.Contains(tt.text, " oidc ") {
			name += "_oidc"
		}
		t.Run(name, func(t *testing.T) {
			f := newFlow(t, nil)
			reqID, ts := f.request(tt.text)
			f.noActions()
			mustContain(t, "pending card", f.cardText(reqID), "Approval needed", "Approve", "Deny", "Cancel request")

			r := f.approveAndWait("UAPP", reqID, ts)

			if got := f.o.actions(); !slices.Equal(got, tt.actions) {
				t.Errorf("Ory actions = %q, want %q", got, tt.actions)
			}
			want := strings.Join(tt.result, "\n")
			if r.Status != store.StatusDone || r.Result != want || r.Approver != "UAPP" {
				t.Errorf("request is %s by %q with result %q, want done by UAPP with %q", r.Status, r.Approver, r.Result, want)
			}
			card := f.cardText(reqID)
			mustContain(t, "card", card, append([]string{"Done", "approved by <@UAPP>"}, tt.result...)...)
			mustNotContain(t, "card", card, "Approval needed", "Cancel request", "running…")
			mustContain(t, "message to the requester", f.dms("UREQ")[0], reqID, "Done", tt.result[0])

			var events []audit.Event
			var subjects []string
			for _, rec := range f.audit(reqID) {
				events = append(events, rec.Event)
				if rec.Event == audit.Step {
					subjects = append(subjects, rec.Subject)
				}
				if rec.Reason != strings.TrimSpace(strings.SplitN(tt.text, "--", 2)[1]) {
					t.Errorf("audit record %s has reason %q", rec.Event, rec.Reason)
				}
			}
			want2 := []audit.Event{audit.Requested, audit.Approved}
			for range tt.steps {
				want2 = append(want2, audit.Step)
			}
			sameEvents(t, reqID, events, append(want2, audit.Done))
			if !slices.Equal(subjects, tt.steps) {
				t.Errorf("step subjects = %q, want %q", subjects, tt.steps)
			}

			// Every record reaches the audit channel.
			f.waitAuditDelivered()
			if got, want := len(f.fs.Messages("CAUDIT")), len(events); got != want {
				t.Errorf("%d posts in the audit channel, want one per record (%d)", got, want)
			}
		})
	}
}

// A recovery secret goes to the requester alone: the card, the audit trail,
// the audit channel and the requester's outcome message carry only its
// fingerprint.
func TestRecoverySecretReachesOnlyTheRequester(t *testing.T) {
	tests := []struct {
		verb        string
		action      string
		fingerprint string
		ephemeral   []string
	}{
		{"recovery", "RecoveryLink " + rigIdentity, Fingerprint(fakeRecoveryLink),
			[]string{"Recovery link for identity", esc(fakeRecoveryLink)}},
		{"recovery-code", "RecoveryCode " + rigIdentity, Fingerprint(fakeRecoveryLink + "\n" + fakeRecoveryCode),
			[]string{"Recovery code for identity", "`" + fakeRecoveryCode + "`", esc(fakeRecoveryLink)}},
	}
	code := regexp.MustCompile(`\b` + fakeRecoveryCode + `\b`)
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			f := newFlow(t, nil)
			reqID, ts := f.request(tt.verb + " " + flowTargetEmail + " -- locked out, verified by video call")
			r := f.approveAndWait("UAPP", reqID, ts)
			f.waitAuditDelivered()

			if got := f.o.actions(); !slices.Equal(got, []string{tt.action}) {
				t.Errorf("Ory actions = %q, want %q", got, tt.action)
			}
			if r.Status != store.StatusDone {
				t.Errorf("request is %s (%q), want done", r.Status, r.Result)
			}
			if eph := f.fs.Ephemerals(""); len(eph) != 0 {
				t.Errorf("ephemerals = %+v, want none: secrets go by direct message", eph)
			}
			var secretTS string
			for _, m := range f.fs.Messages("UREQ") {
				if strings.Contains(m.Text, "SECRETtoken") {
					if secretTS != "" {
						t.Errorf("the secret went to the requester twice")
					}
					secretTS = m.TS
					mustContain(t, "direct message", m.Text, append(tt.ephemeral, reqID)...)
				}
			}
			if secretTS == "" {
				t.Fatal("no direct message to the requester carries the secret")
			}

			mustContain(t, "card", f.cardText(reqID), "sent to <@UREQ> only", "fingerprint `"+tt.fingerprint+"`")
			var seen []string
			for _, m := range f.fs.Messages("") {
				if m.Channel == "UREQ" && m.TS == secretTS {
					continue
				}
				for _, v := range m.Versions {
					seen = append(seen, m.Channel+": "+blockText(v.Text, v.Blocks))
				}
			}
			for _, p := range f.fs.ResponsePosts("") {
				seen = append(seen, "response_url: "+string(p.Body))
			}
			for _, rec := range f.audit(reqID) {
				seen = append(seen, "audit: "+rec.Result)
			}
			for _, s := range seen {
				if strings.Contains(s, "SECRETtoken") || code.MatchString(s) {
					t.Errorf("the recovery secret leaked: %q", s)
				}
			}
			if !strings.Contains(strings.Join(seen, "\n"), "audit: ✓ recovery") {
				t.Errorf("no step record for the recovery; saw %q", seen)
			}
		})
	}
}

// A recovery secret that Slack will not hand to the requester is lost, and
// the request fails saying so, rather than claiming it was sent.
func TestRecoveryUndeliveredFails(t *testing.T) {
	f := newFlow(t, nil)
	reqID, ts := f.request("recovery " + flowTargetEmail + " -- locked out")
	f.fs.SetMember("UREQ", false) // Slack refuses direct messages to the requester
	f.click("UAPP", actionApprove, reqID, ts)
	var r *store.Request
	err := f.fs.WaitFor(f.ctx, func() bool {
		r = f.get(reqID)
		return r.Status != store.StatusPending && r.Status != store.StatusApproved
	})
	if err != nil || r.Status != store.StatusFailed {
		t.Fatalf("request is %s (%v), want failed", r.Status, err)
	}
	mustContain(t, "result", r.Result, "*not sent*", "not_in_channel")
	if m, _ := f.card(reqID); !strings.Contains(blockText(m.Text, m.Blocks), "not sent") {
		t.Errorf("the card does not say the secret was not sent:\n%s", blockText(m.Text, m.Blocks))
	}
	mustNotContain(t, "result", r.Result, "SECRETtoken")
	if n := len(f.fs.Ephemerals("UREQ")); n != 0 {
		t.Errorf("%d ephemerals reached the requester, want none", n)
	}
}

// A verb may need several distinct approvers: each approval before the
// last is recorded and shown, one person's clicks count once, and the last
// approval runs the action exactly once.
func TestApprovalsRequired(t *testing.T) {
	f := newFlow(t, func(c *Config, _ *fakeOry) { c.ApprovalsRequired = map[string]int{"lockout": 2} })
	reqID, ts := f.request("lockout " + flowTargetEmail + " -- account takeover")

	got := f.reply(f.click("UAPP", actionApprove, reqID, ts))
	mustContain(t, "first approver's reply", got, "Your approval of request `"+reqID+"` is recorded", "needs 1 more")
	if r := f.get(reqID); r.Status != store.StatusPending || len(r.Approvals) != 1 {
		t.Fatalf("after one approval the request is %s with %d approvals, want pending with 1", r.Status, len(r.Approvals))
	}
	card := f.cardText(reqID)
	mustContain(t, "card", card, "Approved so far by <@UAPP> (1 of 2); 1 more needed", "Approve")
	f.noActions()

	got = f.reply(f.click("UAPP", actionApprove, reqID, ts))
	mustContain(t, "second click's reply", got, "already approved request `"+reqID+"`", "counts once", "needs 1 more")
	if r := f.get(reqID); r.Status != store.StatusPending || len(r.Approvals) != 1 {
		t.Fatalf("after a repeated click the request is %s with %d approvals, want pending with 1", r.Status, len(r.Approvals))
	}
	f.noActions()

	r := f.approveAndWait("UAPP2", reqID, ts)
	if r.Status != store.StatusDone || r.Approver != "UAPP2" {
		t.Errorf("request is %s by %q, want done by UAPP2", r.Status, r.Approver)
	}
	want := []string{"SetState " + rigIdentity + " inactive", "RevokeSessions " + rigIdentity}
	if got := f.o.actions(); !slices.Equal(got, want) {
		t.Errorf("Ory actions = %q, want %q, once", got, want)
	}
	sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Approved, audit.Approved, audit.Step, audit.Step, audit.Done})

	got = f.reply(f.click("UAPP", actionApprove, reqID, ts))
	mustContain(t, "late click's reply", got, "was already approved by <@UAPP2> and is done")
	if got := f.o.actions(); len(got) != len(want) {
		t.Errorf("a late click made Ory calls: %q", got)
	}
}

// Deny opens a dialog; submitting it denies the request with the reason,
// changes nothing in Ory, and tells the requester.
func TestDenyThroughTheDialog(t *testing.T) {
	f := newFlow(t, nil)
	reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")

	env := f.click("UAPP", actionDeny, reqID, ts)
	if err := f.fs.WaitFor(f.ctx, func() bool { return len(f.fs.Views()) > 0 }); err != nil {
		t.Fatalf("no dialog opened: %v", err)
	}
	v := f.fs.Views()[0]
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
	}
	if err := json.Unmarshal(v.View, &view); err != nil {
		t.Fatal(err)
	}
	if v.TriggerID != env.TriggerID || view.CallbackID != denyDialog || view.PrivateMetadata != reqID {
		t.Errorf("dialog opened with trigger %q, callback %q, metadata %q; want %q, %q, %q",
			v.TriggerID, view.CallbackID, view.PrivateMetadata, env.TriggerID, denyDialog, reqID)
	}
	if r := f.get(reqID); r.Status != store.StatusPending {
		t.Errorf("opening the dialog made the request %s, want it pending", r.Status)
	}

	submit(t, f, "UAPP", v.ID, reqID, "  it was the user after all  ")
	told := f.waitDM("UREQ", 1)
	mustContain(t, "message to the requester", told, reqID, "Denied* by <@UAPP>: it was the user after all. Nothing was changed.")
	r := f.get(reqID)
	if r.Status != store.StatusDenied || r.Approver != "UAPP" || r.DecisionReason != "it was the user after all" {
		t.Errorf("request is %s by %q for %q, want denied by UAPP for the trimmed reason", r.Status, r.Approver, r.DecisionReason)
	}
	card := f.cardText(reqID)
	mustContain(t, "card", card, "Denied* by <@UAPP>: it was the user after all")
	mustNotContain(t, "card", card, "Cancel request")
	f.noActions()
	recs := f.audit(reqID)
	sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Denied})
	if last := recs[len(recs)-1]; last.Result != "denied: it was the user after all" || last.Approver != "UAPP" {
		t.Errorf("denied record: result %q by %q", last.Result, last.Approver)
	}

	// Late: an approval, and a second dialog submitted by another approver.
	mustContain(t, "late approval", f.reply(f.click("UAPP2", actionApprove, reqID, ts)), "was already denied by <@UAPP>")
	submit(t, f, "UAPP2", v.ID, reqID, "")
	if err := f.fs.WaitFor(f.ctx, func() bool { return len(f.fs.Ephemerals("UAPP2")) > 0 }); err != nil {
		t.Fatalf("the second denier was not told: %v", err)
	}
	if e := f.fs.Ephemerals("UAPP2")[0]; e.Channel != "COPS" || !strings.Contains(e.Text, "was already denied by <@UAPP>") {
		t.Errorf("second denier told %q in %s", e.Text, e.Channel)
	}
	f.noActions()
}

// submit submits the deny dialog as user with reason.
func submit(t *testing.T, f *flow, user, viewID, reqID, reason string) {
	t.Helper()
	_, err := f.fs.ViewSubmission(f.ctx, slacktest.ViewSubmission{User: user, ViewID: viewID, CallbackID: denyDialog,
		PrivateMetadata: reqID, Values: map[string]map[string]string{denyReasonID: {denyReasonID: reason}}})
	if err != nil {
		t.Fatal(err)
	}
}

// Who may not deny is told so before a dialog opens, and a dialog
// submitted by someone who may not deny denies nothing.
func TestDenyRefusals(t *testing.T) {
	f := newFlow(t, nil)
	reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")

	mustContain(t, "requester's Deny", f.reply(f.click("UREQ", actionDeny, reqID, ts)), "someone else must approve or deny it")
	f.fs.FailNext("views.open", "expired_trigger_id", 1)
	mustContain(t, "Deny when Slack refuses the dialog", f.reply(f.click("UAPP", actionDeny, reqID, ts)),
		"`expired_trigger_id`", "Click Deny again.")

	submit(t, f, "UOTHER", "V1", reqID, "forged")
	if err := f.fs.WaitFor(f.ctx, func() bool { return len(f.fs.Ephemerals("UOTHER")) > 0 }); err != nil {
		t.Fatalf("the forger was not told: %v", err)
	}
	mustContain(t, "forged submission", f.fs.Ephemerals("UOTHER")[0].Text, "not allowed to approve or deny")
	if r := f.get(reqID); r.Status != store.StatusPending {
		t.Errorf("request is %s, want still pending", r.Status)
	}
	if n := len(f.fs.Views()); n != 0 {
		t.Errorf("%d dialogs opened, want none", n)
	}
}

// Only the requester may cancel, with the card's button or /ory cancel;
// cancelling changes nothing in Ory.
func TestCancel(t *testing.T) {
	t.Run("button", func(t *testing.T) {
		f := newFlow(t, nil)
		reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")

		mustContain(t, "approver's Cancel", f.reply(f.click("UAPP", actionCancel, reqID, ts)),
			"Only the requester, <@UREQ>, can cancel request `"+reqID+"`")
		if r := f.get(reqID); r.Status != store.StatusPending {
			t.Fatalf("request is %s after an approver's Cancel, want pending", r.Status)
		}

		mustContain(t, "requester's Cancel", f.reply(f.click("UREQ", actionCancel, reqID, ts)),
			"Request `"+reqID+"` is cancelled. Nothing was changed.")
		mustContain(t, "message to the requester", f.waitDM("UREQ", 1), "Cancelled* by the requester")
		if r := f.get(reqID); r.Status != store.StatusCancelled {
			t.Errorf("request is %s, want cancelled", r.Status)
		}
		card := f.cardText(reqID)
		mustContain(t, "card", card, "Cancelled* by the requester. Nothing was changed.")
		mustNotContain(t, "card", card, "Cancel request")
		sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Cancelled})

		mustContain(t, "late approval", f.reply(f.click("UAPP", actionApprove, reqID, ts)), "was cancelled by its requester")
		f.noActions()
	})
	t.Run("command", func(t *testing.T) {
		f := newFlow(t, nil)
		reqID, _ := f.request("lockout " + flowTargetEmail + " -- takeover")

		mustContain(t, "someone else's /ory cancel", f.ask("UOTHER", "cancel "+reqID),
			"Only the requester, <@UREQ>, can cancel request `"+reqID+"`. Approvers can deny it instead.")
		if r := f.get(reqID); r.Status != store.StatusPending {
			t.Fatalf("request is %s after someone else's cancel, want pending", r.Status)
		}
		mustContain(t, "requester's /ory cancel", f.ask("UREQ", "cancel "+strings.ToUpper(reqID)),
			"Request `"+reqID+"` is cancelled")
		f.waitDM("UREQ", 1)
		if r := f.get(reqID); r.Status != store.StatusCancelled {
			t.Errorf("request is %s, want cancelled", r.Status)
		}
		mustContain(t, "second /ory cancel", f.ask("UREQ", "cancel "+reqID), "was cancelled by its requester")
		mustContain(t, "/ory cancel of no request", f.ask("UREQ", "cancel aaaaaaaaaa"), "Request `aaaaaaaaaa` does not exist")
		f.noActions()
	})
}

// Approve is refused, and the request left pending, for the requester,
// for someone who is not an approver, and for an approver whose Slack
// email is the identity's.
func TestWhoMayApprove(t *testing.T) {
	tests := []struct {
		name  string
		user  string
		email string // the user's Slack email, if the test sets it
		want  string
	}{
		{"requester", "UREQ", "", "so someone else must approve or deny it. The request is still pending."},
		{"not an approver", "UOTHER", "", "only the users and groups in ORYBOT_APPROVERS are"},
		{"approver's own identity", "UAPP", "Target@Example.com", "it acts on your own identity"},
		{"group approver's own identity", "UAPP2", flowTargetEmail, "it acts on your own identity"},
		{"approver without a Slack profile", "UAPP", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlow(t, nil)
			reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
			if tt.email != "" {
				f.fs.SetUser(tt.user, "x", tt.email)
			}
			want := []string{tt.want, reqID}
			if tt.want == "" {
				// users.info fails: the bot cannot tell whose identity it
				// is, so it must not let the approval through.
				f.fs.FailNext("users.info", "user_not_found", 1)
				want = []string{"`user_not_found`", "The request is still pending."}
			}
			got := f.reply(f.click(tt.user, actionApprove, reqID, ts))
			mustContain(t, "reply", got, want...)
			if r := f.get(reqID); r.Status != store.StatusPending || len(r.Approvals) != 0 {
				t.Errorf("request is %s with %d approvals, want pending with none", r.Status, len(r.Approvals))
			}
			f.noActions()
			sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested})
		})
	}
}

// A requester whose Slack email is the identity's cannot ask for anything
// on it: no request, no card.
func TestRequesterOwnIdentity(t *testing.T) {
	f := newFlow(t, nil)
	f.fs.SetUser("UREQ", "req", "TARGET@example.com")
	got := f.ask("UREQ", "deactivate "+rigIdentity+" -- me")
	mustContain(t, "reply", got, "You cannot act on your own identity", "Nothing was requested.")
	if n := len(f.fs.Messages("COPS")); n != 0 {
		t.Errorf("%d cards posted, want none", n)
	}
}

// Before acting, the bot reads the identity again. If it changed since the
// request, the approval was for something else: nothing is run and the
// card says why. If it cannot be compared, the request fails; it is never
// taken as unchanged.
func TestApprovalChecksTheIdentityAgain(t *testing.T) {
	tests := []struct {
		name   string
		before func(*ory.Identity) // before the request
		after  func(*fakeOry)      // between request and approval
		status store.Status
		result []string
	}{
		{
			name: "state changed",
			after: func(o *fakeOry) {
				o.edit(rigIdentity, func(i *ory.Identity) { i.State, i.Fingerprint = "inactive", "fp2" })
			},
			status: store.StatusStale,
			result: []string{"its state went from active to inactive", "Nothing was done"},
		},
		{
			name: "email changed",
			after: func(o *fakeOry) {
				o.edit(rigIdentity, func(i *ory.Identity) { i.Email, i.Fingerprint = "new@example.com", "fp2" })
			},
			status: store.StatusStale,
			result: []string{"its email changed"},
		},
		{
			name: "credentials changed",
			after: func(o *fakeOry) {
				o.edit(rigIdentity, func(i *ory.Identity) { i.CredentialTypes, i.Fingerprint = []string{"password"}, "fp2" })
			},
			status: store.StatusStale,
			result: []string{"its credentials changed (now `password`)"},
		},
		{
			name:   "traits changed",
			after:  func(o *fakeOry) { o.edit(rigIdentity, func(i *ory.Identity) { i.Fingerprint = "fp2" }) },
			status: store.StatusStale,
			result: []string{"its traits or credential details changed"},
		},
		{
			name:   "no fingerprint",
			before: func(i *ory.Identity) { i.Fingerprint = "" },
			status: store.StatusFailed,
			result: []string{"✗ read the identity again before acting", "Something went wrong inside orybot (reference `"},
		},
		{
			name: "identity unreadable",
			after: func(o *fakeOry) {
				o.setErr("Identity", &ory.Error{Op: "get identity", Status: 503, Err: ory.ErrUnavailable})
			},
			status: store.StatusFailed,
			result: []string{"✗ read the identity again before acting", "Ory could not be reached"},
		},
		{
			name:   "identity deleted",
			after:  func(o *fakeOry) { o.edit(rigIdentity, func(i *ory.Identity) { i.ID = "gone" }) },
			status: store.StatusFailed,
			result: []string{"Ory could not find what the request refers to"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlow(t, func(_ *Config, o *fakeOry) {
				if tt.before != nil {
					tt.before(&o.identities[0])
				}
			})
			reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
			if tt.after != nil {
				tt.after(f.o)
			}
			r := f.approveAndWait("UAPP", reqID, ts)
			if r.Status != tt.status {
				t.Errorf("request is %s (%q), want %s", r.Status, r.Result, tt.status)
			}
			mustContain(t, "result", r.Result, tt.result...)
			f.noActions()
			card := f.cardText(reqID)
			want := map[store.Status]string{store.StatusStale: "Not run*, approved by <@UAPP>", store.StatusFailed: "Failed*, approved by <@UAPP>"}[tt.status]
			mustContain(t, "card", card, append([]string{want}, tt.result...)...)
			mustContain(t, "message to the requester", f.dms("UREQ")[0], want)
			ended := map[store.Status]audit.Event{store.StatusStale: audit.Stale, store.StatusFailed: audit.Failed}[tt.status]
			sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Approved, ended})
		})
	}
}

// A step that fails stops the steps after it; the result says what was
// done, what failed and what was not attempted, and the request fails.
func TestFailedStepStopsTheRest(t *testing.T) {
	unavailable := &ory.Error{Op: "patch identity", Status: 503, Err: ory.ErrUnavailable}
	tests := []struct {
		name    string
		method  string
		actions []string
		result  string
	}{
		{
			name:    "first step",
			method:  "SetState",
			actions: []string{"SetState " + rigIdentity + " inactive"},
			result: "✗ set state to inactive failed: Ory could not be reached or had a server error, even after retries. " +
				"Try again in a few minutes; if it keeps failing, check Ory's status and ORY_ADMIN_URL.\n" +
				"– revoke all sessions: not attempted",
		},
		{
			name:    "second step",
			method:  "RevokeSessions",
			actions: []string{"SetState " + rigIdentity + " inactive", "RevokeSessions " + rigIdentity},
			result: "✓ identity is now inactive\n✗ revoke all sessions failed: Ory could not be reached or had a server error, even after retries. " +
				"Try again in a few minutes; if it keeps failing, check Ory's status and ORY_ADMIN_URL.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlow(t, func(_ *Config, o *fakeOry) { o.errs = map[string]error{tt.method: unavailable} })
			reqID, ts := f.request("lockout " + flowTargetEmail + " -- takeover")
			r := f.approveAndWait("UAPP", reqID, ts)
			if got := f.o.actions(); !slices.Equal(got, tt.actions) {
				t.Errorf("Ory actions = %q, want %q", got, tt.actions)
			}
			if r.Status != store.StatusFailed || r.Result != tt.result {
				t.Errorf("request is %s with result\n%s\nwant failed with\n%s", r.Status, r.Result, tt.result)
			}
			mustContain(t, "card", f.cardText(reqID), "Failed*, approved by <@UAPP>", tt.result)
			mustContain(t, "message to the requester", f.dms("UREQ")[0], "Failed")
			steps := len(tt.actions)
			want := []audit.Event{audit.Requested, audit.Approved}
			for range steps {
				want = append(want, audit.Step)
			}
			sameEvents(t, reqID, f.events(reqID), append(want, audit.Failed))
		})
	}
}

// While Ory is being retried the card says so, and the final card
// replaces the notice.
func TestRetryNoticesOnTheCard(t *testing.T) {
	f := newFlow(t, func(_ *Config, o *fakeOry) { o.retries = 2 })
	reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
	r := f.approveAndWait("UAPP", reqID, ts)
	if r.Status != store.StatusDone {
		t.Fatalf("request is %s (%q), want done", r.Status, r.Result)
	}
	m, _ := f.card(reqID)
	var notices []string
	for _, v := range m.Versions {
		text := blockText(v.Text, v.Blocks)
		for _, attempt := range []int{2, 3} {
			if strings.Contains(text, fmt.Sprintf("Approved by <@UAPP>; retrying (attempt %d)", attempt)) {
				mustContain(t, "retry notice", text, "Ory's rate limit was hit")
				notices = append(notices, fmt.Sprint(attempt))
			}
		}
	}
	if !slices.Equal(notices, []string{"2", "3"}) {
		t.Errorf("retry notices for attempts %q, want 2 then 3", notices)
	}
	mustNotContain(t, "final card", f.cardText(reqID), "retrying")
	mustContain(t, "final card", f.cardText(reqID), "Done")
}

// A request nobody decides expires: the sweeper ends it even without a
// click, and a click after the expiry ends it too. Either way nothing runs
// and the requester is told.
func TestExpiry(t *testing.T) {
	t.Run("sweeper", func(t *testing.T) {
		f := newFlow(t, func(c *Config, _ *fakeOry) { c.SweepInterval = 10 * time.Millisecond })
		reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
		f.clock.advance(time.Hour - time.Second)
		f.waitSweep()
		if r := f.get(reqID); r.Status != store.StatusPending {
			t.Fatalf("request is %s before its expiry, want pending", r.Status)
		}
		f.clock.advance(time.Second)
		f.waitStatus(reqID, store.StatusExpired)
		mustContain(t, "message to the requester", f.waitDM("UREQ", 1), "Expired* without a decision")
		card := f.cardText(reqID)
		mustContain(t, "card", card, "Expired* without a decision. Nothing was changed.")
		mustNotContain(t, "card", card, "Cancel request")
		sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Expired})

		mustContain(t, "late click", f.reply(f.click("UAPP", actionApprove, reqID, ts)), "has expired and can no longer be decided")
		f.noActions()
	})
	t.Run("click", func(t *testing.T) {
		f := newFlow(t, nil)
		reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
		// Delivered first: records left waiting for an hour would close the
		// gate of ORYBOT_AUDIT_MAX_LAG before the expiry is seen.
		f.waitAuditDelivered()
		f.clock.advance(2 * time.Hour)
		got := f.reply(f.click("UAPP", actionApprove, reqID, ts))
		mustContain(t, "reply", got, "Request `"+reqID+"` expired at", "can no longer be decided or cancelled")
		if r := f.get(reqID); r.Status != store.StatusExpired {
			t.Errorf("request is %s, want expired", r.Status)
		}
		mustContain(t, "card", f.cardText(reqID), "Expired* without a decision")
		mustContain(t, "message to the requester", f.waitDM("UREQ", 1), "Expired")
		f.noActions()
		sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Expired})
	})
}

// A request left approved by a bot that stopped mid-action is failed by
// the sweeper once no replica can still be running it, saying that the
// outcome is unknown.
func TestInterruptedRequestFails(t *testing.T) {
	f := newFlow(t, func(c *Config, _ *fakeOry) { c.SweepInterval = 10 * time.Millisecond })
	reqID, _ := f.request("deactivate " + flowTargetEmail + " -- phished")
	// Another replica approved it and stopped before acting.
	if _, err := f.st.Approve(f.ctx, reqID, "UAPP", 1, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Minute) // within WorkTimeout: it may still be running
	f.waitSweep()
	if r := f.get(reqID); r.Status != store.StatusApproved {
		t.Fatalf("request is %s while it may still run, want approved", r.Status)
	}
	f.clock.advance(2 * time.Minute)
	r := f.waitStatus(reqID, store.StatusFailed)
	mustContain(t, "result", r.Result, "the bot stopped while running this action", "/ory show "+rigIdentity)
	mustContain(t, "message to the requester", f.waitDM("UREQ", 1), "Failed", "the bot stopped")
	mustContain(t, "card", f.cardText(reqID), "Failed*, approved by <@UAPP>", "the bot stopped")
	sameEvents(t, reqID, f.events(reqID), []audit.Event{audit.Requested, audit.Failed})
	f.noActions()
}

// Without a card nobody can approve, so a request whose card Slack refuses
// is withdrawn on the record, and the requester learns what to do.
func TestCardPostFailure(t *testing.T) {
	tests := []struct {
		name   string
		fail   func(*slacktest.Server)
		reply  []string
		record string
	}{
		{
			name:   "bot not in channel",
			fail:   func(fs *slacktest.Server) { fs.FailNext("chat.postMessage", "not_in_channel", 1) },
			reply:  []string{"I can't post the approval request here because I'm not a member of this channel", "/invite @orybot", "Nothing was requested."},
			record: "the approval card could not be posted: not_in_channel",
		},
		{
			name:   "slack server error",
			fail:   func(fs *slacktest.Server) { fs.ServerErrorNext("chat.postMessage", 1) },
			reply:  []string{"Slack had a server error (HTTP 500)", "Nothing was requested."},
			record: "the approval card could not be posted: 500 Internal Server Error",
		},
		{
			name:   "slack error",
			fail:   func(fs *slacktest.Server) { fs.FailNext("chat.postMessage", "msg_too_long", 1) },
			reply:  []string{"Slack answered with the error `msg_too_long`", "Nothing was requested."},
			record: "the approval card could not be posted: msg_too_long",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlow(t, nil)
			tt.fail(f.fs)
			got := f.ask("UREQ", "deactivate "+flowTargetEmail+" -- phished")
			mustContain(t, "reply", got, tt.reply...)
			mustNotContain(t, "reply", got, "is waiting")
			var cancelled []audit.Record
			err := f.st.AuditRecords(f.ctx, time.Time{}, func(r audit.Record) error {
				if r.Event == audit.Cancelled {
					cancelled = append(cancelled, r)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(cancelled) != 1 || cancelled[0].Result != tt.record {
				t.Fatalf("cancelled records = %+v, want one saying %q", cancelled, tt.record)
			}
			if r := f.get(cancelled[0].RequestID); r.Status != store.StatusCancelled {
				t.Errorf("request is %s, want cancelled", r.Status)
			}
			if n := len(f.fs.Messages("COPS")); n != 0 {
				t.Errorf("%d cards in the channel, want none", n)
			}
		})
	}
}

// A retry notice says that the bot is still trying, so it must not use the
// words for a call that finally failed ("gave up after retrying", "even
// after retries", "try again").
func TestRetryNoticeDoesNotSayItGaveUp(t *testing.T) {
	f := newFlow(t, func(_ *Config, o *fakeOry) { o.retries = 1 })
	reqID, ts := f.request("deactivate " + flowTargetEmail + " -- phished")
	f.approveAndWait("UAPP", reqID, ts)
	m, _ := f.card(reqID)
	for _, v := range m.Versions {
		if text := blockText(v.Text, v.Blocks); strings.Contains(text, "retrying") {
			mustNotContain(t, "retry notice", text, "gave up", "even after retries", "try again")
		}
	}
}
