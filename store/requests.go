package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/orybot/orybot/audit"
)

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
		_, err = appendAudit(ctx, tx, s.backend, recs)
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
	res, err := s.exec(ctx,
		`UPDATE requests SET channel_id = $1, message_ts = $2 WHERE id = $3`,
		channelID, ts, id)
	if err := changedOne(res, err); err != nil {
		return fmt.Errorf("set message of request %s: %w", id, err)
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
