package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/stdlib"
)

// ErrNoDatabase means the SQLite file does not exist (yet).
var ErrNoDatabase = errors.New("no such database file")

// ErrNoSchema means the database exists but has no orybot tables.
var ErrNoSchema = errors.New("the database has no orybot tables (no schema_version)")

// CheckSchema opens the database named by databaseURL without creating,
// migrating or writing anything, and returns the schema version it has and
// the one this build needs. "orybot check" uses it before a rollout.
func CheckSchema(ctx context.Context, databaseURL string) (have, want int, err error) {
	want = len(migrations())
	db, name, redact, err := openReadOnly(databaseURL)
	if err != nil {
		return 0, want, fmt.Errorf("check schema: %w", err)
	}
	defer db.Close()
	var exists bool
	q := `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`
	if isPostgresURL(databaseURL) {
		q = `SELECT to_regclass('schema_version') IS NOT NULL`
	}
	if err := db.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, want, fmt.Errorf("check schema of %s: %w", name, redact(err))
	}
	if !exists {
		return 0, want, fmt.Errorf("check schema of %s: %w", name, ErrNoSchema)
	}
	if err := db.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&have); err != nil {
		return 0, want, fmt.Errorf("check schema of %s: %w", name, redact(err))
	}
	return have, want, nil
}

// openReadOnly opens a database for reading only: SQLite with mode=ro,
// which neither creates the file nor writes to it, and PostgreSQL with
// read-only transactions by default.
func openReadOnly(databaseURL string) (db *sql.DB, name string, redact func(error) error, err error) {
	if isPostgresURL(databaseURL) {
		cfg, name, redact, err := postgresConfig(databaseURL)
		if err != nil {
			return nil, "", nil, err
		}
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
		return stdlib.OpenDB(*cfg), name, redact, nil
	}
	dsn, path, err := sqliteDSN(databaseURL)
	if err != nil {
		return nil, "", nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, "", nil, fmt.Errorf("%s: %w", path, ErrNoDatabase)
	}
	if dsn, err = setDefaultParam(dsn, "mode", "ro"); err != nil {
		return nil, "", nil, err
	}
	db, err = sql.Open("sqlite", dsn)
	if err != nil {
		return nil, "", nil, err
	}
	return db, path, func(err error) error { return err }, nil
}
