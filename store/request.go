package store

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Request is one ask for an action on an Ory identity, and its outcome.
type Request struct {
	ID             string     // short random id from NewID
	TriggerID      string     // Slack trigger_id of the slash command; unique when not empty
	Verb           string     // the action, e.g. "deactivate"
	IdentityID     string     // the Ory identity acted on
	Target         Target     // what besides the identity the action acts on
	Snapshot       Snapshot   // the identity when the request was made
	Effect         string     // what approving will do, in words for the card
	Requester      string     // Slack user id of who asked
	Reason         string     // why they asked
	ChannelID      string     // channel of the approval card
	MessageTS      string     // ts of the approval card, set once it is posted
	Status         Status     // where the request is; see the package doc
	Approver       string     // Slack user id of who denied, or gave the approval that approved it
	Approvals      []Approval // distinct approvals so far, in the order they were recorded; nil if none
	DecisionReason string     // why it was denied, if the approver said
	Result         string     // what happened, in words
	CreatedAt      time.Time  // when it was asked for
	ExpiresAt      time.Time  // after this the request can no longer be decided
	DecidedAt      time.Time  // zero until approved, denied or cancelled
	FinishedAt     time.Time  // zero until done, failed, stale or expired
}

// Approval is one approver's yes to a request.
type Approval struct {
	Approver string    // Slack user id
	At       time.Time // when they approved
}

// NewID returns a new random request id: 10 lowercase base32 characters,
// 50 bits, short enough to read out and type, unlikely to collide at the
// rate people ask for approvals.
func NewID() string {
	return strings.ToLower(rand.Text()[:10])
}

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
	Email       string `json:"email,omitempty"`        // masked, for the card
	EmailDigest string `json:"email_digest,omitempty"` // see the bot's emailDigest
	// AddressDigests are digests like EmailDigest of every address of the
	// identity: its credentials' identifiers and its verifiable and
	// recovery addresses. Requests made before it existed have only
	// EmailDigest.
	AddressDigests []string `json:"address_digests,omitempty"`
	State          string   `json:"state"`
	Fingerprint    string   `json:"fingerprint"` // ory.Identity.Fingerprint: state, traits and credentials
	Credentials    []string `json:"credentials"` // credential types
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
