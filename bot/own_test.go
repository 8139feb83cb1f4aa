package bot

import (
	"testing"

	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// TestOwnsEveryAddress checks that a Slack email matches any address of the
// identity, in any case, and that requests stored with only EmailDigest
// still match.
func TestOwnsEveryAddress(t *testing.T) {
	id := ory.Identity{
		Email:               "",
		Identifiers:         map[string][]string{"password": {"login@corp.example"}, "oidc": {"google:1234"}},
		VerifiableAddresses: []string{"Second@Corp.example"},
		RecoveryAddresses:   []string{"recovery@corp.example"},
	}
	req := &store.Request{ID: "abcd2345ef"}
	req.Snapshot.AddressDigests = addressDigests(req.ID, id)
	for _, email := range []string{"login@corp.example", "second@corp.example", "RECOVERY@corp.example"} {
		if !owns(req, email) {
			t.Errorf("owns(%q) = false, want true", email)
		}
	}
	for _, email := range []string{"", "other@corp.example", "google:1234x"} {
		if owns(req, email) {
			t.Errorf("owns(%q) = true, want false", email)
		}
	}
	old := &store.Request{ID: "abcd2345ef", Snapshot: store.Snapshot{EmailDigest: emailDigest("abcd2345ef", "a@corp.example")}}
	if !owns(old, "A@corp.example") {
		t.Errorf("a request with only EmailDigest does not match its email")
	}
	other := &store.Request{ID: "zzzz2345ef", Snapshot: req.Snapshot}
	if owns(other, "login@corp.example") {
		t.Errorf("digests of one request match on another: they must be salted with the request id")
	}
}
