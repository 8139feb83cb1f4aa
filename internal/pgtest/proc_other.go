//go:build !unix

package pgtest

import (
	"errors"
	"syscall"
)

type account struct{ uid, gid int }

func postgresAccount() (*account, error) {
	return nil, errors.New("pgtest runs PostgreSQL only on Unix systems")
}

func procAttr(*account, bool) *syscall.SysProcAttr { return nil }
