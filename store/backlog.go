package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Backlog is the work waiting in the store, for monitoring.
type Backlog struct {
	Pending           int       // requests waiting for approvers, expired or not
	Undelivered       int       // audit records not yet delivered
	OldestUndelivered time.Time // when the oldest of them happened; zero if none
}

// Backlog counts pending requests and undelivered audit records. Both
// counts use the indexes the bot's own queries use, so a scrape stays cheap
// as the trail grows.
func (s *Store) Backlog(ctx context.Context) (Backlog, error) {
	var b Backlog
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM requests WHERE status = $1`, string(StatusPending)).Scan(&b.Pending); err != nil {
		return Backlog{}, fmt.Errorf("count pending requests: %w", err)
	}
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), min(occurred_at) FROM audit_log WHERE delivered_at IS NULL`).Scan(&b.Undelivered, &oldest)
	if err != nil {
		return Backlog{}, fmt.Errorf("count undelivered audit records: %w", err)
	}
	if oldest.Valid {
		b.OldestUndelivered = time.Unix(0, oldest.Int64).UTC()
	}
	return b, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}
