// Package audit defines the audit trail: one record for every event of every
// request (asked, approved, each step run, the outcome…), who asked, who
// decided, and the result.
//
// Records carry ids and words only, never tokens, API keys, recovery links or
// codes, or identity traits; a recovery link or code appears only as its
// fingerprint.
//
// The records form a hash chain. Record n holds the hash of record n-1
// (PrevHash) and the SHA-256 of its own canonical form (Hash), which covers
// PrevHash. Changing a record breaks its hash; recomputing that hash breaks
// the PrevHash of the record after it, and so on up to the newest record,
// whose hash prefix was posted to the audit channel, out of reach of whoever
// edits the database. Chain checks a trail.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Event names a step in a request's life.
type Event string

// The events a record can describe.
const (
	// Requested means someone asked for an action; Reason says why.
	Requested Event = "requested"
	// Approved means an approver said yes.
	Approved Event = "approved"
	// Denied means an approver said no; Reason may say why.
	Denied Event = "denied"
	// Cancelled means the requester withdrew the request.
	Cancelled Event = "cancelled"
	// Expired means nobody decided in time.
	Expired Event = "expired"
	// Stale means the request was not run because the identity changed
	// after it was asked for.
	Stale Event = "stale"
	// Step is one executed step of a multi-step action; Subject names what
	// it acted on and Result what came of it.
	Step Event = "step"
	// Done means the approved action succeeded.
	Done Event = "done"
	// Failed means the approved action failed; Result says why, in words.
	Failed Event = "failed"
)

// Record is one entry of the audit trail. Seq, PrevHash and Hash are set by
// Seal when the record joins the trail; the rest is set by whoever records
// the event. The JSON names are those of Canonical and WriteJSONL, so a line
// of WriteJSONL decodes back into a Record.
type Record struct {
	Seq        int64     `json:"seq"`         // place in the trail, from 1
	Time       time.Time `json:"time"`        // when it happened
	RequestID  string    `json:"request_id"`  // the request it belongs to
	Event      Event     `json:"event"`       // what happened
	Verb       string    `json:"verb"`        // the action, e.g. "deactivate"
	IdentityID string    `json:"identity_id"` // the Ory identity acted on
	Subject    string    `json:"subject"`     // session id or credential type where relevant, else ""
	Requester  string    `json:"requester"`   // Slack user id
	Approver   string    `json:"approver"`    // Slack user id of whoever decided; "" before that and for expiry
	Reason     string    `json:"reason"`      // why it was asked for, or denied
	Result     string    `json:"result"`      // the outcome in words
	PrevHash   string    `json:"prev_hash"`   // Hash of record Seq-1; "" for record 1
	Hash       string    `json:"hash"`        // hex SHA-256 of Canonical
}

// canonical is the hashed content of a Record: every field but Hash, in a
// fixed order, with the time as text so that encoding it cannot fail.
type canonical struct {
	Seq        int64  `json:"seq"`
	Time       string `json:"time"`
	RequestID  string `json:"request_id"`
	Event      Event  `json:"event"`
	Verb       string `json:"verb"`
	IdentityID string `json:"identity_id"`
	Subject    string `json:"subject"`
	Requester  string `json:"requester"`
	Approver   string `json:"approver"`
	Reason     string `json:"reason"`
	Result     string `json:"result"`
	PrevHash   string `json:"prev_hash"`
}

// line is what WriteJSONL writes: the canonical form with the hash last.
type line struct {
	canonical
	Hash string `json:"hash"`
}

func (r Record) canonical() canonical {
	return canonical{
		Seq:        r.Seq,
		Time:       r.Time.UTC().Format(time.RFC3339Nano),
		RequestID:  r.RequestID,
		Event:      r.Event,
		Verb:       r.Verb,
		IdentityID: r.IdentityID,
		Subject:    r.Subject,
		Requester:  r.Requester,
		Approver:   r.Approver,
		Reason:     r.Reason,
		Result:     r.Result,
		PrevHash:   r.PrevHash,
	}
}

