// Package store keeps approval requests in a SQL database.
//
// A request moves through a small state machine:
//
//	pending ──Decide──▶ approved ──Finish──▶ done | failed
//	   │    └─Decide──▶ denied
//	   └──────Expire──▶ expired
//
// The bot may run as several replicas and Slack may deliver a click more than
// once, so every transition is one conditional UPDATE (compare-and-set on the
// current status) rather than a read followed by a write: whichever UPDATE
// lands first wins, and the others get a sentinel error together with the row
// as the winner left it.
//
// Every transition can also append records to the audit trail (package
// audit) in the same transaction, so that a record exists exactly when the
// change it describes does; see audit.go.
//
// SQLite is the only backend so far. The SQL sticks to what SQLite and
// PostgreSQL share ($n placeholders, RETURNING, BIGINT times, JSON in TEXT),
// so that a PostgreSQL backend can reuse it. The contract every backend must
// meet is the conformance suite in conformance_test.go.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orybot/orybot/audit"
)

// Status is where a request is in its life.
type Status string

// The statuses a request can have. Only pending requests can be decided, and
// only approved ones finished; the others are final.
const (
	// StatusPending means the request waits for an approver.
	StatusPending Status = "pending"
	// StatusApproved means an approver said yes and the action is running.
	StatusApproved Status = "approved"
	// StatusDone means the approved action succeeded.
	StatusDone Status = "done"
	// StatusFailed means the approved action failed.
	StatusFailed Status = "failed"
	// StatusDenied means an approver said no.
	StatusDenied Status = "denied"
	// StatusExpired means nobody decided in time.
	StatusExpired Status = "expired"
)

// Errors callers are expected to test for with errors.Is. Database errors
// are translated into these at the edge of the package, so callers need not
// know which backend they talk to.
var (
	// ErrNotFound means no request (or audit record) has the given id.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a request with the same trigger id (or id) already
	// exists, which usually means Slack redelivered the slash command.
	ErrDuplicate = errors.New("duplicate request")
	// ErrNotPending means the request is no longer in the status the
	// operation needs (pending, or approved for Finish): someone else, or an
	// earlier delivery of the same click, got there first.
	ErrNotPending = errors.New("request not pending")
	// ErrExpired means the request is still pending but its time is up.
	ErrExpired = errors.New("request expired")
	// ErrDelivered means an audit record was marked delivered already,
	// perhaps by another replica.
	ErrDelivered = errors.New("audit record already delivered")
)

// Request is one ask for an action on an Ory identity, and its outcome.
type Request struct {
	ID         string            // short random id from NewID
	TriggerID  string            // Slack trigger_id of the slash command; unique when not empty
	Verb       string            // the action, e.g. "deactivate"
	IdentityID string            // the Ory identity acted on
	Args       map[string]string // verb-specific arguments (session id, credential type…)
	Display    map[string]string // what the card shows that is not secret (masked email, state…)
	Requester  string            // Slack user id of who asked
	Reason     string            // why they asked
	ChannelID  string            // channel of the approval card
	MessageTS  string            // ts of the approval card, set once it is posted
	Status     Status            // where the request is; see the package doc
	Approver   string            // Slack user id of who approved or denied
	Result     string            // what happened, in words
	CreatedAt  time.Time         // when it was asked for
	ExpiresAt  time.Time         // after this the request can no longer be decided
	DecidedAt  time.Time         // zero until approved or denied
	FinishedAt time.Time         // zero until done, failed or expired
}

// NewID returns a new random request id: 10 lowercase base32 characters,
// 50 bits, short enough to read out and type, unlikely to collide at the
// rate people ask for approvals.
func NewID() string {
	return strings.ToLower(rand.Text()[:10])
}

