// Package audit defines the audit record: what happened to a request, who
// asked, who decided, and the result. Records carry ids and words only,
// never tokens, recovery links or identity traits.
package audit

import "time"

// Event names a step in a request's life.
type Event string

// The events a record can describe.
const (
	Done    Event = "done"
	Failed  Event = "failed"
	Denied  Event = "denied"
	Expired Event = "expired"
)

// Record is one entry of the audit trail.
type Record struct {
	Time       time.Time
	RequestID  string
	Event      Event
	Verb       string
	IdentityID string
	Requester  string // Slack user id
	Approver   string // Slack user id of whoever decided; empty for expiry
	Reason     string
	Result     string // the outcome in words
}
