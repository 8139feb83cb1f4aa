package store

// The contract every backend must meet. The SQLite test runs it; a
// PostgreSQL test is to call the same two functions.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// t0 is the tests' "now": in a zone other than UTC and with nanoseconds, to
// show that times come back as the same instant, in UTC, to the nanosecond.
func t0() time.Time {
	return time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
}

// newRequest returns a request made at now that expires an hour later.
func newRequest(now time.Time) *Request {
	return &Request{
		Verb:       "deactivate",
		IdentityID: "5b0d6c3e-1d7b-4c9a-9a57-0d1f0c6b2d11",
		Target:     Target{SessionID: "s-1", Credential: "totp", Factors: []string{"totp", "webauthn"}},
		Snapshot: Snapshot{Email: "a***@example.com", EmailDigest: "d1g35t", State: "active",
			Fingerprint: "f1ng3r", Credentials: []string{"password", "totp"}},
		Effect:    "Set the state to *inactive*.",
		Requester: "U0REQUEST",
		Reason:    "left the company",
		ChannelID: "C0OPS",
		CreatedAt: now,
		ExpiresAt: now.Add(time.Hour),
	}
}

// mustCreate stores r, failing the test if it cannot.
func mustCreate(t *testing.T, s *Store, r *Request) *Request {
	t.Helper()
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r
}

// mustGet returns request id, failing the test if it cannot.
func mustGet(t *testing.T, s *Store, id string) *Request {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

// testStore runs the contract of a Store. newStore must return a Store on a
// new, empty database, and close it when the test ends.
func testStore(t *testing.T, newStore func(t *testing.T) *Store) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newStore(t)) })
	t.Run("Duplicate", func(t *testing.T) { testDuplicate(t, newStore(t)) })
	t.Run("Decision", func(t *testing.T) { testDecision(t, newStore) })
	t.Run("DecisionConcurrent", func(t *testing.T) {
		s := newStore(t)
		testDecisionConcurrent(t, []*Store{s}, s)
	})
	t.Run("SetMessage", func(t *testing.T) { testSetMessage(t, newStore(t)) })
	t.Run("Finish", func(t *testing.T) { testFinish(t, newStore) })
	t.Run("Expire", func(t *testing.T) { testExpire(t, newStore) })
	t.Run("ExpiredPending", func(t *testing.T) { testExpiredPending(t, newStore(t)) })
	t.Run("Interrupted", func(t *testing.T) { testInterrupted(t, newStore(t)) })
	t.Run("Transitions", func(t *testing.T) { testTransitions(t, newStore) })
	t.Run("ApproveConcurrent", func(t *testing.T) {
		s := newStore(t)
		testApproveConcurrent(t, []*Store{s}, s)
	})
	t.Run("Pending", func(t *testing.T) { testPending(t, newStore(t)) })
	t.Run("Backlog", func(t *testing.T) { testBacklog(t, newStore(t)) })
	t.Run("ApprovalAudit", func(t *testing.T) { testApprovalAudit(t, newStore(t)) })
	t.Run("ApprovalAppendFails", func(t *testing.T) { testApprovalAppendFails(t, newStore) })
	t.Run("AuditLifecycle", func(t *testing.T) { testAuditLifecycle(t, newStore(t)) })
	t.Run("AuditOnlyOnChange", func(t *testing.T) { testAuditOnlyOnChange(t, newStore) })
	t.Run("AuditConcurrent", func(t *testing.T) { testAuditConcurrent(t, []*Store{newStore(t)}) })
	t.Run("AuditSince", func(t *testing.T) { testAuditSince(t, newStore(t)) })
	t.Run("AuditTamper", func(t *testing.T) { testAuditTamper(t, newStore) })
	t.Run("SecretMessages", func(t *testing.T) { testSecretMessages(t, newStore(t)) })
	t.Run("OldestUndelivered", func(t *testing.T) { testOldestUndelivered(t, newStore(t)) })
}

