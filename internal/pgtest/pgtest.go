// Package pgtest runs a real PostgreSQL server for tests and hands out
// fresh, empty databases on it.
//
// The first Start in a test binary runs initdb and postgres from the
// PostgreSQL installation it finds (/usr/lib/postgresql/*/bin, as Debian
// installs it, or else $PATH) in a temporary directory, listening on a free
// port of 127.0.0.1 with trust authentication and without fsync. Every
// Start then creates a database of its own on that server, and drops it
// when the test ends. When the binaries are missing the test is skipped,
// or fails when CI=true.
//
// The server lives as long as the test binary: a small shell process
// watches a pipe from the binary and, once it reads end-of-file (the binary
// has exited, whatever the way), stops PostgreSQL and deletes its
// directory. No TestMain is needed, and a crashed or killed test leaves no
// server behind.
//
// PostgreSQL refuses to run as root, so as root the server runs as the
// system user postgres, which Debian's package creates.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTimeout bounds how long the server may take to accept connections.
// It needs well under a second, but a small CI machine may be busy.
const startTimeout = 60 * time.Second

// installHint says how to get the binaries.
const installHint = "install PostgreSQL's server with `apt-get install postgresql` (Debian, Ubuntu; ./scripts/test does this when run as root), or put initdb and postgres on $PATH"

// shared is the one server of the test binary. It is package state, unlike
// anything else in orybot, because the server outlives every test: starting
// one per test would cost seconds each (initdb alone takes about two).
var shared struct {
	once sync.Once
	srv  *server
	err  error
	n    atomic.Int64 // databases created so far, for their names
}

// server is a running PostgreSQL.
type server struct {
	port    int
	version int    // server_version_num, such as 150018
	dir     string // holds the data directory; deleted when the server stops

	// keepalive is the write end of the pipe the watcher reads; it is
	// never closed, and the process's exit closes it. It is kept here so
	// that it stays reachable: os.File closes itself when collected.
	keepalive *os.File
}

// Start returns the URL of a new, empty database on the test binary's
// PostgreSQL server, starting the server first if need be. The database is
// dropped when t ends; close connections to it before then (cleanups run
// last-registered first, so a Store opened after Start is closed in time).
//
// If PostgreSQL is not installed, Start skips t, or fails it when the
// environment variable CI is "true".
func Start(t testing.TB) (url string) {
	t.Helper()
	bin := findBinaries(t)
	shared.once.Do(func() {
		start := time.Now()
		shared.srv, shared.err = startServer(bin)
		if shared.err == nil {
			t.Logf("pgtest: %s (version %d) took %v to start on port %d",
				bin.postgres, shared.srv.version, time.Since(start).Round(time.Millisecond), shared.srv.port)
		}
	})
	if shared.err != nil {
		t.Fatalf("pgtest: start PostgreSQL: %v", shared.err)
	}
	srv := shared.srv

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("orybot_test_%d", shared.n.Add(1))
	create := "CREATE DATABASE " + name
	if srv.version >= 150000 {
		// Copying the template's files is faster than the default
		// (WAL_LOG) for a template this small, and writes no WAL.
		create += " STRATEGY FILE_COPY"
	}
	if err := srv.exec(ctx, create); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		drop := "DROP DATABASE IF EXISTS " + name
		if srv.version >= 130000 {
			drop += " WITH (FORCE)" // a connection the test left open
		}
		if err := srv.exec(ctx, drop); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return srv.url(name)
}

// url returns the URL of database name on s.
func (s *server) url(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// exec runs one statement in the database postgres, on a connection of its
// own, since tests may call Start concurrently.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// binaries are the PostgreSQL programs Start runs.
type binaries struct {
	initdb, postgres string
	as               *account // whom to run them as; nil: as ourselves
}

// findBinaries returns the programs and whom to run them as, or skips t
// (fails it when CI=true) if there are none.
func findBinaries(t testing.TB) binaries {
	t.Helper()
	b, err := lookBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: %v; %s. CI=true turns this skip into a failure", err, installHint)
		}
		t.Skipf("pgtest: %v; %s", err, installHint)
	}
	return b
}

