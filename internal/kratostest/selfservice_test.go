package kratostest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestSelfServiceHelpers(t *testing.T) {
	t.Parallel()
	s := Start(t)
	const email = "kt-self@example.com"
	id := s.CreateIdentity(t, email)

	s.AddTOTP(t, email)
	s.AddLookupSecret(t, email)
	creds := s.Identity(t, id).GetCredentials()
	for _, typ := range []string{"totp", "lookup_secret"} {
		if _, ok := creds[typ]; !ok {
			t.Errorf("credentials = %v, want a %s entry", keys(creds), typ)
		}
	}

	link := s.adminRecovery(t, "link", id)
	if got := s.RecoverWithLink(t, link["recovery_link"]); got != id {
		t.Errorf("RecoverWithLink(fresh link) = %q, want %s", got, id)
	}
	if got := s.RecoverWithLink(t, link["recovery_link"]); got != "" {
		t.Errorf("RecoverWithLink(used link) = %q, want \"\"", got)
	}

	code := s.adminRecovery(t, "code", id)
	if got := s.RecoverWithCode(t, code["recovery_link"], "000000"); got != "" {
		t.Errorf("RecoverWithCode(wrong code) = %q, want \"\"", got)
	}
	if got := s.RecoverWithCode(t, code["recovery_link"], code["recovery_code"]); got != id {
		t.Errorf("RecoverWithCode(code) = %q, want %s", got, id)
	}
	if got := s.RecoverWithCode(t, code["recovery_link"], code["recovery_code"]); got != "" {
		t.Errorf("RecoverWithCode(used code) = %q, want \"\"", got)
	}

	sessionID, token := s.Login(t, email)
	s.SetState(t, id, "inactive")
	if got := s.Identity(t, id).GetState(); got != "inactive" {
		t.Errorf("state after SetState(inactive) = %q", got)
	}
	s.SetState(t, id, "active")
	s.DisableSession(t, sessionID)
	if s.SessionActive(t, token) {
		t.Errorf("token works after DisableSession")
	}
}

// adminRecovery creates a recovery link or code with the admin API.
func (s *Server) adminRecovery(t *testing.T, kind, id string) map[string]string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.AdminURL+"/admin/recovery/"+kind,
		strings.NewReader(`{"identity_id":"`+id+`","expires_in":"1h"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("create recovery %s: %d %v %v", kind, resp.StatusCode, out, err)
	}
	strs := map[string]string{}
	for k, v := range out {
		if s, ok := v.(string); ok {
			strs[k] = s
		}
	}
	return strs
}
