package store

// The audit trail's part of the contract, run by testStore and
// testSharedDatabase.

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/orybot/orybot/audit"
)

// rec returns an audit record of event for request id, at t0 plus d.
func rec(id string, event audit.Event, d time.Duration) audit.Record {
	return audit.Record{
		Time:       t0().Add(d),
		RequestID:  id,
		Event:      event,
		Verb:       "deactivate",
		IdentityID: "5b0d6c3e-1d7b-4c9a-9a57-0d1f0c6b2d11",
		Requester:  "U0REQUEST",
		Reason:     "left the company",
	}
}

// allAudit returns every audit record of s, oldest first.
func allAudit(t *testing.T, s *Store) []audit.Record {
	t.Helper()
	var rs []audit.Record
	if err := s.AuditRecords(t.Context(), time.Time{}, func(r audit.Record) error {
		rs = append(rs, r)
		return nil
	}); err != nil {
		t.Fatalf("AuditRecords: %v", err)
	}
	return rs
}

// mustVerify fails the test unless the audit trail of s is whole and has n
// records.
func mustVerify(t *testing.T, s *Store, n int64) {
	t.Helper()
	last, err := s.VerifyAudit(t.Context())
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	if last.Seq != n {
		t.Fatalf("VerifyAudit: last record %d, want %d", last.Seq, n)
	}
}

// events returns the events of rs, in order.
func events(rs []audit.Record) []audit.Event {
	var es []audit.Event
	for _, r := range rs {
		es = append(es, r.Event)
	}
	return es
}

