package ory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	client "github.com/ory/client-go"
)

// Identity states accepted by SetState.
const (
	// StateActive is the state of an identity that can log in.
	StateActive = "active"
	// StateInactive is the state of a disabled identity: it cannot log in
	// and its session tokens are refused until it is active again.
	StateInactive = "inactive"
)

// Identity is an Ory identity, reduced to what the bot needs.
type Identity struct {
	// ID is the identity's UUID.
	ID string
	// State is StateActive or StateInactive.
	State string
	// SchemaID is the id of the identity schema.
	SchemaID string
	// Email is the "email" trait, or "" if the schema has none. It is
	// personal data: never log it.
	Email string
	// CreatedAt is when the identity was created.
	CreatedAt time.Time
	// CredentialTypes lists the identity's credential types, sorted, e.g.
	// ["oidc", "password", "totp"].
	CredentialTypes []string
	// Identifiers maps a credential type to its identifiers, such as
	// "google:1234" for oidc or the email for password. Like Email, it is
	// personal data.
	Identifiers map[string][]string
	// VerifiableAddresses and RecoveryAddresses are the values of the
	// identity's verifiable and recovery addresses (emails or phone
	// numbers), wherever the schema keeps them: traits.emails[],
	// traits.contact.email… Like Email, they are personal data.
	VerifiableAddresses []string
	RecoveryAddresses   []string
	// Fingerprint is a SHA-256 hex digest of the state, the traits and the
	// credentials' types, versions and update times. Two reads with the same
	// fingerprint saw the same identity, so a caller can detect a change
	// (for example between a request and its approval) without storing
	// traits. Any admin patch changes it, even one that sets the same
	// value, because Kratos then touches the credentials' update times.
	Fingerprint string
}

// LogValue implements slog.LogValuer: an identity is logged by its id
// alone, so that its traits and addresses cannot reach a log by accident.
func (i Identity) LogValue() slog.Value { return slog.StringValue(i.ID) }

// Ping checks that the admin URL and API key work with one cheap call. It
// returns ErrWrongURL when the URL is Kratos's public port, and
// ErrUnauthorized when the key is missing or wrong.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, call{name: "ping", op: "ping", idempotent: true}, func(ctx context.Context) (*http.Response, error) {
		_, resp, err := c.api.IdentityAPI.ListIdentities(ctx).PageSize(1).PerPage(1).Execute()
		return resp, err
	})
}

// Identity returns the identity with this id.
func (c *Client) Identity(ctx context.Context, id string) (Identity, error) {
	if !validUUID(id) {
		return Identity{}, fmt.Errorf("get identity: %w", ErrInvalidID)
	}
	var got *client.Identity
	err := c.do(ctx, call{name: "get_identity", op: "get identity " + id, idempotent: true}, func(ctx context.Context) (resp *http.Response, err error) {
		got, resp, err = c.api.IdentityAPI.GetIdentity(ctx, id).Execute()
		return resp, err
	})
	if err != nil {
		return Identity{}, err
	}
	return toIdentity(got), nil
}

