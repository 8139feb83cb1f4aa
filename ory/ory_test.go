package ory_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/orybot/orybot/internal/kratostest"
	"github.com/orybot/orybot/ory"
)

// newClient returns a client for url whose logs go to the test log. Options
// adjust the Config before New.
func newClient(t *testing.T, url string, opts ...func(*ory.Config)) *ory.Client {
	t.Helper()
	cfg := ory.Config{
		AdminURL: url,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := ory.New(cfg)
	if err != nil {
		t.Fatalf("ory.New: %v", err)
	}
	return c
}

// newEmail returns an address no other test uses, in mixed case to check
// that lookups are case-insensitive.
func newEmail(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return "User-" + hex.EncodeToString(b) + "@Example.COM"
}

// countingTransport counts the requests that reach the network.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func asError(t *testing.T, err error) *ory.Error {
	t.Helper()
	var e *ory.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *ory.Error", err, err)
	}
	return e
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)
	c := newClient(t, k.AdminURL)

	t.Run("ByID", func(t *testing.T) {
		t.Parallel()
		email := newEmail(t)
		id := k.CreateIdentity(t, email)

		got, err := c.Identity(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		want := ory.Identity{
			ID:              id,
			State:           ory.StateActive,
			SchemaID:        "default",
			Email:           email,
			CredentialTypes: []string{"password"},
			Identifiers:     map[string][]string{"password": {strings.ToLower(email)}},
			// Kratos keeps addresses in lower case.
			VerifiableAddresses: []string{strings.ToLower(email)},
			RecoveryAddresses:   []string{strings.ToLower(email)},
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ory.Identity{}, "CreatedAt", "Fingerprint")); diff != "" {
			t.Errorf("Identity mismatch (-want +got):\n%s", diff)
		}
		if time.Since(got.CreatedAt) > time.Minute {
			t.Errorf("CreatedAt = %v, want about now", got.CreatedAt)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(got.Fingerprint) {
			t.Errorf("Fingerprint = %q, want 64 hex digits", got.Fingerprint)
		}
	})

	t.Run("ByEmail", func(t *testing.T) {
		t.Parallel()
		email := newEmail(t)
		id := k.CreateIdentity(t, email)
		k.CreateIdentity(t, newEmail(t)) // a neighbour that must not match

		// "+" and "%" must survive query encoding.
		tagged := "Tag+" + strings.Replace(newEmail(t), "@", "%x@", 1)
		taggedID := k.CreateIdentity(t, tagged)

		tests := []struct {
			query, wantID string
		}{
			{email, id},
			{strings.ToLower(email), id},
			{strings.ToUpper(email), id},
			{tagged, taggedID},
			{strings.ToLower(tagged), taggedID},
		}
		for _, tt := range tests {
			got, err := c.IdentityByEmail(t.Context(), tt.query)
			if err != nil {
				t.Fatalf("IdentityByEmail(%q): %v", tt.query, err)
			}
			if got.ID != tt.wantID {
				t.Errorf("IdentityByEmail(%q).ID = %s, want %s", tt.query, got.ID, tt.wantID)
			}
		}
		// A prefix is not a match.
		if _, err := c.IdentityByEmail(t.Context(), strings.TrimSuffix(email, ".COM")); !errors.Is(err, ory.ErrNotFound) {
			t.Errorf("IdentityByEmail(prefix) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		const unknownID = "00000000-0000-4000-8000-000000000000"
		_, err := c.Identity(t.Context(), unknownID)
		if !errors.Is(err, ory.ErrNotFound) {
			t.Fatalf("Identity(unknown) error = %v, want ErrNotFound", err)
		}
		if e := asError(t, err); e.Status != http.StatusNotFound || e.Reason == "" {
			t.Errorf("Identity(unknown) = %+v, want status 404 and a reason", e)
		}

		email := newEmail(t)
		_, err = c.IdentityByEmail(t.Context(), email)
		if !errors.Is(err, ory.ErrNotFound) {
			t.Fatalf("IdentityByEmail(unknown) error = %v, want ErrNotFound", err)
		}
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(email)) {
			t.Errorf("error %q contains the email", err)
		}
	})

	t.Run("InvalidInputMakesNoCall", func(t *testing.T) {
		t.Parallel()
		counter := &countingTransport{}
		c := newClient(t, k.AdminURL, func(cfg *ory.Config) { cfg.HTTPClient = &http.Client{Transport: counter} })
		ctx := t.Context()
		const good = "00000000-0000-4000-8000-000000000000"
		badIDs := []string{
			"",
			"abc",
			"someone@example.com",
			"00000000-0000-4000-8000-00000000000",    // one digit short
			"00000000-0000-4000-8000-00000000000g",   // not hex
			"{00000000-0000-4000-8000-000000000000}", // braces
			"00000000000040008000000000000000",       // no hyphens
			"../identities",
		}
		for _, id := range badIDs {
			calls := map[string]func() error{
				"Identity":         func() error { _, err := c.Identity(ctx, id); return err },
				"SetState":         func() error { _, err := c.SetState(ctx, id, ory.StateInactive); return err },
				"Sessions":         func() error { _, err := c.Sessions(ctx, id, false); return err },
				"Session":          func() error { _, err := c.Session(ctx, id); return err },
				"RevokeSession":    func() error { return c.RevokeSession(ctx, id) },
				"RevokeSessions":   func() error { _, err := c.RevokeSessions(ctx, id); return err },
				"RecoveryLink":     func() error { _, _, err := c.RecoveryLink(ctx, id, 0); return err },
				"RecoveryCode":     func() error { _, _, _, err := c.RecoveryCode(ctx, id, 0); return err },
				"DeleteCredential": func() error { return c.DeleteCredential(ctx, id, "totp", "") },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, ory.ErrInvalidID) {
					t.Errorf("%s(%q) error = %v, want ErrInvalidID", name, id, err)
				} else if id != "" && strings.Contains(err.Error(), id) {
					t.Errorf("%s(%q) error %q echoes the input", name, id, err)
				}
			}
		}
		for _, email := range []string{"", "nobody", "@example.com", "a@", " a@example.com", "a@example.com\n", "a b@example.com"} {
			if _, err := c.IdentityByEmail(ctx, email); !errors.Is(err, ory.ErrInvalidID) {
				t.Errorf("IdentityByEmail(%q) error = %v, want ErrInvalidID", email, err)
			}
		}
		bad := []struct {
			name string
			err  error
		}{
			{"SetState(bogus)", func() error { _, err := c.SetState(ctx, good, "deleted"); return err }()},
			{"DeleteCredential(bad type)", c.DeleteCredential(ctx, good, "../password", "")},
			{"RecoveryLink(negative)", func() error { _, _, err := c.RecoveryLink(ctx, good, -time.Second); return err }()},
		}
		for _, b := range bad {
			if !errors.Is(b.err, ory.ErrBadRequest) {
				t.Errorf("%s error = %v, want ErrBadRequest", b.name, b.err)
			}
		}
		if n := counter.n.Load(); n != 0 {
			t.Errorf("%d HTTP requests were made for invalid input, want 0", n)
		}
	})

	t.Run("SetStateRoundTrip", func(t *testing.T) {
		t.Parallel()
		id := k.CreateIdentity(t, newEmail(t))
		for _, state := range []string{ory.StateInactive, ory.StateInactive, ory.StateActive} {
			got, err := c.SetState(t.Context(), id, state)
			if err != nil {
				t.Fatalf("SetState(%s): %v", state, err)
			}
			if got.State != state {
				t.Errorf("SetState(%s) returned state %s", state, got.State)
			}
			if real := k.Identity(t, id).GetState(); real != state {
				t.Errorf("after SetState(%s) Kratos says %s", state, real)
			}
		}
	})

	t.Run("Fingerprint", func(t *testing.T) {
		t.Parallel()
		id := k.CreateIdentity(t, newEmail(t))
		read := func() string {
			t.Helper()
			got, err := c.Identity(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			return got.Fingerprint
		}
		first := read()
		if again := read(); again != first {
			t.Errorf("fingerprint changed between two reads without a change: %s, %s", first, again)
		}
		k.SetEmail(t, id, newEmail(t))
		afterEmail := read()
		if afterEmail == first {
			t.Errorf("fingerprint did not change when the email trait changed")
		}
		if _, err := c.SetState(t.Context(), id, ory.StateInactive); err != nil {
			t.Fatal(err)
		}
		if read() == afterEmail {
			t.Errorf("fingerprint did not change when the state changed")
		}
	})
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)
	c := newClient(t, k.AdminURL)
	email := newEmail(t)
	id := k.CreateIdentity(t, email)
	k.AddTOTP(t, email)

	got, err := c.Identity(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.CredentialTypes, []string{"password", "totp"}) {
		t.Fatalf("CredentialTypes after AddTOTP = %v, want [password totp]", got.CredentialTypes)
	}

	tests := []struct {
		name       string
		credType   string
		wantErr    error
		wantStatus int
	}{
		{"totp", "totp", nil, 0},
		{"totp again", "totp", ory.ErrNotFound, http.StatusNotFound},
		{"password is a first factor", "password", ory.ErrBadRequest, http.StatusBadRequest},
		{"lacking type", "lookup_secret", ory.ErrNotFound, http.StatusNotFound},
	}
	for _, tt := range tests { // in order: "totp again" needs "totp" first
		err := c.DeleteCredential(t.Context(), id, tt.credType, "")
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: DeleteCredential(%s) error = %v, want %v", tt.name, tt.credType, err, tt.wantErr)
			continue
		}
		if err != nil {
			if e := asError(t, err); e.Status != tt.wantStatus || e.Reason == "" {
				t.Errorf("%s: error = %+v, want status %d and a reason", tt.name, e, tt.wantStatus)
			}
			t.Logf("%s: %v", tt.name, err)
		}
	}
	creds := k.Identity(t, id).GetCredentials()
	if _, ok := creds["totp"]; ok {
		t.Errorf("Kratos still has a totp credential after DeleteCredential")
	}
	if _, ok := creds["password"]; !ok {
		t.Errorf("Kratos lost the password credential")
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)
	c := newClient(t, k.AdminURL)
	ctx := t.Context()

	email := newEmail(t)
	id := k.CreateIdentity(t, email)
	s1, token1 := k.Login(t, email)
	s2, token2 := k.Login(t, email)

	list, err := c.Sessions(ctx, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionIDs(list); !slices.Equal(got, sorted(s1, s2)) {
		t.Fatalf("Sessions(active) = %v, want %v", got, sorted(s1, s2))
	}

	got, err := c.Session(ctx, s1)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s1 || got.IdentityID != id || !got.Active || got.AAL != "aal1" || !got.ExpiresAt.After(time.Now()) || got.AuthenticatedAt.IsZero() {
		t.Errorf("Session(%s) = %+v, want active aal1 session of %s", s1, got, id)
	}
	t.Logf("session user agent: %q", got.UserAgent)

	if _, err := c.Session(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ory.ErrNotFound) {
		t.Errorf("Session(unknown) error = %v, want ErrNotFound", err)
	}

	// RevokeSession: the token stops working, Kratos keeps the session as
	// inactive, and a second revoke is harmless.
	for range 2 {
		if err := c.RevokeSession(ctx, s1); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
	}
	if k.SessionActive(t, token1) {
		t.Errorf("token of revoked session %s still works", s1)
	}
	if !k.SessionActive(t, token2) {
		t.Errorf("token of the other session stopped working")
	}
	all, err := c.Sessions(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if want := s.ID != s1; s.Active != want {
			t.Errorf("session %s Active = %v, want %v", s.ID, s.Active, want)
		}
	}
	if active, _ := c.Sessions(ctx, id, true); !slices.Equal(sessionIDs(active), []string{s2}) {
		t.Errorf("Sessions(active) after revoke = %v, want [%s]", sessionIDs(active), s2)
	}

	// RevokeSessions counts only the active one, and deletes everything.
	n, err := c.RevokeSessions(ctx, id)
	if err != nil || n != 1 {
		t.Fatalf("RevokeSessions = %d, %v; want 1, nil", n, err)
	}
	if k.SessionActive(t, token2) {
		t.Errorf("token still works after RevokeSessions")
	}
	if left := k.Sessions(t, id); len(left) != 0 {
		t.Errorf("Kratos still lists %d sessions after RevokeSessions", len(left))
	}
	n, err = c.RevokeSessions(ctx, id)
	if err != nil || n != 0 {
		t.Errorf("RevokeSessions with none left = %d, %v; want 0, nil", n, err)
	}

	// An identity that never logged in.
	other := k.CreateIdentity(t, newEmail(t))
	if n, err := c.RevokeSessions(ctx, other); err != nil || n != 0 {
		t.Errorf("RevokeSessions(no sessions) = %d, %v; want 0, nil", n, err)
	}
	if list, err := c.Sessions(ctx, other, false); err != nil || len(list) != 0 {
		t.Errorf("Sessions(no sessions) = %v, %v; want none", list, err)
	}
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)
	c := newClient(t, k.AdminURL)
	id := k.CreateIdentity(t, newEmail(t))

	near := func(t *testing.T, got time.Time, want time.Time) {
		t.Helper()
		if d := got.Sub(want); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("expires at %v, want about %v", got, want)
		}
	}

	t.Run("Link", func(t *testing.T) {
		t.Parallel()
		link, exp, err := c.RecoveryLink(t.Context(), id, 90*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, k.PublicURL+"/self-service/recovery?") || !strings.Contains(link, "token=") {
			t.Errorf("link %q is not a recovery link on the public URL", link)
		}
		near(t, exp, time.Now().Add(90*time.Second))
	})
	t.Run("LinkRoundsUp", func(t *testing.T) {
		t.Parallel()
		_, exp, err := c.RecoveryLink(t.Context(), id, 1500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		near(t, exp, time.Now().Add(2*time.Second))
	})
	t.Run("Code", func(t *testing.T) {
		t.Parallel()
		link, code, exp, err := c.RecoveryCode(t.Context(), id, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if link == "" || !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
			t.Errorf("RecoveryCode = %q, %q; want a link and 6 digits", link, code)
		}
		near(t, exp, time.Now().Add(2*time.Hour))
	})
	t.Run("DefaultLifespan", func(t *testing.T) {
		t.Parallel()
		_, _, exp, err := c.RecoveryCode(t.Context(), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !exp.After(time.Now()) {
			t.Errorf("expires at %v, want in the future", exp)
		}
	})
	t.Run("UnknownIdentity", func(t *testing.T) {
		t.Parallel()
		const unknown = "00000000-0000-4000-8000-000000000000"
		_, _, err := c.RecoveryLink(t.Context(), unknown, 0)
		t.Logf("RecoveryLink(unknown): %v", err)
		if !errors.Is(err, ory.ErrBadRequest) {
			t.Errorf("RecoveryLink(unknown) error = %v, want ErrBadRequest (Kratos answers 400)", err)
		}
		_, _, _, err = c.RecoveryCode(t.Context(), unknown, 0)
		t.Logf("RecoveryCode(unknown): %v", err)
		if err == nil {
			t.Errorf("RecoveryCode(unknown) succeeded")
		}
	})
}

func TestPing(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)

	if err := newClient(t, k.AdminURL).Ping(t.Context()); err != nil {
		t.Errorf("Ping(admin URL) = %v", err)
	}
	if err := newClient(t, k.AdminURL+"/").Ping(t.Context()); err != nil {
		t.Errorf("Ping(admin URL with slash) = %v", err)
	}

	err := newClient(t, k.PublicURL).Ping(t.Context())
	if !errors.Is(err, ory.ErrWrongURL) {
		t.Fatalf("Ping(public URL) = %v, want ErrWrongURL", err)
	}
	if e := asError(t, err); e.Status != http.StatusTemporaryRedirect || !strings.Contains(e.Reason, k.AdminURL+"/admin/identities") {
		t.Errorf("Ping(public URL) = %+v, want a 307 naming the admin URL", e)
	}
	t.Logf("Ping(public URL): %v", err)

	// Even a lookup that follows the redirect would "work": make sure the
	// email in the redirected query does not leak into the error.
	email := newEmail(t)
	k.CreateIdentity(t, email)
	_, err = newClient(t, k.PublicURL).IdentityByEmail(t.Context(), email)
	if !errors.Is(err, ory.ErrWrongURL) || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(email)) {
		t.Errorf("IdentityByEmail via public URL = %v, want ErrWrongURL without the email", err)
	}

	// Nothing listens: unavailable after retries, quickly.
	c := newClient(t, "http://127.0.0.1:1", func(cfg *ory.Config) { cfg.BackoffBase = time.Millisecond })
	if err := c.Ping(t.Context()); !errors.Is(err, ory.ErrUnavailable) {
		t.Errorf("Ping(closed port) = %v, want ErrUnavailable", err)
	}
}

func sessionIDs(list []ory.Session) []string {
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
