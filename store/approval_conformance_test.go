package store

// The approval policy's part of the contract (Approve, Deny, Cancel,
// Pending), run by testStore and testSharedDatabase.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/orybot/orybot/audit"
)

// requester is who asks for newRequest's requests.
const requester = "U0REQUEST"

// setupStep brings request id to a state a test needs, through the store's
// own methods, and fails the test if it cannot.
type setupStep func(t *testing.T, s *Store, id string)

func approvedBy(approver string, required int, at time.Time) setupStep {
	return func(t *testing.T, s *Store, id string) {
		t.Helper()
		if _, err := s.Approve(t.Context(), id, approver, required, at); err != nil {
			t.Fatalf("Approve by %s: %v", approver, err)
		}
	}
}

func deniedBy(approver, reason string, at time.Time) setupStep {
	return func(t *testing.T, s *Store, id string) {
		t.Helper()
		if _, err := s.Deny(t.Context(), id, approver, reason, at); err != nil {
			t.Fatalf("Deny by %s: %v", approver, err)
		}
	}
}

func cancelledAt(at time.Time) setupStep {
	return func(t *testing.T, s *Store, id string) {
		t.Helper()
		if _, err := s.Cancel(t.Context(), id, requester, at); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
}

func testTransitions(t *testing.T, newStore func(t *testing.T) *Store) {
	now := t0().Add(time.Minute) // the requests below expire at t0 + 1h
	later := now.Add(time.Minute)
	late := t0().Add(2 * time.Hour)
	approve := func(approver string, required int, at time.Time) func(context.Context, *Store, string) (*Request, error) {
		return func(ctx context.Context, s *Store, id string) (*Request, error) {
			return s.Approve(ctx, id, approver, required, at)
		}
	}
	deny := func(approver, reason string, at time.Time) func(context.Context, *Store, string) (*Request, error) {
		return func(ctx context.Context, s *Store, id string) (*Request, error) {
			return s.Deny(ctx, id, approver, reason, at)
		}
	}
	cancel := func(who string, at time.Time) func(context.Context, *Store, string) (*Request, error) {
		return func(ctx context.Context, s *Store, id string) (*Request, error) {
			return s.Cancel(ctx, id, who, at)
		}
	}

	for _, tc := range []struct {
		name    string
		setup   []setupStep
		missing bool // act on an id that does not exist
		act     func(ctx context.Context, s *Store, id string) (*Request, error)
		wantErr error // nil, a sentinel, or errAny
		// The request as returned and as stored; ignored when the request
		// is missing.
		wantStatus    Status
		wantApprover  string
		wantReason    string // DecisionReason
		wantApprovals []Approval
		wantDecidedAt time.Time
	}{
		// Approve.
		{
			name:          "approve one of one",
			act:           approve("U1", 1, now),
			wantStatus:    StatusApproved,
			wantApprover:  "U1",
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: now,
		},
		{
			name:          "approve first of two",
			act:           approve("U1", 2, now),
			wantStatus:    StatusPending,
			wantApprovals: []Approval{{"U1", now}},
		},
		{
			name:          "approve second of two",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           approve("U2", 2, later),
			wantStatus:    StatusApproved,
			wantApprover:  "U2",
			wantApprovals: []Approval{{"U1", now}, {"U2", later}},
			wantDecidedAt: later,
		},
		{
			name:          "approve second of three",
			setup:         []setupStep{approvedBy("U1", 3, now)},
			act:           approve("U2", 3, later),
			wantStatus:    StatusPending,
			wantApprovals: []Approval{{"U1", now}, {"U2", later}},
		},
		{
			// Approvals are listed in the order they counted, not by time:
			// replicas' clocks may disagree.
			name:          "approve with an earlier clock",
			setup:         []setupStep{approvedBy("U1", 2, later)},
			act:           approve("U2", 2, now),
			wantStatus:    StatusApproved,
			wantApprover:  "U2",
			wantApprovals: []Approval{{"U1", later}, {"U2", now}},
			wantDecidedAt: now,
		},
		{
			name:          "approve twice by one approver",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           approve("U1", 2, later),
			wantErr:       ErrAlreadyApproved,
			wantStatus:    StatusPending,
			wantApprovals: []Approval{{"U1", now}},
		},
		{
			name:          "approve again by the last approver",
			setup:         []setupStep{approvedBy("U1", 1, now)},
			act:           approve("U1", 1, later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusApproved,
			wantApprover:  "U1",
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: now,
		},
		{
			name:          "approve after approved",
			setup:         []setupStep{approvedBy("U1", 2, now), approvedBy("U2", 2, now)},
			act:           approve("U3", 2, later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusApproved,
			wantApprover:  "U2",
			wantApprovals: []Approval{{"U1", now}, {"U2", now}},
			wantDecidedAt: now,
		},
		{
			name:          "approve after denied",
			setup:         []setupStep{deniedBy("U1", "no ticket", now)},
			act:           approve("U2", 1, later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusDenied,
			wantApprover:  "U1",
			wantReason:    "no ticket",
			wantDecidedAt: now,
		},
		{
			name:          "approve after cancelled",
			setup:         []setupStep{cancelledAt(now)},
			act:           approve("U2", 1, later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusCancelled,
			wantDecidedAt: now,
		},
		{
			name:       "approve after expiry",
			act:        approve("U1", 1, late),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:       "approve at expiry",
			act:        approve("U1", 1, t0().Add(time.Hour)),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:          "approve one nanosecond before expiry",
			act:           approve("U1", 1, t0().Add(time.Hour-time.Nanosecond)),
			wantStatus:    StatusApproved,
			wantApprover:  "U1",
			wantApprovals: []Approval{{"U1", t0().Add(time.Hour - time.Nanosecond)}},
			wantDecidedAt: t0().Add(time.Hour - time.Nanosecond),
		},
		{
			name:          "approve the second of two after expiry",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           approve("U2", 2, late),
			wantErr:       ErrExpired,
			wantStatus:    StatusPending,
			wantApprovals: []Approval{{"U1", now}},
		},
		{
			name:       "approve with none required",
			act:        approve("U1", 0, now),
			wantErr:    errAny,
			wantStatus: StatusPending,
		},
		{
			name:    "approve missing",
			missing: true,
			act:     approve("U1", 1, now),
			wantErr: ErrNotFound,
		},

		// Deny.
		{
			name:          "deny with a reason",
			act:           deny("U1", "no ticket — ask in #it-help", now),
			wantStatus:    StatusDenied,
			wantApprover:  "U1",
			wantReason:    "no ticket — ask in #it-help",
			wantDecidedAt: now,
		},
		{
			name:          "deny without a reason",
			act:           deny("U1", "", now),
			wantStatus:    StatusDenied,
			wantApprover:  "U1",
			wantDecidedAt: now,
		},
		{
			name:          "deny after one approval of two",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           deny("U2", "no", later),
			wantStatus:    StatusDenied,
			wantApprover:  "U2",
			wantReason:    "no",
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: later,
		},
		{
			name:          "deny after approved",
			setup:         []setupStep{approvedBy("U1", 1, now)},
			act:           deny("U2", "no", later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusApproved,
			wantApprover:  "U1",
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: now,
		},
		{
			name:          "deny twice",
			setup:         []setupStep{deniedBy("U1", "first", now)},
			act:           deny("U2", "second", later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusDenied,
			wantApprover:  "U1",
			wantReason:    "first",
			wantDecidedAt: now,
		},
		{
			name:       "deny after expiry",
			act:        deny("U1", "no", late),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:    "deny missing",
			missing: true,
			act:     deny("U1", "no", now),
			wantErr: ErrNotFound,
		},

		// Cancel.
		{
			name:          "cancel",
			act:           cancel(requester, now),
			wantStatus:    StatusCancelled,
			wantDecidedAt: now,
		},
		{
			name:          "cancel after one approval of two",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           cancel(requester, later),
			wantStatus:    StatusCancelled,
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: later,
		},
		{
			name:       "cancel by someone else",
			act:        cancel("U1", now),
			wantErr:    ErrNotRequester,
			wantStatus: StatusPending,
		},
		{
			// Who may cancel is checked before the status.
			name:          "cancel by someone else after approved",
			setup:         []setupStep{approvedBy("U1", 1, now)},
			act:           cancel("U2", later),
			wantErr:       ErrNotRequester,
			wantStatus:    StatusApproved,
			wantApprover:  "U1",
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: now,
		},
		{
			name:          "cancel after approved",
			setup:         []setupStep{approvedBy("U1", 1, now)},
			act:           cancel(requester, later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusApproved,
			wantApprover:  "U1",
			wantApprovals: []Approval{{"U1", now}},
			wantDecidedAt: now,
		},
		{
			name:          "cancel twice",
			setup:         []setupStep{cancelledAt(now)},
			act:           cancel(requester, later),
			wantErr:       ErrNotPending,
			wantStatus:    StatusCancelled,
			wantDecidedAt: now,
		},
		{
			name:       "cancel after expiry",
			act:        cancel(requester, late),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:    "cancel missing",
			missing: true,
			act:     cancel(requester, now),
			wantErr: ErrNotFound,
		},

		// A one-click approval (one required) of a request that already
		// has approvals counts them, and each approver once.
		{
			// The approval stands and is not counted again, so the request
			// stays pending however few approvals the click needs.
			name:          "approve one required after own approval",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           approve("U1", 1, later),
			wantErr:       ErrAlreadyApproved,
			wantStatus:    StatusPending,
			wantApprovals: []Approval{{"U1", now}},
		},
		{
			name:          "approve one required after another approval",
			setup:         []setupStep{approvedBy("U1", 2, now)},
			act:           approve("U2", 1, later),
			wantStatus:    StatusApproved,
			wantApprover:  "U2",
			wantApprovals: []Approval{{"U1", now}, {"U2", later}},
			wantDecidedAt: later,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			id := "nosuchid00"
			if !tc.missing {
				id = mustCreate(t, s, newRequest(t0())).ID
			}
			for _, step := range tc.setup {
				step(t, s, id)
			}
			got, err := tc.act(t.Context(), s, id)
			checkErr(t, "transition", err, tc.wantErr)
			if tc.missing {
				if got != nil {
					t.Errorf("returned %+v for a missing request, want nil", got)
				}
				return
			}

			stored := mustGet(t, s, id)
			switch {
			case tc.wantErr == errAny:
				if got != nil {
					t.Errorf("returned %+v with error %v, want nil", got, err)
				}
			case got == nil:
				t.Errorf("returned no request")
			default:
				// What the method returned is what is stored.
				if diff := cmp.Diff(stored, got); diff != "" {
					t.Errorf("returned request differs from Get's (-get +returned):\n%s", diff)
				}
			}
			if stored.Status != tc.wantStatus || stored.Approver != tc.wantApprover || stored.DecisionReason != tc.wantReason {
				t.Errorf("stored status %q, approver %q, decision reason %q; want %q, %q, %q",
					stored.Status, stored.Approver, stored.DecisionReason, tc.wantStatus, tc.wantApprover, tc.wantReason)
			}
			if diff := cmp.Diff(tc.wantApprovals, stored.Approvals); diff != "" {
				t.Errorf("stored approvals (-want +got):\n%s", diff)
			}
			if !stored.DecidedAt.Equal(tc.wantDecidedAt) {
				t.Errorf("stored DecidedAt = %v, want %v", stored.DecidedAt, tc.wantDecidedAt)
			}
			for _, a := range stored.Approvals {
				if a.At.Location() != time.UTC {
					t.Errorf("approval time %v is not in UTC", a.At)
				}
			}
		})
	}
}

// testApproveConcurrent has 10 distinct approvers, spread over stores,
// approve one request that needs 2, created through creator. Exactly one
// call must approve it, exactly two approvals be recorded, each with its
// audit record, and every later call get ErrNotPending and leave no trace.
func testApproveConcurrent(t *testing.T, stores []*Store, creator *Store) {
	const n, required = 10, 2
	r := mustCreate(t, creator, newRequest(t0()))
	now := t0().Add(time.Minute)
	auditBefore := len(allAudit(t, creator))

	type outcome struct {
		approver string
		req      *Request
		err      error
	}
	outcomes := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := stores[i%len(stores)]
			approver := fmt.Sprintf("U%02d", i)
			ar := rec(r.ID, audit.Approved, time.Minute)
			ar.Approver = approver
			<-start
			got, err := s.Approve(t.Context(), r.ID, approver, required, now, ar)
			outcomes[i] = outcome{approver, got, err}
		})
	}
	close(start)
	wg.Wait()

	var first, winner []string
	for _, o := range outcomes {
		switch {
		case o.err != nil:
		case o.req == nil:
			t.Errorf("%s: no error and no request", o.approver)
		case o.req.Status == StatusPending:
			first = append(first, o.approver)
		case o.req.Status == StatusApproved:
			winner = append(winner, o.approver)
		default:
			t.Errorf("%s: no error and status %s", o.approver, o.req.Status)
		}
	}
	if len(first) != 1 || len(winner) != 1 {
		t.Fatalf("approvals that left the request pending: %v, that approved it: %v; want one each", first, winner)
	}
	want := []string{first[0], winner[0]}
	for _, o := range outcomes {
		switch {
		case o.err == nil:
			if o.approver == winner[0] && o.req.Approver != winner[0] {
				t.Errorf("winner %s got approver %q", o.approver, o.req.Approver)
			}
		case !errors.Is(o.err, ErrNotPending):
			t.Errorf("%s: %v, want ErrNotPending", o.approver, o.err)
		case o.req == nil || o.req.Status != StatusApproved || o.req.Approver != winner[0]:
			t.Errorf("%s got request %+v, want it approved by %s", o.approver, o.req, winner[0])
		}
	}
	for _, s := range stores {
		got := mustGet(t, s, r.ID)
		var approvers []string
		for _, a := range got.Approvals {
			approvers = append(approvers, a.Approver)
		}
		if got.Status != StatusApproved || got.Approver != winner[0] || !slices.Equal(approvers, want) {
			t.Errorf("stored status %s, approver %s, approvals %v; want approved, %s, %v",
				got.Status, got.Approver, approvers, winner[0], want)
		}
	}

	// One audit record per recorded approval, in the same order.
	var audited []string
	for _, ar := range allAudit(t, creator) {
		if ar.RequestID == r.ID {
			audited = append(audited, ar.Approver)
		}
	}
	if !slices.Equal(audited, want) {
		t.Errorf("audit records by %v, want %v", audited, want)
	}
	mustVerify(t, creator, int64(auditBefore+required))
}

func testPending(t *testing.T, s *Store) {
	ctx := t.Context()
	now := t0().Add(10 * time.Minute)
	if got, err := s.Pending(ctx, now); err != nil || len(got) != 0 {
		t.Fatalf("Pending of an empty store = %v, %v; want nothing", got, err)
	}

	// create makes a request at t0+created that expires at now+expires.
	create := func(created, expires time.Duration) string {
		r := newRequest(t0().Add(created))
		r.ExpiresAt = now.Add(expires)
		return mustCreate(t, s, r).ID
	}
	// Made out of order, to show that Pending sorts by creation.
	second := create(2*time.Minute, time.Hour)
	first := create(time.Minute, time.Hour)
	partly := create(3*time.Minute, time.Hour)
	approvedBy("U1", 2, now)(t, s, partly)
	lastNanosecond := create(4*time.Minute, time.Nanosecond)
	create(0, 0)          // expires at now
	create(0, -time.Hour) // expired an hour ago
	expiredPartly := create(0, -time.Minute)
	approvedBy("U1", 2, t0())(t, s, expiredPartly)
	approvedBy("U1", 1, now)(t, s, create(0, time.Hour))
	deniedBy("U1", "no", now)(t, s, create(0, time.Hour))
	cancelledAt(now)(t, s, create(0, time.Hour))
	expired := create(0, -2*time.Hour)
	if _, err := s.Expire(ctx, expired, now); err != nil {
		t.Fatalf("Expire: %v", err)
	}

	got, err := s.Pending(ctx, now)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	var want []*Request
	for _, id := range []string{first, second, partly, lastNanosecond} {
		want = append(want, mustGet(t, s, id))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Pending mismatch (-want +got):\n%s", diff)
	}
	if len(got) > 2 && len(got[2].Approvals) != 1 {
		t.Errorf("Pending: request %s has approvals %v, want one", got[2].ID, got[2].Approvals)
	}

	// ExpiredPending also reads approvals.
	eps, err := s.ExpiredPending(ctx, now)
	if err != nil {
		t.Fatalf("ExpiredPending: %v", err)
	}
	i := slices.IndexFunc(eps, func(r *Request) bool { return r.ID == expiredPartly })
	if i < 0 || len(eps[i].Approvals) != 1 || eps[i].Approvals[0].Approver != "U1" {
		t.Errorf("ExpiredPending = %v, want it to hold %s with U1's approval", eps, expiredPartly)
	}
}

// testApprovalAudit takes requests through every new transition with audit
// records, between attempts that fail, and checks that exactly the records
// of the transitions that happened are waiting for delivery, in order, in a
// chain that verifies.
func testApprovalAudit(t *testing.T, s *Store) {
	ctx := t.Context()
	now := t0().Add(time.Minute)
	late := t0().Add(2 * time.Hour)
	var want []audit.Record
	// happened checks that a transition happened.
	happened := func(_ *Request, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("transition: %v", err)
		}
	}
	// refused checks that a transition did not happen.
	refused := func(_ *Request, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("transition succeeded, want an error")
		}
	}
	stray := func(id string) audit.Record { return rec(id, audit.Failed, 0) }
	record := func(id string, event audit.Event, approver string) audit.Record {
		r := rec(id, event, time.Minute)
		r.Approver = approver
		return r
	}

	a := mustCreate(t, s, newRequest(t0())).ID
	r1, r2 := record(a, audit.Approved, "U1"), record(a, audit.Approved, "U2")
	happened(s.Approve(ctx, a, "U1", 2, now, r1))
	want = append(want, r1)
	refused(s.Approve(ctx, a, "U1", 2, now, stray(a)))
	refused(s.Approve(ctx, a, "U2", 2, late, stray(a)))
	refused(s.Approve(ctx, a, "U2", 0, now, stray(a)))
	happened(s.Approve(ctx, a, "U2", 2, now, r2))
	want = append(want, r2)
	refused(s.Approve(ctx, a, "U3", 2, now, stray(a)))
	refused(s.Deny(ctx, a, "U3", "no", now, stray(a)))
	refused(s.Cancel(ctx, a, requester, now, stray(a)))
	stale := record(a, audit.Stale, "")
	if err := s.Finish(ctx, a, StatusStale, "identity changed", now, stale); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	want = append(want, stale)
	if err := s.Finish(ctx, a, StatusDone, "ok", now, stray(a)); err == nil {
		t.Fatal("second Finish succeeded")
	}

	d := mustCreate(t, s, newRequest(t0())).ID
	refused(s.Deny(ctx, d, "U1", "no", late, stray(d)))
	denied := record(d, audit.Denied, "U1")
	happened(s.Deny(ctx, d, "U1", "no", now, denied))
	want = append(want, denied)
	refused(s.Deny(ctx, d, "U2", "no", now, stray(d)))

	c := mustCreate(t, s, newRequest(t0())).ID
	refused(s.Cancel(ctx, c, "U1", now, stray(c)))
	refused(s.Cancel(ctx, c, requester, late, stray(c)))
	cancelled := record(c, audit.Cancelled, "")
	happened(s.Cancel(ctx, c, requester, now, cancelled))
	want = append(want, cancelled)
	refused(s.Cancel(ctx, c, requester, now, stray(c)))

	got, err := s.Undelivered(ctx, 100)
	if err != nil {
		t.Fatalf("Undelivered: %v", err)
	}
	prev := ""
	for i := range want {
		want[i] = want[i].Seal(int64(i+1), prev)
		prev = want[i].Hash
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("undelivered audit records (-want +got):\n%s", diff)
	}
	mustVerify(t, s, int64(len(want)))
}

// testApprovalAppendFails checks that a transition whose audit record
// cannot be appended leaves no trace, not even an approval that did not
// complete the request.
func testApprovalAppendFails(t *testing.T, newStore func(t *testing.T) *Store) {
	now := t0().Add(time.Minute)
	for _, tc := range []struct {
		name string
		act  func(ctx context.Context, s *Store, id string, r audit.Record) (*Request, error)
	}{
		{"approve first of two", func(ctx context.Context, s *Store, id string, r audit.Record) (*Request, error) {
			return s.Approve(ctx, id, "U1", 2, now, r)
		}},
		{"approve one of one", func(ctx context.Context, s *Store, id string, r audit.Record) (*Request, error) {
			return s.Approve(ctx, id, "U1", 1, now, r)
		}},
		{"deny", func(ctx context.Context, s *Store, id string, r audit.Record) (*Request, error) {
			return s.Deny(ctx, id, "U1", "no", now, r)
		}},
		{"cancel", func(ctx context.Context, s *Store, id string, r audit.Record) (*Request, error) {
			return s.Cancel(ctx, id, requester, now, r)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			id := mustCreate(t, s, newRequest(t0())).ID
			if _, err := s.db.ExecContext(t.Context(), `DELETE FROM audit_head`); err != nil {
				t.Fatal(err)
			}
			got, err := tc.act(t.Context(), s, id, rec(id, audit.Approved, 0))
			checkErr(t, tc.name, err, errAny)
			if got != nil {
				t.Errorf("returned %+v, want nil", got)
			}
			stored := mustGet(t, s, id)
			if stored.Status != StatusPending || stored.Approvals != nil || !stored.DecidedAt.IsZero() {
				t.Errorf("after a failed append: status %s, approvals %v, decided at %v; want it untouched",
					stored.Status, stored.Approvals, stored.DecidedAt)
			}
			if len(allAudit(t, s)) != 0 {
				t.Error("a record was appended")
			}
		})
	}
}
