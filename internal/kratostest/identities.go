package kratostest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	client "github.com/ory/client-go"
)

// CreateIdentity creates an active identity with the given email and the
// password Password, and returns its id.
func (s *Server) CreateIdentity(t testing.TB, email string) string {
	t.Helper()
	return s.CreateIdentityWithTraits(t, "default", map[string]any{"email": email})
}

// SetEmail replaces the email trait of identity id.
func (s *Server) SetEmail(t testing.TB, id, email string) {
	t.Helper()
	patch := []client.JsonPatch{{Op: "replace", Path: "/traits/email", Value: email}}
	for attempt := 1; ; attempt++ {
		_, resp, err := s.admin.IdentityAPI.PatchIdentity(ctx(t), id).JsonPatch(patch).Execute()
		if err == nil {
			return
		}
		// Kratos refuses a transaction that lost a race in its database
		// ("Unable to serialize access due to a concurrent update"), as
		// happens when parallel tests share it; nothing was changed.
		msg := describe(resp, err)
		if attempt < 5 && strings.Contains(msg.Error(), "concurrent update") {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
			continue
		}
		t.Fatalf("kratostest: set email of %s: %v", id, msg)
	}
}

// DeleteIdentity deletes an identity through the admin API.
func (s *Server) DeleteIdentity(t testing.TB, id string) {
	t.Helper()
	resp, err := s.admin.IdentityAPI.DeleteIdentity(ctx(t), id).Execute()
	if err != nil {
		t.Fatalf("kratostest: delete identity %s: %v", id, describe(resp, err))
	}
}

// Login logs in with email and Password through a native (API) login flow
// and returns the new session's id and token.
func (s *Server) Login(t testing.TB, email string) (sessionID, token string) {
	t.Helper()
	return s.login(t, s.public, email)
}

func (s *Server) login(t testing.TB, public *client.APIClient, email string) (sessionID, token string) {
	t.Helper()
	flow, resp, err := public.FrontendAPI.CreateNativeLoginFlow(ctx(t)).Execute()
	if err != nil {
		t.Fatalf("kratostest: create login flow: %v", describe(resp, err))
	}
	body := client.UpdateLoginFlowBody{UpdateLoginFlowWithPasswordMethod: &client.UpdateLoginFlowWithPasswordMethod{
		Method:     "password",
		Identifier: email,
		Password:   Password,
	}}
	login, resp, err := public.FrontendAPI.UpdateLoginFlow(ctx(t)).Flow(flow.Id).UpdateLoginFlowBody(body).Execute()
	if err != nil {
		t.Fatalf("kratostest: log in: %v", describe(resp, err))
	}
	if login.SessionToken == nil {
		t.Fatalf("kratostest: log in: no session token in the answer")
	}
	return login.Session.Id, *login.SessionToken
}

// AddTOTP gives the identity with this email a TOTP credential by logging in
// and completing a native settings flow, the way an authenticator app would.
// Importing a TOTP credential through the admin API is not possible.
func (s *Server) AddTOTP(t testing.TB, email string) {
	t.Helper()
	var (
		token string
		flow  *client.SettingsFlow
	)
	for attempt := 1; ; attempt++ {
		_, token = s.Login(t, email)
		var resp *http.Response
		var err error
		flow, resp, err = s.public.FrontendAPI.CreateNativeSettingsFlow(ctx(t)).XSessionToken(token).Execute()
		if err == nil {
			break
		}
		// Under load Kratos has been seen to answer a fresh session with
		// 401 session_inactive; a new login then works.
		if msg := describe(resp, err); attempt == 3 || !strings.Contains(msg.Error(), "session_inactive") {
			t.Fatalf("kratostest: create settings flow: %v", msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var secret string
	for _, n := range flow.Ui.Nodes {
		if a := n.Attributes.UiNodeTextAttributes; a != nil && a.Id == "totp_secret_key" {
			secret = a.Text.Text
		}
	}
	if secret == "" {
		t.Fatalf("kratostest: settings flow has no totp_secret_key node; is TOTP enabled?")
	}
	code, err := totpCode(secret, time.Now())
	if err != nil {
		t.Fatalf("kratostest: %v", err)
	}
	body := client.UpdateSettingsFlowBody{UpdateSettingsFlowWithTotpMethod: &client.UpdateSettingsFlowWithTotpMethod{
		Method:   "totp",
		TotpCode: &code,
	}}
	_, resp, err := s.public.FrontendAPI.UpdateSettingsFlow(ctx(t)).Flow(flow.Id).XSessionToken(token).UpdateSettingsFlowBody(body).Execute()
	if err != nil {
		t.Fatalf("kratostest: submit TOTP code: %v", describe(resp, err))
	}
}

// Identity returns Kratos's current view of identity id, with credentials.
func (s *Server) Identity(t testing.TB, id string) *client.Identity {
	t.Helper()
	ident, resp, err := s.admin.IdentityAPI.GetIdentity(ctx(t), id).Execute()
	if err != nil {
		t.Fatalf("kratostest: get identity %s: %v", id, describe(resp, err))
	}
	return ident
}

// Sessions returns all sessions of identity id, active or not, in one page
// of up to 1000 (Kratos v1.3.1's session pagination is broken). Sessions
// removed by DeleteIdentitySessions are gone, not inactive.
func (s *Server) Sessions(t testing.TB, id string) []client.Session {
	t.Helper()
	sessions, resp, err := s.admin.IdentityAPI.ListIdentitySessions(ctx(t), id).PageSize(1000).Execute()
	if err != nil {
		t.Fatalf("kratostest: list sessions of %s: %v", id, describe(resp, err))
	}
	return sessions
}

// SessionActive reports whether token is accepted by the public whoami
// endpoint, that is whether a user holding it is still logged in.
func (s *Server) SessionActive(t testing.TB, token string) bool {
	t.Helper()
	_, resp, err := s.public.FrontendAPI.ToSession(ctx(t)).XSessionToken(token).Execute()
	switch {
	case err == nil:
		return true
	case resp != nil && resp.StatusCode == http.StatusUnauthorized:
		return false
	default:
		t.Fatalf("kratostest: whoami: %v", describe(resp, err))
		return false
	}
}

// ctx returns the test's context, or a background context for helpers
// called from t.Cleanup, where t.Context is already canceled.
