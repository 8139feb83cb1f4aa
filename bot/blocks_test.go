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
		Display:    map[string]string{"email": "a***@example.com", "state": "active", "effect": "Set the state to *inactive*, so the identity cannot log in."},
		Requester:  "UREQ",
		Reason:     "phished on 2026-11-20",
		ChannelID:  "CSEC",
		MessageTS:  "1700000000.000100",
		Status:     status,
		CreatedAt:  created,
		ExpiresAt:  created.Add(time.Hour),
	}
	if status != store.StatusPending && status != store.StatusExpired {
		r.Approver = "UAPP"
	}
	switch status {
	case store.StatusDone:
		r.Result = "identity is now inactive"
	case store.StatusFailed:
		r.Result = "Ory could not be reached or had a server error, even after retries."
	}
	return r
}

func TestCardBlocks(t *testing.T) {
	for _, s := range []store.Status{store.StatusPending, store.StatusApproved, store.StatusDone, store.StatusFailed, store.StatusDenied, store.StatusExpired} {
		t.Run(string(s), func(t *testing.T) {
			r := testRequest(s)
			blocks := cardBlocks(r, 1)
			golden(t, "card_"+string(s), slack.Blocks{BlockSet: blocks})

			b, _ := json.Marshal(blocks)
			hasButtons := strings.Contains(string(b), `"action_id":"approve"`)
			if hasButtons != (s == store.StatusPending) {
				t.Errorf("status %s: buttons shown = %v, want %v", s, hasButtons, s == store.StatusPending)
			}
			if s != store.StatusPending && s != store.StatusExpired && !strings.Contains(string(b), "@UAPP") {
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
		"alice@example.com": "a***@example.com",
		"émile@example.org": "é***@example.org",
		"x@y.z":             "x***@y.z",
		"":                  "",
		"no-at-sign":        "",
		"@example.com":      "",
	}
	for in, want := range tests {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
