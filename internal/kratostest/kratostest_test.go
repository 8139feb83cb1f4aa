package kratostest

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	client "github.com/ory/client-go"
)

func TestTOTPCode(t *testing.T) {
	// RFC 6238 appendix B, SHA-1 rows, truncated to the 6 digits Kratos uses.
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	tests := []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	}
	for _, tt := range tests {
		got, err := totpCode(secret, time.Unix(tt.unix, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("totpCode(T=%d) = %s, want %s", tt.unix, got, tt.want)
		}
	}
}

func TestModuleLine(t *testing.T) {
	tests := []struct {
		gomod, want string
	}{
		{"module github.com/orybot/orybot\n\ngo 1.26\n", "github.com/orybot/orybot"},
		{"// comment\nmodule \"github.com/orybot/orybot\" // quoted\n", "github.com/orybot/orybot"},
		{"module github.com/orybot/orybot/internal/tools/kratos\n", "github.com/orybot/orybot/internal/tools/kratos"},
		{"modules x\n", ""},
		{"go 1.26\n", ""},
	}
	for _, tt := range tests {
		if got := moduleLine([]byte(tt.gomod)); got != tt.want {
			t.Errorf("moduleLine(%q) = %q, want %q", tt.gomod, got, tt.want)
		}
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("module root: %s", root)
}

func TestServer(t *testing.T) {
	t.Parallel()
	s := Start(t)

	const email = "kt-user@example.com"
	id := s.CreateIdentity(t, email)
	if got := s.Identity(t, id); got.GetState() != "active" {
		t.Errorf("new identity state = %q, want active", got.GetState())
	}

	sessionID, token := s.Login(t, email)
	if !s.SessionActive(t, token) {
		t.Errorf("SessionActive(fresh token) = false, want true")
	}
	if s.SessionActive(t, "not-a-token") {
		t.Errorf("SessionActive(bogus token) = true, want false")
	}
	sessions := s.Sessions(t, id)
	if !slices.ContainsFunc(sessions, func(x client.Session) bool { return x.Id == sessionID }) {
		t.Errorf("Sessions(%s) does not contain the login session %s", id, sessionID)
	}

	s.AddTOTP(t, email)
	creds := s.Identity(t, id).GetCredentials()
	if _, ok := creds["totp"]; !ok {
		t.Errorf("after AddTOTP credentials = %v, want a totp entry", keys(creds))
	}
	// The password session from before TOTP must stay usable (whoami
	// required_aal is aal1 in the test config).
	if !s.SessionActive(t, token) {
		t.Errorf("SessionActive after AddTOTP = false, want true")
	}

	s.SetEmail(t, id, "kt-renamed@example.com")
	if got := s.Identity(t, id).Traits.(map[string]any)["email"]; got != "kt-renamed@example.com" {
		t.Errorf("email after SetEmail = %v", got)
	}
}

func TestStartParallel(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a.AdminURL == b.AdminURL || a.PublicURL == b.PublicURL {
		t.Fatalf("two servers share a URL: %+v %+v", a, b)
	}
	idA := a.CreateIdentity(t, "same@example.com")
	idB := b.CreateIdentity(t, "same@example.com") // would conflict on a shared server
	if idA == idB {
		t.Errorf("both servers returned identity %s", idA)
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// recordingTB records Skipf and Fatalf instead of stopping the test.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recordingTB) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }

func TestMissingBinary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-kratos")
	t.Setenv("KRATOS_BIN", missing)
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		rec := &recordingTB{TB: t}
		findBinary(rec)
		msg := rec.skipped
		if ci == "true" {
			msg = rec.fatal
			if rec.skipped != "" {
				t.Errorf("CI=true skipped instead of failing: %s", rec.skipped)
			}
		} else if rec.fatal != "" {
			t.Errorf("CI unset failed instead of skipping: %s", rec.fatal)
		}
		if !strings.Contains(msg, missing) || !strings.Contains(msg, "./scripts/test") {
			t.Errorf("CI=%q: message %q should name the path and how to build", ci, msg)
		}
	}
}
