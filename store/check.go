package store

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrNoDatabase means the SQLite file does not exist (yet).
var ErrNoDatabase = errors.New("no such database file")

// ErrNoSchema means the database exists but has no orybot tables.
var ErrNoSchema = errors.New("the database has no orybot tables (no schema_version)")

// CheckSchema opens the database named by databaseURL read-only (see
// OpenReadOnly), so without creating, migrating or writing anything, and
// returns the schema version it has and the one this build needs. "orybot
// check" uses it before a rollout. A SQLite file that does not exist is
// ErrNoDatabase, and one without orybot's tables ErrNoSchema.
func CheckSchema(ctx context.Context, databaseURL string) (have, want int, err error) {
	want = len(migrations())
	if !isPostgresURL(databaseURL) {
		if _, path, err := sqliteDSN(databaseURL); err == nil {
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return 0, want, fmt.Errorf("check schema: %s: %w", path, ErrNoDatabase)
			}
		}
	}
	s, err := OpenReadOnly(ctx, databaseURL)
	if err != nil {
		return 0, want, fmt.Errorf("check schema: %w", err)
	}
	defer s.Close()
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&have); err != nil {
		return 0, want, fmt.Errorf("check schema: read version: %w", err)
	}
	return have, want, nil
}
