package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/orybot/orybot/internal/pgtest"
)

func TestSQLiteOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orybot.db")
	testOpenReadOnly(t, path, func() (*sql.DB, error) { return sql.Open("sqlite", path) }, sqliteBackend)
}

func TestPostgresOpenReadOnly(t *testing.T) {
	dbURL := pgtest.Start(t)
	testOpenReadOnly(t, dbURL, func() (*sql.DB, error) { return sql.Open("pgx", dbURL) }, postgresBackend)
}

// testOpenReadOnly checks that OpenReadOnly reads the audit trail of a
// database made by an older orybot without migrating it, and that the
// database refuses writes through it.
func testOpenReadOnly(t *testing.T, dbURL string, openDB func() (*sql.DB, error), b backend) {
	ctx := t.Context()
	if s, err := OpenReadOnly(ctx, dbURL); err == nil {
		s.Close()
		t.Fatal("OpenReadOnly of a database without orybot's tables succeeded")
	}
	db, err := openDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := len(migrations()) - 1
	if err := migrateWith(ctx, db, b, migrations()[:old]); err != nil {
		t.Fatal(err)
	}
	s, err := OpenReadOnly(ctx, dbURL)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer s.Close()
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit on a read-only store: %v", err)
	}
	if _, err := s.AppendAudit(context.Background(), rec("r1", "requested", 0)); err == nil {
		t.Errorf("AppendAudit through a read-only store succeeded")
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != old {
		t.Errorf("schema version after OpenReadOnly = %d, want %d: it must not migrate", version, old)
	}
}
