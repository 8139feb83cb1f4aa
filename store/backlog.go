package store

import (
	"context"
	"database/sql"
	"errors"
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
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE delivered_at IS NULL`).Scan(&b.Undelivered); err != nil {
		return Backlog{}, fmt.Errorf("count undelivered audit records: %w", err)
	}
	var err error
	b.OldestUndelivered, err = s.OldestUndelivered(ctx)
	return b, err
}

// OldestUndelivered returns when the oldest audit record not yet posted to
// the audit channel happened, or the zero time if all were posted. The bot
// refuses changes while it is too long ago: no action without a trail.
func (s *Store) OldestUndelivered(ctx context.Context) (time.Time, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT occurred_at FROM audit_log
		WHERE delivered_at IS NULL ORDER BY seq LIMIT 1`).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("find oldest undelivered audit record: %w", err)
	}
	return time.Unix(0, at).UTC(), nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}