// testSharedDatabase runs the part of the contract that needs several Stores
// on one database, as several replicas of the bot or a restart have. Every
// call of open must return a new Store on the same database, and close it
// when the test ends.
func testSharedDatabase(t *testing.T, open func(t *testing.T) *Store) {
	t.Run("Replicas", func(t *testing.T) {
		stores := []*Store{open(t), open(t), open(t)}
		testDecisionConcurrent(t, stores, stores[0])
	})
	t.Run("ApproveReplicas", func(t *testing.T) {
		stores := []*Store{open(t), open(t)}
		testApproveConcurrent(t, stores, stores[0])
	})
	t.Run("Restart", func(t *testing.T) {
		s := open(t)
		r := mustCreate(t, s, newRequest(t0()))
		want, err := s.Approve(t.Context(), r.ID, "U0APPROVE", 1, t0().Add(time.Minute))
		if err != nil {
			t.Fatalf("Approve: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		got := mustGet(t, open(t), r.ID)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after reopening, Get mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("AuditReplicas", func(t *testing.T) {
		testAuditConcurrent(t, []*Store{open(t), open(t)})
	})
	t.Run("AuditDelivery", func(t *testing.T) { testAuditDelivery(t, open) })
	t.Run("DeliveryLock", func(t *testing.T) { testDeliveryLock(t, open) })
}

func testCreateGet(t *testing.T, s *Store) {
	full := newRequest(t0())
	full.ID = "fullreq001"
	full.TriggerID = "123.456.abc"
	full.MessageTS = "1700000000.000100"
	// Create keeps decision fields as given; set them to see them round-trip.
	full.Approver = "U0APPROVE"
	full.DecisionReason = "no ticket"
	full.Result = "ok"
	full.DecidedAt = t0().Add(time.Second)
	full.FinishedAt = t0().Add(2 * time.Second)

	zeroData := newRequest(t0())
	zeroData.Target, zeroData.Snapshot, zeroData.Effect = Target{}, Snapshot{}, ""

	defaults := newRequest(t0())
	defaults.CreatedAt = time.Time{}
	defaults.Status = StatusDone // Create ignores it
	// A new request has no approvals, whatever the caller says.
	defaults.Approvals = []Approval{{"U0APPROVE", t0()}}

	for _, tc := range []struct {
		name string
		req  *Request
	}{
		{"full", full},
		{"zero data", zeroData},
		{"defaults", defaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			mustCreate(t, s, tc.req)
			if len(tc.req.ID) != 10 {
				t.Errorf("ID = %q, want 10 characters", tc.req.ID)
			}
			if tc.req.Status != StatusPending || tc.req.Approvals != nil {
				t.Errorf("Status = %q, Approvals = %v after Create, want %q, nil", tc.req.Status, tc.req.Approvals, StatusPending)
			}
			if tc.name == "defaults" && tc.req.CreatedAt.Before(before) {
				t.Errorf("CreatedAt = %v, want it set to now", tc.req.CreatedAt)
			}

			got := mustGet(t, s, tc.req.ID)
			if diff := cmp.Diff(tc.req, got); diff != "" {
				t.Errorf("Get mismatch (-want +got):\n%s", diff)
			}
			for _, tm := range []time.Time{got.CreatedAt, got.ExpiresAt, got.DecidedAt, got.FinishedAt} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("time %v is not in UTC", tm)
				}
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		r, err := s.Get(t.Context(), "nosuchid00")
		if !errors.Is(err, ErrNotFound) || r != nil {
			t.Errorf("Get of a missing id = %v, %v; want nil, ErrNotFound", r, err)
		}
	})
	t.Run("no expiry", func(t *testing.T) {
		r := newRequest(t0())
		r.ExpiresAt = time.Time{}
		if err := s.Create(t.Context(), r); err == nil {
			t.Error("Create without ExpiresAt succeeded, want an error")
		}
	})
}

func testDuplicate(t *testing.T, s *Store) {
	first := newRequest(t0())
	first.TriggerID = "trigger-1"
	mustCreate(t, s, first)

	t.Run("trigger id", func(t *testing.T) {
		again := newRequest(t0())
		again.TriggerID = first.TriggerID
		again.Reason = "redelivered"
		err := s.Create(t.Context(), again)
		if !errors.Is(err, ErrDuplicate) {
			t.Fatalf("Create with a used trigger id: %v, want ErrDuplicate", err)
		}
		if _, err := s.Get(t.Context(), again.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of the duplicate: %v, want ErrNotFound", err)
		}
		if got := mustGet(t, s, first.ID); got.Reason != first.Reason {
			t.Errorf("first request's reason = %q, want %q", got.Reason, first.Reason)
		}
	})
	t.Run("id", func(t *testing.T) {
		again := newRequest(t0())
		again.ID = first.ID
		if err := s.Create(t.Context(), again); !errors.Is(err, ErrDuplicate) {
			t.Errorf("Create with a used id: %v, want ErrDuplicate", err)
		}
	})
	t.Run("empty trigger ids", func(t *testing.T) {
		for i := range 3 {
			r := newRequest(t0())
			r.TriggerID = ""
			if err := s.Create(t.Context(), r); err != nil {
				t.Errorf("Create #%d without trigger id: %v", i, err)
			}
		}
	})
}

// testDecision checks the one-click decisions, Approve with one approval
// required and Deny, on requests in the states a click can find them in.
func testDecision(t *testing.T, newStore func(t *testing.T) *Store) {
	now := t0().Add(time.Minute) // the requests below expire at t0 + 1h
	approve := func(ctx context.Context, s *Store, id string, at time.Time) (*Request, error) {
		return s.Approve(ctx, id, "U0DECIDE", 1, at)
	}
	deny := func(ctx context.Context, s *Store, id string, at time.Time) (*Request, error) {
		return s.Deny(ctx, id, "U0DECIDE", "", at)
	}

	for _, tc := range []struct {
		name string
		// setup returns the id to decide, after whatever it did to the store.
		setup        func(t *testing.T, s *Store) string
		act          func(ctx context.Context, s *Store, id string, at time.Time) (*Request, error)
		now          time.Time
		wantErr      error // nil, a sentinel, or errAny
		wantStatus   Status
		wantApprover string // of the request returned; "" if none is
	}{
		{
			name:         "approve",
			setup:        func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act:          approve,
			now:          now,
			wantStatus:   StatusApproved,
			wantApprover: "U0DECIDE",
		},
		{
			name:         "deny",
			setup:        func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act:          deny,
			now:          now,
			wantStatus:   StatusDenied,
			wantApprover: "U0DECIDE",
		},
		{
			name: "approve after approve",
			setup: func(t *testing.T, s *Store) string {
				r := mustCreate(t, s, newRequest(t0()))
				if _, err := s.Approve(t.Context(), r.ID, "U0FIRST", 1, now); err != nil {
					t.Fatalf("first Approve: %v", err)
				}
				return r.ID
			},
			act:          approve,
			now:          now.Add(time.Second),
			wantErr:      ErrNotPending,
			wantStatus:   StatusApproved,
			wantApprover: "U0FIRST",
		},
		{
			name: "approve after deny",
			setup: func(t *testing.T, s *Store) string {
				r := mustCreate(t, s, newRequest(t0()))
				if _, err := s.Deny(t.Context(), r.ID, "U0FIRST", "", now); err != nil {
					t.Fatalf("first Deny: %v", err)
				}
				return r.ID
			},
			act:          approve,
			now:          now,
			wantErr:      ErrNotPending,
			wantStatus:   StatusDenied,
			wantApprover: "U0FIRST",
		},
		{
			name: "deny after approve",
			setup: func(t *testing.T, s *Store) string {
				r := mustCreate(t, s, newRequest(t0()))
				if _, err := s.Approve(t.Context(), r.ID, "U0FIRST", 1, now); err != nil {
					t.Fatalf("first Approve: %v", err)
				}
				return r.ID
			},
			act:          deny,
			now:          now,
			wantErr:      ErrNotPending,
			wantStatus:   StatusApproved,
			wantApprover: "U0FIRST",
		},
		{
			name:       "after expiry",
			setup:      func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act:        approve,
			now:        t0().Add(2 * time.Hour),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:       "at expiry",
			setup:      func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act:        approve,
			now:        t0().Add(time.Hour),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:       "deny at expiry",
			setup:      func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act:        deny,
			now:        t0().Add(time.Hour),
			wantErr:    ErrExpired,
			wantStatus: StatusPending,
		},
		{
			name:       "one nanosecond before expiry",
			setup:      func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act:        approve,
			now:        t0().Add(time.Hour - time.Nanosecond),
			wantStatus: StatusApproved,
			// The winner is returned with its approver.
			wantApprover: "U0DECIDE",
		},
		{
			name:    "missing",
			setup:   func(t *testing.T, s *Store) string { return "nosuchid00" },
			act:     approve,
			now:     now,
			wantErr: ErrNotFound,
		},
		{
			name:    "deny missing",
			setup:   func(t *testing.T, s *Store) string { return "nosuchid00" },
			act:     deny,
			now:     now,
			wantErr: ErrNotFound,
		},
		{
			// An invalid argument is a plain error that changes nothing.
			name:  "no approval required",
			setup: func(t *testing.T, s *Store) string { return mustCreate(t, s, newRequest(t0())).ID },
			act: func(ctx context.Context, s *Store, id string, at time.Time) (*Request, error) {
				return s.Approve(ctx, id, "U0DECIDE", 0, at)
			},
			now:        now,
			wantErr:    errAny,
			wantStatus: StatusPending,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			id := tc.setup(t, s)
			got, err := tc.act(t.Context(), s, id, tc.now)
			checkErr(t, "decision", err, tc.wantErr)

			switch {
			case tc.wantErr == nil || tc.wantErr == ErrNotPending || tc.wantErr == ErrExpired:
				if got == nil {
					t.Fatalf("decision returned no request")
				}
				if got.Status != tc.wantStatus || got.Approver != tc.wantApprover {
					t.Errorf("decision returned status %q, approver %q; want %q, %q",
						got.Status, got.Approver, tc.wantStatus, tc.wantApprover)
				}
				if tc.wantErr == nil && !got.DecidedAt.Equal(tc.now) {
					t.Errorf("DecidedAt = %v, want %v", got.DecidedAt, tc.now)
				}
			case got != nil:
				t.Errorf("decision returned request %+v with error %v, want none", got, err)
			}

			// What the decision returned is what is stored.
			if tc.wantStatus != "" {
				stored := mustGet(t, s, id)
				if got != nil {
					if diff := cmp.Diff(stored, got); diff != "" {
						t.Errorf("decision's request differs from Get's (-get +decision):\n%s", diff)
					}
				}
				if stored.Status != tc.wantStatus {
					t.Errorf("stored status = %q, want %q", stored.Status, tc.wantStatus)
				}
			}
		})
	}
}

