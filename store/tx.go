package store

import (
	"context"
	"database/sql"
	"time"
)

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

// nullTime stores the zero time as NULL: UnixNano of the zero time does not
// fit in an int64, and NULL says "not yet" plainly.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}
