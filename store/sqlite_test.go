package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/orybot/orybot/audit"
)

// openStore opens the database url and closes it when the test ends.
func openStore(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() {
		// The test may have closed it already, which is fine.
		s.Close()
	})
	return s
}

func TestSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) *Store {
		return openStore(t, filepath.Join(t.TempDir(), "orybot.db"))
	})
}

func TestSQLiteSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orybot.db")
	testSharedDatabase(t, func(t *testing.T) *Store { return openStore(t, path) })
}

func TestOpenNeedsAName(t *testing.T) {
	t.Chdir(t.TempDir())
	if s, err := Open(t.Context(), ""); err == nil {
		s.Close()
		t.Fatal("Open(\"\") succeeded; the default belongs to the config package")
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("Open(\"\") created %v", entries)
	}
}

func TestOpenForms(t *testing.T) {
	// Relative paths land in the working directory, so work in a fresh one.
	dir := t.TempDir()
	t.Chdir(dir)
	abs := filepath.Join(dir, "abs dir#1")
	if err := os.Mkdir(abs, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		url      string
		wantFile string // relative to dir
	}{
		{"plain.db", "plain.db"},
		{"sub/../relative.db", "relative.db"},
		{filepath.Join(abs, "absolute.db"), "abs dir#1/absolute.db"},
		{"odd%20name.db", "odd%20name.db"},
		{"sqlite:prefixed.db", "prefixed.db"},
		{"SQLite:upper.db", "upper.db"},
		{"sqlite://slashes.db", "slashes.db"},
		{"sqlite://" + filepath.Join(abs, "three-slashes.db"), "abs dir#1/three-slashes.db"},
		{"sqlite:key=value.db", "key=value.db"},
		{"file:uri.db", "uri.db"},
		{"file:uri-params.db?cache=private&_pragma=cache_size(-4000)", "uri-params.db"},
		{"file://" + filepath.Join(dir, "uri-abs.db"), "uri-abs.db"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			if tc.wantFile == "relative.db" {
				if err := os.Mkdir("sub", 0o755); err != nil && !os.IsExist(err) {
					t.Fatal(err)
				}
			}
			s := openStore(t, tc.url)
			if _, err := os.Stat(filepath.Join(dir, tc.wantFile)); err != nil {
				t.Errorf("database file: %v", err)
			}
			checkPragmas(t, s, "wal", 5000, 1)
		})
	}
}

// checkPragmas fails the test unless every connection of s runs with the
// given journal mode, busy timeout and foreign keys setting.
func checkPragmas(t *testing.T, s *Store, wantMode string, wantTimeout, wantFK int) {
	t.Helper()
	ctx := t.Context()
	// Hold two connections at once, so that the pool has more than one.
	for range 2 {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var mode string
		var timeout, fk int
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if mode != wantMode || timeout != wantTimeout || fk != wantFK {
			t.Errorf("journal_mode=%s busy_timeout=%d foreign_keys=%d; want %s, %d, %d",
				mode, timeout, fk, wantMode, wantTimeout, wantFK)
		}
	}
}

func TestOpenUserSettingsWin(t *testing.T) {
	for _, tc := range []struct {
		params      string
		wantMode    string
		wantTimeout int
		wantFK      int
	}{
		{"_pragma=busy_timeout(9000)", "wal", 9000, 1},
		{"_busy_timeout=7000", "wal", 7000, 1},
		{"_pragma=journal_mode(DELETE)", "delete", 5000, 1},
		{"_fk=0", "wal", 5000, 0},
	} {
		t.Run(tc.params, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "orybot.db")
			s := openStore(t, "file:"+path+"?"+tc.params)
			checkPragmas(t, s, tc.wantMode, tc.wantTimeout, tc.wantFK)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		url        string
		wantSubstr string
		// touchesDisk is set when the error comes from SQLite, after it
		// may have made the file.
		touchesDisk bool
	}{
		{"mysql://orybot:s3cret@db/orybot", `unsupported database URL scheme "mysql"`, false},
		{"https://example.com/orybot.db", `unsupported database URL scheme "https"`, false},
		{"host=db user=orybot password=s3cret dbname=orybot", "key=value", false},
		{"orybot.db?_pragma=busy_timeout(1)", "cannot have parameters; use file:PATH?PARAMS", false},
		{"sqlite:orybot.db?mode=ro", "cannot have parameters; use file:PATH?PARAMS", false},
		{":memory:", "in-memory", false},
		{"file:orybot.db?a=%zz", "parameters", false},
		{"file:orybot.db?_txlock=bogus", "open store orybot.db: migrate: unknown _txlock", true},
		{"no-such-dir/orybot.db", "open store no-such-dir/orybot.db: migrate: unable to open", true},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Chdir(t.TempDir())
			s, err := Open(t.Context(), tc.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tc.wantSubstr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantSubstr) {
				t.Errorf("Open: %q, want it to contain %q", msg, tc.wantSubstr)
			}
			if !strings.HasPrefix(msg, "open store") {
				t.Errorf("Open: %q, want it to start with the operation", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("Open: %q gives away the password", msg)
			}
			if strings.Contains(tc.wantSubstr, "scheme") || tc.wantSubstr == "key=value" {
				if !strings.Contains(msg, "sqlite:PATH") || !strings.Contains(msg, "postgres://") {
					t.Errorf("Open: %q, want it to name the accepted forms", msg)
				}
			}
			if entries, _ := os.ReadDir("."); !tc.touchesDisk && len(entries) != 0 {
				t.Errorf("Open left files behind: %v", entries)
			}
		})
	}
}

