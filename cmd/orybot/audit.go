package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

// auditUsage is the help text of "orybot audit".
const auditUsage = `usage:
  orybot audit verify                 check the audit trail's hash chain
  orybot audit export [--since TIME]  write the audit records to standard output as JSON lines

Both read the database named by ORYBOT_DATABASE_URL (default orybot.db) and
need no other setting. TIME is RFC 3339 (2026-11-20T09:30:00Z) or a date
(2026-11-20, midnight UTC).`

// auditCommand runs "orybot audit SUBCOMMAND ...", where args are the words
// after "audit". getDatabaseURL returns ORYBOT_DATABASE_URL, read only when
// a subcommand needs it. A broken audit trail is an error that names the
// first record that does not match.
func auditCommand(ctx context.Context, args []string, getDatabaseURL func() string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, auditUsage)
		return errors.New("audit: name a subcommand, verify or export")
	}
	var err error
	switch args[0] {
	case "verify":
		err = auditVerify(ctx, args[1:], getDatabaseURL, stdout, stderr)
	case "export":
		err = auditExport(ctx, args[1:], getDatabaseURL, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, auditUsage)
	default:
		fmt.Fprintln(stderr, auditUsage)
		err = fmt.Errorf("audit: unknown subcommand %q; want verify or export", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h printed the usage; that is success
	}
	return err
}

// auditVerify checks the whole trail and prints how many records it has and
// the hash of the last, which should match the last post in the audit
// channel: the channel is what shows a trail rewritten with fresh hashes.
func auditVerify(ctx context.Context, args []string, getDatabaseURL func() string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orybot audit verify", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	st, err := openAuditStore(ctx, getDatabaseURL())
	if err != nil {
		return err
	}
	defer st.Close()
	last, err := st.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if last.Seq == 0 {
		fmt.Fprintln(stdout, "audit trail OK: 0 records")
		return nil
	}
	fmt.Fprintf(stdout, "audit trail OK: %d records; the last has hash %s\n", last.Seq, last.Hash)
	return nil
}

// auditExport writes the records, oldest first, as JSON lines (see
// audit.WriteJSONL) for a SIEM.
func auditExport(ctx context.Context, args []string, getDatabaseURL func() string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orybot audit export", flag.ContinueOnError)
	sinceFlag := fs.String("since", "", "export only records at or after `TIME`: RFC 3339 or a date (YYYY-MM-DD, UTC)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	var since time.Time
	if *sinceFlag != "" {
		var err error
		if since, err = parseSince(*sinceFlag); err != nil {
			return err
		}
	}
	st, err := openAuditStore(ctx, getDatabaseURL())
	if err != nil {
		return err
	}
	defer st.Close()
	w := bufio.NewWriter(stdout)
	err = st.AuditRecords(ctx, since, func(r audit.Record) error {
		return audit.WriteJSONL(w, r)
	})
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	return nil
}

// parseFlags parses args into fs, which reports to stderr, and refuses
// arguments that are not flags. After -h it returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

// parseSince reads the --since time: RFC 3339, with or without fractional
// seconds, or a date, taken as midnight UTC.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("audit export: --since %q is neither an RFC 3339 time (2026-11-20T09:30:00Z) nor a date (2026-11-20)", s)
}

// openAuditStore opens the existing database, read-only: a new, empty one
// would pass verification, and checking the trail must not change it (not
// even by migrating it).
func openAuditStore(ctx context.Context, databaseURL string) (*store.Store, error) {
	st, err := store.OpenReadOnly(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open ORYBOT_DATABASE_URL: %w", err)
	}
	return st, nil
}
