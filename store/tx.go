package store

import (
	"context"
	"database/sql"
	"time"
)

// inTx runs fn in a transaction, which it commits if fn returns nil and
// rolls back otherwise. fn must write before it reads (see appendAudit).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	release, err := s.takeWriter(ctx)
	if err != nil {
		return err
	}
	defer release()
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

// exec runs one writing statement outside a transaction, in turn with the
// Store's transactions (see Store.writing): a write that raced them for
// SQLite's lock would leave one side polling for it, asleep for up to
// tens of milliseconds, right on an approval's path.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	release, err := s.takeWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.db.ExecContext(ctx, query, args...)
}

// takeWriter waits for this Store's turn to write, and returns the function
// that ends it.
func (s *Store) takeWriter(ctx context.Context) (release func(), err error) {
	select {
	case s.writing <- struct{}{}:
		return func() { <-s.writing }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
