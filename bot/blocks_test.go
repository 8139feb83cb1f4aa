package bot

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got, as indented JSON, with testdata/name.json.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bot -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func testRequest(status store.Status) *store.Request {
	created := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := &store.Request{
		ID:         "abcd2345ef",
		Verb:       "deactivate",
		IdentityID: "8f3c2a1e-5b6d-4c7e-9f00-1a2b3c4d5e6f",
		Snapshot:   store.Snapshot{Email: "a***@example.com", State: "active"},
		Effect:     "Set the state to *inactive*, so the identity cannot log in.",
		Requester:  "UREQ",
		Reason:     "phished on 2026-11-20",
		ChannelID:  "CSEC",
		MessageTS:  "1700000000.000100",
		Status:     status,
		CreatedAt:  created,
		ExpiresAt:  created.Add(time.Hour),
	}
	if status != store.StatusPending && status != store.StatusExpired && status != store.StatusCancelled {
		r.Approver = "UAPP"
	}
	switch status {
	case store.StatusDenied:
		r.DecisionReason = "checked with the user: it was them"
	case store.StatusStale:
		r.Result = "The identity changed after the request was made: its email changed. Nothing was done; ask for a new request if it is still needed."
	case store.StatusDone:
		r.Result = "identity is now inactive"
	case store.StatusFailed:
		r.Result = "Ory could not be reached or had a server error, even after retries."
	}
	return r
}

func TestCardBlocks(t *testing.T) {
	for _, s := range []store.Status{store.StatusPending, store.StatusApproved, store.StatusDone, store.StatusFailed,
		store.StatusDenied, store.StatusExpired, store.StatusStale, store.StatusCancelled} {
		t.Run(string(s), func(t *testing.T) {
			r := testRequest(s)
			blocks := cardBlocks(r, 1)
			golden(t, "card_"+string(s), slack.Blocks{BlockSet: blocks})

			b, _ := json.Marshal(blocks)
			hasButtons := strings.Contains(string(b), `"action_id":"approve"`)
			if hasButtons != (s == store.StatusPending) {
				t.Errorf("status %s: buttons shown = %v, want %v", s, hasButtons, s == store.StatusPending)
			}
			if r.Approver != "" && !strings.Contains(string(b), "@UAPP") {
				t.Errorf("status %s: card does not name the approver", s)
			}
		})
	}
}

func TestPendingCardButtons(t *testing.T) {
	r := testRequest(store.StatusPending)
	var labels []string
	for _, blk := range cardBlocks(r, 1) {
		if a, ok := blk.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				btn := e.(*slack.ButtonBlockElement)
				labels = append(labels, btn.Text.Text)
				if btn.Value != r.ID {
					t.Errorf("button %q carries value %q, want the request id %q", btn.Text.Text, btn.Value, r.ID)
				}
			}
		}
	}
	if diff := cmp.Diff([]string{"Approve", "Deny", "Cancel request"}, labels); diff != "" {
		t.Errorf("button labels (-want +got):\n%s", diff)
	}
}

func TestAuditBlocks(t *testing.T) {
	rec := audit.Record{
		Seq:        42,
		Hash:       "3fa9c2e1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e",
		Time:       time.Date(2026, 11, 26, 12, 5, 0, 0, time.UTC),
		RequestID:  "abcd2345ef",
		Event:      audit.Done,
		Verb:       "deactivate",
		IdentityID: "8f3c2a1e-5b6d-4c7e-9f00-1a2b3c4d5e6f",
		Requester:  "UREQ",
		Approver:   "UAPP",
		Reason:     "phished on 2026-11-20",
		Result:     "✓ identity is now inactive",
	}
	golden(t, "audit_done", slack.Blocks{BlockSet: auditBlocks(rec)})
	rec.Event, rec.Approver, rec.Result, rec.Seq = audit.Requested, "", "", 41
	golden(t, "audit_requested", slack.Blocks{BlockSet: auditBlocks(rec)})
}