func lookBinaries() (binaries, error) {
	var b binaries
	// Debian installs each major version apart; take the newest.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(x, y string) int {
		return majorVersion(y) - majorVersion(x)
	})
	for _, dir := range dirs {
		initdb, postgres := filepath.Join(dir, "initdb"), filepath.Join(dir, "postgres")
		if isExecutable(initdb) && isExecutable(postgres) {
			b.initdb, b.postgres = initdb, postgres
			break
		}
	}
	if b.postgres == "" {
		initdb, err1 := exec.LookPath("initdb")
		postgres, err2 := exec.LookPath("postgres")
		if err := errors.Join(err1, err2); err != nil {
			return b, errors.New("no PostgreSQL server found in /usr/lib/postgresql/*/bin or $PATH")
		}
		b.initdb, b.postgres = initdb, postgres
	}
	var err error
	b.as, err = postgresAccount()
	return b, err
}

// majorVersion returns the version in a path /usr/lib/postgresql/N/bin, or 0.
func majorVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startServer makes a cluster in a new temporary directory and starts
// PostgreSQL on it. Free ports are found by binding :0 and closing, and
// another process can take one in between, so a start that fails is tried
// again, on a new directory, since a failed server's is deleted.
func startServer(b binaries) (*server, error) {
	var errs []error
	for range 3 {
		s, err := startOnce(b)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// watcher runs postgres ($1) on the data directory $2 and port $3, and
// deletes the directory $4, which holds $2, once postgres has ended. Its
// standard input is a pipe whose write end only the test binary holds; at
// end-of-file it stops postgres with SIGQUIT (immediate shutdown: nothing
// of the data needs keeping). If postgres ends by itself, as when the port
// is taken, it prints the end of the server log for the error message.
const watcher = `
exec 3<&0 </dev/null
"$1" -D "$2" -p "$3" \
	-c listen_addresses=127.0.0.1 -c unix_socket_directories= \
	-c fsync=off -c full_page_writes=off \
	-c max_connections=200 -c shared_buffers=32MB \
	>"$4/postgres.log" 2>&1 3<&- &
pg=$!
{ read -r _ <&3; kill -QUIT "$pg" 2>/dev/null; } &
watch=$!
exec 3<&-
wait "$pg"
kill "$watch" 2>/dev/null
tail -c 8192 "$4/postgres.log" >&2
rm -rf "$4"
`

func startOnce(b binaries) (_ *server, err error) {
	dir, err := os.MkdirTemp("", "orybot-pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if b.as != nil {
		// The parent of dir must let user postgres in: /tmp does.
		if err := os.Chown(dir, b.as.uid, b.as.gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir, "LC_ALL=C"}

	initdb := exec.Command(b.initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"--no-locale", "-E", "UTF8", "--no-sync")
	initdb.Dir = dir
	initdb.Env = env
	initdb.SysProcAttr = procAttr(b.as, false)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", b.initdb, err, out)
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var log tailBuffer
	cmd := exec.Command("/bin/sh", "-c", watcher, "pgtest-watcher", b.postgres, data, strconv.Itoa(port), dir)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = r
	cmd.Stdout = &log
	cmd.Stderr = &log
	// Its own process group, so that ^C in a terminal reaches only the test
	// binary, whose end then stops the server the usual way.
	cmd.SysProcAttr = procAttr(b.as, true)
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	s := &server{port: port, dir: dir, keepalive: w}
	if err := s.waitReady(exited); err != nil {
		w.Close() // the watcher stops postgres and deletes dir
		<-exited
		return nil, fmt.Errorf("%w\n--- postgres log ---\n%s", err, log.String())
	}
	return s, nil
}

// waitReady waits until the server takes connections, and reads its
// version.
func (s *server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited before it was ready (%v)", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&s.version)
			conn.Close(ctx)
			cancel()
			return err
		}
		cancel()
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("postgres not ready after %v: %v", startTimeout, lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last 16 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	const max = 16 << 10
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > max {
		b.buf = slices.Clone(b.buf[len(b.buf)-max:])
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
