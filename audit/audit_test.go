package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// trail returns a sealed trail of n records.
func trail(n int) []Record {
	base := time.Date(2026, 11, 20, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	events := []Event{Requested, Approved, Step, Done, Requested, Denied}
	var rs []Record
	prev := ""
	for i := range n {
		r := Record{
			Time:       base.Add(time.Duration(i) * time.Minute),
			RequestID:  "req0000001",
			Event:      events[i%len(events)],
			Verb:       "deactivate",
			IdentityID: "5b0d6c3e-1d7b-4c9a-9a57-0d1f0c6b2d11",
			Subject:    "totp",
			Requester:  "U0REQUEST",
			Approver:   "U0APPROVE",
			Reason:     "phished on 2026-11-20 <@U0SEC> & \"friends\"",
			Result:     "state set to inactive",
		}.Seal(int64(i+1), prev)
		prev = r.Hash
		rs = append(rs, r)
	}
	return rs
}

func TestCanonical(t *testing.T) {
	r := Record{
		Seq:        7,
		Time:       time.Date(2026, 11, 20, 10, 30, 0, 500000000, time.FixedZone("CET", 3600)),
		RequestID:  "abcdefghij",
		Event:      Failed,
		Verb:       "deactivate",
		IdentityID: "id-1",
		Subject:    "",
		Requester:  "U1",
		Approver:   "U2",
		Reason:     "a \"quoted\" <reason> & more\n",
		Result:     "ory said: 404 not found",
		PrevHash:   "00ff",
		Hash:       "ignored",
	}
	// The format is a promise to whoever checks an export: pin it.
	want := `{"seq":7,"time":"2026-11-20T09:30:00.5Z","request_id":"abcdefghij","event":"failed",` +
		`"verb":"deactivate","identity_id":"id-1","subject":"","requester":"U1","approver":"U2",` +
		`"reason":"a \"quoted\" <reason> & more\n","result":"ory said: 404 not found","prev_hash":"00ff"}`
	if got := string(r.Canonical()); got != want {
		t.Errorf("Canonical:\n got %s\nwant %s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if got, want := r.ComputeHash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("ComputeHash = %s, want %s", got, want)
	}

	// The same instant in another zone, or without a monotonic reading, is
	// the same record.
	same := r
	same.Time = r.Time.UTC()
	same.Hash = "different"
	if same.ComputeHash() != r.ComputeHash() {
		t.Error("ComputeHash depends on the time zone or on Hash")
	}
	now := time.Now()
	a, b := r, r
	a.Time, b.Time = now, now.Round(0)
	if a.ComputeHash() != b.ComputeHash() {
		t.Error("ComputeHash depends on the monotonic clock reading")
	}
}

func TestSeal(t *testing.T) {
	r := Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -7200)), Reason: "bad \xff byte"}
	s := r.Seal(3, "prev")
	if s.Seq != 3 || s.PrevHash != "prev" || s.Hash != s.ComputeHash() || len(s.Hash) != 64 {
		t.Errorf("Seal = %+v, want seq 3, prev_hash prev and its own hash", s)
	}
	if s.Time.Location() != time.UTC || !s.Time.Equal(r.Time) {
		t.Errorf("Seal time = %v, want %v in UTC", s.Time, r.Time)
	}
	if s.Reason != "bad \uFFFD byte" {
		t.Errorf("Seal reason = %q, want invalid UTF-8 replaced", s.Reason)
	}
	if r.Reason != "bad \xff byte" {
		t.Error("Seal changed its receiver")
	}
	if s.ShortHash() != s.Hash[:12] {
		t.Errorf("ShortHash = %q, want %q", s.ShortHash(), s.Hash[:12])
	}
	if err := Verify([]Record{r.Seal(1, "")}); err != nil {
		t.Errorf("Verify of a sealed record: %v", err)
	}
}