// encode writes v as one line of JSON, without HTML escaping, which would
// only make the text harder to read elsewhere.
func encode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Canonical returns the bytes whose SHA-256 is r's Hash: a JSON object with
// no spaces and these keys, in this order:
//
//	seq, time, request_id, event, verb, identity_id, subject,
//	requester, approver, reason, result, prev_hash
//
// seq is a number; time is r.Time in UTC as time.RFC3339Nano writes it (no
// trailing zeros in the fraction); the other values are strings as
// encoding/json writes them with HTML escaping off. Hash is left out. A line
// of WriteJSONL without its final "hash" member is the record's canonical
// form, so an export can be checked without this package.
//
// Adding a field to Record would change every hash: that needs a new
// version of this format, not an edit.
func (r Record) Canonical() []byte {
	var b bytes.Buffer
	// Encoding a struct of strings and an int into a buffer cannot fail.
	_ = encode(&b, r.canonical())
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// ComputeHash returns the hex SHA-256 of r's canonical form, which is what
// r.Hash must be.
func (r Record) ComputeHash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// ShortHash returns the first 12 hex digits of r.Hash, for the audit
// channel and for people comparing it with `orybot audit verify`.
func (r Record) ShortHash() string {
	if len(r.Hash) < 12 {
		return r.Hash
	}
	return r.Hash[:12]
}

// Seal returns r as record seq of a trail whose previous record has the hash
// prevHash: with Seq, PrevHash and Hash set, Time in UTC, and invalid UTF-8
// in its text replaced by U+FFFD. The replacement keeps the canonical form
// one-to-one, since JSON would otherwise encode different invalid bytes
// alike.
func (r Record) Seal(seq int64, prevHash string) Record {
	for _, f := range r.texts() {
		*f.value = strings.ToValidUTF8(*f.value, "\uFFFD")
	}
	r.Time = r.Time.UTC()
	r.Seq = seq
	r.PrevHash = prevHash
	r.Hash = r.ComputeHash()
	return r
}

// textField is a string field of a Record, by its JSON name.
type textField struct {
	name  string
	value *string
}

// texts returns the free-text fields of r, which a caller or a database
// could fill with invalid UTF-8.
func (r *Record) texts() []textField {
	return []textField{
		{"request_id", &r.RequestID}, {"verb", &r.Verb}, {"identity_id", &r.IdentityID},
		{"subject", &r.Subject}, {"requester", &r.Requester}, {"approver", &r.Approver},
		{"reason", &r.Reason}, {"result", &r.Result}, {"prev_hash", &r.PrevHash},
		{"hash", &r.Hash}, {"event", (*string)(&r.Event)},
	}
}

// WriteJSONL writes r to w as one line of JSON (JSON Lines), with the keys
// of Canonical followed by "hash".
func WriteJSONL(w io.Writer, r Record) error {
	if err := encode(w, line{r.canonical(), r.Hash}); err != nil {
		return fmt.Errorf("write audit record %d: %w", r.Seq, err)
	}
	return nil
}

// ChainError names the first record of a trail that does not fit.
type ChainError struct {
	Seq     int64  // the sequence number of the record, or of the missing one
	Problem string // what is wrong, in words
}

// Error says which record does not match and why, e.g. "audit record 3
// does not match: hash mismatch".
func (e *ChainError) Error() string {
	return fmt.Sprintf("audit record %d does not match: %s", e.Seq, e.Problem)
}

// Chain checks an audit trail one record at a time, oldest first. The zero
// Chain expects record 1.
type Chain struct {
	last Record // the last record accepted; zero before the first
}

// Add checks that r follows the records added before it: its Seq is the
// next number, its Hash is its ComputeHash, its PrevHash is the previous
// record's Hash ("" for record 1) and its text is valid UTF-8. If not, it
// returns a *ChainError naming r, or the missing record before it, and the
// caller should stop: the chain is broken from there on.
func (c *Chain) Add(r Record) error {
	want := c.last.Seq + 1
	switch {
	case r.Seq > want && want == 1:
		return &ChainError{want, fmt.Sprintf("missing (the trail starts at record %d)", r.Seq)}
	case r.Seq > want:
		return &ChainError{want, fmt.Sprintf("missing (record %d is followed by %d)", c.last.Seq, r.Seq)}
	case r.Seq < want:
		return &ChainError{r.Seq, fmt.Sprintf("out of order (it comes after record %d)", c.last.Seq)}
	}
	for _, f := range r.texts() {
		if !utf8.ValidString(*f.value) {
			return &ChainError{r.Seq, f.name + " is not valid UTF-8"}
		}
	}
	if r.Hash != r.ComputeHash() {
		return &ChainError{r.Seq, "hash mismatch"}
	}
	if r.PrevHash != c.last.Hash {
		if want == 1 {
			return &ChainError{r.Seq, "the first record has a previous hash"}
		}
		return &ChainError{r.Seq, fmt.Sprintf("previous hash mismatch (prev_hash is not the hash of record %d)", c.last.Seq)}
	}
	c.last = r
	return nil
}

// Last returns the last record Add accepted, or the zero Record if none.
// Its Seq is the number of records checked.
func (c *Chain) Last() Record {
	return c.last
}

// Verify checks a whole trail, oldest first, as Chain.Add does, and returns
// the first *ChainError.
func Verify(records []Record) error {
	var c Chain
	for _, r := range records {
		if err := c.Add(r); err != nil {
			return err
		}
	}
	return nil
}