// Store keeps requests in a SQL database. It is safe for concurrent use, also
// by several processes sharing one database.
type Store struct {
	db *sql.DB
	// writing admits one transaction of this Store at a time. SQLite has
	// one writer anyway, and makes the others poll for its lock, sleeping
	// up to 100ms between tries: with many goroutines polling, the lock
	// sits idle and some wait out busy_timeout. Queueing here leaves one
	// poller per Store.
	writing chan struct{}
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// requestColumns lists the columns scanRequest expects, in its order.
const requestColumns = `id, trigger_id, verb, identity_id, args, display,
	requester, reason, channel_id, message_ts, status, approver, result,
	created_at, expires_at, decided_at, finished_at`

// Create stores r as a new pending request. It sets r.Status to
// StatusPending, r.ID to NewID() if it is empty and r.CreatedAt to now if it
// is zero; r.ExpiresAt must be set. If a request with the same non-empty
// TriggerID (or the same ID) exists, Create returns ErrDuplicate and stores
// nothing.
//
// Create appends recs to the audit trail in the same transaction (see
// AppendAudit); a record without a RequestID gets r.ID.
func (s *Store) Create(ctx context.Context, r *Request, recs ...audit.Record) error {
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	if r.ExpiresAt.IsZero() {
		return fmt.Errorf("create request %s: no expiry time", r.ID)
	}
	r.Status = StatusPending
	args, err := json.Marshal(r.Args)
	if err != nil {
		return fmt.Errorf("create request %s: encode args: %w", r.ID, err)
	}
	display, err := json.Marshal(r.Display)
	if err != nil {
		return fmt.Errorf("create request %s: encode display: %w", r.ID, err)
	}
	recs = slices.Clone(recs)
	for i := range recs {
		if recs[i].RequestID == "" {
			recs[i].RequestID = r.ID
		}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			r.ID, r.TriggerID, r.Verb, r.IdentityID, string(args), string(display),
			r.Requester, r.Reason, r.ChannelID, r.MessageTS, string(r.Status), r.Approver, r.Result,
			r.CreatedAt.UnixNano(), r.ExpiresAt.UnixNano(), nullTime(r.DecidedAt), nullTime(r.FinishedAt))
		if err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, recs)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("create request %s (trigger %q): %w", r.ID, r.TriggerID, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create request %s: %w", r.ID, err)
	}
	return nil
}

// Get returns the request with the given id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Request, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// get is Get without the wrapping, for methods that wrap with their own
// operation.
func (s *Store) get(ctx context.Context, id string) (*Request, error) {
	r, err := scanRequest(s.db.QueryRowContext(ctx,
		`SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// SetMessage records where the approval card of request id was posted, so
// that the card can be updated once the request is decided.
func (s *Store) SetMessage(ctx context.Context, id, channelID, ts string) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE requests SET channel_id = $1, message_ts = $2 WHERE id = $3`,
		channelID, ts, id)
	if err := changedOne(res, err); err != nil {
		return fmt.Errorf("set message of request %s: %w", id, err)
	}
	return nil
}

// Decide approves or denies (to is StatusApproved or StatusDenied) the
// pending request id on behalf of approver, and returns it as decided.
//
// Of any number of concurrent Decide calls on one request, exactly one wins.
// The others get the request as it is now together with ErrNotPending (it
// was decided already; Approver says by whom), ErrExpired (it is pending but
// its time was up at now) or ErrNotFound (with a nil request).
//
// Only the winner appends recs to the audit trail, in the same transaction
// as the decision.
func (s *Store) Decide(ctx context.Context, id string, to Status, approver string, now time.Time, recs ...audit.Record) (*Request, error) {
	if to != StatusApproved && to != StatusDenied {
		return nil, fmt.Errorf("decide request %s: cannot decide to %q", id, to)
	}
	// One statement that checks and changes the status: a SELECT before it
	// would let two replicas both see "pending" and both approve.
	var r *Request
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `UPDATE requests
			SET status = $1, approver = $2, decided_at = $3
			WHERE id = $4 AND status = $5 AND expires_at > $3
			RETURNING `+requestColumns,
			string(to), approver, now.UnixNano(), id, string(StatusPending)))
		if err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, recs)
		return err
	})
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("decide request %s: %w", id, err)
	}

	// Nothing changed. Read the row to say why; it shows what the winner, if
	// any, left, since a request that left pending never goes back.
	r, err = s.get(ctx, id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("decide request %s: %w", id, err)
	case r.Status != StatusPending:
		return r, fmt.Errorf("decide request %s: status is %s: %w", id, r.Status, ErrNotPending)
	case !r.ExpiresAt.After(now):
		return r, fmt.Errorf("decide request %s: expired at %s: %w", id, r.ExpiresAt.Format(time.RFC3339), ErrExpired)
	default:
		// Only reachable if the row appeared after the UPDATE looked for it.
		return nil, fmt.Errorf("decide request %s: the request changed while deciding; try again", id)
	}
}

