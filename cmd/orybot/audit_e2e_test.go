package main

import (
	"bytes"
	"database/sql"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/orybot/orybot/internal/pgtest"
)

var auditSeqRE = regexp.MustCompile(`audit #(\d+) · hash`)

// auditSeqs returns the sequence numbers of the audit-channel posts, in the
// order they were posted.
func (h *harness) auditSeqs(t *testing.T) []int {
	t.Helper()
	var seqs []int
	for _, m := range h.slack.Messages(auditChan) {
		sm := auditSeqRE.FindStringSubmatch(string(m.Blocks))
		if sm == nil {
			t.Fatalf("audit post without a sequence number: %s", m.Blocks)
		}
		n, _ := strconv.Atoi(sm[1])
		seqs = append(seqs, n)
	}
	return seqs
}

// waitSeqs waits until the audit channel holds records 1..n and checks that
// each arrived exactly once, in order.
func (h *harness) waitSeqs(t *testing.T, n int) {
	t.Helper()
	err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.slack.Messages(auditChan)) >= n })
	if err != nil {
		t.Fatalf("audit channel has %d posts, want %d", len(h.slack.Messages(auditChan)), n)
	}
	got := h.auditSeqs(t)
	for i, s := range got {
		if s != i+1 {
			t.Fatalf("audit posts in order %v, want 1..%d each once", got, n)
		}
	}
}

// approveOne makes and approves one deactivate request and waits for it to
// finish; it returns the number of audit records that makes (requested,
// approved, one step, done).
func (h *harness) approveOne(t *testing.T, local string) int {
	t.Helper()
	id := h.kratos.CreateIdentity(t, local+"@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- audit test")
	h.click(t, approver1, card, "approve", reqID)
	h.waitCard(t, reqID, "Done")
	return 4
}

func TestAuditDeliveryWaitsForTheChannel(t *testing.T) {
	h := newHarness(t)
	h.slack.SetMember(auditChan, false)
	stop := h.startBot(t)
	want := 0
	for _, u := range []string{"ann", "ben", "cid"} {
		want += h.approveOne(t, u)
	}
	if n := len(h.slack.Messages(auditChan)); n != 0 {
		t.Fatalf("%d audit posts while the bot is not in the channel", n)
	}
	// Killed before anything was delivered: the records wait in the database.
	stop()
	if n := strings.Count(h.logs.String(), "audit channel delivery failing"); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
	h.slack.SetMember(auditChan, true)
	h.startBot(t)
	h.waitSeqs(t, want)
}

func TestAuditDeliverySurvivesSlackErrors(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	want := h.approveOne(t, "dee")
	h.waitSeqs(t, want)
	// A burst of approvals while Slack answers 5xx and then rate-limits
	// chat.postMessage. The cards are posted first, so that the faults hit
	// the audit posts.
	type pending struct{ id, reqID string }
	var reqs []pending
	for _, u := range []string{"eve", "fay", "gil"} {
		id := h.kratos.CreateIdentity(t, u+"@customer.example")
		reqID, _ := h.request(t, "deactivate "+id+" -- audit burst")
		reqs = append(reqs, pending{id, reqID})
	}
	want += 3 // requested
	h.waitSeqs(t, want)
	h.slack.ServerErrorNext("chat.postMessage", 3)
	h.slack.RateLimitNext("chat.postMessage", 2, 1)
	for _, r := range reqs {
		h.click(t, approver1, h.card(t, r.reqID), "approve", r.reqID)
	}
	for _, r := range reqs {
		h.waitCard(t, r.reqID, "Done")
		want += 3 // approved, step, done
	}
	h.waitSeqs(t, want)
	err := h.slack.WaitFor(ctxT(t), func() bool { return strings.Contains(h.logs.String(), "audit channel delivery recovered") })
	if err != nil {
		t.Errorf("recovery was not logged")
	}
	if n := strings.Count(h.logs.String(), "audit channel delivery failing"); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
}

func TestAuditVerifyEndToEnd(t *testing.T) {
	h := newHarness(t)
	stop := h.startBot(t)
	h.approveOne(t, "gus")
	h.waitSeqs(t, 4)

	env, _ := h.command(t, requester, opsChan, "audit verify")
	contains(t, "verify reply", h.response(t, env, 1), "verifies: 4 records")

	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	env, _ = h.command(t, requester, opsChan, "audit verify")
	contains(t, "verify reply after tampering", h.response(t, env, 1), "does *not* verify", "record 2")
	stop()

	var out bytes.Buffer
	err = run(t.Context(), []string{"audit", "verify"}, h.getenv, &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Errorf("orybot audit verify = %v, want an error naming record 2", err)
	}
}

// Two replicas share one database: each audit record still reaches the
// channel once, in order, whichever replica handled the request.
func TestAuditDeliveryWithTwoReplicas(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_DATABASE_URL", pgtest.Start(t)) // replicas need PostgreSQL
	// Both replicas find records to deliver at once when the channel opens,
	// and slow posts widen the window in which both could post the same one.
	h.slack.SetMember(auditChan, false)
	stopA := h.startBot(t)
	h.startBot(t)
	want := 0
	for _, u := range []string{"hal", "ida", "kim"} {
		want += h.approveOne(t, u)
	}
	h.slack.SetDelay("chat.postMessage", 150*time.Millisecond)
	h.slack.SetMember(auditChan, true)
	h.waitSeqs(t, want)
	stopA() // the replica holding the delivery lock may go; the other takes over
	want += h.approveOne(t, "jon")
	h.waitSeqs(t, want)
	time.Sleep(deliveryQuiet)
	if n := len(h.slack.Messages(auditChan)); n != want {
		t.Errorf("%d audit posts, want %d (each record once)", n, want)
	}
}

// deliveryQuiet is long enough for a wrong duplicate post to show up: more
// than twice the time a replica takes to try for the delivery lock again.
const deliveryQuiet = 3 * time.Second
