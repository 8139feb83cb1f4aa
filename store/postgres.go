package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres is open for a postgres:// or postgresql:// URL. Unlike
// SQLite, PostgreSQL never creates a database on connecting; OpenExisting
// (create false) also refuses a database without orybot's tables, which
// would otherwise pass for a clean one.
func openPostgres(ctx context.Context, databaseURL string, mode openMode) (*Store, error) {
	cfg, name, redact, err := postgresConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if mode == readOnly {
		// Every transaction of every connection is read-only.
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	// Several replicas share the server's max_connections (100 by default);
	// the bot needs few at a time, since each Store queues its writes.
	db.SetMaxOpenConns(10)
	fail := func(err error) (*Store, error) {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", name, redact(err))
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	if mode != create {
		var exists bool
		err := db.QueryRowContext(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists)
		if err != nil {
			return fail(err)
		}
		if !exists {
			return fail(fmt.Errorf("%w; check the URL", ErrNoSchema))
		}
	}
	if mode == readOnly {
		err = checkSchema(ctx, db)
	} else {
		err = migrate(ctx, db, postgresBackend)
	}
	if err != nil {
		return fail(err)
	}
	return newStore(db, postgresBackend, ""), nil
}

// postgresConfig parses a PostgreSQL URL into pgx's configuration. It also
// returns the URL's printable name (without password or query, which can
// hold one too) and a function that removes the URL's passwords from error
// messages. pgx keeps passwords out of its own messages as far as it can
// tell them apart; redact covers what it might miss.
func postgresConfig(databaseURL string) (cfg *pgx.ConnConfig, name string, redact func(error) error, err error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Parse's message repeats the URL, and a password holding a
		// '/' or '#' cuts it in the wrong place, so say nothing of it.
		return nil, "", nil, errors.New("the PostgreSQL URL cannot be parsed; percent-encode special characters in the user name and password")
	}
	redact = func(err error) error { return redactError(err, urlSecrets(databaseURL, u)) }

	printable := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if user := u.User.Username(); user != "" {
		printable.User = url.User(user)
	}
	name = printable.String()

	// pgx takes only a lower-case scheme for a URL.
	scheme, rest := splitScheme(databaseURL)
	cfg, err = pgx.ParseConfig(strings.ToLower(scheme) + ":" + rest)
	if err != nil {
		return nil, "", nil, fmt.Errorf("PostgreSQL URL %s: %w", name, redact(err))
	}
	// Lets a DBA tell orybot's connections apart in pg_stat_activity.
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "orybot"
	}
	return cfg, name, redact, nil
}

// urlSecrets returns the passwords in databaseURL, which parses as u: the
// one after the user name and those of the query parameters password and
// sslpassword, each both as typed and decoded.
func urlSecrets(databaseURL string, u *url.URL) []string {
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	// As typed: url.Parse ends the authority at the first '/', '?' or '#'
	// and the user information at the authority's last '@'.
	if _, rest, ok := strings.Cut(databaseURL, "://"); ok {
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			if _, p, ok := strings.Cut(rest[:i], ":"); ok {
				secrets = append(secrets, p)
			}
		}
	}
	for k, vs := range u.Query() {
		if k := strings.ToLower(k); k == "password" || k == "sslpassword" {
			secrets = append(secrets, vs...)
		}
	}
	for kv := range strings.SplitSeq(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k := strings.ToLower(k); k == "password" || k == "sslpassword" {
			secrets = append(secrets, v)
		}
	}
	return secrets
}

// redactError returns err with every non-empty secret in its message
// replaced by xxxxx; errors.Is and errors.As still see err.
func redactError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError is an error whose message lost its passwords.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// isPostgresUniqueViolation reports whether err is PostgreSQL refusing a row
// whose primary key or unique column is taken (SQLSTATE 23505).
func isPostgresUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
