package kratostest

import (
	"testing"

	client "github.com/ory/client-go"
)

// SetState sets the state of identity id to "active" or "inactive"
// through the admin API, bypassing the bot.
func (s *Server) SetState(t testing.TB, id, state string) {
	t.Helper()
	patch := []client.JsonPatch{{Op: "replace", Path: "/state", Value: state}}
	_, resp, err := s.admin.IdentityAPI.PatchIdentity(ctx(t), id).JsonPatch(patch).Execute()
	if err != nil {
		t.Fatalf("kratostest: set state of %s to %s: %v", id, state, describe(resp, err))
	}
}

// DisableSession revokes one session through the admin API, bypassing the
// bot. Kratos keeps it as an inactive session.
func (s *Server) DisableSession(t testing.TB, sessionID string) {
	t.Helper()
	resp, err := s.admin.IdentityAPI.DisableSession(ctx(t), sessionID).Execute()
	if err != nil {
		t.Fatalf("kratostest: disable session %s: %v", sessionID, describe(resp, err))
	}
}
