package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteSettings are applied on every new connection unless the URL sets
// them itself. busy_timeout makes a connection wait up to 5s for a lock held
// by another connection or replica instead of failing at once with
// SQLITE_BUSY, so concurrent clicks queue up; modernc.org/sqlite applies it
// before the other pragmas, which may need a lock too. WAL lets readers go
// on while one writer writes. SQLite leaves foreign keys off unless asked.
func sqliteSettings() []sqliteSetting {
	return []sqliteSetting{
		{pragma: "busy_timeout", value: "5000", keys: []string{"_busy_timeout", "_timeout"}},
		{pragma: "journal_mode", value: "WAL", keys: []string{"_journal_mode", "_journal"}},
		{pragma: "foreign_keys", value: "1", keys: []string{"_foreign_keys", "_fk"}},
	}
}

// sqliteSetting is a PRAGMA and the modernc.org/sqlite DSN keys that set it.
type sqliteSetting struct {
	pragma string
	value  string
	keys   []string // shorthand keys for the same PRAGMA
}

// sqliteParams returns the DSN query for params (a query string, possibly
// empty) with sqliteSettings added where params does not set them already.
// params itself is kept as written, since SQLite reads its own URI
// parameters from it.
func sqliteParams(params string) (string, error) {
	q, err := url.ParseQuery(params)
	if err != nil {
		return "", fmt.Errorf("database URL parameters: %w", err)
	}
	var add []string
	for _, st := range sqliteSettings() {
		if !setsPragma(q, st) {
			add = append(add, "_pragma="+st.pragma+"("+st.value+")")
		}
	}
	if params != "" {
		add = append(add, params)
	}
	return strings.Join(add, "&"), nil
}

// setsPragma reports whether q sets the PRAGMA of st, with _pragma or with
// a shorthand key.
func setsPragma(q url.Values, st sqliteSetting) bool {
	for _, k := range st.keys {
		if q.Has(k) {
			return true
		}
	}
	for _, v := range q["_pragma"] {
		v = strings.ToLower(strings.TrimSpace(v))
		if strings.HasPrefix(v, st.pragma) {
			return true
		}
	}
	return false
}

// sqlitePathDSN returns the DSN for the SQLite file at path, and the path.
func sqlitePathDSN(path string) (dsn, name string, err error) {
	if path == "" {
		// The default lives in the config package, with every other one.
		return "", "", errors.New("no database named; set ORYBOT_DATABASE_URL")
	}
	if strings.Contains(path, "?") {
		return "", "", errors.New("a database path cannot have parameters; use file:PATH?PARAMS for those")
	}
	// database/sql opens several connections, and each connection to
	// ":memory:" would get a database of its own, without the schema.
	if path == ":memory:" {
		return "", "", errors.New("in-memory SQLite databases are not supported; use a file")
	}
	// Spell the path as a SQLite URI: '%' and '#' mean something there, and
	// a leading "//" would be taken for an authority unless one comes first.
	uriPath := strings.NewReplacer("%", "%25", "#", "%23").Replace(path)
	if strings.HasPrefix(uriPath, "/") {
		uriPath = "//" + uriPath
	}
	params, err := sqliteParams("")
	if err != nil {
		return "", "", err
	}
	return "file:" + uriPath + "?" + params, path, nil
}

// isSQLiteUniqueViolation reports whether err is SQLite refusing a row
// whose primary key or unique column is taken.
func isSQLiteUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// isCantOpen reports whether err is SQLite failing to open the database
// file, for instance because it does not exist and may not be created.
func isCantOpen(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CANTOPEN
}

// withoutPragma returns dsn without the _pragma parameters that set pragma.
func withoutPragma(dsn, pragma string) (string, error) {
	base, params, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(params)
	if err != nil {
		return "", fmt.Errorf("database URL parameters: %w", err)
	}
	var keep []string
	for _, v := range q["_pragma"] {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), pragma) {
			keep = append(keep, v)
		}
	}
	q["_pragma"] = keep
	return base + "?" + q.Encode(), nil
}