// Expire marks the pending request id as expired if its time was up at now,
// and returns it. Otherwise it returns ErrNotPending with the request as it
// is (decided meanwhile, or not expired yet), or ErrNotFound. Only when it
// expires the request does it append recs to the audit trail, in the same
// transaction.
func (s *Store) Expire(ctx context.Context, id string, now time.Time, recs ...audit.Record) (*Request, error) {
	var r *Request
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `UPDATE requests
			SET status = $1, finished_at = $2
			WHERE id = $3 AND status = $4 AND expires_at <= $2
			RETURNING `+requestColumns,
			string(StatusExpired), now.UnixNano(), id, string(StatusPending)))
		if err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, recs)
		return err
	})
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("expire request %s: %w", id, err)
	}

	r, err = s.get(ctx, id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("expire request %s: %w", id, err)
	case r.Status == StatusPending:
		return r, fmt.Errorf("expire request %s: not expired until %s: %w", id, r.ExpiresAt.Format(time.RFC3339), ErrNotPending)
	default:
		return r, fmt.Errorf("expire request %s: status is %s: %w", id, r.Status, ErrNotPending)
	}
}

// Finish records the outcome (to is StatusDone or StatusFailed) of the
// approved request id. It returns ErrNotPending if the request is not
// approved, for instance because it was finished already. Only when it
// finishes the request does it append recs to the audit trail, in the same
// transaction.
func (s *Store) Finish(ctx context.Context, id string, to Status, result string, now time.Time, recs ...audit.Record) error {
	if to != StatusDone && to != StatusFailed {
		return fmt.Errorf("finish request %s: cannot finish as %q", id, to)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests
			SET status = $1, result = $2, finished_at = $3
			WHERE id = $4 AND status = $5`,
			string(to), result, now.UnixNano(), id, string(StatusApproved))
		if err := changedOne(res, err); err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, recs)
		return err
	})
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("finish request %s: %w", id, err)
	}
	// Nothing changed: say whether the request is missing or elsewhere.
	r, err := s.get(ctx, id)
	if err != nil {
		return fmt.Errorf("finish request %s: %w", id, err)
	}
	return fmt.Errorf("finish request %s: status is %s: %w", id, r.Status, ErrNotPending)
}

// Delete removes the request id, whatever its status. It is meant for a
// request whose approval card could not be posted, which nobody could ever
// decide.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM requests WHERE id = $1`, id)
	if err := changedOne(res, err); err != nil {
		return fmt.Errorf("delete request %s: %w", id, err)
	}
	return nil
}

// ExpiredPending returns the pending requests whose time was up at now,
// oldest expiry first, for a sweeper to Expire.
func (s *Store) ExpiredPending(ctx context.Context, now time.Time) ([]*Request, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE status = $1 AND expires_at <= $2
		ORDER BY expires_at, id`,
		string(StatusPending), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list expired requests: %w", err)
	}
	defer rows.Close()
	var rs []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list expired requests: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list expired requests: %w", err)
	}
	return rs, nil
}

// inTx runs fn in a transaction, which it commits if fn returns nil and
// rolls back otherwise. fn must write before it reads (see appendAudit).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case s.writing <- struct{}{}:
		defer func() { <-s.writing }()
	case <-ctx.Done():
		return ctx.Err()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// changedOne turns the result of an UPDATE or DELETE by id into ErrNotFound
// when it matched no row.
func changedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// scanRequest reads the requestColumns of one row.
func scanRequest(row interface{ Scan(...any) error }) (*Request, error) {
	var (
		r                 Request
		status            string
		args, display     string
		created, expires  int64
		decided, finished sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.TriggerID, &r.Verb, &r.IdentityID, &args, &display,
		&r.Requester, &r.Reason, &r.ChannelID, &r.MessageTS, &status, &r.Approver, &r.Result,
		&created, &expires, &decided, &finished)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(args), &r.Args); err != nil {
		return nil, fmt.Errorf("decode args of request %s: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(display), &r.Display); err != nil {
		return nil, fmt.Errorf("decode display of request %s: %w", r.ID, err)
	}
	r.Status = Status(status)
	r.CreatedAt = time.Unix(0, created).UTC()
	r.ExpiresAt = time.Unix(0, expires).UTC()
	if decided.Valid {
		r.DecidedAt = time.Unix(0, decided.Int64).UTC()
	}
	if finished.Valid {
		r.FinishedAt = time.Unix(0, finished.Int64).UTC()
	}
	return &r, nil
}

// nullTime stores the zero time as NULL: UnixNano of the zero time does not
// fit in an int64, and NULL says "not yet" plainly.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}
