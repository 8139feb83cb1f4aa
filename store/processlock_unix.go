//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// lockFile opens path, creating it, and takes an exclusive flock on it
// without waiting. Closing the file releases the lock. flock locks belong to
// the open file, not the process, so a second lockFile in the same process
// is refused too, which lets tests run two bots in one process.
func lockFile(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, err
	}
	return f, nil
}
