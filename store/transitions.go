package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/orybot/orybot/audit"
)

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
		if _, err := appendAudit(ctx, tx, s.backend, recs); err != nil {
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
