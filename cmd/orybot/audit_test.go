package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite" // the "sqlite" driver, for tampering with plain SQL

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

// Planted in requests' arguments and display fields, where a recovery link
// and a trait would be; neither may reach the audit trail.
const (
	plantedSecret = "PLANTEDrecoveryTOKEN"
	plantedTrait  = "planted.trait@example.com"
)

// auditDB makes a SQLite database whose audit trail has records of two
// requests spread over two days, and returns its path and the records.
func auditDB(t *testing.T) (string, []audit.Record) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "orybot.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	day1 := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	for _, at := range []time.Time{day1, day2} {
		req := &store.Request{
			Verb:       "recovery",
			IdentityID: "5b0d6c3e-1d7b-4c9a-9a57-0d1f0c6b2d11",
			Target:     store.Target{Identifier: "https://ory.example/recovery?token=" + plantedSecret},
			Snapshot:   store.Snapshot{Email: plantedTrait},
			Requester:  "U0REQUEST",
			Reason:     "locked out",
			CreatedAt:  at,
			ExpiresAt:  at.Add(time.Hour),
		}
		base := audit.Record{Verb: req.Verb, IdentityID: req.IdentityID, Requester: req.Requester, Reason: req.Reason}
		r := func(event audit.Event, d time.Duration) audit.Record {
			rec := base
			rec.RequestID, rec.Event, rec.Time = req.ID, event, at.Add(d)
			return rec
		}
		if err := st.Create(ctx, req, r(audit.Requested, 0)); err != nil {
			t.Fatal(err)
		}
		approved := r(audit.Approved, time.Minute)
		approved.Approver = "U0APPROVE"
		if _, err := st.Approve(ctx, req.ID, "U0APPROVE", 1, at.Add(time.Minute), approved); err != nil {
			t.Fatal(err)
		}
		step := r(audit.Step, 2*time.Minute)
		step.Result = "recovery link created, fingerprint sha256:0011223344556677"
		if _, err := st.AppendAudit(ctx, step); err != nil {
			t.Fatal(err)
		}
		if err := st.Finish(ctx, req.ID, store.StatusDone, "ok", at.Add(3*time.Minute), r(audit.Done, 3*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var recs []audit.Record
	if err := st.AuditRecords(ctx, time.Time{}, func(r audit.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 {
		t.Fatalf("%d records in the test database, want 8", len(recs))
	}
	return path, recs
}

// runAudit runs "orybot audit args..." on the database at path.
func runAudit(t *testing.T, path string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = auditCommand(t.Context(), args, func() string { return path }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// tamper runs a statement on the database at path with plain SQL.
func tamper(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), stmt); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerify(t *testing.T) {
	path, recs := auditDB(t)
	out, _, err := runAudit(t, path, "verify")
	if err != nil {
		t.Fatalf("verify of an untouched database: %v", err)
	}
	if want := "audit trail OK: 8 records; the last has hash " + recs[7].Hash + "\n"; out != want {
		t.Errorf("verify printed %q, want %q", out, want)
	}

	for _, tc := range []struct {
		name string
		stmt string
		want string
	}{
		{"changed", `UPDATE audit_log SET reason = 'x' WHERE seq = 3`, "audit record 3 does not match: hash mismatch"},
		{"deleted", `DELETE FROM audit_log WHERE seq = 5`, "audit record 5 does not match: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := auditDB(t)
			tamper(t, path, tc.stmt)
			out, _, err := runAudit(t, path, "verify")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("verify after %s: %v, want an error containing %q", tc.stmt, err, tc.want)
			}
			if strings.Contains(out, "OK") {
				t.Errorf("verify printed %q for a broken trail", out)
			}
		})
	}
}

func TestAuditVerifyEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orybot.db")
	st, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if out, _, err := runAudit(t, path, "verify"); err != nil || out != "audit trail OK: 0 records\n" {
		t.Errorf("verify of an empty trail = %q, %v", out, err)
	}
}

func TestAuditMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.db")
	for _, sub := range []string{"verify", "export"} {
		out, _, err := runAudit(t, path, sub)
		if err == nil || !strings.Contains(err.Error(), "no such database") {
			t.Errorf("%s of a missing database: %v, want it to say so", sub, err)
		}
		if out != "" {
			t.Errorf("%s of a missing database printed %q", sub, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a missing database was created: %v", entries)
	}
}

func TestAuditExport(t *testing.T) {
	path, recs := auditDB(t)
	for _, tc := range []struct {
		name  string
		since []string
		want  []audit.Record
	}{
		{"all", nil, recs},
		{"since a date", []string{"--since", "2026-11-21"}, recs[4:]},
		{"since a time", []string{"--since=2026-11-20T09:31:00Z"}, recs[1:]},
		{"since a time with offset", []string{"-since", "2026-11-21T10:32:00.5+01:00"}, recs[7:]},
		{"since later", []string{"--since", "2027-01-01"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := runAudit(t, path, append([]string{"export"}, tc.since...)...)
			if err != nil {
				t.Fatalf("export: %v (stderr %q)", err, stderr)
			}
			var got []audit.Record
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				var keys map[string]any
				if err := json.Unmarshal(sc.Bytes(), &keys); err != nil {
					t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
				}
				if len(keys) != 13 {
					t.Errorf("line has %d keys, want 13: %s", len(keys), sc.Text())
				}
				var r audit.Record
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			// What the export holds is exactly what was appended.
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("exported records (-want +got):\n%s", diff)
			}
			if tc.since == nil {
				if err := audit.Verify(got); err != nil {
					t.Errorf("the export does not verify on its own: %v", err)
				}
			}
			for _, planted := range []string{plantedSecret, plantedTrait} {
				if strings.Contains(out, planted) {
					t.Errorf("export holds %q", planted)
				}
			}
		})
	}
}

func TestAuditUsageErrors(t *testing.T) {
	path, _ := auditDB(t)
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for success
	}{
		{nil, "name a subcommand"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"help"}, ""},
		{[]string{"verify", "-h"}, ""},
		{[]string{"export", "--help"}, ""},
		{[]string{"verify", "extra"}, "unexpected arguments"},
		{[]string{"verify", "--since", "2026-11-20"}, "flag provided but not defined"},
		{[]string{"export", "--since"}, "flag needs an argument"},
		{[]string{"export", "--since", "yesterday"}, `--since "yesterday" is neither an RFC 3339 time`},
		{[]string{"export", "--since", "2026-11-20 09:30"}, "is neither an RFC 3339 time"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, stderr, err := runAudit(t, path, tc.args...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				if !strings.Contains(out+stderr, "usage") && !strings.Contains(out+stderr, "Usage") {
					t.Errorf("no usage printed: stdout %q, stderr %q", out, stderr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q to stdout on error", out)
			}
		})
	}
}

// The audit subcommands find the database through run's getenv, with the
// default from config when ORYBOT_DATABASE_URL is unset or blank, and need
// no other setting.
func TestAuditDatabaseFromEnvironment(t *testing.T) {
	path, _ := auditDB(t) // named orybot.db, the default
	const want = "audit trail OK: 8 records"
	for _, tt := range []struct {
		name string
		env  map[string]string
		dir  string // working directory
	}{
		{"set", map[string]string{"ORYBOT_DATABASE_URL": path}, t.TempDir()},
		{"unset", nil, filepath.Dir(path)},
		{"blank", map[string]string{"ORYBOT_DATABASE_URL": " "}, filepath.Dir(path)},
		{"other settings broken", map[string]string{"ORYBOT_DATABASE_URL": path, "ORYBOT_REQUEST_TTL": "soon"}, t.TempDir()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.dir)
			var out bytes.Buffer
			err := run(t.Context(), []string{"audit", "verify"}, func(key string) string { return tt.env[key] }, &out, &bytes.Buffer{})
			if err != nil || !strings.Contains(out.String(), want) {
				t.Errorf("orybot audit verify = %v, output %q; want it to say %q", err, out.String(), want)
			}
		})
	}
}
