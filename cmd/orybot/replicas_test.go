package main

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/pgtest"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// newReplicaHarness is a harness for several replicas: one PostgreSQL
// database, and a fake Slack that sends envelopes to its connections in
// turn, as Slack spreads them over an app's connections.
func newReplicaHarness(t *testing.T) *harness {
	h := newHarness(t, slacktest.WithRoundRobin())
	h.setenv(t, "ORYBOT_DATABASE_URL", pgtest.Start(t))
	return h
}

// waitLive waits until n bots are connected to the fake Slack, so that no
// envelope goes to a replica that is shutting down.
func (h *harness) waitLive(t *testing.T, n int) {
	t.Helper()
	if err := h.slack.WaitFor(ctxT(t), func() bool { return h.slack.LiveConnections() == n }); err != nil {
		t.Fatalf("%d bots connected, want %d", h.slack.LiveConnections(), n)
	}
}

// checkAuditComplete waits for records 1..n in the audit channel, each once
// and in order, and checks that no repeat follows.
func (h *harness) checkAuditComplete(t *testing.T, n int) {
	t.Helper()
	h.waitSeqs(t, n)
	time.Sleep(deliveryQuiet)
	if got := len(h.slack.Messages(auditChan)); got != n {
		t.Errorf("%d audit posts, want %d (each record once): %v", got, n, h.auditSeqs(t))
	}
}

func TestReplicasShareOneDatabase(t *testing.T) {
	h := newReplicaHarness(t)
	h.startBot(t)
	h.startBot(t)
	h.waitLive(t, 2)
	records := 0

	t.Run("requested on one replica, approved on the other", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "cross@customer.example")
		patches := h.proxy.patches.Load()
		env, _ := h.command(t, requester, opsChan, "deactivate "+id+" -- cross replica")
		reqID := requestIDRE.FindStringSubmatch(h.response(t, env, 1))
		if reqID == nil {
			t.Fatal("no request id in the reply")
		}
		click := h.click(t, approver1, h.card(t, reqID[1]), "approve", reqID[1])
		if env.Connection == click.Connection {
			t.Fatalf("command and click both went to connection %d, want two replicas", env.Connection)
		}
		h.waitCard(t, reqID[1], "Done")
		if n := h.proxy.patches.Load() - patches; n != 1 {
			t.Errorf("%d Ory PATCH calls, want 1", n)
		}
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("state = %q, want inactive", got)
		}
		records += 4
	})

	t.Run("two approvers at once on two replicas, fifteen times", func(t *testing.T) {
		const n = 15
		type req struct {
			id   string
			card slacktest.Message
		}
		reqs := make([]req, n)
		for i := range reqs {
			id := h.kratos.CreateIdentity(t, fmt.Sprintf("race%02d@customer.example", i))
			reqs[i].id, reqs[i].card = h.request(t, "deactivate "+id+" -- race")
		}
		applied := h.proxy.applied.Load()
		var wg sync.WaitGroup
		for _, r := range reqs {
			for _, u := range []string{approver1, approver2} {
				wg.Go(func() { h.click(t, u, r.card, "approve", r.id) })
			}
		}
		wg.Wait()
		for _, r := range reqs {
			h.waitCard(t, r.id, "Done")
		}
		if got := h.proxy.applied.Load() - applied; got != n {
			t.Errorf("Kratos carried out %d PATCH calls for %d requests, want exactly one each", got, n)
		}
		records += 4 * n // requested, approved, step, done
		h.waitSeqs(t, records)
		for _, r := range reqs {
			if got := len(h.outcomeRecords(r.id)); got != 1 {
				t.Errorf("request %s has %d outcome records, want 1", r.id, got)
			}
		}
	})

	h.checkAuditComplete(t, records)
}

// A rolling restart: each replica in turn stops (gracefully, while audit
// posts are in flight) and starts again. No record is lost or posted twice.
func TestReplicasRollingRestart(t *testing.T) {
	h := newReplicaHarness(t)
	h.slack.SetDelay("chat.postMessage", 100*time.Millisecond) // posts in flight at each stop
	stopA := h.startBot(t)
	stopB := h.startBot(t)
	h.waitLive(t, 2)
	records := 0
	burst := func(names ...string) {
		for _, n := range names {
			records += h.approveOne(t, n)
		}
	}
	burst("roll1", "roll2")
	stopA()
	h.waitLive(t, 1)
	h.startBot(t)
	h.waitLive(t, 2)
	burst("roll3", "roll4")
	stopB()
	h.waitLive(t, 1)
	h.startBot(t)
	h.waitLive(t, 2)
	burst("roll5")
	h.checkAuditComplete(t, records)
}

