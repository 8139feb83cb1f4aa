// Package store keeps approval requests in a SQL database.
//
// A request moves through a small state machine:
//
//	pending ──Approve (the last one needed)──▶ approved ──Finish──▶ done | failed | stale
//	   ├──────Deny────▶ denied
//	   ├──────Cancel──▶ cancelled
//	   └──────Expire──▶ expired
//
// A request may need approvals from several people (N of M). Approve before
// the last one needed records the approval and leaves the request pending.
//
// The bot may run as several replicas and Slack may deliver a click more than
// once, so every transition is a conditional UPDATE (compare-and-set on the
// current status) rather than a read followed by a write: whichever UPDATE
// lands first wins, and the others get a sentinel error together with the row
// as the winner left it. A transition that takes several statements (Approve)
// starts with such an UPDATE of the request, which takes SQLite's write lock
// and PostgreSQL's lock on the row, so that transactions on one request take
// turns and each sees what the one before it committed.
//
// Every transition can also append records to the audit trail (package
// audit) in the same transaction, so that a record exists exactly when the
// change it describes does; see audit.go.
//
// The backend is SQLite (modernc.org/sqlite) or PostgreSQL (pgx); see Open.
// The SQL sticks to what the two share ($n placeholders, RETURNING, ON
// CONFLICT, BIGINT times, JSON in TEXT), so both run the same statements;
// only opening, migration locking and error codes differ. PostgreSQL runs
// at its default isolation, READ COMMITTED, where a statement that waited
// for a row lock sees the row as its holder committed it: that is what
// makes the conditional UPDATEs decide races. The contract every backend
// must meet is the conformance suite in conformance_test.go.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orybot/orybot/audit"
)

// Status is where a request is in its life.
type Status string