// IdentityByEmail returns the identity that logs in with this email. The
// match is exact but case-insensitive, and covers credential identifiers
// (password, code), not traits: an identity that only signs in through a
// social provider is not found. It returns ErrNotFound if none matches and
// an *AmbiguousError if several do.
func (c *Client) IdentityByEmail(ctx context.Context, email string) (Identity, error) {
	// The op never names the email: errors end up in logs.
	const op = "find identity by email"
	// An empty credentials_identifier makes Kratos list every identity, so
	// the address is checked before it is sent.
	if !validEmail(email) {
		return Identity{}, fmt.Errorf("%s: %w", op, ErrInvalidID)
	}
	var got []client.Identity
	err := c.do(ctx, call{name: "find_identity", op: op, idempotent: true}, func(ctx context.Context) (resp *http.Response, err error) {
		got, resp, err = c.api.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
		return resp, err
	})
	if err != nil {
		return Identity{}, err
	}
	// One identity can hold the address in several credentials.
	var ids []string
	var first *client.Identity
	for i := range got {
		if !slices.Contains(ids, got[i].Id) {
			ids = append(ids, got[i].Id)
			if first == nil {
				first = &got[i]
			}
		}
	}
	switch len(ids) {
	case 0:
		return Identity{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	case 1:
		return toIdentity(first), nil
	}
	return Identity{}, &AmbiguousError{Op: op, Count: len(ids), IDs: ids}
}

// SetState sets the identity's state to StateActive or StateInactive and
// returns the updated identity. Deactivating does not end existing
// sessions, which work again after reactivation; revoke them as well.
//
// Kratos touches the credentials' update times on every patch, even one
// that changes nothing, but answers with the old times; so the returned
// Fingerprint differs from that of the next read. Re-read with Identity
// for a fingerprint to compare against later.
func (c *Client) SetState(ctx context.Context, id, state string) (Identity, error) {
	if !validUUID(id) {
		return Identity{}, fmt.Errorf("set identity state: %w", ErrInvalidID)
	}
	op := fmt.Sprintf("set identity %s state to %s", id, state)
	if state != StateActive && state != StateInactive {
		return Identity{}, fmt.Errorf("set identity %s state: %w: state must be %q or %q", id, ErrBadRequest, StateActive, StateInactive)
	}
	patch := []client.JsonPatch{{Op: "replace", Path: "/state", Value: state}}
	var got *client.Identity
	// Replacing with a fixed value gives the same result when repeated.
	err := c.do(ctx, call{name: "set_state", op: op, idempotent: true}, func(ctx context.Context) (resp *http.Response, err error) {
		got, resp, err = c.api.IdentityAPI.PatchIdentity(ctx, id).JsonPatch(patch).Execute()
		return resp, err
	})
	if err != nil {
		return Identity{}, err
	}
	return toIdentity(got), nil
}

// DeleteCredential removes a credential of the given type (e.g. "totp",
// "lookup_secret", "webauthn", "oidc") from the identity. identifier
// selects one provider link for "oidc" and "saml" and is ignored
// otherwise. Kratos refuses to remove a first factor such as "password"
// (ErrBadRequest) and answers ErrNotFound if the identity has no such
// credential.
func (c *Client) DeleteCredential(ctx context.Context, identityID, credType, identifier string) error {
	if !validUUID(identityID) {
		return fmt.Errorf("delete credential: %w", ErrInvalidID)
	}
	op := fmt.Sprintf("delete %s credential of identity %s", credType, identityID)
	if !validCredType(credType) {
		return fmt.Errorf("delete credential of identity %s: %w: malformed credential type", identityID, ErrBadRequest)
	}
	return c.do(ctx, call{name: "delete_credential", op: op, idempotent: true, goneOK: true}, func(ctx context.Context) (*http.Response, error) {
		req := c.api.IdentityAPI.DeleteIdentityCredentials(ctx, identityID, credType)
		if identifier != "" {
			req = req.Identifier(identifier)
		}
		return req.Execute()
	})
}

func toIdentity(in *client.Identity) Identity {
	out := Identity{
		ID:          in.Id,
		State:       in.GetState(),
		SchemaID:    in.SchemaId,
		CreatedAt:   in.GetCreatedAt(),
		Identifiers: map[string][]string{},
	}
	if traits, ok := in.Traits.(map[string]any); ok {
		out.Email, _ = traits["email"].(string)
	}
	creds := in.GetCredentials()
	for typ, cr := range creds {
		out.CredentialTypes = append(out.CredentialTypes, typ)
		if len(cr.Identifiers) > 0 {
			out.Identifiers[typ] = slices.Clone(cr.Identifiers)
		}
	}
	slices.Sort(out.CredentialTypes)
	for _, a := range in.VerifiableAddresses {
		out.VerifiableAddresses = append(out.VerifiableAddresses, a.Value)
	}
	for _, a := range in.RecoveryAddresses {
		out.RecoveryAddresses = append(out.RecoveryAddresses, a.Value)
	}
	out.Fingerprint = fingerprint(out.State, in.Traits, out.CredentialTypes, creds)
	return out
}

func fingerprint(state string, traits any, types []string, creds map[string]client.IdentityCredentials) string {
	type credential struct {
		Type      string    `json:"type"`
		Version   int64     `json:"version"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	v := struct {
		State       string       `json:"state"`
		Traits      any          `json:"traits"`
		Credentials []credential `json:"credentials"`
	}{State: state, Traits: traits}
	for _, typ := range types { // sorted, so the digest is stable
		cr := creds[typ]
		v.Credentials = append(v.Credentials, credential{Type: typ, Version: cr.GetVersion(), UpdatedAt: cr.GetUpdatedAt().UTC()})
	}
	// Traits came from JSON, and maps marshal with sorted keys.
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// validUUID reports whether s is a UUID in the canonical 8-4-4-4-12 form.
// Kratos answers a malformed id with 404 on some endpoints and 400 on
// others, so ids are checked before any call.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// validEmail is a sanity check, not RFC 5322: something@something, no
// spaces or control characters, at most 320 bytes.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || len(s) > 320 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

func validCredType(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
