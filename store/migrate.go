package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations returns the schema changes in the order they apply; the version
// in schema_version is how many have been applied. Never edit one that has
// shipped: append a new one. Each is a list of statements because not every
// driver runs several statements in one Exec.
//
// Times are unix nanoseconds in BIGINT, which keeps sub-second precision and
// compares the same way on SQLite and PostgreSQL; NULL means not yet. Args
// and Display are JSON objects in TEXT.
func migrations() [][]string {
	return [][]string{
		// 1: approval requests.
		{
			`CREATE TABLE requests (
				id          TEXT PRIMARY KEY,
				trigger_id  TEXT NOT NULL,
				verb        TEXT NOT NULL,
				identity_id TEXT NOT NULL,
				args        TEXT NOT NULL,
				display     TEXT NOT NULL,
				requester   TEXT NOT NULL,
				reason      TEXT NOT NULL,
				channel_id  TEXT NOT NULL,
				message_ts  TEXT NOT NULL,
				status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'done', 'failed', 'denied', 'expired')),
				approver    TEXT NOT NULL,
				result      TEXT NOT NULL,
				created_at  BIGINT NOT NULL,
				expires_at  BIGINT NOT NULL,
				decided_at  BIGINT,
				finished_at BIGINT
			)`,
			// A redelivered slash command carries the same trigger_id, so the
			// index turns it into ErrDuplicate. Requests made without one
			// (empty) must not collide, hence the partial index.
			`CREATE UNIQUE INDEX requests_trigger_id ON requests (trigger_id) WHERE trigger_id <> ''`,
			`CREATE INDEX requests_status_expires_at ON requests (status, expires_at)`,
		},
		// 2: the audit trail, a hash chain (see package audit). audit_head
		// is its one-row end: every append locks it first, so appenders on
		// any number of replicas take turns, and it tells when records at
		// the end were deleted. delivered_at (NULL until posted to the audit
		// channel) is outside the chain, since it changes.
		{
			`CREATE TABLE audit_log (
				seq          BIGINT PRIMARY KEY,
				occurred_at  BIGINT NOT NULL,
				request_id   TEXT NOT NULL,
				event        TEXT NOT NULL,
				verb         TEXT NOT NULL,
				identity_id  TEXT NOT NULL,
				subject      TEXT NOT NULL,
				requester    TEXT NOT NULL,
				approver     TEXT NOT NULL,
				reason       TEXT NOT NULL,
				result       TEXT NOT NULL,
				prev_hash    TEXT NOT NULL,
				hash         TEXT NOT NULL,
				delivered_at BIGINT
			)`,
			`CREATE INDEX audit_log_undelivered ON audit_log (seq) WHERE delivered_at IS NULL`,
			`CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at)`,
			`CREATE TABLE audit_head (
				id   INTEGER PRIMARY KEY CHECK (id = 1),
				seq  BIGINT NOT NULL,
				hash TEXT NOT NULL
			)`,
			`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '')`,
		},
	}
}

// migrate brings db's schema up to the latest version.
func migrate(ctx context.Context, db *sql.DB) error {
	// The single row (id 1) must exist before a transaction can lock it.
	// Both statements are harmless when another replica ran them first.
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit

	// Write before reading, so that of two replicas starting at once the
	// second waits for the first to commit and then finds nothing to do.
	// (SQLite takes its write lock, honoring busy_timeout; PostgreSQL locks
	// the row.) Reading first would let both read the old version.
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = version WHERE id = 1`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&version); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ms := migrations()
	if version > len(ms) {
		return fmt.Errorf("migrate: database schema version %d is newer than this orybot knows (%d); upgrade orybot", version, len(ms))
	}
	if version == len(ms) {
		return nil
	}
	for i := version; i < len(ms); i++ {
		for _, stmt := range ms[i] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate to version %d: %w", i+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = $1 WHERE id = 1`, len(ms)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