// testDecisionConcurrent has 20 goroutines, spread over stores, decide one
// request created through creator, half of them with Approve (one approval
// required) and half with Deny, and checks that exactly one wins and the
// others all see the winner.
func testDecisionConcurrent(t *testing.T, stores []*Store, creator *Store) {
	const n = 20
	r := mustCreate(t, creator, newRequest(t0()))
	now := t0().Add(time.Minute)

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
			<-start
			var got *Request
			var err error
			if i%2 == 0 {
				got, err = s.Approve(t.Context(), r.ID, approver, 1, now)
			} else {
				got, err = s.Deny(t.Context(), r.ID, approver, "", now)
			}
			outcomes[i] = outcome{approver, got, err}
		})
	}
	close(start)
	wg.Wait()

	var winners []string
	for _, o := range outcomes {
		if o.err == nil {
			winners = append(winners, o.approver)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d decisions won (%v), want exactly 1", len(winners), winners)
	}
	winner := winners[0]
	for _, o := range outcomes {
		switch {
		case o.err == nil:
			if o.req == nil || o.req.Approver != o.approver {
				t.Errorf("winner %s got request %+v", o.approver, o.req)
			}
		case !errors.Is(o.err, ErrNotPending):
			t.Errorf("loser %s: %v, want ErrNotPending", o.approver, o.err)
		case o.req == nil || o.req.Approver != winner:
			t.Errorf("loser %s got request %+v, want approver %s", o.approver, o.req, winner)
		}
	}
	for _, s := range stores {
		got := mustGet(t, s, r.ID)
		if got.Approver != winner {
			t.Errorf("stored approver = %q, want %q", got.Approver, winner)
		}
		// Losers leave no trace: an approval is recorded only if it won.
		var approvers []string
		for _, a := range got.Approvals {
			approvers = append(approvers, a.Approver)
		}
		if got.Status == StatusApproved && !slices.Equal(approvers, []string{winner}) ||
			got.Status == StatusDenied && approvers != nil {
			t.Errorf("stored status %s, approvals by %v; want only the winner %s's, if an approval", got.Status, approvers, winner)
		}
	}
}

