package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/stdlib"
)

// deliveryLockKey is the PostgreSQL advisory lock whose holder delivers the
// audit trail: "orybotd" in ASCII. Like migrateLockKey it belongs to one
// database.
const deliveryLockKey = 0x6f7279626f7464

// auditChannel is the PostgreSQL notification channel on which appendAudit
// announces new audit records.
const auditChannel = "orybot_audit"

// A DeliveryLock makes its holder the one deliverer of the audit trail, so
// that records go out once and in order however many replicas run. Get one
// with TryDeliveryLock and give it up with Release.
//
// On PostgreSQL it is a session-level advisory lock held on a connection of
// its own, which also listens for the notifications appendAudit sends. The
// lock lives exactly as long as that connection: when the process dies,
// even by SIGKILL, the server ends the session and another replica takes
// over at its next try, within seconds, with no lease to run out. On SQLite
// it is the process lock of LockProcess: one bot runs per file, and that bot
// delivers.
type DeliveryLock struct {
	appended <-chan struct{}
	lost     <-chan struct{}
	release  func()
	once     sync.Once
}

// Appended receives after audit records were appended by any replica
// (PostgreSQL). It never receives on SQLite, where the one bot appends and
// knows when it does.
func (l *DeliveryLock) Appended() <-chan struct{} { return l.appended }

// Lost is closed when the lock is gone without Release: its connection
// failed. The holder must then stop delivering, since another replica may
// have started.
func (l *DeliveryLock) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up, so that another replica can deliver at once.
// It is safe to call more than once.
func (l *DeliveryLock) Release() { l.once.Do(l.release) }

// TryDeliveryLock takes the delivery lock if it is free, without waiting,
// and returns nil (and no error) if another replica or process holds it.
// One Store holds it at most once at a time.
func (s *Store) TryDeliveryLock(ctx context.Context) (*DeliveryLock, error) {
	if s.backend == sqliteBackend {
		return s.trySQLiteDeliveryLock()
	}
	l, err := s.tryPostgresDeliveryLock(ctx)
	if err != nil {
		return nil, fmt.Errorf("take audit delivery lock: %w", err)
	}
	return l, nil
}

// trySQLiteDeliveryLock is TryDeliveryLock on SQLite: the process lock,
// taken here if the Store does not hold it yet.
func (s *Store) trySQLiteDeliveryLock() (*DeliveryLock, error) {
	if err := s.LockProcess(); errors.Is(err, ErrInUse) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("take audit delivery lock: %w", err)
	}
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.delivering {
		return nil, nil
	}
	s.delivering = true
	return &DeliveryLock{
		lost: make(chan struct{}), // never closed: the lock lives as long as the process
		release: func() {
			s.lockMu.Lock()
			defer s.lockMu.Unlock()
			s.delivering = false
		},
	}, nil
}

// tryPostgresDeliveryLock is TryDeliveryLock on PostgreSQL.
func (s *Store) tryPostgresDeliveryLock(ctx context.Context) (*DeliveryLock, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(deliveryLockKey)).Scan(&got); err != nil {
		conn.Close()
		return nil, err
	}
	if !got {
		conn.Close()
		return nil, nil
	}
	appended := make(chan struct{}, 1)
	lost := make(chan struct{})
	lctx, cancel := context.WithCancel(s.closed)
	listening := make(chan error, 1)
	s.lockConns.Add(1)
	go func() {
		defer s.lockConns.Done()
		defer close(lost)
		// Raw keeps the connection for this goroutine alone. Returning
		// driver.ErrBadConn makes database/sql close it rather than pool
		// it, which ends the session and so releases the lock.
		_ = conn.Raw(func(dc any) error {
			pc := dc.(*stdlib.Conn).Conn()
			if _, err := pc.Exec(lctx, `LISTEN `+auditChannel); err != nil {
				listening <- err
				return driver.ErrBadConn
			}
			listening <- nil
			for {
				if _, err := pc.WaitForNotification(lctx); err != nil {
					return driver.ErrBadConn
				}
				select {
				case appended <- struct{}{}:
				default: // a wake-up is pending already
				}
			}
		})
		conn.Close()
	}()
	if err := <-listening; err != nil {
		cancel()
		<-lost
		return nil, fmt.Errorf("listen for audit records: %w", err)
	}
	return &DeliveryLock{
		appended: appended,
		lost:     lost,
		release: func() {
			cancel()
			<-lost
		},
	}, nil
}