func TestMigrations(t *testing.T) {
	testMigrations(t, filepath.Join(t.TempDir(), "orybot.db"))
}

// testMigrations checks the schema version of the new database url, and
// that reopening it applies nothing twice.
func testMigrations(t *testing.T, dbURL string) {
	s := openStore(t, dbURL)
	version := func() int {
		t.Helper()
		var v int
		if err := s.db.QueryRowContext(t.Context(), "SELECT version FROM schema_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got, want := version(), len(migrations()); got != want {
		t.Fatalf("schema version = %d, want %d", got, want)
	}

	// Opening again (a restart, a second replica) applies nothing twice.
	openStore(t, dbURL)
	if got, want := version(), len(migrations()); got != want {
		t.Fatalf("after reopening, schema version = %d, want %d", got, want)
	}
	var rows int
	if err := s.db.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_version").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("schema_version has %d rows, want 1", rows)
	}

	// A database from a newer orybot is refused rather than misread.
	if _, err := s.db.ExecContext(t.Context(), "UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(t.Context(), dbURL); err == nil {
		s2.Close()
		t.Error("Open of a newer schema succeeded, want an error")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v, want it to say so", err)
	}
}

// TestMigrateFromVersion2 upgrades a database made by the orybot before
// approval policies (schema version 2), with requests in every status of
// the time and an audit record, and checks that all of it survives.
func TestMigrateFromVersion2(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "orybot.db")
	dsn, _, err := sqliteDSN(path)
	if err != nil {
		t.Fatal(err)
	}
	testMigrateFromVersion2(t, upgrade{
		url:      path,
		freshURL: filepath.Join(dir, "fresh.db"),
		backend:  sqliteBackend,
		openDB:   func() (*sql.DB, error) { return sql.Open("sqlite", dsn) },
		schema:   sqliteSchema,
	})
}

// upgrade is where testMigrateFromVersion2 runs.
type upgrade struct {
	url      string // an empty database, to be made at version 2 and upgraded
	freshURL string // another, to compare with a new database
	backend  backend
	openDB   func() (*sql.DB, error) // opens url with database/sql
	schema   func(t *testing.T, s *Store) string
}

