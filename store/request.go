package store

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Target names what, besides the identity, an approved request acts on.
// Most verbs need none of it.
type Target struct {
	SessionID  string   `json:"session_id,omitempty"` // revoke-session
	Credential string   `json:"type,omitempty"`       // delete-credential: the credential type
	Identifier string   `json:"identifier,omitempty"` // delete-credential: the oidc or saml link
	Factors    []string `json:"factors,omitempty"`    // reset-2fa: the second factors to remove
}

// Snapshot is what the bot saw of the identity when the request was made.
// The approval is for that identity: before acting, the bot compares it
// with the identity as it is then. Nothing in it is secret: the email is
// masked, and kept in full only as a digest salted with the request id.
type Snapshot struct {
	Email       string   `json:"email,omitempty"`        // masked, for the card
	EmailDigest string   `json:"email_digest,omitempty"` // see the bot's emailDigest
	State       string   `json:"state"`
	Fingerprint string   `json:"fingerprint"` // ory.Identity.Fingerprint: state, traits and credentials
	Credentials []string `json:"credentials"` // credential types
}

// display is what the display column holds: the snapshot and the words
// for the card.
type display struct {
	Snapshot
	Effect string `json:"effect,omitempty"`
}

// encodeData turns the typed request data into the args and display
// columns.
func encodeData(r *Request) (args, disp string, err error) {
	a, err := json.Marshal(r.Target)
	if err != nil {
		return "", "", fmt.Errorf("encode target: %w", err)
	}
	d, err := json.Marshal(display{Snapshot: r.Snapshot, Effect: r.Effect})
	if err != nil {
		return "", "", fmt.Errorf("encode snapshot: %w", err)
	}
	return string(a), string(d), nil
}

// decodeData reads the args and display columns into r. Rows written before
// the data was typed hold string maps; the keys that moved (the digest,
// fingerprint and credentials lived in args, reset-2fa's factors were a
// comma-separated "types") are read from where they were, so requests
// pending across an upgrade still decide correctly.
func decodeData(r *Request, args, disp string) error {
	var d display
	if err := json.Unmarshal([]byte(disp), &d); err != nil {
		return fmt.Errorf("decode snapshot of request %s: %w", r.ID, err)
	}
	var legacy struct {
		Target
		Types       string `json:"types"`
		EmailDigest string `json:"email_digest"`
		Fingerprint string `json:"fingerprint"`
		Credentials any    `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(args), &legacy); err != nil {
		return fmt.Errorf("decode target of request %s: %w", r.ID, err)
	}
	r.Target, r.Snapshot, r.Effect = legacy.Target, d.Snapshot, d.Effect
	if legacy.Types != "" && len(r.Target.Factors) == 0 {
		r.Target.Factors = strings.Split(legacy.Types, ",")
	}
	if r.Snapshot.EmailDigest == "" {
		r.Snapshot.EmailDigest = legacy.EmailDigest
	}
	if r.Snapshot.Fingerprint == "" {
		r.Snapshot.Fingerprint = legacy.Fingerprint
	}
	if creds, ok := legacy.Credentials.(string); ok && r.Snapshot.Credentials == nil && creds != "" {
		r.Snapshot.Credentials = strings.Split(creds, ",")
	}
	return nil
}
