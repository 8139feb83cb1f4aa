package pgtest

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStart(t *testing.T) {
	ctx := t.Context()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Starts gave one database: %s", a)
	}
	for _, u := range []string{a, b} {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatalf("connect to %s: %v", u, err)
		}
		defer conn.Close(context.Background())
		var tables int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("%s has %d tables, want an empty database", u, tables)
		}
		var fsync string
		if err := conn.QueryRow(ctx, `SHOW fsync`).Scan(&fsync); err != nil {
			t.Fatal(err)
		}
		if fsync != "off" {
			t.Errorf("fsync = %s, want off", fsync)
		}
	}
	// One database's tables are not the other's.
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	conn2, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	var found bool
	if err := conn2.QueryRow(ctx, `SELECT to_regclass('only_in_a') IS NOT NULL`).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found {
		t.Error("a table made in one database shows in the other")
	}
}

// TestDropped checks that a test's database is gone when it ends, even
// with a connection left open.
func TestDropped(t *testing.T) {
	var u string
	var leaked *pgx.Conn
	t.Run("user", func(t *testing.T) {
		u = Start(t)
		var err error
		leaked, err = pgx.Connect(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
	})
	defer leaked.Close(context.Background())
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(pu.Path, "/")
	pu.Path = "/postgres"
	conn, err := pgx.Connect(t.Context(), pu.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test", name)
	}
}

// TestNoOrphans runs a test binary that starts the server and exits
// without any cleanup, and checks that the server stops and its directory
// goes with it.
func TestNoOrphans(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		u, err := url.Parse(Start(t))
		if err != nil {
			t.Fatal(err)
		}
		// Say what the parent is to check, then leave as abruptly as a
		// crash would, without running cleanups.
		os.Stdout.WriteString("ADDR " + u.Host + "\nDIR " + shared.srv.dir + "\n")
		os.Exit(0)
	}
	findBinaries(t) // skips, or fails on CI, as Start would
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoOrphans$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var addr, dir string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "DIR "); ok {
			dir = v
		}
	}
	if addr == "" || dir == "" {
		t.Fatalf("child did not say where its server is:\n%s", out)
	}
	start := time.Now()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		_, statErr := os.Stat(dir)
		if err == nil {
			c.Close()
		}
		if err != nil && os.IsNotExist(statErr) {
			break // nobody listens any more, and the directory is gone
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10s after the child exited: server on %s reachable: %v; directory %s: %v",
				addr, err == nil, dir, statErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("server stopped and directory deleted %v after the child exited", time.Since(start).Round(time.Millisecond))
}
