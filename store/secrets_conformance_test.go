package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testSecretMessages checks the messages to delete when their secret
// expires: due ones come back, earliest first, and removing one twice is
// harmless.
func testSecretMessages(t *testing.T, s *Store) {
	ctx, now := t.Context(), t0()
	for _, m := range []SecretMessage{
		{ChannelID: "D1", TS: "1.2", DeleteAt: now.Add(time.Minute)},
		{ChannelID: "D1", TS: "1.1", DeleteAt: now.Add(-time.Minute)},
		{ChannelID: "D2", TS: "2.1", DeleteAt: now},
	} {
		if err := s.AddSecretMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSecretMessage(ctx, m); err != nil {
			t.Fatalf("adding a message again: %v", err)
		}
	}
	due, err := s.DueSecretMessages(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []SecretMessage{
		{ChannelID: "D1", TS: "1.1", DeleteAt: now.Add(-time.Minute).UTC()},
		{ChannelID: "D2", TS: "2.1", DeleteAt: now.UTC()},
	}
	if diff := cmp.Diff(want, due); diff != "" {
		t.Errorf("due messages (-want +got):\n%s", diff)
	}
	for range 2 {
		if err := s.RemoveSecretMessage(ctx, "D1", "1.1"); err != nil {
			t.Fatal(err)
		}
	}
	due, err = s.DueSecretMessages(ctx, now.Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 {
		t.Errorf("after removing one, %d messages are due an hour later, want 2", len(due))
	}
}

// testOldestUndelivered checks the age of the audit backlog.
func testOldestUndelivered(t *testing.T, s *Store) {
	ctx, now := t.Context(), t0()
	got, err := s.OldestUndelivered(ctx)
	if err != nil || !got.IsZero() {
		t.Fatalf("OldestUndelivered on an empty trail = %v, %v; want zero, nil", got, err)
	}
	recs, err := s.AppendAudit(ctx, rec("r1", "requested", 0), rec("r1", "approved", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.OldestUndelivered(ctx); err != nil || !got.Equal(recs[0].Time) {
		t.Errorf("OldestUndelivered = %v, %v; want %v", got, err, recs[0].Time)
	}
	if err := s.MarkDelivered(ctx, recs[0].Seq, now); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OldestUndelivered(ctx); err != nil || !got.Equal(recs[1].Time) {
		t.Errorf("after one is delivered, OldestUndelivered = %v, %v; want %v", got, err, recs[1].Time)
	}
	if err := s.MarkDelivered(ctx, recs[1].Seq, now); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OldestUndelivered(ctx); err != nil || !got.IsZero() {
		t.Errorf("with everything delivered, OldestUndelivered = %v, %v; want zero", got, err)
	}
}
