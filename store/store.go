// Package store keeps approval requests in a SQL database.
//
// A request moves through a small state machine:
//
//	pending ──Approve (the last one needed)──▶ approved ──Finish──▶ done | failed | stale
//	   ├──────Deny────▶ denied
//	   ├──────Cancel──▶ cancelled
//	   └──────Expire──▶ expired
//
// A request may need approvals from several people (N of M). Approve before
// the last one needed records the approval and leaves the request pending.
//
// The bot may run as several replicas and Slack may deliver a click more than
// once, so every transition is a conditional UPDATE (compare-and-set on the
// current status) rather than a read followed by a write: whichever UPDATE
// lands first wins, and the others get a sentinel error together with the row
// as the winner left it. A transition that takes several statements (Approve)
// starts with such an UPDATE of the request, which takes SQLite's write lock
// and PostgreSQL's lock on the row, so that transactions on one request take
// turns and each sees what the one before it committed.
//
// Every transition can also append records to the audit trail (package
// audit) in the same transaction, so that a record exists exactly when the
// change it describes does; see audit.go.
//
// The backend is SQLite (modernc.org/sqlite) or PostgreSQL (pgx); see Open.
// The SQL sticks to what the two share ($n placeholders, RETURNING, ON
// CONFLICT, BIGINT times, JSON in TEXT), so both run the same statements;
// only opening, migration locking and error codes differ. PostgreSQL runs
// at its default isolation, READ COMMITTED, where a statement that waited
// for a row lock sees the row as its holder committed it: that is what
// makes the conditional UPDATEs decide races. The contract every backend
// must meet is the conformance suite in conformance_test.go.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Status is where a request is in its life.
type Status string

// The statuses a request can have. Only pending requests can be approved,
// denied or cancelled, and only approved ones finished; the others are
// final.
const (
	// StatusPending means the request waits for approvers.
	StatusPending Status = "pending"
	// StatusApproved means enough approvers said yes and the action is
	// running.
	StatusApproved Status = "approved"
	// StatusDone means the approved action succeeded.
	StatusDone Status = "done"
	// StatusFailed means the approved action failed.
	StatusFailed Status = "failed"
	// StatusStale means the identity changed between request and approval,
	// so the approved action was not run.
	StatusStale Status = "stale"
	// StatusDenied means an approver said no.
	StatusDenied Status = "denied"
	// StatusCancelled means the requester withdrew the request.
	StatusCancelled Status = "cancelled"
	// StatusExpired means nobody decided in time.
	StatusExpired Status = "expired"
)

// Errors callers are expected to test for with errors.Is. Database errors
// are translated into these at the edge of the package, so callers need not
// know which backend they talk to.
var (
	// ErrNotFound means no request (or audit record) has the given id.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a request with the same trigger id (or id) already
	// exists, which usually means Slack redelivered the slash command.
	ErrDuplicate = errors.New("duplicate request")
	// ErrNotPending means the request is no longer in the status the
	// operation needs (pending, or approved for Finish): someone else, or an
	// earlier delivery of the same click, got there first.
	ErrNotPending = errors.New("request not pending")
	// ErrExpired means the request is still pending but its time is up.
	ErrExpired = errors.New("request expired")
	// ErrAlreadyApproved means the approver has approved the request
	// before: an approval counts once per person, however often they click.
	ErrAlreadyApproved = errors.New("already approved by this approver")
	// ErrNotRequester means someone other than the requester tried to
	// cancel a request.
	ErrNotRequester = errors.New("only the requester may cancel the request")
	// ErrDelivered means an audit record was marked delivered already,
	// perhaps by another replica.
	ErrDelivered = errors.New("audit record already delivered")
	// ErrInUse means another process holds the lock of a SQLite database
	// (see LockProcess).
	ErrInUse = errors.New("another process holds the database")
)

// Store keeps requests in a SQL database. It is safe for concurrent use, also
// by several processes sharing one database.
type Store struct {
	db *sql.DB
	// writing admits one transaction of this Store at a time. SQLite has
	// one writer anyway, and makes the others poll for its lock, sleeping
	// up to 100ms between tries: with many goroutines polling, the lock
	// sits idle and some wait out busy_timeout. Queueing here leaves one
	// poller per Store. On PostgreSQL it costs little, since transactions
	// on one replica mostly wait for the same audit_head row anyway.
	writing chan struct{}

	backend backend
	path    string // the SQLite file, for its lock file; "" on PostgreSQL

	lockMu     sync.Mutex
	lockFile   io.Closer // held by LockProcess until Close (SQLite)
	delivering bool      // a DeliveryLock of this Store is held (SQLite)

	closed     context.Context // done once Close is called
	closeStore context.CancelFunc
	lockConns  sync.WaitGroup // the goroutines holding delivery locks' connections
}

// newStore returns a Store on db, which Open has migrated.
func newStore(db *sql.DB, b backend, path string) *Store {
	closed, cancel := context.WithCancel(context.Background())
	return &Store{db: db, writing: make(chan struct{}, 1), backend: b, path: path, closed: closed, closeStore: cancel}
}

// Close closes the database, and gives up the lock LockProcess took.
func (s *Store) Close() error {
	s.closeStore() // ends the connections that hold delivery locks
	s.lockConns.Wait()
	s.lockMu.Lock()
	if s.lockFile != nil {
		s.lockFile.Close()
		s.lockFile = nil
	}
	s.lockMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}