func testAuditLifecycle(t *testing.T, s *Store) {
	ctx := t.Context()
	// Secrets and traits in a request never reach the trail: the store
	// copies nothing from a request into its records.
	req := newRequest(t0())
	req.Target.Identifier = "https://ory.example/recovery?token=PLANTEDtoken"
	req.Snapshot.Email = "planted.trait@example.com"

	requested := rec("", audit.Requested, 0)
	requested.Subject = "totp"
	if err := s.Create(ctx, req, requested); err != nil {
		t.Fatalf("Create: %v", err)
	}
	approved := rec(req.ID, audit.Approved, time.Minute)
	approved.Approver = "U0APPROVE"
	if _, err := s.Approve(ctx, req.ID, "U0APPROVE", 1, t0().Add(time.Minute), approved); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	step := rec(req.ID, audit.Step, 2*time.Minute)
	step.Subject, step.Result = "session s-1", "revoked"
	appended, err := s.AppendAudit(ctx, step)
	if err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	done := rec(req.ID, audit.Done, 3*time.Minute)
	done.Result = "fingerprint sha256:0011223344556677"
	if err := s.Finish(ctx, req.ID, StatusDone, "ok", t0().Add(3*time.Minute), done); err != nil {
		t.Fatalf("Finish: %v", err)
	}

	got := allAudit(t, s)
	requested.RequestID = req.ID // filled in by Create
	want := []audit.Record{requested, approved, step, done}
	prev := ""
	for i := range want {
		want[i] = want[i].Seal(int64(i+1), prev)
		prev = want[i].Hash
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[2:3], appended); diff != "" {
		t.Errorf("AppendAudit returned (-want +got):\n%s", diff)
	}
	mustVerify(t, s, 4)

	// Every column of every row, as text.
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := fmt.Sprint(vals...)
		for _, secret := range []string{"PLANTED", "planted.trait", "a***@example.com"} {
			if strings.Contains(row, secret) {
				t.Errorf("audit_log row %s holds %q", row, secret)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func testAuditOnlyOnChange(t *testing.T, newStore func(t *testing.T) *Store) {
	late := t0().Add(2 * time.Hour)
	r := func() audit.Record { return rec("x", audit.Failed, 0) }
	for _, tc := range []struct {
		name string
		// change makes a transition the test wants, and then one that does
		// not happen, both with a record.
		change     func(t *testing.T, s *Store, id string) error
		wantEvents []audit.Event
	}{
		{
			"decided twice",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Approve(t.Context(), id, "U1", 1, t0(), rec(id, audit.Approved, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Deny(t.Context(), id, "U2", "", t0(), r())
				return err
			},
			[]audit.Event{audit.Approved},
		},
		{
			"expired before its time",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Expire(t.Context(), id, t0(), r())
				return err
			},
			nil,
		},
		{
			"expired twice",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Expire(t.Context(), id, late, rec(id, audit.Expired, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Expire(t.Context(), id, late, r())
				return err
			},
			[]audit.Event{audit.Expired},
		},
		{
			"finished while pending",
			func(t *testing.T, s *Store, id string) error {
				return s.Finish(t.Context(), id, StatusDone, "ok", t0(), r())
			},
			nil,
		},
		{
			"finished twice",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Approve(t.Context(), id, "U1", 1, t0()); err != nil {
					t.Fatal(err)
				}
				if err := s.Finish(t.Context(), id, StatusDone, "ok", t0(), rec(id, audit.Done, 0)); err != nil {
					t.Fatal(err)
				}
				return s.Finish(t.Context(), id, StatusFailed, "no", t0(), r())
			},
			[]audit.Event{audit.Done},
		},
		{
			"approved twice by one approver",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Approve(t.Context(), id, "U1", 2, t0(), rec(id, audit.Approved, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Approve(t.Context(), id, "U1", 2, t0(), r())
				return err
			},
			[]audit.Event{audit.Approved},
		},
		{
			"approved after the last approval",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Approve(t.Context(), id, "U1", 1, t0(), rec(id, audit.Approved, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Approve(t.Context(), id, "U2", 1, t0(), r())
				return err
			},
			[]audit.Event{audit.Approved},
		},
		{
			"approved after expiry",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Approve(t.Context(), id, "U1", 1, late, r())
				return err
			},
			nil,
		},
		{
			"approved with none required",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Approve(t.Context(), id, "U1", 0, t0(), r())
				return err
			},
			nil,
		},
		{
			"denied twice",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Deny(t.Context(), id, "U1", "no", t0(), rec(id, audit.Denied, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Deny(t.Context(), id, "U2", "no", t0(), r())
				return err
			},
			[]audit.Event{audit.Denied},
		},
		{
			"denied after expiry",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Deny(t.Context(), id, "U1", "no", late, r())
				return err
			},
			nil,
		},
		{
			"cancelled by someone else",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Cancel(t.Context(), id, "U1", t0(), r())
				return err
			},
			nil,
		},
		{
			"cancelled twice",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Cancel(t.Context(), id, "U0REQUEST", t0(), rec(id, audit.Cancelled, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Cancel(t.Context(), id, "U0REQUEST", t0(), r())
				return err
			},
			[]audit.Event{audit.Cancelled},
		},
		{
			"cancelled after expiry",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Cancel(t.Context(), id, "U0REQUEST", late, r())
				return err
			},
			nil,
		},
		{
			"finished stale twice",
			func(t *testing.T, s *Store, id string) error {
				if _, err := s.Approve(t.Context(), id, "U1", 1, t0()); err != nil {
					t.Fatal(err)
				}
				if err := s.Finish(t.Context(), id, StatusStale, "changed", t0(), rec(id, audit.Stale, 0)); err != nil {
					t.Fatal(err)
				}
				return s.Finish(t.Context(), id, StatusStale, "changed", t0(), r())
			},
			[]audit.Event{audit.Stale},
		},
		{
			"missing request",
			func(t *testing.T, s *Store, id string) error {
				_, err := s.Approve(t.Context(), "nosuchid00", "U1", 1, t0(), r())
				return err
			},
			nil,
		},
		{
			"duplicate create",
			func(t *testing.T, s *Store, id string) error {
				again := newRequest(t0())
				again.ID = id
				return s.Create(t.Context(), again, r())
			},
			nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			id := mustCreate(t, s, newRequest(t0())).ID
			if err := tc.change(t, s, id); err == nil {
				t.Fatal("the second transition succeeded, want an error")
			}
			if diff := cmp.Diff(tc.wantEvents, events(allAudit(t, s))); diff != "" {
				t.Errorf("audit events (-want +got):\n%s", diff)
			}
			mustVerify(t, s, int64(len(tc.wantEvents)))
		})
	}

	// A record that cannot be appended undoes the change it describes.
	t.Run("append fails", func(t *testing.T) {
		s := newStore(t)
		id := mustCreate(t, s, newRequest(t0())).ID
		if _, err := s.db.ExecContext(t.Context(), `DELETE FROM audit_head`); err != nil {
			t.Fatal(err)
		}
		_, err := s.Approve(t.Context(), id, "U1", 1, t0(), rec(id, audit.Approved, 0))
		if err == nil || errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
			t.Fatalf("Approve with a broken audit trail: %v, want a plain error", err)
		}
		if got := mustGet(t, s, id); got.Status != StatusPending {
			t.Errorf("status = %s after a failed append, want pending", got.Status)
		}
		if len(allAudit(t, s)) != 0 {
			t.Error("a record was appended")
		}
	})
}