// Killing the replica that delivers the audit trail: the other takes over
// within seconds, and the channel stays complete and in order.
func TestKilledDelivererIsReplaced(t *testing.T) {
	h := newReplicaHarness(t)
	h.slack.SetMember(auditChan, false) // records queue up until the kill
	a := h.startProcess(t)
	b := h.startProcess(t)
	h.waitLive(t, 2)
	records := 0
	for _, n := range []string{"kill1", "kill2", "kill3"} {
		records += h.approveOne(t, n)
	}
	deliverer, other := a, b
	if !a.delivers() {
		deliverer, other = b, a
	}
	if !deliverer.delivers() || other.delivers() {
		t.Fatalf("want exactly one deliverer; a delivers: %v, b delivers: %v", a.delivers(), b.delivers())
	}
	deliverer.kill(t)
	killed := time.Now()
	h.slack.SetMember(auditChan, true)
	h.waitSeqs(t, records)
	took := time.Since(killed)
	t.Logf("the other replica posted all %d queued records %v after the kill", records, took)
	if took > 10*time.Second {
		t.Errorf("records posted %v after the deliverer was killed, want within 10s", took)
	}
	if !other.delivers() {
		t.Errorf("the surviving replica did not say it took over delivery")
	}
	records += h.approveOne(t, "kill4")
	h.checkAuditComplete(t, records)
}

// A bot killed with SIGKILL leaves its queued records to the next start,
// which posts them at once: no lease of the dead process to wait out.
func TestCrashRestartDeliversQueuedRecords(t *testing.T) {
	h := newHarness(t) // SQLite: the process lock dies with the process
	h.slack.SetMember(auditChan, false)
	p := h.startProcess(t)
	records := 0
	for _, n := range []string{"crash1", "crash2"} {
		records += h.approveOne(t, n)
	}
	if n := len(h.slack.Messages(auditChan)); n != 0 {
		t.Fatalf("%d records posted before the crash, want them queued", n)
	}
	p.kill(t)
	h.slack.SetMember(auditChan, true)
	restart := time.Now()
	h.startProcess(t)
	h.waitSeqs(t, records)
	took := time.Since(restart)
	t.Logf("after kill -9, the restarted bot posted %d queued records %v after its start", records, took)
	if took > 5*time.Second {
		t.Errorf("queued records posted %v after the restart, want within 5s", took)
	}
	h.checkAuditComplete(t, records)
}

// A second bot on the same SQLite file stops at start, while the audit
// subcommands, which only read, still work.
func TestSecondBotOnSQLiteStops(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	h.approveOne(t, "solo")
	err := run(t.Context(), nil, h.getenv, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("a second bot on the same SQLite file started")
	}
	contains(t, "second bot's error", err.Error(), "ORYBOT_DATABASE_URL", "another process holds", "PostgreSQL")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"audit", "verify"}, h.getenv, &out, &bytes.Buffer{}); err != nil {
		t.Errorf("orybot audit verify while the bot runs: %v", err)
	}
	contains(t, "audit verify output", out.String(), "audit trail OK")
	out.Reset()
	if err := run(t.Context(), []string{"audit", "export"}, h.getenv, &out, &bytes.Buffer{}); err != nil {
		t.Errorf("orybot audit export while the bot runs: %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n < 4 {
		t.Errorf("audit export wrote %d lines, want the 4 records", n)
	}
}

// An Ory call slower than ORYBOT_ACTION_TIMEOUT: the request ends failed,
// saying the step's effect is unknown, in the store, on the card, in the
// audit trail and to the requester.
func TestActionTimeoutEndsTheRequest(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_ACTION_TIMEOUT", "1s")
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "slow@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- slow ory")
	h.proxy.inject(t, proxyFault{method: http.MethodPatch, path: regexp.MustCompile(`^/admin/identities/` + id + `$`), delay: 3 * time.Second, n: 1})
	h.click(t, approver1, card, "approve", reqID)
	card = h.waitCard(t, reqID, "Failed")
	contains(t, "card", string(card.Blocks), "did not finish within ORYBOT_ACTION_TIMEOUT", "unknown", "/ory show "+id)
	contains(t, "outcome record", h.waitAudit(t, reqID), "failed", "unknown")
	h.waitDM(t, requester, reqID, "unknown")
	if got := h.status(t, reqID); got != store.StatusFailed {
		t.Errorf("status = %s, want failed", got)
	}
	steps := 0
	for _, r := range h.auditRecords(reqID) {
		if strings.Contains(r, "*step* · ") {
			steps++
		}
	}
	if steps != 1 {
		t.Errorf("%d step records, want 1 for the step cut off", steps)
	}
}
