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
// compares the same way on SQLite and PostgreSQL; NULL means not yet. The
// args and display columns hold a request's Target and its Snapshot with
// the Effect, as JSON objects in TEXT.
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
		// 3: approval policy. Two statuses join the CHECK on requests, and
		// decision_reason keeps why a request was denied. SQLite cannot
		// alter a CHECK (nor drop one) without rebuilding the table, so
		// requests is copied into a new table, which then takes its name
		// and its indexes. This is safe here: nothing references requests
		// (no foreign keys, triggers or views), and it runs in migrate's
		// transaction, so a failure leaves the old table as it was.
		// decision_reason has a default so that a replica still on version
		// 2 during a rolling upgrade can go on inserting requests.
		//
		// approvals holds one row per approver of a request; its primary
		// key makes a second approval by the same person impossible, and
		// seq, the approval's place (1, 2, …) counted under the request's
		// lock, keeps the order in which they counted. It has no foreign
		// key to requests on purpose: the next rebuild of requests would
		// have to DROP it, which would fail, or with ON DELETE CASCADE
		// silently delete every approval. Requests are never deleted, so
		// no approval is left without its request.
		{
			`CREATE TABLE requests_v3 (
				id              TEXT PRIMARY KEY,
				trigger_id      TEXT NOT NULL,
				verb            TEXT NOT NULL,
				identity_id     TEXT NOT NULL,
				args            TEXT NOT NULL,
				display         TEXT NOT NULL,
				requester       TEXT NOT NULL,
				reason          TEXT NOT NULL,
				channel_id      TEXT NOT NULL,
				message_ts      TEXT NOT NULL,
				status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'done', 'failed', 'denied', 'expired', 'cancelled', 'stale')),
				approver        TEXT NOT NULL,
				decision_reason TEXT NOT NULL DEFAULT '',
				result          TEXT NOT NULL,
				created_at      BIGINT NOT NULL,
				expires_at      BIGINT NOT NULL,
				decided_at      BIGINT,
				finished_at     BIGINT
			)`,
			`INSERT INTO requests_v3 (id, trigger_id, verb, identity_id, args, display,
				requester, reason, channel_id, message_ts, status, approver, result,
				created_at, expires_at, decided_at, finished_at)
			SELECT id, trigger_id, verb, identity_id, args, display,
				requester, reason, channel_id, message_ts, status, approver, result,
				created_at, expires_at, decided_at, finished_at
			FROM requests`,
			// Index names belong to the whole schema, in SQLite and
			// PostgreSQL alike: the new table can take them only once
			// dropping the old one has dropped its indexes.
			`DROP TABLE requests`,
			`ALTER TABLE requests_v3 RENAME TO requests`,
			`CREATE UNIQUE INDEX requests_trigger_id ON requests (trigger_id) WHERE trigger_id <> ''`,
			`CREATE INDEX requests_status_expires_at ON requests (status, expires_at)`,
			`CREATE TABLE approvals (
				request_id  TEXT NOT NULL,
				approver    TEXT NOT NULL,
				seq         INTEGER NOT NULL,
				approved_at BIGINT NOT NULL,
				PRIMARY KEY (request_id, approver),
				UNIQUE (request_id, seq)
			)`,
		},
		// 4: who posts the audit trail. Only the holder of this one-row
		// lease delivers, so that replicas sharing a database neither post
		// a record twice nor out of order.
		// Unused since the delivery lock (deliverylock.go) replaced the
		// lease; kept for older replicas during a rolling upgrade.
		{
			`CREATE TABLE delivery_lease (
				id     INTEGER PRIMARY KEY CHECK (id = 1),
				holder TEXT NOT NULL,
				until  BIGINT NOT NULL
			)`,
			`INSERT INTO delivery_lease (id, holder, until) VALUES (1, '', 0)`,
		},
		// 5: Slack messages that carry a recovery secret, to be deleted when
		// the secret expires, also after a restart. They name the message
		// (channel and ts), never hold the secret.
		{
			`CREATE TABLE secret_messages (
				channel_id TEXT NOT NULL,
				ts         TEXT NOT NULL,
				delete_at  BIGINT NOT NULL,
				PRIMARY KEY (channel_id, ts)
			)`,
			`CREATE INDEX secret_messages_delete_at ON secret_messages (delete_at)`,
		},
	}
}

// backend is the kind of database behind a Store, for the few places where
// SQLite and PostgreSQL must be told apart.
type backend int

const (
	sqliteBackend backend = iota
	postgresBackend
)

// migrateLockKey is the PostgreSQL advisory lock that replicas migrating
// one database take turns on: "orybot" in ASCII. Advisory locks belong to
// one database, so orybots on other databases of the server do not wait.
const migrateLockKey = 0x6f7279626f74

// migrate brings db's schema up to the latest version.
func migrate(ctx context.Context, db *sql.DB, b backend) error {
	return migrateWith(ctx, db, b, migrations())
}

// migrateWith brings db's schema up to version len(ms), applying ms. Tests
// pass a prefix of migrations() to make a database as an older orybot did.
func migrateWith(ctx context.Context, db *sql.DB, b backend, ms [][]string) error {
	// The single row (id 1) must exist before a transaction can lock it.
	// Both statements are harmless when another replica ran them first,
	// except that two PostgreSQL sessions creating one table at once can
	// both try, and one then fails on a unique index of the catalog. So on
	// PostgreSQL they run in the transaction, after its advisory lock.
	if b == sqliteBackend {
		if err := createSchemaVersion(ctx, db); err != nil {
			return err
		}
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit

	if b == postgresBackend {
		// Held until the transaction ends. PostgreSQL's DDL is
		// transactional, so a migration that fails leaves nothing behind.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if err := createSchemaVersion(ctx, tx); err != nil {
			return err
		}
	}

	// Write before reading, so that of two replicas starting at once the
	// second waits for the first to commit and then finds nothing to do.
	// (SQLite takes its write lock, honoring busy_timeout; on PostgreSQL
	// the advisory lock did that already, and this locks the row.) Reading
	// first would let both read the old version.
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = version WHERE id = 1`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&version); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
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

// createSchemaVersion makes the table schema_version and its row, at
// version 0, unless they exist.
func createSchemaVersion(ctx context.Context, db execer) error {
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
	return nil
}

// execer is the writing that *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}
