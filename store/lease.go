package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AcquireDeliveryLease makes holder the one deliverer of the audit trail
// until now+ttl, if the lease is free, expired or already holder's, and
// reports whether holder has it. A holder renews by acquiring again before
// the lease runs out. One conditional UPDATE decides between replicas.
func (s *Store) AcquireDeliveryLease(ctx context.Context, holder string, now time.Time, ttl time.Duration) (bool, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return changedOne(tx.ExecContext(ctx,
			`UPDATE delivery_lease SET holder = $1, until = $2 WHERE id = 1 AND (holder = $1 OR until < $3)`,
			holder, now.Add(ttl).UnixNano(), now.UnixNano()))
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("acquire audit delivery lease: %w", err)
	}
	return true, nil
}

// ReleaseDeliveryLease gives up holder's lease, if it has it, so that
// another replica can deliver at once instead of waiting for it to run out.
func (s *Store) ReleaseDeliveryLease(ctx context.Context, holder string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE delivery_lease SET holder = '', until = 0 WHERE id = 1 AND holder = $1`, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release audit delivery lease: %w", err)
	}
	return nil
}