func TestHelpListsEveryVerb(t *testing.T) {
	got := helpText()
	for _, verb := range []string{"deactivate", "help"} {
		if !strings.Contains(got, "`/ory "+verb) {
			t.Errorf("help text lacks %q:\n%s", verb, got)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	tests := map[string]string{
		"alice@example.com":          "a***@example.com",
		"émile@example.org":          "é***@example.org",
		"x@y.z":                      "x***@y.z",
		"":                           "",
		"no-at-sign":                 "",
		"@example.com":               "",
		`"x@<!channel>"@example.com`: `"***@example.com`,
		"a@b@c.example":              "a***@c.example",
	}
	for in, want := range tests {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPendingCardPerVerb renders the approval card of every changing verb
// through the same check that runs before a real card is posted, so that
// each card says what approval will do to whom.
func TestPendingCardPerVerb(t *testing.T) {
	const (
		identityID = "8f3c2a1e-5b6d-4c7e-9f00-1a2b3c4d5e6f"
		sessionID  = "5f1c0d9e-2b7a-4c3d-8e9f-0a1b2c3d4e5f"
	)
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	identity := ory.Identity{ID: identityID, State: "active", Email: "alice@example.com",
		CredentialTypes: []string{"lookup_secret", "oidc", "password", "totp"},
		Identifiers:     map[string][]string{"oidc": {"google:1234"}}}
	o := &fakeOry{
		identities: []ory.Identity{identity},
		sessions: []ory.Session{{ID: sessionID, IdentityID: identityID, Active: true, AuthenticatedAt: at,
			ExpiresAt: at.Add(24 * time.Hour), AAL: "aal1", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"}},
	}
	cfg := testConfig()
	cfg.RecoveryTTL = 30 * time.Minute
	b := New(testLogger(t), nil, testDeps(o, nil), cfg)
	for _, text := range []string{
		"deactivate alice@example.com -- phished",
		"activate alice@example.com -- recovered",
		"lockout alice@example.com -- takeover",
		"revoke-session " + sessionID + " -- unknown device",
		"revoke-sessions alice@example.com -- password leaked",
		"recovery alice@example.com -- locked out",
		"recovery-code alice@example.com -- locked out",
		"delete-credential alice@example.com totp -- lost phone",
		"delete-credential alice@example.com oidc google:1234 -- unlink",
		"reset-2fa alice@example.com -- lost phone",
	} {
		cmd, err := commands.Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		name := string(cmd.Verb)
		if len(cmd.Args) > 1 {
			name += "_" + cmd.Args[0]
		}
		t.Run(name, func(t *testing.T) {
			p, err := b.verbs[cmd.Verb].check(b, t.Context(), cmd)
			if err != nil {
				t.Fatalf("check(%q): %v", text, err)
			}
			r := testRequest(store.StatusPending)
			r.Verb, r.Reason, r.Target = string(cmd.Verb), cmd.Reason, p.target
			r.Snapshot = store.Snapshot{Email: maskEmail(p.identity.Email), State: p.identity.State}
			r.Effect = p.effect
			golden(t, "card_pending_"+name, slack.Blocks{BlockSet: cardBlocks(r, 1)})
		})
	}
}

func TestDenyDialog(t *testing.T) {
	v := denyView(testRequest(store.StatusPending))
	if v.PrivateMetadata != "abcd2345ef" || v.CallbackID != denyDialog {
		t.Errorf("dialog carries request %q and callback %q, want abcd2345ef and %s", v.PrivateMetadata, v.CallbackID, denyDialog)
	}
	golden(t, "deny_dialog", v)
}

// TestHostileCard renders a card about a self-registered identity whose
// email, session and the request itself carry Slack markup: none of it may
// reach the card as markup.
func TestHostileCard(t *testing.T) {
	const (
		identityID = "8f3c2a1e-5b6d-4c7e-9f00-1a2b3c4d5e6f"
		sessionID  = "5f1c0d9e-2b7a-4c3d-8e9f-0a1b2c3d4e5f"
	)
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	identity := ory.Identity{ID: identityID, State: "active", Email: `"x@<!channel>"@example.com`, CredentialTypes: []string{"password"}}
	o := &fakeOry{
		identities: []ory.Identity{identity},
		sessions: []ory.Session{{ID: sessionID, IdentityID: identityID, Active: true, AuthenticatedAt: at,
			ExpiresAt: at.Add(24 * time.Hour), AAL: "<!subteam^S1>", UserAgent: "<https://evil.example|Verify your approval> & <@U1>"}},
	}
	b := New(testLogger(t), nil, testDeps(o, nil), testConfig())
	cmd, err := commands.Parse("revoke-session " + sessionID + " -- <!here> see <https://evil.example|this>")
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.verbs[cmd.Verb].check(b, t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	r := testRequest(store.StatusDenied)
	r.Verb, r.Reason, r.Target, r.Effect = string(cmd.Verb), cmd.Reason, p.target, p.effect
	r.Snapshot = store.Snapshot{Email: maskEmail(p.identity.Email), State: "<!everyone>"}
	r.DecisionReason = "<!here> it was <https://evil.example|them>"
	blocks := cardBlocks(r, 1)
	golden(t, "card_hostile", slack.Blocks{BlockSet: blocks})
	raw, _ := json.Marshal(blocks)
	got := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(raw))
	for _, bad := range []string{"<!channel>", "<!here>", "<!everyone>", "<!subteam", "<https://evil", "<@U1>"} {
		if strings.Contains(got, bad) {
			t.Errorf("card contains %q as markup:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, `"***@example.com`) {
		t.Errorf("card does not mask the email at its last @:\n%s", got)
	}
}

func TestEsc(t *testing.T) {
	tests := map[string]string{
		"plain":                    "plain",
		"<!channel>":               "&lt;!channel&gt;",
		"a & b":                    "a &amp; b",
		"&lt;":                     "&amp;lt;",
		"<https://x.example|y>":    "&lt;https://x.example|y&gt;",
		"émile <@U1> & <#C1|ops>.": "émile &lt;@U1&gt; &amp; &lt;#C1|ops&gt;.",
	}
	for in, want := range tests {
		if got := esc(in); got != want {
			t.Errorf("esc(%q) = %q, want %q", in, got, want)
		}
	}
	if got := code("a`b<c>"); got != "`aʹb&lt;c&gt;`" {
		t.Errorf("code = %q", got)
	}
}
