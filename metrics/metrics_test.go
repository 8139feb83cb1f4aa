package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetrics(t *testing.T) {
	oldest := time.Now().Add(-time.Minute)
	backlogErr := error(nil)
	m := New("v1.2.3", func(context.Context) (Backlog, error) {
		return Backlog{Pending: 2, Undelivered: 3, OldestUndelivered: oldest}, backlogErr
	}, slog.New(slog.DiscardHandler))
	m.Acked("deactivate", 2*time.Millisecond)
	m.Acked("", time.Millisecond)
	m.Ended("lockout", "done")
	m.Connected(true, false)
	m.Connected(false, false)
	m.Connected(true, true)
	m.DeliveryFailed("not_in_channel")
	m.OryRequest("set_state", 200, 30*time.Millisecond)
	m.OryRetry("set_state")

	body := scrape(t, m)
	for _, want := range []string{
		`orybot_build_info{version="v1.2.3"} 1`,
		`orybot_commands_total{verb="deactivate"} 1`,
		`orybot_ack_duration_seconds_count 2`,
		`orybot_requests_total{outcome="done",verb="lockout"} 1`,
		`orybot_slack_connected 1`,
		`orybot_slack_reconnects_total 1`,
		`orybot_audit_delivery_errors_total{error="not_in_channel"} 1`,
		`orybot_ory_requests_total{code="200",op="set_state"} 1`,
		`orybot_ory_request_duration_seconds_count{op="set_state"} 1`,
		`orybot_ory_retries_total{op="set_state"} 1`,
		`orybot_pending_requests 2`,
		`orybot_audit_undelivered_records 3`,
		`orybot_audit_oldest_undelivered_seconds 6`, // about 60
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}

	// A backlog that cannot be read leaves its gauges out, not at zero.
	backlogErr = errors.New("database down")
	if body := scrape(t, m); strings.Contains(body, "orybot_pending_requests") {
		t.Error("the backlog gauges were reported although the backlog could not be read")
	}
}