// testAuditConcurrent appends 100 records from goroutines spread over
// stores, half with AppendAudit and half with a transition, and checks that
// they form one chain with the records there before.
func testAuditConcurrent(t *testing.T, stores []*Store) {
	const n = 100
	before := len(allAudit(t, stores[0]))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = mustCreate(t, stores[0], newRequest(t0())).ID
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			s := stores[i%len(stores)]
			r := rec(ids[i], audit.Approved, time.Duration(i))
			<-start
			if i%4 < 2 {
				_, errs[i] = s.AppendAudit(t.Context(), r)
			} else {
				_, errs[i] = s.Approve(t.Context(), ids[i], "U0APPROVE", 1, t0(), r)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("append #%d: %v", i, err)
		}
	}
	rs := allAudit(t, stores[len(stores)-1])
	if len(rs) != before+n {
		t.Fatalf("%d records, want %d", len(rs), before+n)
	}
	seen := make(map[string]bool)
	for i, r := range rs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i+1, r.Seq)
		}
		seen[r.RequestID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("no record of request %s", id)
		}
	}
	for _, s := range stores {
		mustVerify(t, s, int64(before+n))
	}
}

// testAuditDelivery checks the delivery loop's side, across a restart:
// open must return a new Store on the same database each time. Records
// there before are delivered first.
func testAuditDelivery(t *testing.T, open func(t *testing.T) *Store) {
	ctx := t.Context()
	s := open(t)
	for {
		rs, err := s.Undelivered(ctx, 100)
		if err != nil {
			t.Fatalf("Undelivered: %v", err)
		}
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			if err := s.MarkDelivered(ctx, r.Seq, t0()); err != nil {
				t.Fatalf("MarkDelivered(%d): %v", r.Seq, err)
			}
		}
	}
	last, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	base := last.Seq
	var recs []audit.Record
	for i := range 5 {
		recs = append(recs, rec(fmt.Sprintf("req%07d", i), audit.Requested, time.Duration(i)*time.Second))
	}
	if _, err := s.AppendAudit(ctx, recs...); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	seqs := func(rs []audit.Record, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatalf("Undelivered: %v", err)
		}
		var out []int64
		for _, r := range rs {
			out = append(out, r.Seq-base)
		}
		return out
	}
	if diff := cmp.Diff([]int64{1, 2, 3}, seqs(s.Undelivered(ctx, 3))); diff != "" {
		t.Errorf("Undelivered (-want +got):\n%s", diff)
	}
	for _, seq := range []int64{1, 2, 4} {
		if err := s.MarkDelivered(ctx, base+seq, t0()); err != nil {
			t.Fatalf("MarkDelivered(%d): %v", seq, err)
		}
	}
	if err := s.MarkDelivered(ctx, base+2, t0()); !errors.Is(err, ErrDelivered) {
		t.Errorf("MarkDelivered twice: %v, want ErrDelivered", err)
	}
	if err := s.MarkDelivered(ctx, base+99, t0()); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkDelivered of a missing record: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart, delivery goes on where it stopped.
	s = open(t)
	if diff := cmp.Diff([]int64{3, 5}, seqs(s.Undelivered(ctx, 10))); diff != "" {
		t.Errorf("after reopening, Undelivered (-want +got):\n%s", diff)
	}
	// Delivery marks are outside the chain.
	mustVerify(t, s, base+5)
	// And the chain goes on across the restart.
	if _, err := s.AppendAudit(ctx, rec("after", audit.Done, time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s, base+6)
	if diff := cmp.Diff([]int64{3, 5, 6}, seqs(s.Undelivered(ctx, 10))); diff != "" {
		t.Errorf("Undelivered (-want +got):\n%s", diff)
	}
}