// sqliteSchema describes the schema of s, a SQLite database, as text.
func sqliteSchema(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, table, text string
		if err := rows.Scan(&typ, &name, &table, &text); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s on %s: %s\n", typ, name, table, text)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// testMigrateFromVersion2 upgrades a database made at schema version 2 in
// the place u describes.
func testMigrateFromVersion2(t *testing.T, u upgrade) {
	ctx := t.Context()
	db, err := u.openDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrateWith(ctx, db, u.backend, migrations()[:2]); err != nil {
		t.Fatalf("migrate to version 2: %v", err)
	}

	now := t0().Add(time.Minute)
	old := func(id string, status Status, edit func(r *Request)) *Request {
		r := newRequest(t0())
		r.ID, r.Status = id, status
		if edit != nil {
			edit(r)
		}
		return r
	}
	olds := []*Request{
		old("pending001", StatusPending, func(r *Request) { r.TriggerID, r.MessageTS = "trigger-1", "1700000000.000100" }),
		old("pending002", StatusPending, func(r *Request) { r.Target, r.Snapshot, r.Effect = Target{}, Snapshot{}, "" }),
		old("approved01", StatusApproved, func(r *Request) { r.Approver, r.DecidedAt = "U0APPROVE", now }),
		old("done000001", StatusDone, func(r *Request) {
			r.Approver, r.Result, r.DecidedAt, r.FinishedAt = "U0APPROVE", "ok", now, now.Add(time.Second)
		}),
		old("failed0001", StatusFailed, func(r *Request) {
			r.Approver, r.Result, r.DecidedAt, r.FinishedAt = "U0APPROVE", "kratos said no", now, now.Add(time.Second)
		}),
		old("denied0001", StatusDenied, func(r *Request) { r.Approver, r.DecidedAt = "U0DENY", now }),
		old("expired001", StatusExpired, func(r *Request) { r.FinishedAt = t0().Add(2 * time.Hour) }),
	}
	for _, r := range olds {
		// Version 2 kept the data as string maps (see decodeData).
		args := `{"email_digest":"d1g35t","fingerprint":"f1ng3r","credentials":"password,totp","types":"totp,webauthn","session_id":"s-1","type":"totp"}`
		display := `{"email":"a***@example.com","state":"active","effect":"Set the state to *inactive*."}`
		if r.ID == "pending002" {
			args, display = "null", "{}"
		}
		_, err := db.ExecContext(ctx, `INSERT INTO requests (id, trigger_id, verb, identity_id, args, display,
				requester, reason, channel_id, message_ts, status, approver, result,
				created_at, expires_at, decided_at, finished_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			r.ID, r.TriggerID, r.Verb, r.IdentityID, string(args), string(display),
			r.Requester, r.Reason, r.ChannelID, r.MessageTS, string(r.Status), r.Approver, r.Result,
			r.CreatedAt.UnixNano(), r.ExpiresAt.UnixNano(), nullTime(r.DecidedAt), nullTime(r.FinishedAt))
		if err != nil {
			t.Fatalf("insert version 2 request %s: %v", r.ID, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appendAudit(ctx, tx, sqliteBackend, []audit.Record{rec("pending001", audit.Requested, 0)}); err != nil {
		t.Fatalf("append audit record at version 2: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, u.url)
	var version int
	if err := s.db.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations()) {
		t.Fatalf("schema version = %d after upgrade, want %d", version, len(migrations()))
	}
	for _, want := range olds {
		if diff := cmp.Diff(want, mustGet(t, s, want.ID)); diff != "" {
			t.Errorf("request %s after upgrade (-want +got):\n%s", want.ID, diff)
		}
	}
	mustVerify(t, s, 1)

	// The schema is the one a new database gets: same tables, indexes and
	// constraints, and nothing left of the copy.
	fresh := openStore(t, u.freshURL)
	if diff := cmp.Diff(u.schema(t, fresh), u.schema(t, s)); diff != "" {
		t.Errorf("upgraded schema differs from a new one (-new +upgraded):\n%s", diff)
	}
	got := u.schema(t, s)
	leftover := strings.Contains(got, "table requests_v3 ") || strings.Contains(got, " on requests_v3:")
	if u.backend == sqliteBackend {
		// PostgreSQL keeps the names it gave the primary key's index and
		// the CHECK of requests_v3; SQLite names neither.
		leftover = strings.Contains(got, "requests_v3")
	}
	if leftover {
		t.Errorf("the upgraded schema still names requests_v3:\n%s", got)
	}

	// The indexes and the CHECK work on the old rows.
	dup := newRequest(t0())
	dup.TriggerID = "trigger-1"
	if err := s.Create(ctx, dup); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Create with an old trigger id: %v, want ErrDuplicate", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE requests SET status = 'bogus' WHERE id = 'pending001'`); err == nil {
		t.Error("the upgraded table took status 'bogus'")
	}
	pending, err := s.Pending(ctx, now)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if diff := cmp.Diff([]*Request{olds[0], olds[1]}, pending); diff != "" {
		t.Errorf("Pending after upgrade (-want +got):\n%s", diff)
	}

	// And the old rows take the new transitions.
	if _, err := s.Cancel(ctx, "pending001", requester, now); err != nil {
		t.Errorf("Cancel of an old request: %v", err)
	}
	approvedBy("U1", 2, now)(t, s, "pending002")
	if r, err := s.Approve(ctx, "pending002", "U2", 2, now); err != nil || r.Status != StatusApproved || len(r.Approvals) != 2 {
		t.Errorf("second Approve of an old request = %+v, %v; want it approved twice", r, err)
	}
	if err := s.Finish(ctx, "pending002", StatusStale, "changed", now); err != nil {
		t.Errorf("Finish(stale) of an old request: %v", err)
	}
}

func TestOpenConcurrent(t *testing.T) {
	testOpenConcurrent(t, filepath.Join(t.TempDir(), "orybot.db"))
}

// testOpenConcurrent opens the new database dbURL from several replicas at
// once: they must all come up, with the schema made once.
func testOpenConcurrent(t *testing.T, dbURL string) {
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			s, err := Open(t.Context(), dbURL)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewID()
		if len(id) != 10 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewID() = %q, want 10 lowercase base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice", id)
		}
		seen[id] = true
	}
}

// BenchmarkApprove measures the one-click approval, Approve with one
// approval required.
func BenchmarkApprove(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	// create makes n pending requests outside the timer.
	create := func(b *testing.B, s *Store, n int) []string {
		b.Helper()
		ids := make([]string, n)
		for i := range ids {
			r := newRequest(now)
			if err := s.Create(ctx, r); err != nil {
				b.Fatal(err)
			}
			ids[i] = r.ID
		}
		return ids
	}

	// The common case: the first click on a pending request.
	b.Run("pending", func(b *testing.B) {
		s := openStore(b, filepath.Join(b.TempDir(), "orybot.db"))
		ids := create(b, s, b.N)
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.Approve(ctx, ids[i], "U0DECIDE", 1, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A double click or redelivery: the UPDATE misses and the row is read.
	b.Run("decided", func(b *testing.B) {
		s := openStore(b, filepath.Join(b.TempDir(), "orybot.db"))
		id := create(b, s, 1)[0]
		if _, err := s.Approve(ctx, id, "U0DECIDE", 1, now); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := s.Approve(ctx, id, "U0DECIDE", 1, now); err == nil {
				b.Fatal("second Approve succeeded")
			}
		}
	})
}
