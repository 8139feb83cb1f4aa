package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckSchemaSQLite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "orybot.db")

	// A database that does not exist is not created.
	if _, _, err := CheckSchema(t.Context(), path); err == nil {
		t.Error("CheckSchema of a missing file succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckSchema created the file (stat: %v)", err)
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	have, want, err := CheckSchema(t.Context(), path)
	if err != nil || have != want || want != len(migrations()) {
		t.Errorf("CheckSchema = %d, %d, %v; want %d, %d, nil", have, want, err, len(migrations()), len(migrations()))
	}

	// An older schema shows as behind, and is left as it is.
	rw, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	older := len(migrations()) - 1
	if _, err := rw.db.ExecContext(t.Context(), `UPDATE schema_version SET version = $1`, older); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	if have, _, err := CheckSchema(t.Context(), path); err != nil || have != older {
		t.Errorf("CheckSchema of a version %d schema = %d, %v; want %[1]d", older, have, err)
	}
	if have, _, _ := CheckSchema(t.Context(), path); have != older {
		t.Errorf("CheckSchema migrated the database to %d", have)
	}

	// A file that is not orybot's says so.
	other := filepath.Join(dir, "other.db")
	o, err := Open(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.db.ExecContext(t.Context(), `DROP TABLE schema_version`); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if _, _, err := CheckSchema(t.Context(), other); !errors.Is(err, ErrNoSchema) {
		t.Errorf("CheckSchema of a database without schema_version = %v, want ErrNoSchema", err)
	}
}