func testAuditSince(t *testing.T, s *Store) {
	ctx := t.Context()
	if _, err := s.AppendAudit(ctx, rec("a", audit.Requested, 0), rec("b", audit.Requested, time.Hour),
		rec("c", audit.Requested, 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	since := func(tm time.Time) []string {
		var ids []string
		if err := s.AuditRecords(ctx, tm, func(r audit.Record) error {
			ids = append(ids, r.RequestID)
			return nil
		}); err != nil {
			t.Fatalf("AuditRecords: %v", err)
		}
		return ids
	}
	for _, tc := range []struct {
		since time.Time
		want  []string
	}{
		{time.Time{}, []string{"a", "b", "c"}},
		{t0().Add(time.Hour), []string{"b", "c"}},
		{t0().Add(time.Hour + 1), []string{"c"}},
		{t0().Add(3 * time.Hour), nil},
	} {
		if diff := cmp.Diff(tc.want, since(tc.since)); diff != "" {
			t.Errorf("since %v (-want +got):\n%s", tc.since, diff)
		}
	}

	stop := errors.New("stop")
	calls := 0
	err := s.AuditRecords(ctx, time.Time{}, func(audit.Record) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("AuditRecords with a failing fn: %v after %d calls, want stop after 1", err, calls)
	}
}

func testAuditTamper(t *testing.T, newStore func(t *testing.T) *Store) {
	for _, tc := range []struct {
		name    string
		sql     string
		wantSeq int64  // 0: the trail still verifies
		want    string // in the error
	}{
		{"reason", `UPDATE audit_log SET reason = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"time", `UPDATE audit_log SET occurred_at = occurred_at + 1 WHERE seq = 3`, 3, "hash mismatch"},
		{"request id", `UPDATE audit_log SET request_id = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"event", `UPDATE audit_log SET event = 'denied' WHERE seq = 3`, 3, "hash mismatch"},
		{"verb", `UPDATE audit_log SET verb = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"identity id", `UPDATE audit_log SET identity_id = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"subject", `UPDATE audit_log SET subject = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"requester", `UPDATE audit_log SET requester = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"approver", `UPDATE audit_log SET approver = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"result", `UPDATE audit_log SET result = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"prev hash", `UPDATE audit_log SET prev_hash = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"hash", `UPDATE audit_log SET hash = 'x' WHERE seq = 3`, 3, "hash mismatch"},
		{"delete middle", `DELETE FROM audit_log WHERE seq = 3`, 3, "missing (record 2 is followed by 4)"},
		{"delete first", `DELETE FROM audit_log WHERE seq = 1`, 1, "missing (the trail starts at record 2)"},
		{"delete end", `DELETE FROM audit_log WHERE seq >= 4`, 4, "missing (the trail ends at record 3, but 5 were written)"},
		{"head hash", `UPDATE audit_head SET hash = 'x'`, 5, "hash mismatch"},
		{"delivered", `UPDATE audit_log SET delivered_at = 1`, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			var recs []audit.Record
			for i := range 5 {
				recs = append(recs, rec(fmt.Sprintf("req%07d", i), audit.Requested, time.Duration(i)))
			}
			if _, err := s.AppendAudit(t.Context(), recs...); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, s, 5)
			if _, err := s.db.ExecContext(t.Context(), tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err := s.VerifyAudit(t.Context())
			if tc.wantSeq == 0 {
				if err != nil {
					t.Fatalf("VerifyAudit: %v, want no error", err)
				}
				return
			}
			var ce *audit.ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("VerifyAudit: %v, want a *audit.ChainError", err)
			}
			if ce.Seq != tc.wantSeq || !strings.Contains(ce.Problem, tc.want) {
				t.Errorf("VerifyAudit: %v; want record %d, %q", err, tc.wantSeq, tc.want)
			}
		})
	}
}
