//go:build unix

package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// account is a user to run PostgreSQL as.
type account struct{ uid, gid int }

// postgresAccount returns the system user postgres when we are root, since
// PostgreSQL refuses to run as root, and nil otherwise.
func postgresAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL will not run as root, and there is no user postgres to run it as (%v)", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %v", err)
	}
	return &account{uid: uid, gid: gid}, nil
}

// procAttr runs a process as a (nil: as we are), and in a process group of
// its own if ownGroup is set.
func procAttr(a *account, ownGroup bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: ownGroup}
	if a != nil {
		// No supplementary groups: root's would be kept otherwise.
		attr.Credential = &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid)}
	}
	return attr
}
