package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/internal/pgtest"
)

// tryLock is TryDeliveryLock, failing the test on an error.
func tryLock(t *testing.T, s *Store) *DeliveryLock {
	t.Helper()
	l, err := s.TryDeliveryLock(t.Context())
	if err != nil {
		t.Fatalf("TryDeliveryLock: %v", err)
	}
	if l != nil {
		t.Cleanup(l.Release)
	}
	return l
}

// testDeliveryLock checks that one Store of several on a database holds the
// delivery lock, and that it passes on when its holder's Store closes, as it
// does when the process dies.
func testDeliveryLock(t *testing.T, open func(t *testing.T) *Store) {
	a, b := open(t), open(t)
	la := tryLock(t, a)
	if la == nil {
		t.Fatal("a could not take a free delivery lock")
	}
	if tryLock(t, b) != nil {
		t.Fatal("b took the delivery lock a holds")
	}
	if tryLock(t, a) != nil {
		t.Fatal("a took the delivery lock twice")
	}
	select {
	case <-la.Lost():
		t.Fatal("a's lock is lost while a holds it")
	default:
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return tryLock(t, b) != nil }) {
		t.Fatal("b could not take the delivery lock after a closed")
	}
}

// eventually reports whether cond holds within two seconds. The server ends
// a closed connection's session, and its locks, a moment after the close.
func eventually(cond func() bool) bool {
	for range 40 {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func TestPostgresDeliveryLock(t *testing.T) {
	dbURL := pgtest.Start(t)
	a, b := openStore(t, dbURL), openStore(t, dbURL)

	t.Run("Release passes it on", func(t *testing.T) {
		la := tryLock(t, a)
		if la == nil {
			t.Fatal("a could not take a free delivery lock")
		}
		la.Release()
		var lb *DeliveryLock
		if !eventually(func() bool { lb = tryLock(t, b); return lb != nil }) {
			t.Fatal("b could not take the lock a released")
		}
		lb.Release()
	})

	t.Run("dies with its connection", func(t *testing.T) {
		la := tryLock(t, a)
		if la == nil {
			t.Fatal("a could not take a free delivery lock")
		}
		// As when the process is killed: the server ends the session.
		if _, err := b.db.ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		select {
		case <-la.Lost():
		case <-time.After(5 * time.Second):
			t.Fatal("a did not notice that its lock's connection ended")
		}
		if !eventually(func() bool { return tryLock(t, b) != nil }) {
			t.Fatal("b could not take the lock of a dead session")
		}
	})

	t.Run("appends wake the holder", func(t *testing.T) {
		l := tryLock(t, b)
		if l == nil {
			l = tryLock(t, a) // b may hold it from the subtest before
		}
		if l == nil {
			t.Fatal("nobody holds the delivery lock")
		}
		// Nothing appended yet: no wake-up.
		select {
		case <-l.Appended():
			t.Fatal("woken before any append")
		case <-time.After(200 * time.Millisecond):
		}
		start := time.Now()
		if _, err := a.AppendAudit(t.Context(), audit.Record{RequestID: "notify0001", Event: audit.Requested, Verb: "deactivate"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l.Appended():
			t.Logf("woken %v after the append", time.Since(start))
		case <-time.After(2 * time.Second):
			t.Fatal("the holder was not woken by an append on another Store")
		}
	})
}

func TestSQLiteProcessLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orybot.db")
	a, b := openStore(t, path), openStore(t, path)
	if err := a.LockProcess(); err != nil {
		t.Fatalf("first LockProcess: %v", err)
	}
	if err := a.LockProcess(); err != nil {
		t.Fatalf("LockProcess again by its holder: %v", err)
	}
	if err := b.LockProcess(); !errors.Is(err, ErrInUse) {
		t.Fatalf("second LockProcess = %v, want ErrInUse", err)
	}
	// Readers need no lock.
	if _, err := b.VerifyAudit(t.Context()); err != nil {
		t.Fatalf("VerifyAudit while another Store holds the lock: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.LockProcess(); err != nil {
		t.Fatalf("LockProcess after the holder closed: %v", err)
	}
}

func TestPostgresProcessLockIsNoOp(t *testing.T) {
	dbURL := pgtest.Start(t)
	for _, s := range []*Store{openStore(t, dbURL), openStore(t, dbURL)} {
		if err := s.LockProcess(); err != nil {
			t.Fatalf("LockProcess on PostgreSQL: %v, want nil: replicas share it", err)
		}
	}
}
