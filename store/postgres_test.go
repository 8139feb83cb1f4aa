package store

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for a database at an old version

	"github.com/orybot/orybot/internal/pgtest"
)

// The PostgreSQL tests run on a server that pgtest starts; without
// PostgreSQL installed they are skipped (they fail when CI=true).

func TestPostgres(t *testing.T) {
	pgtest.Start(t) // skips (or fails) here, once, rather than in every subtest
	testStore(t, func(t *testing.T) *Store { return openStore(t, pgtest.Start(t)) })
}

func TestPostgresSharedDatabase(t *testing.T) {
	dbURL := pgtest.Start(t)
	testSharedDatabase(t, func(t *testing.T) *Store { return openStore(t, dbURL) })
}

func TestPostgresMigrations(t *testing.T) {
	testMigrations(t, pgtest.Start(t))
}

func TestPostgresOpenConcurrent(t *testing.T) {
	testOpenConcurrent(t, pgtest.Start(t))
}

func TestPostgresMigrateFromVersion2(t *testing.T) {
	dbURL := pgtest.Start(t)
	testMigrateFromVersion2(t, upgrade{
		url:      dbURL,
		freshURL: pgtest.Start(t),
		backend:  postgresBackend,
		openDB:   func() (*sql.DB, error) { return sql.Open("pgx", dbURL) },
		schema:   postgresSchema,
	})
}

// postgresSchema describes the schema of s, a PostgreSQL database, as text:
// tables with their columns, indexes and constraints.
func postgresSchema(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `
		SELECT 'table ' || c.relname || ' on ' || c.relname || ': ' || string_agg(
			a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
				|| CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
				|| coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
			', ' ORDER BY a.attnum)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
		WHERE n.nspname = 'public' AND c.relkind = 'r'
		GROUP BY c.relname
		UNION ALL
		SELECT 'index ' || indexname || ' on ' || tablename || ': ' || indexdef
		FROM pg_indexes WHERE schemaname = 'public'
		UNION ALL
		SELECT 'constraint ' || con.conname || ' on ' || c.relname || ': ' || pg_get_constraintdef(con.oid)
		FROM pg_constraint con
		JOIN pg_class c ON c.oid = con.conrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public'
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPostgresOpenExisting(t *testing.T) {
	ctx := t.Context()
	dbURL := pgtest.Start(t)
	// An empty database would pass for one with a clean audit trail.
	if s, err := OpenExisting(ctx, dbURL); err == nil {
		s.Close()
		t.Fatal("OpenExisting of an empty database succeeded, want an error")
	} else if !strings.Contains(err.Error(), "no orybot tables") {
		t.Errorf("OpenExisting of an empty database: %v, want it to say there are no orybot tables", err)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var tables int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("OpenExisting left %d tables in the empty database, want none", tables)
	}

	openStore(t, dbURL).Close()
	s, err := OpenExisting(ctx, dbURL)
	if err != nil {
		t.Fatalf("OpenExisting of a database Open made: %v", err)
	}
	s.Close()

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database"
	u.User = url.UserPassword("postgres", "s3cret")
	for _, open := range []func() (*Store, error){
		func() (*Store, error) { return Open(ctx, u.String()) },
		func() (*Store, error) { return OpenExisting(ctx, u.String()) },
	} {
		s, err := open()
		if err == nil {
			s.Close()
			t.Fatal("opening a database that does not exist succeeded")
		}
		msg := err.Error()
		if !strings.Contains(msg, `database "no_such_database" does not exist`) {
			t.Errorf("opening a database that does not exist: %q, want it to say so", msg)
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("%q gives away the password", msg)
		}
	}
}

func TestPostgresOpenErrors(t *testing.T) {
	// A port where nobody listens: the server is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	for _, tc := range []struct {
		url     string
		want    []string // in the message, in this order
		secrets []string // not in the message
	}{
		{"postgres://orybot:s3cret@" + down + "/orybot?sslmode=disable",
			[]string{"open store postgres://orybot@" + down + "/orybot: connect: ", "connection refused"}, nil},
		{"postgresql://orybot:s3cret@" + down + "/orybot",
			[]string{"open store postgresql://orybot@" + down + "/orybot: connect: ", "connection refused"}, nil},
		{"POSTGRES://orybot:s3cret@" + down + "/orybot",
			[]string{"open store postgres://orybot@" + down + "/orybot: connect: ", "connection refused"}, nil},
		{"postgres://" + down + "/orybot?user=orybot&password=s3cret&sslmode=disable",
			[]string{"open store postgres://" + down + "/orybot: connect: ", "connection refused"}, nil},
		{"postgres://orybot:s3cret%2F%40x@" + down + "/orybot",
			[]string{"open store postgres://orybot@" + down + "/orybot: connect: "}, []string{"s3cret/@x", "s3cret%2F%40x"}},
		// A '/' in the password must be percent-encoded; here it ends the
		// host, and url.Parse's complaint would quote the password.
		{"postgres://orybot:s3cret/x@db.example.com/orybot",
			[]string{"open store: the PostgreSQL URL cannot be parsed; percent-encode"}, nil},
		{"postgres://orybot:s3cret@" + down + "/orybot?sslmode=bogus",
			[]string{"open store: PostgreSQL URL postgres://orybot@" + down + "/orybot: ", "sslmode"}, nil},
		{"postgres://orybot:s3cret@" + down + "/orybot?sslpassword=s3cret2&sslmode=bogus",
			[]string{"open store: PostgreSQL URL postgres://orybot@" + down + "/orybot: ", "sslmode"}, []string{"s3cret2"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			s, err := Open(t.Context(), tc.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			rest := msg
			for _, want := range tc.want {
				_, after, ok := strings.Cut(rest, want)
				if !ok {
					t.Errorf("Open: %q, want it to contain %q (after %q)", msg, want, strings.Join(tc.want, ""))
					break
				}
				rest = after
			}
			for _, secret := range append(tc.secrets, "s3cret") {
				if strings.Contains(msg, secret) {
					t.Errorf("Open: %q gives away the password %q", msg, secret)
				}
			}
		})
	}
}

func TestRedactError(t *testing.T) {
	rawURL := "postgres://orybot:pa%2Fss@db/orybot?password=qu%26ery&SSLPassword=key"
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	secrets := urlSecrets(rawURL, u)
	for _, want := range []string{"pa/ss", "pa%2Fss", "qu&ery", "qu%26ery", "key"} {
		found := false
		for _, s := range secrets {
			found = found || s == want
		}
		if !found {
			t.Errorf("urlSecrets(%q) = %q, want it to include %q", rawURL, secrets, want)
		}
	}

	inner := fmt.Errorf("server said pa/ss, qu%%26ery and key: %w", io.EOF)
	err = redactError(inner, secrets)
	if got, want := err.Error(), "server said xxxxx, xxxxx and xxxxx: EOF"; got != want {
		t.Errorf("redacted message %q, want %q", got, want)
	}
	if !errors.Is(err, io.EOF) {
		t.Error("the redacted error no longer wraps the original")
	}
	if plain := errors.New("nothing secret"); redactError(plain, secrets) != plain {
		t.Error("an error without secrets was wrapped")
	}
}