func TestVerify(t *testing.T) {
	// edit tampers with a copy of a clean trail of 4 records.
	type edit func(rs []Record) []Record
	// field changes one field of record 2, as plain SQL would.
	field := func(f func(r *Record)) edit {
		return func(rs []Record) []Record { f(&rs[1]); return rs }
	}
	for _, tc := range []struct {
		name    string
		edit    edit
		wantSeq int64
		want    string // in the problem; "" means the trail is clean
	}{
		{"clean", func(rs []Record) []Record { return rs }, 0, ""},
		{"empty", func([]Record) []Record { return nil }, 0, ""},
		{"time", field(func(r *Record) { r.Time = r.Time.Add(time.Nanosecond) }), 2, "hash mismatch"},
		{"time zone only", field(func(r *Record) { r.Time = r.Time.In(time.FixedZone("Y", 5*3600)) }), 0, ""},
		{"request id", field(func(r *Record) { r.RequestID = "other" }), 2, "hash mismatch"},
		{"event", field(func(r *Record) { r.Event = Denied }), 2, "hash mismatch"},
		{"verb", field(func(r *Record) { r.Verb = "delete" }), 2, "hash mismatch"},
		{"identity id", field(func(r *Record) { r.IdentityID = "someone-else" }), 2, "hash mismatch"},
		{"subject", field(func(r *Record) { r.Subject = "password" }), 2, "hash mismatch"},
		{"requester", field(func(r *Record) { r.Requester = "U0OTHER" }), 2, "hash mismatch"},
		{"approver", field(func(r *Record) { r.Approver = "U0REQUEST" }), 2, "hash mismatch"},
		{"reason", field(func(r *Record) { r.Reason = "x" }), 2, "hash mismatch"},
		{"result", field(func(r *Record) { r.Result = "" }), 2, "hash mismatch"},
		{"prev hash", field(func(r *Record) { r.PrevHash = strings.Repeat("0", 64) }), 2, "hash mismatch"},
		{"hash", field(func(r *Record) { r.Hash = strings.Repeat("0", 64) }), 2, "hash mismatch"},
		{"seq", field(func(r *Record) { r.Seq = 5 }), 2, "missing (record 1 is followed by 5)"},
		{"invalid UTF-8", field(func(r *Record) { r.Reason += "\xff" }), 2, "reason is not valid UTF-8"},
		{
			// Whoever changes a record and fixes its hash breaks the next.
			"rehashed",
			field(func(r *Record) { r.Reason = "x"; r.Hash = r.ComputeHash() }),
			3, "previous hash mismatch (prev_hash is not the hash of record 2)",
		},
		{
			"rehashed from there on",
			func(rs []Record) []Record {
				rs[1].Reason = "x"
				for i := 1; i < len(rs); i++ {
					rs[i] = rs[i].Seal(rs[i].Seq, rs[i-1].Hash)
				}
				return rs
			},
			// Undetectable from the trail alone; the hash posted to the
			// audit channel gives it away.
			0, "",
		},
		{"deleted", func(rs []Record) []Record { return append(rs[:1], rs[2:]...) }, 2, "missing (record 1 is followed by 3)"},
		{"first deleted", func(rs []Record) []Record { return rs[1:] }, 1, "missing (the trail starts at record 2)"},
		{"swapped", func(rs []Record) []Record { rs[1], rs[2] = rs[2], rs[1]; return rs }, 2, "missing (record 1 is followed by 3)"},
		{"repeated", func(rs []Record) []Record { return append(rs[:2], rs[1:]...) }, 2, "out of order (it comes after record 2)"},
		{
			"first has a previous hash",
			func(rs []Record) []Record { rs[0] = rs[0].Seal(1, "genesis"); return rs[:1] },
			1, "the first record has a previous hash",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := tc.edit(trail(4))
			err := Verify(rs)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v, want no error", err)
				}
				return
			}
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify: %v, want a *ChainError", err)
			}
			if ce.Seq != tc.wantSeq || ce.Problem != tc.want {
				t.Errorf("Verify: record %d %q, want record %d %q", ce.Seq, ce.Problem, tc.wantSeq, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "audit record ") {
				t.Errorf("error %q does not start by naming the record", err)
			}
		})
	}
}

func TestChainLast(t *testing.T) {
	var c Chain
	if c.Last().Seq != 0 {
		t.Fatalf("zero Chain has Last %+v", c.Last())
	}
	rs := trail(3)
	for _, r := range rs {
		if err := c.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(rs[2], c.Last()); diff != "" {
		t.Errorf("Last mismatch (-want +got):\n%s", diff)
	}
	if got := (&ChainError{3, "hash mismatch"}).Error(); got != "audit record 3 does not match: hash mismatch" {
		t.Errorf("ChainError = %q", got)
	}
}

func TestWriteJSONL(t *testing.T) {
	rs := trail(3)
	var buf bytes.Buffer
	for _, r := range rs {
		if err := WriteJSONL(&buf, r); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(rs) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(rs), buf.String())
	}
	var back []Record
	for i, l := range lines {
		// A line without its hash is the canonical form, so anyone can
		// check an export.
		canon, ok := strings.CutSuffix(l, `,"hash":"`+rs[i].Hash+`"}`)
		if !ok || canon+"}" != string(rs[i].Canonical()) {
			t.Errorf("line %d = %s\nwant the canonical form %s plus the hash", i, l, rs[i].Canonical())
		}
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		back = append(back, r)
	}
	if diff := cmp.Diff(rs, back); diff != "" {
		t.Errorf("decoded lines differ (-want +got):\n%s", diff)
	}
	if err := Verify(back); err != nil {
		t.Errorf("Verify of the decoded export: %v", err)
	}

	var keys []string
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v any
		dec.Decode(&v)
	}
	want := []string{"seq", "time", "request_id", "event", "verb", "identity_id", "subject",
		"requester", "approver", "reason", "result", "prev_hash", "hash"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}