func testSetMessage(t *testing.T, s *Store) {
	r := mustCreate(t, s, newRequest(t0()))
	if err := s.SetMessage(t.Context(), r.ID, "C0OTHER", "1700000000.000200"); err != nil {
		t.Fatalf("SetMessage: %v", err)
	}
	got := mustGet(t, s, r.ID)
	if got.ChannelID != "C0OTHER" || got.MessageTS != "1700000000.000200" {
		t.Errorf("after SetMessage, channel %q, ts %q", got.ChannelID, got.MessageTS)
	}
	if err := s.SetMessage(t.Context(), "nosuchid00", "C0OTHER", "1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetMessage of a missing id: %v, want ErrNotFound", err)
	}
}

func testFinish(t *testing.T, newStore func(t *testing.T) *Store) {
	decided := t0().Add(time.Minute)
	finished := t0().Add(2 * time.Minute)
	// withStatus returns a setup that creates a request and brings it to
	// status through the store's own methods.
	withStatus := func(status Status) func(t *testing.T, s *Store) string {
		return func(t *testing.T, s *Store) string {
			r := mustCreate(t, s, newRequest(t0()))
			switch status {
			case StatusApproved:
				if _, err := s.Approve(t.Context(), r.ID, "U0DECIDE", 1, decided); err != nil {
					t.Fatalf("Approve: %v", err)
				}
			case StatusDenied:
				if _, err := s.Deny(t.Context(), r.ID, "U0DECIDE", "", decided); err != nil {
					t.Fatalf("Deny: %v", err)
				}
			case StatusDone:
				if _, err := s.Approve(t.Context(), r.ID, "U0DECIDE", 1, decided); err != nil {
					t.Fatalf("Approve: %v", err)
				}
				if err := s.Finish(t.Context(), r.ID, StatusDone, "first", finished); err != nil {
					t.Fatalf("Finish: %v", err)
				}
			case StatusExpired:
				if _, err := s.Expire(t.Context(), r.ID, t0().Add(2*time.Hour)); err != nil {
					t.Fatalf("Expire: %v", err)
				}
			case StatusCancelled:
				if _, err := s.Cancel(t.Context(), r.ID, r.Requester, decided); err != nil {
					t.Fatalf("Cancel: %v", err)
				}
			}
			return r.ID
		}
	}

	for _, tc := range []struct {
		name       string
		setup      func(t *testing.T, s *Store) string
		to         Status
		wantErr    error
		wantStatus Status
		wantResult string
	}{
		{"done", withStatus(StatusApproved), StatusDone, nil, StatusDone, "deactivated"},
		{"failed", withStatus(StatusApproved), StatusFailed, nil, StatusFailed, "deactivated"},
		{"stale", withStatus(StatusApproved), StatusStale, nil, StatusStale, "deactivated"},
		{"stale while pending", withStatus(StatusPending), StatusStale, ErrNotPending, StatusPending, ""},
		{"cancelled", withStatus(StatusCancelled), StatusDone, ErrNotPending, StatusCancelled, ""},
		{"pending", withStatus(StatusPending), StatusDone, ErrNotPending, StatusPending, ""},
		{"denied", withStatus(StatusDenied), StatusDone, ErrNotPending, StatusDenied, ""},
		{"expired", withStatus(StatusExpired), StatusDone, ErrNotPending, StatusExpired, ""},
		{"twice", withStatus(StatusDone), StatusFailed, ErrNotPending, StatusDone, "first"},
		{"missing", func(*testing.T, *Store) string { return "nosuchid00" }, StatusDone, ErrNotFound, "", ""},
		{"not an outcome", withStatus(StatusApproved), StatusApproved, errAny, StatusApproved, ""},
		{"cancelled is not an outcome", withStatus(StatusApproved), StatusCancelled, errAny, StatusApproved, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			id := tc.setup(t, s)
			err := s.Finish(t.Context(), id, tc.to, "deactivated", finished)
			checkErr(t, "Finish", err, tc.wantErr)
			if tc.wantStatus == "" {
				return
			}
			got := mustGet(t, s, id)
			if got.Status != tc.wantStatus || got.Result != tc.wantResult {
				t.Errorf("after Finish, status %q, result %q; want %q, %q",
					got.Status, got.Result, tc.wantStatus, tc.wantResult)
			}
			if tc.wantErr == nil && (!got.FinishedAt.Equal(finished) || !got.DecidedAt.Equal(decided)) {
				t.Errorf("after Finish, decided at %v, finished at %v; want %v, %v",
					got.DecidedAt, got.FinishedAt, decided, finished)
			}
		})
	}
}

