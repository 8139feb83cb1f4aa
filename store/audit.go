package store

// The audit trail: table audit_log, one row per audit.Record, and the
// one-row table audit_head holding the sequence number and hash of the last
// record. Records are appended in the transaction of the change they
// describe, are never updated except for delivered_at, and are posted to the
// audit channel in order by a delivery loop (Undelivered, MarkDelivered).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/orybot/orybot/audit"
)

// auditColumns lists the columns scanAudit expects, in its order.
const auditColumns = `seq, occurred_at, request_id, event, verb, identity_id,
	subject, requester, approver, reason, result, prev_hash, hash`

// AppendAudit appends recs, in order, to the audit trail, for events that
// change no request (such as each step of an action), and returns them as
// stored: with Seq, PrevHash and Hash set by audit.Record.Seal. A record
// with a zero Time gets the current time. Either all of recs are appended
// or none.
func (s *Store) AppendAudit(ctx context.Context, recs ...audit.Record) ([]audit.Record, error) {
	var out []audit.Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = appendAudit(ctx, tx, s.backend, recs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("append audit records: %w", err)
	}
	return out, nil
}

// appendAudit appends recs to the audit trail within tx.
//
// Its first statement is a write to audit_head, which makes appenders take
// turns: PostgreSQL locks the row until the transaction ends, and SQLite has
// one writer at a time. Appenders must not read before that write. On
// SQLite, a transaction that read first would keep an old snapshot and fail
// with SQLITE_BUSY on writing; the transitions in transitions.go therefore
// write their request first, which takes SQLite's lock just the same.
//
// On PostgreSQL it also sends a notification on auditChannel, which
// PostgreSQL delivers when the transaction commits and drops when it rolls
// back: the replica delivering the trail (see TryDeliveryLock) wakes at
// once, whichever replica appended.
func appendAudit(ctx context.Context, tx *sql.Tx, b backend, recs []audit.Record) ([]audit.Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	// Reserve the sequence numbers; RETURNING gives the new end and the
	// hash of the record before them, which this UPDATE leaves alone.
	var seq int64
	var prev string
	err := tx.QueryRowContext(ctx, `UPDATE audit_head SET seq = seq + $1 WHERE id = 1
		RETURNING seq, hash`, len(recs)).Scan(&seq, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("append audit record: the audit_head row is missing")
	}
	if err != nil {
		return nil, fmt.Errorf("append audit record: %w", err)
	}
	seq -= int64(len(recs))

	out := make([]audit.Record, len(recs))
	for i, r := range recs {
		if r.Time.IsZero() {
			r.Time = time.Now()
		}
		// Hash the time as the database keeps it: in nanoseconds since 1970.
		r.Time = time.Unix(0, r.Time.UnixNano())
		seq++
		r = r.Seal(seq, prev)
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			r.Seq, r.Time.UnixNano(), r.RequestID, string(r.Event), r.Verb, r.IdentityID,
			r.Subject, r.Requester, r.Approver, r.Reason, r.Result, r.PrevHash, r.Hash)
		if isUniqueViolation(err) {
			// Not wrapped: this is no duplicate request, whatever the caller
			// makes of unique violations.
			return nil, fmt.Errorf("append audit record %d: the number is taken, so audit_log was changed outside orybot (run orybot audit verify)", r.Seq)
		}
		if err != nil {
			return nil, fmt.Errorf("append audit record %d: %w", r.Seq, err)
		}
		out[i], prev = r, r.Hash
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, prev); err != nil {
		return nil, fmt.Errorf("append audit record: %w", err)
	}
	if b == postgresBackend {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, auditChannel, strconv.FormatInt(seq, 10)); err != nil {
			return nil, fmt.Errorf("append audit record: notify: %w", err)
		}
	}
	return out, nil
}

// Undelivered returns up to limit audit records not yet marked delivered,
// oldest first. A delivery loop posts them in that order and marks each
// with MarkDelivered, so that after a restart it goes on with what is left.
func (s *Store) Undelivered(ctx context.Context, limit int) ([]audit.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE delivered_at IS NULL ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list undelivered audit records: %w", err)
	}
	var rs []audit.Record
	err = scanAudits(rows, func(r audit.Record) error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list undelivered audit records: %w", err)
	}
	return rs, nil
}

