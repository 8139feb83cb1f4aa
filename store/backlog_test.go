package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/orybot/orybot/audit"
)

func testBacklog(t *testing.T, s *Store) {
	ctx := t.Context()
	backlog := func() Backlog {
		t.Helper()
		b, err := s.Backlog(ctx)
		if err != nil {
			t.Fatalf("Backlog: %v", err)
		}
		return b
	}
	if diff := cmp.Diff(Backlog{}, backlog()); diff != "" {
		t.Errorf("backlog of an empty store (-want +got):\n%s", diff)
	}
	a := newRequest(t0())
	if err := s.Create(ctx, a, rec("", audit.Requested, 0)); err != nil {
		t.Fatal(err)
	}
	b := newRequest(t0())
	if err := s.Create(ctx, b, rec("", audit.Requested, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, b.ID, b.Requester, t0().Add(2*time.Minute), rec(b.ID, audit.Cancelled, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := Backlog{Pending: 1, Undelivered: 3, OldestUndelivered: t0().UTC()}
	if diff := cmp.Diff(want, backlog()); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}
	// Delivering the oldest record moves the oldest time to the next one.
	recs, err := s.Undelivered(ctx, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Undelivered: %v, %v", recs, err)
	}
	if err := s.MarkDelivered(ctx, recs[0].Seq, t0()); err != nil {
		t.Fatal(err)
	}
	want = Backlog{Pending: 1, Undelivered: 2, OldestUndelivered: t0().Add(time.Minute).UTC()}
	if diff := cmp.Diff(want, backlog()); diff != "" {
		t.Errorf("backlog after one delivery (-want +got):\n%s", diff)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