// The statuses a request can have. Only pending requests can be approved,
// denied or cancelled, and only approved ones finished; the others are
// final.
const (
	// StatusPending means the request waits for approvers.
	StatusPending Status = "pending"
	// StatusApproved means enough approvers said yes and the action is
	// running.
	StatusApproved Status = "approved"
	// StatusDone means the approved action succeeded.
	StatusDone Status = "done"
	// StatusFailed means the approved action failed.
	StatusFailed Status = "failed"
	// StatusStale means the identity changed between request and approval,
	// so the approved action was not run.
	StatusStale Status = "stale"
	// StatusDenied means an approver said no.
	StatusDenied Status = "denied"
	// StatusCancelled means the requester withdrew the request.
	StatusCancelled Status = "cancelled"
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
	// ErrAlreadyApproved means the approver has approved the request
	// before: an approval counts once per person, however often they click.
	ErrAlreadyApproved = errors.New("already approved by this approver")
	// ErrNotRequester means someone other than the requester tried to
	// cancel a request.
	ErrNotRequester = errors.New("only the requester may cancel the request")
	// ErrDelivered means an audit record was marked delivered already,
	// perhaps by another replica.
	ErrDelivered = errors.New("audit record already delivered")
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

// Store keeps requests in a SQL database. It is safe for concurrent use, also
// by several processes sharing one database.
type Store struct {
	db *sql.DB
	// writing admits one transaction of this Store at a time. SQLite has
	// one writer anyway, and makes the others poll for its lock, sleeping
	// up to 100ms between tries: with many goroutines polling, the lock
	// sits idle and some wait out busy_timeout. Queueing here leaves one
	// poller per Store. On PostgreSQL it costs little, since transactions
	// on one replica mostly wait for the same audit_head row anyway.
	writing chan struct{}
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// requestColumns lists the columns of requests that scanRequest expects, in
// its order.
const requestColumns = `id, trigger_id, verb, identity_id, args, display,
	requester, reason, channel_id, message_ts, status, approver, decision_reason,
	result, created_at, expires_at, decided_at, finished_at`

// Create stores r as a new pending request. It sets r.Status to
// StatusPending, r.Approvals to nil, r.ID to NewID() if it is empty and
// r.CreatedAt to now if it is zero; r.ExpiresAt must be set. If a request
// with the same non-empty TriggerID (or the same ID) exists, Create returns
// ErrDuplicate and stores nothing.
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
	r.Approvals = nil
	args, display, err := encodeData(r)
	if err != nil {
		return fmt.Errorf("create request %s: %w", r.ID, err)
	}
	recs = slices.Clone(recs)
	for i := range recs {
		if recs[i].RequestID == "" {
			recs[i].RequestID = r.ID
		}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			r.ID, r.TriggerID, r.Verb, r.IdentityID, args, display,
			r.Requester, r.Reason, r.ChannelID, r.MessageTS, string(r.Status), r.Approver, r.DecisionReason,
			r.Result, r.CreatedAt.UnixNano(), r.ExpiresAt.UnixNano(), nullTime(r.DecidedAt), nullTime(r.FinishedAt))
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

// Get returns the request with the given id, with its approvals, or
// ErrNotFound.
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
	return getRequest(ctx, s.db, id)
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

// Approve records that approver approved the pending request id, and returns
// the request as it stands afterwards. When that makes required (at least 1)
// distinct approvals, the request becomes approved in the same transaction,
// with Approver set to this, the last, approver and DecidedAt to now; until
// then it stays pending while its Approvals grow.
//
// If it records nothing, Approve returns the request as it is together with
// ErrNotPending (decided already, perhaps by the approval before this one),
// ErrExpired (pending, but its time was up at now), ErrAlreadyApproved
// (approver approved it before) or, with a nil request, ErrNotFound. Of
// concurrent approvals of a request that needs N, exactly the Nth to be
// recorded approves it, and the ones after it are not recorded.
//
// Approve appends recs to the audit trail in the same transaction when, and
// only when, it records the approval, whether or not that approval was the
// last one needed: the returned Status tells which.
func (s *Store) Approve(ctx context.Context, id, approver string, required int, now time.Time, recs ...audit.Record) (*Request, error) {
	op := "approve request " + id
	if required < 1 {
		return nil, fmt.Errorf("%s: %d approvals required, want at least 1", op, required)
	}
	r, err := s.transition(ctx, id, recs, func(tx *sql.Tx) error {
		// This UPDATE changes nothing but takes the request's lock (see
		// the package doc) before anything is read. Without it, on
		// PostgreSQL, two approvals could each count only themselves and
		// leave the request pending, or one could be recorded after
		// another had approved the request.
		err := updateOne(ctx, tx, `UPDATE requests SET status = status
			WHERE id = $1 AND status = $2 AND expires_at > $3`,
			id, string(StatusPending), now.UnixNano())
		if err != nil {
			return err
		}
		added, err := addApproval(ctx, tx, id, approver, now)
		if err != nil {
			return err
		}
		if !added {
			return errMissed
		}
		_, err = tx.ExecContext(ctx, `UPDATE requests
			SET status = $1, approver = $2, decided_at = $3
			WHERE id = $4 AND status = $5
				AND (SELECT count(*) FROM approvals WHERE request_id = $4) >= $6`,
			string(StatusApproved), approver, now.UnixNano(), id, string(StatusPending), required)
		return err
	})
	if errors.Is(err, errMissed) {
		return s.missed(ctx, op, id, func(r *Request) error {
			if err := undecidable(r, now); err != nil {
				return err
			}
			for _, a := range r.Approvals {
				if a.Approver == approver {
					return fmt.Errorf("%s approved it at %s: %w", approver, a.At.Format(time.RFC3339), ErrAlreadyApproved)
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// Deny denies the pending request id on behalf of approver, for reason
// (which may be empty), and returns it denied, with DecidedAt set to now.
// Approvals given before stay listed.
//
// Of any number of concurrent calls deciding one request, exactly one wins.
// The others get the request as it is now together with ErrNotPending (it
// was decided already; Approver says by whom), ErrExpired (it is pending but
// its time was up at now) or ErrNotFound (with a nil request). Only the
// winner appends recs to the audit trail, in the same transaction as the
// decision.
func (s *Store) Deny(ctx context.Context, id, approver, reason string, now time.Time, recs ...audit.Record) (*Request, error) {
	op := "deny request " + id
	r, err := s.transition(ctx, id, recs, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE requests
			SET status = $1, approver = $2, decision_reason = $3, decided_at = $4
			WHERE id = $5 AND status = $6 AND expires_at > $4`,
			string(StatusDenied), approver, reason, now.UnixNano(), id, string(StatusPending))
	})
	if errors.Is(err, errMissed) {
		return s.missed(ctx, op, id, func(r *Request) error { return undecidable(r, now) })
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// Cancel withdraws the pending request id on behalf of requester, and
// returns it cancelled, with DecidedAt set to now. Only the requester may:
// for anyone else Cancel returns ErrNotRequester, whatever the request's
// status. Otherwise it returns, with the request as it is, ErrNotPending,
// ErrExpired (its time was up at now, so there is nothing left to withdraw;
// Expire will end it) or ErrNotFound (with a nil request). Only when it
// cancels the request does it append recs to the audit trail, in the same
// transaction.
func (s *Store) Cancel(ctx context.Context, id, requester string, now time.Time, recs ...audit.Record) (*Request, error) {
	op := "cancel request " + id
	r, err := s.transition(ctx, id, recs, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE requests SET status = $1, decided_at = $2
			WHERE id = $3 AND requester = $4 AND status = $5 AND expires_at > $2`,
			string(StatusCancelled), now.UnixNano(), id, requester, string(StatusPending))
	})
	if errors.Is(err, errMissed) {
		return s.missed(ctx, op, id, func(r *Request) error {
			if r.Requester != requester {
				return fmt.Errorf("%s asked for it, not %s: %w", r.Requester, requester, ErrNotRequester)
			}
			return undecidable(r, now)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// Expire marks the pending request id as expired if its time was up at now,
// and returns it. Otherwise it returns ErrNotPending with the request as it
// is (decided meanwhile, or not expired yet), or ErrNotFound. Only when it
// expires the request does it append recs to the audit trail, in the same
// transaction.
func (s *Store) Expire(ctx context.Context, id string, now time.Time, recs ...audit.Record) (*Request, error) {
	op := "expire request " + id
	r, err := s.transition(ctx, id, recs, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE requests SET status = $1, finished_at = $2
			WHERE id = $3 AND status = $4 AND expires_at <= $2`,
			string(StatusExpired), now.UnixNano(), id, string(StatusPending))
	})
	if errors.Is(err, errMissed) {
		return s.missed(ctx, op, id, func(r *Request) error {
			if r.Status == StatusPending {
				return fmt.Errorf("not expired until %s: %w", r.ExpiresAt.Format(time.RFC3339), ErrNotPending)
			}
			return fmt.Errorf("status is %s: %w", r.Status, ErrNotPending)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// Finish records the outcome of the approved request id: to is StatusDone,
// StatusFailed, or StatusStale when the action was not run because the
// identity changed after the request was made. It returns ErrNotPending if
// the request is not approved, for instance because it was finished
// already. Only when it finishes the request does it append recs to the
// audit trail, in the same transaction.
func (s *Store) Finish(ctx context.Context, id string, to Status, result string, now time.Time, recs ...audit.Record) error {
	op := "finish request " + id
	if to != StatusDone && to != StatusFailed && to != StatusStale {
		return fmt.Errorf("%s: cannot finish as %q", op, to)
	}
	_, err := s.transition(ctx, id, recs, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE requests
			SET status = $1, result = $2, finished_at = $3
			WHERE id = $4 AND status = $5`,
			string(to), result, now.UnixNano(), id, string(StatusApproved))
	})
	if errors.Is(err, errMissed) {
		_, err = s.missed(ctx, op, id, func(r *Request) error {
			return fmt.Errorf("status is %s: %w", r.Status, ErrNotPending)
		})
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Pending returns the requests that wait for approvers at now (pending and
// not expired), oldest first, with the approvals they have so far.
func (s *Store) Pending(ctx context.Context, now time.Time) ([]*Request, error) {
	rs, err := listRequests(ctx, s.db, `status = $1 AND expires_at > $2`, "created_at",
		string(StatusPending), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list pending requests: %w", err)
	}
	return rs, nil
}

// ExpiredPending returns the pending requests whose time was up at now,
// oldest expiry first, for a sweeper to Expire.
func (s *Store) ExpiredPending(ctx context.Context, now time.Time) ([]*Request, error) {
	rs, err := listRequests(ctx, s.db, `status = $1 AND expires_at <= $2`, "expires_at",
		string(StatusPending), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list expired requests: %w", err)
	}
	return rs, nil
}

// Interrupted lists approved requests decided before the given time: their
// action started but never recorded an outcome, because the bot stopped or
// lost its database in between. Oldest first.
func (s *Store) Interrupted(ctx context.Context, decidedBefore time.Time) ([]*Request, error) {
	rs, err := listRequests(ctx, s.db, `status = $1 AND decided_at < $2`, "decided_at",
		string(StatusApproved), decidedBefore.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list interrupted requests: %w", err)
	}
	return rs, nil
}

// errMissed rolls back a transition whose conditional change matched no
// row, so that the caller reads the request to say why.
var errMissed = errors.New("conditional change matched no row")

// transition runs change, the conditional writes of one transition of
// request id, in a transaction. If change returns nil, transition appends
// recs to the audit trail and returns the request as it then stands, all in
// the same transaction. change returns errMissed when the transition does
// not apply; then nothing is written.
func (s *Store) transition(ctx context.Context, id string, recs []audit.Record, change func(tx *sql.Tx) error) (*Request, error) {
	var r *Request
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := change(tx); err != nil {
			return err
		}
		if _, err := appendAudit(ctx, tx, recs); err != nil {
			return err
		}
		var err error
		r, err = getRequest(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// updateOne runs a conditional UPDATE of one request in tx, and returns
// errMissed if it matched no row.
func updateOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	err = changedOne(res, err)
	if errors.Is(err, ErrNotFound) {
		return errMissed
	}
	return err
}

// addApproval records in tx that approver approved request id at now, and
// reports whether it did: it does not if approver approved it before. tx
// must hold the request's lock, taken by updating its row, since the
// approval's place in the order is counted.
func addApproval(ctx context.Context, tx *sql.Tx, id, approver string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO approvals (request_id, approver, seq, approved_at)
		VALUES ($1, $2, (SELECT count(*) + 1 FROM approvals WHERE request_id = $1), $3)
		ON CONFLICT (request_id, approver) DO NOTHING`,
		id, approver, now.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// missed returns the error of op, a transition of request id that did not
// happen, with the request as it is now. why says what keeps the
// transition from happening, or returns nil if nothing does any more. The
// row shows what the winner of a race, if any, left, since a request that
// left pending never goes back.
func (s *Store) missed(ctx context.Context, op, id string, why func(*Request) error) (*Request, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := why(r); err != nil {
		return r, fmt.Errorf("%s: %w", op, err)
	}
	// Only reachable if the row appeared after the transition looked for it.
	return nil, fmt.Errorf("%s: the request changed meanwhile; try again", op)
}

// undecidable says why request r cannot be decided at now, or returns nil
// if it can: it must be pending and not expired.
func undecidable(r *Request, now time.Time) error {
	switch {
	case r.Status != StatusPending:
		return fmt.Errorf("status is %s: %w", r.Status, ErrNotPending)
	case !r.ExpiresAt.After(now):
		return fmt.Errorf("expired at %s: %w", r.ExpiresAt.Format(time.RFC3339), ErrExpired)
	}
	return nil
}

// querier is the reading that *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// getRequest returns request id with its approvals, or ErrNotFound.
func getRequest(ctx context.Context, q querier, id string) (*Request, error) {
	rs, err := listRequests(ctx, q, `id = $1`, "id", id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	return rs[0], nil
}

// listRequests returns the requests that match where, a condition on the
// columns of requests with $n placeholders for args, each with its
// approvals, ordered by the column orderBy and then by id. One statement
// reads both, so that they agree even while another replica approves.
func listRequests(ctx context.Context, q querier, where, orderBy string, args ...any) ([]*Request, error) {
	// The join yields a row per approval, or one with NULLs for a request
	// without any.
	rows, err := q.QueryContext(ctx, `SELECT r.*, a.approver, a.approved_at
		FROM (SELECT `+requestColumns+` FROM requests WHERE `+where+`) r
		LEFT JOIN approvals a ON a.request_id = r.id
		ORDER BY r.`+orderBy+`, r.id, a.seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []*Request
	for rows.Next() {
		var approver sql.NullString
		var at sql.NullInt64
		r, err := scanRequest(rows, &approver, &at)
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 || rs[len(rs)-1].ID != r.ID {
			rs = append(rs, r)
		}
		if approver.Valid {
			last := rs[len(rs)-1]
			last.Approvals = append(last.Approvals, Approval{Approver: approver.String, At: time.Unix(0, at.Int64).UTC()})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
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

// changedOne turns the result of an UPDATE by id into ErrNotFound when it
// matched no row.
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

// scanRequest reads the requestColumns of one row, and then the columns
// after them into extra.
func scanRequest(row interface{ Scan(...any) error }, extra ...any) (*Request, error) {
	var (
		r                 Request
		status            string
		args, display     string
		created, expires  int64
		decided, finished sql.NullInt64
	)
	dest := []any{&r.ID, &r.TriggerID, &r.Verb, &r.IdentityID, &args, &display,
		&r.Requester, &r.Reason, &r.ChannelID, &r.MessageTS, &status, &r.Approver, &r.DecisionReason,
		&r.Result, &created, &expires, &decided, &finished}
	err := row.Scan(append(dest, extra...)...)
	if err != nil {
		return nil, err
	}
	if err := decodeData(&r, args, display); err != nil {
		return nil, err
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