// MarkDelivered records that audit record seq was posted at now. It returns
// ErrDelivered if the record was marked already, so that of several
// replicas marking one record exactly one succeeds: marking before posting
// (a claim) means a record is never posted twice, at the price of one
// unposted record if the process dies in between. It returns ErrNotFound if
// there is no such record.
func (s *Store) MarkDelivered(ctx context.Context, seq int64, now time.Time) error {
	res, err := s.exec(ctx, `UPDATE audit_log SET delivered_at = $1
		WHERE seq = $2 AND delivered_at IS NULL`, now.UnixNano(), seq)
	switch err := changedOne(res, err); {
	case err == nil:
		return nil
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("mark audit record %d delivered: %w", seq, err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE seq = $1`, seq).Scan(&n); err != nil {
		return fmt.Errorf("mark audit record %d delivered: %w", seq, err)
	}
	if n == 0 {
		return fmt.Errorf("mark audit record %d delivered: %w", seq, ErrNotFound)
	}
	return fmt.Errorf("mark audit record %d delivered: %w", seq, ErrDelivered)
}

// AuditRecords calls fn with every audit record that happened at or after
// since (all of them if since is zero), in sequence order, and stops at the
// first error fn returns. Records are read while fn runs, so a long trail
// takes little memory.
func (s *Store) AuditRecords(ctx context.Context, since time.Time, fn func(audit.Record) error) error {
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE occurred_at >= $1 ORDER BY seq`, from)
	if err != nil {
		return fmt.Errorf("list audit records: %w", err)
	}
	if err := scanAudits(rows, fn); err != nil {
		return fmt.Errorf("list audit records: %w", err)
	}
	return nil
}

// VerifyAudit checks the whole audit trail with audit.Chain, and that it
// ends where audit_head says, which shows records deleted from the end. It
// returns the last record (zero if there is none; its Seq is the number of
// records), or an error wrapping the *audit.ChainError that names the first
// record that does not match.
//
// Whoever can write to the database can also rewrite the whole trail with
// fresh hashes; comparing the last record's hash with the audit channel,
// which the database cannot change, shows that.
func (s *Store) VerifyAudit(ctx context.Context) (audit.Record, error) {
	// The head is read first. Records appended after it are left for the
	// next check; every record up to it is committed, since the head and
	// its records change in one transaction.
	var head audit.Record
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash)
	if err != nil {
		return audit.Record{}, fmt.Errorf("verify audit trail: read audit_head: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE seq <= $1 ORDER BY seq`, head.Seq)
	if err != nil {
		return audit.Record{}, fmt.Errorf("verify audit trail: %w", err)
	}
	var c audit.Chain
	if err := scanAudits(rows, c.Add); err != nil {
		return audit.Record{}, fmt.Errorf("verify audit trail: %w", err)
	}
	last := c.Last()
	switch {
	case last.Seq < head.Seq:
		err = &audit.ChainError{Seq: last.Seq + 1, Problem: fmt.Sprintf(
			"missing (the trail ends at record %d, but %d were written)", last.Seq, head.Seq)}
	case last.Hash != head.Hash:
		err = &audit.ChainError{Seq: last.Seq, Problem: "hash mismatch (audit_head holds another hash for it)"}
	}
	if err != nil {
		return audit.Record{}, fmt.Errorf("verify audit trail: %w", err)
	}
	return last, nil
}

// scanAudits calls fn with each row of rows, which holds auditColumns, and
// closes rows.
func scanAudits(rows *sql.Rows, fn func(audit.Record) error) error {
	defer rows.Close()
	for rows.Next() {
		var r audit.Record
		var at int64
		var event string
		err := rows.Scan(&r.Seq, &at, &r.RequestID, &event, &r.Verb, &r.IdentityID,
			&r.Subject, &r.Requester, &r.Approver, &r.Reason, &r.Result, &r.PrevHash, &r.Hash)
		if err != nil {
			return err
		}
		r.Time = time.Unix(0, at).UTC()
		r.Event = audit.Event(event)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
