package kratostest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	client "github.com/ory/client-go"
)

// The UI URLs of testdata/kratos.yml. Kratos redirects a browser to them;
// nothing listens there, so the helpers below stop at the redirect.
const (
	settingsUI = "http://127.0.0.1:4455/settings"
	recoveryUI = "http://127.0.0.1:4455/recovery"
)

// AddLookupSecret gives the identity with this email a set of lookup
// secrets (backup codes) through a native settings flow: generate the
// codes, then confirm them, as a user saving them would.
func (s *Server) AddLookupSecret(t testing.TB, email string) {
	t.Helper()
	_, token := s.Login(t, email)
	flow, resp, err := s.public.FrontendAPI.CreateNativeSettingsFlow(ctx(t)).XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("kratostest: create settings flow: %v", describe(resp, err))
	}
	for _, step := range []client.UpdateSettingsFlowWithLookupMethod{
		{Method: "lookup_secret", LookupSecretRegenerate: new(true)},
		{Method: "lookup_secret", LookupSecretConfirm: new(true)},
	} {
		body := client.UpdateSettingsFlowBody{UpdateSettingsFlowWithLookupMethod: &step}
		_, resp, err = s.public.FrontendAPI.UpdateSettingsFlow(ctx(t)).Flow(flow.Id).XSessionToken(token).UpdateSettingsFlowBody(body).Execute()
		if err != nil {
			t.Fatalf("kratostest: lookup secret settings step: %v", describe(resp, err))
		}
	}
}

// RecoverWithLink opens a recovery link the way a user's browser would and
// returns the id of the identity it logged in. It returns "" if Kratos
// refused the link (unknown, used or expired token), which it shows by
// sending the browser back to the recovery UI with a new flow instead of to
// the settings UI with a session.
func (s *Server) RecoverWithLink(t testing.TB, link string) (identityID string) {
	t.Helper()
	if !strings.HasPrefix(link, s.PublicURL+"/self-service/recovery?") {
		t.Fatalf("kratostest: %q is not a recovery link of this server's public API", link)
	}
	hc := s.browser(t)
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, link, nil)
	if err != nil {
		t.Fatalf("kratostest: recovery link: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("kratostest: open recovery link: %v", err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode != http.StatusSeeOther:
		t.Fatalf("kratostest: open recovery link: status %d, want 303", resp.StatusCode)
	case strings.HasPrefix(loc, recoveryUI+"?"):
		return ""
	case !strings.HasPrefix(loc, settingsUI+"?"):
		t.Fatalf("kratostest: open recovery link: redirected to %q, want the settings or recovery UI", loc)
	}
	return s.whoami(t, hc)
}

// RecoverWithCode submits a recovery code to the flow that link (as
// returned by the admin API next to the code) names, the way the recovery
// UI would, and returns the id of the identity it logged in, or "" if
// Kratos refused the code.
func (s *Server) RecoverWithCode(t testing.TB, link, code string) (identityID string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("flow") == "" {
		t.Fatalf("kratostest: recovery code link %q names no flow", link)
	}
	body, _ := json.Marshal(client.UpdateRecoveryFlowWithCodeMethod{Method: "code", Code: &code})
	target := s.PublicURL + "/self-service/recovery?flow=" + url.QueryEscape(u.Query().Get("flow"))
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("kratostest: recovery code: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := s.browser(t)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("kratostest: submit recovery code: %v", err)
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode == http.StatusOK:
		// The flow again, with a message saying the code is invalid.
		return ""
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, s.PublicURL+"/self-service/recovery/flows?"):
		// The flow was used up: Kratos starts a new one.
		return ""
	case resp.StatusCode == http.StatusUnprocessableEntity:
		// A browser flow that succeeded: the UI is told to go to settings.
		var v struct {
			RedirectBrowserTo string `json:"redirect_browser_to"`
		}
		if json.Unmarshal(data, &v) != nil || !strings.HasPrefix(v.RedirectBrowserTo, settingsUI+"?") {
			t.Fatalf("kratostest: submit recovery code: 422 %s, want a redirect to the settings UI", data)
		}
		return s.whoami(t, hc)
	}
	t.Fatalf("kratostest: submit recovery code: status %d: %s", resp.StatusCode, data)
	return ""
}

// browser returns an HTTP client with a cookie jar that does not follow
// redirects, like a browser whose UI is not running.
func (s *Server) browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("kratostest: cookie jar: %v", err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// whoami returns the identity id of the session cookie in hc's jar.
func (s *Server) whoami(t testing.TB, hc *http.Client) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, s.PublicURL+"/sessions/whoami", nil)
	if err != nil {
		t.Fatalf("kratostest: whoami: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("kratostest: whoami: %v", err)
	}
	defer resp.Body.Close()
	var sess struct {
		Active   bool `json:"active"`
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		t.Fatalf("kratostest: whoami after recovery: status %d: %s", resp.StatusCode, data)
	}
	if err := json.NewDecoder(resp.Body).Decode(&sess); err != nil {
		t.Fatalf("kratostest: whoami: %v", err)
	}
	if !sess.Active || sess.Identity.ID == "" {
		t.Fatalf("kratostest: whoami after recovery: %s", fmt.Sprint(sess))
	}
	return sess.Identity.ID
}
