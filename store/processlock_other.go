//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"io"
	"os"
)

// lockFile only creates path where flock is not available: on these
// systems nothing stops a second bot on the same SQLite file.
func lockFile(path string) (io.Closer, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