func testExpire(t *testing.T, newStore func(t *testing.T) *Store) {
	late := t0().Add(2 * time.Hour)

	t.Run("past expiry", func(t *testing.T) {
		s := newStore(t)
		r := mustCreate(t, s, newRequest(t0()))
		got, err := s.Expire(t.Context(), r.ID, late)
		if err != nil {
			t.Fatalf("Expire: %v", err)
		}
		if got.Status != StatusExpired || !got.FinishedAt.Equal(late) {
			t.Errorf("Expire returned status %q, finished at %v; want %q, %v", got.Status, got.FinishedAt, StatusExpired, late)
		}
		if diff := cmp.Diff(mustGet(t, s, r.ID), got); diff != "" {
			t.Errorf("Expire's request differs from Get's (-get +expire):\n%s", diff)
		}
		// An expired request can neither be decided nor expired again.
		if _, err := s.Approve(t.Context(), r.ID, "U0DECIDE", 1, late); !errors.Is(err, ErrNotPending) {
			t.Errorf("Approve after Expire: %v, want ErrNotPending", err)
		}
		if _, err := s.Deny(t.Context(), r.ID, "U0DECIDE", "", late); !errors.Is(err, ErrNotPending) {
			t.Errorf("Deny after Expire: %v, want ErrNotPending", err)
		}
		if _, err := s.Expire(t.Context(), r.ID, late); !errors.Is(err, ErrNotPending) {
			t.Errorf("second Expire: %v, want ErrNotPending", err)
		}
	})
	t.Run("not yet expired", func(t *testing.T) {
		s := newStore(t)
		r := mustCreate(t, s, newRequest(t0()))
		got, err := s.Expire(t.Context(), r.ID, t0().Add(time.Minute))
		if !errors.Is(err, ErrNotPending) {
			t.Fatalf("Expire before expiry: %v, want ErrNotPending", err)
		}
		if got == nil || got.Status != StatusPending {
			t.Errorf("Expire before expiry returned %+v, want the pending request", got)
		}
		if got := mustGet(t, s, r.ID); got.Status != StatusPending {
			t.Errorf("stored status = %q, want %q", got.Status, StatusPending)
		}
	})
	t.Run("decided", func(t *testing.T) {
		s := newStore(t)
		r := mustCreate(t, s, newRequest(t0()))
		if _, err := s.Approve(t.Context(), r.ID, "U0DECIDE", 1, t0().Add(time.Minute)); err != nil {
			t.Fatalf("Approve: %v", err)
		}
		got, err := s.Expire(t.Context(), r.ID, late)
		if !errors.Is(err, ErrNotPending) {
			t.Fatalf("Expire of an approved request: %v, want ErrNotPending", err)
		}
		if got == nil || got.Status != StatusApproved || got.Approver != "U0DECIDE" {
			t.Errorf("Expire of an approved request returned %+v, want it approved by U0DECIDE", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.Expire(t.Context(), "nosuchid00", late); !errors.Is(err, ErrNotFound) || got != nil {
			t.Errorf("Expire of a missing id = %v, %v; want nil, ErrNotFound", got, err)
		}
	})
}

func testExpiredPending(t *testing.T, s *Store) {
	now := t0().Add(10 * time.Hour)
	if got, err := s.ExpiredPending(t.Context(), now); err != nil || len(got) != 0 {
		t.Fatalf("ExpiredPending of an empty store = %v, %v; want nothing", got, err)
	}

	// create makes a request that expires at now+d.
	create := func(d time.Duration) *Request {
		r := newRequest(t0())
		r.ExpiresAt = now.Add(d)
		return mustCreate(t, s, r)
	}
	second := create(-time.Hour)
	first := create(-2 * time.Hour)
	atNow := create(0)
	create(time.Nanosecond) // not expired yet
	approved := create(-3 * time.Hour)
	if _, err := s.Approve(t.Context(), approved.ID, "U0DECIDE", 1, t0()); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	expired := create(-4 * time.Hour)
	if _, err := s.Expire(t.Context(), expired.ID, now); err != nil {
		t.Fatalf("Expire: %v", err)
	}

	got, err := s.ExpiredPending(t.Context(), now)
	if err != nil {
		t.Fatalf("ExpiredPending: %v", err)
	}
	want := []*Request{first, second, atNow}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ExpiredPending mismatch (-want +got):\n%s", diff)
	}
}

func testInterrupted(t *testing.T, s *Store) {
	ctx := t.Context()
	approve := func(at time.Time) *Request {
		r := mustCreate(t, s, newRequest(t0()))
		got, err := s.Approve(ctx, r.ID, "U0DECIDE", 1, at)
		if err != nil {
			t.Fatalf("Approve: %v", err)
		}
		return got
	}
	old := approve(t0().Add(time.Minute))
	recent := approve(t0().Add(20 * time.Minute))
	finished := approve(t0().Add(2 * time.Minute))
	if err := s.Finish(ctx, finished.ID, StatusDone, "done", t0().Add(3*time.Minute)); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	mustCreate(t, s, newRequest(t0())) // pending: not started

	got, err := s.Interrupted(ctx, t0().Add(10*time.Minute))
	if err != nil {
		t.Fatalf("Interrupted: %v", err)
	}
	if len(got) != 1 || got[0].ID != old.ID {
		ids := make([]string, len(got))
		for i, r := range got {
			ids[i] = r.ID
		}
		t.Errorf("Interrupted = %v, want only %s (not the recent %s, nor finished or pending ones)", ids, old.ID, recent.ID)
	}
}

// errAny stands for "some error, not a sentinel" in tables.
var errAny = errors.New("any error")

// checkErr fails the test unless err matches want: nil, a sentinel (with
// errors.Is), or errAny for any error that is none of the sentinels.
func checkErr(t *testing.T, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil:
		if err != nil {
			t.Fatalf("%s: %v, want no error", op, err)
		}
	case want == errAny:
		if err == nil {
			t.Fatalf("%s succeeded, want an error", op)
		}
		for _, sentinel := range []error{ErrNotFound, ErrDuplicate, ErrNotPending, ErrExpired, ErrAlreadyApproved, ErrNotRequester, ErrDelivered} {
			if errors.Is(err, sentinel) {
				t.Fatalf("%s: %v, want an error other than %v", op, err, sentinel)
			}
		}
	case !errors.Is(err, want):
		t.Fatalf("%s: %v, want %v", op, err, want)
	}
}
