package store

import (
	"fmt"
)

// LockProcess makes this process the only one that may run a bot on a
// SQLite database, until the Store is closed. It locks the file PATH.lock
// beside the database with an operating-system lock (flock), which the
// kernel releases when the process ends, however it ends: a bot killed with
// SIGKILL does not keep the next one waiting. A second process gets
// ErrInUse. Readers such as "orybot audit verify" do not lock, so they work
// while the bot runs.
//
// SQLite itself would let two bots share the file, but the audit trail's
// delivery relies on there being one (see TryDeliveryLock); several
// replicas need PostgreSQL. On PostgreSQL LockProcess does nothing.
func (s *Store) LockProcess() error {
	if s.backend != sqliteBackend {
		return nil
	}
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lockFile != nil {
		return nil
	}
	f, err := lockFile(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("lock SQLite database %s: %w", s.path, err)
	}
	s.lockFile = f
	return nil
}
