package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
)

// acceptedURLs names the forms Open accepts, for error messages.
const acceptedURLs = `use a SQLite path ("orybot.db"), "sqlite:PATH" or "file:PATH?PARAMS", or a PostgreSQL URL "postgres://USER:PASSWORD@HOST:PORT/DATABASE?PARAMS"`

// Open opens the database named by databaseURL, creating it if need be, and
// brings its schema up to date.
//
// These forms name a SQLite database file:
//
//   - a plain path, such as "orybot.db" or "/var/lib/orybot/orybot.db";
//   - "sqlite:PATH", also written "sqlite://relative.db" or
//     "sqlite:///absolute.db";
//   - a SQLite URI "file:PATH?PARAMS", for extra SQLite or modernc.org/sqlite
//     parameters.
//
// A URL "postgres://…" or "postgresql://…" names a PostgreSQL database,
// which several replicas of the bot can share. pgx reads it, so it takes
// libpq's URL parameters (sslmode, connect_timeout…) and environment
// variables (PGPASSWORD…); see
// https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig. Key=value
// connection strings ("host=… dbname=…") are not accepted. The database
// must exist; Open creates the tables in it.
//
// Error messages never repeat a password: they name a PostgreSQL database
// by its URL without password and parameters.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	return open(ctx, databaseURL, create)
}

// OpenExisting is Open for a database that must exist already: it fails
// rather than create an empty one, or, on PostgreSQL, fill an empty one
// with tables. Tools that read the database, such as "orybot audit
// verify", use it, since a new empty database would pass for a clean one.
func OpenExisting(ctx context.Context, databaseURL string) (*Store, error) {
	return open(ctx, databaseURL, existing)
}

// OpenReadOnly opens a database that must exist already, for reading only:
// it never migrates, and the database refuses writes (SQLite's mode=ro and
// query_only, PostgreSQL's default_transaction_read_only). Its schema must
// be one this orybot can read. "orybot audit verify" and "export" use it,
// so that checking the trail cannot change it.
func OpenReadOnly(ctx context.Context, databaseURL string) (*Store, error) {
	return open(ctx, databaseURL, readOnly)
}

// openMode says what open may do to the database.
type openMode int

const (
	create   openMode = iota // create the database if need be, and migrate it
	existing                 // migrate a database that exists
	readOnly                 // read a database that exists; no writes at all
)

// open is Open, OpenExisting or OpenReadOnly, by mode.
func open(ctx context.Context, databaseURL string, mode openMode) (*Store, error) {
	if isPostgresURL(databaseURL) {
		return openPostgres(ctx, databaseURL, mode)
	}
	dsn, path, err := sqliteDSN(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	switch mode {
	case existing:
		// SQLite's URI parameter mode=rw opens read-write without creating.
		dsn, err = setDefaultParam(dsn, "mode", "rw")
	case readOnly:
		// Switching to WAL writes to the file, which mode=ro refuses; a
		// reader does not need it.
		dsn, err = withoutPragma(dsn, "journal_mode")
		if err == nil {
			dsn, err = setDefaultParam(dsn, "mode", "ro")
		}
		if err == nil {
			dsn += "&_pragma=query_only(1)"
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// migrate (or checkSchema) is also the first use of the database, so it
	// reports a file that cannot be opened.
	if mode == readOnly {
		err = checkSchema(ctx, db)
	} else {
		err = migrate(ctx, db, sqliteBackend)
	}
	if err != nil {
		db.Close()
		if mode != create && isCantOpen(err) {
			return nil, fmt.Errorf("open store %s: no such database, or it cannot be opened: %w", path, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return newStore(db, sqliteBackend, path), nil
}

// auditSchemaVersion is the first schema version with the audit trail.
const auditSchemaVersion = 2

// checkSchema checks, without writing, that db has a schema this orybot can
// read the audit trail from.
func checkSchema(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&version); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			err = ErrNoSchema
		}
		return fmt.Errorf("read schema version (is this an orybot database?): %w", err)
	}
	switch {
	case version > len(migrations()):
		return fmt.Errorf("database schema version %d is newer than this orybot knows (%d); upgrade orybot", version, len(migrations()))
	case version < auditSchemaVersion:
		return fmt.Errorf("database schema version %d has no audit trail yet", version)
	}
	return nil
}

// sqliteDSN turns databaseURL into a modernc.org/sqlite data source name
// with sqliteSettings and the database's path for messages, or explains why
// it cannot.
func sqliteDSN(databaseURL string) (dsn, path string, err error) {
	scheme, rest := splitScheme(databaseURL)
	switch strings.ToLower(scheme) {
	case "":
		// A libpq "host=... password=..." string would otherwise become a
		// file with a strange name; "sqlite:" still allows such names.
		if strings.Contains(rest, "=") && !strings.Contains(rest, "?") {
			return "", "", fmt.Errorf("database URL looks like key=value parameters, not a path; %s", acceptedURLs)
		}
		return sqlitePathDSN(rest)
	case "sqlite":
		return sqlitePathDSN(strings.TrimPrefix(rest, "//"))
	case "file":
		path, params, _ := strings.Cut(rest, "?")
		params, err := sqliteParams(params)
		if err != nil {
			return "", "", err
		}
		return "file:" + path + "?" + params, path, nil
	default:
		return "", "", fmt.Errorf("unsupported database URL scheme %q; %s", scheme, acceptedURLs)
	}
}

// isPostgresURL reports whether databaseURL names a PostgreSQL database.
func isPostgresURL(databaseURL string) bool {
	scheme, _ := splitScheme(databaseURL)
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return true
	}
	return false
}

// isUniqueViolation reports whether err is the database refusing a row
// whose primary key or unique column is taken.
func isUniqueViolation(err error) bool {
	return isSQLiteUniqueViolation(err) || isPostgresUniqueViolation(err)
}

// splitScheme splits an RFC 3986 scheme off s. A single letter is not taken
// for a scheme, so that a Windows path such as C:\orybot.db stays a path.
func splitScheme(s string) (scheme, rest string) {
	i := strings.IndexByte(s, ':')
	if i < 2 {
		return "", s
	}
	for j, c := range s[:i] {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (j == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", s
		}
	}
	return s[:i], s[i+1:]
}

// setDefaultParam adds key=value to the query of dsn unless it has key
// already.
func setDefaultParam(dsn, key, value string) (string, error) {
	_, params, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(params)
	if err != nil {
		return "", fmt.Errorf("database URL parameters: %w", err)
	}
	if q.Has(key) {
		return dsn, nil
	}
	if !strings.Contains(dsn, "?") {
		return dsn + "?" + key + "=" + value, nil
	}
	return dsn + "&" + key + "=" + value, nil
}
