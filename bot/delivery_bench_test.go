package bot

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/internal/pgtest"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// startReplicas runs two bots, each with its own Store, on one new
// PostgreSQL database and one fake Slack, and returns the fake Slack and
// the Stores.
func startReplicas(tb testing.TB) (*slacktest.Server, []*store.Store) {
	tb.Helper()
	dbURL := pgtest.Start(tb)
	fs := slacktest.New(tb)
	var stores []*store.Store
	for range 2 {
		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		stores = append(stores, st)
		api := slack.New(slacktest.BotToken, slack.OptionAPIURL(fs.APIURL()), slack.OptionAppLevelToken(slacktest.AppToken))
		bot := New(testLogger(tb), api, testDeps(&fakeOry{}, st), testConfig())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- bot.Run(ctx) }()
		tb.Cleanup(func() { cancel(); <-done })
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fs.WaitFor(ctx, func() bool { return fs.LiveConnections() == 2 }); err != nil {
		tb.Fatal(err)
	}
	return fs, stores
}

// deliveryLatency appends record number i on one of stores, alternating,
// and returns how long it took to reach the audit channel. Half the records
// are thus written on the replica that does not deliver, and reach the
// deliverer through NOTIFY.
func deliveryLatency(tb testing.TB, fs *slacktest.Server, stores []*store.Store, i int) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := audit.Record{RequestID: fmt.Sprintf("bench%05d", i), Event: audit.Requested, Verb: "deactivate", Requester: "UREQ"}
	start := time.Now()
	if _, err := stores[i%len(stores)].AppendAudit(ctx, rec); err != nil {
		tb.Fatal(err)
	}
	if err := fs.WaitFor(ctx, func() bool { return len(fs.Messages("CAUDIT")) > i }); err != nil {
		tb.Fatalf("record %d not posted: %v", i+1, err)
	}
	return time.Since(start)
}

// percentile returns the p-th percentile of the sorted lat.
func percentile(lat []time.Duration, p int) time.Duration {
	return lat[min(len(lat)*p/100, len(lat)-1)]
}

// A record written on either of two replicas reaches the audit channel
// within a second at p99: the deliverer is woken, not polling.
func TestAuditDeliveryAcrossReplicasIsFast(t *testing.T) {
	fs, stores := startReplicas(t)
	var lat []time.Duration
	for i := range 60 {
		lat = append(lat, deliveryLatency(t, fs, stores, i))
	}
	slices.Sort(lat)
	t.Logf("delivery latency over %d records: p50 %v, p99 %v", len(lat), percentile(lat, 50), percentile(lat, 99))
	if p99 := percentile(lat, 99); p99 > time.Second {
		t.Errorf("p99 delivery latency %v, want at most 1s", p99)
	}
}

// BenchmarkAuditDelivery measures how long an audit record takes from its
// append to its post in the audit channel, with two replicas on one
// PostgreSQL database, and reports p50 and p99 in milliseconds.
func BenchmarkAuditDelivery(b *testing.B) {
	fs, stores := startReplicas(b)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		lat = append(lat, deliveryLatency(b, fs, stores, len(lat)))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}
