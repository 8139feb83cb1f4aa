package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var servingAddr = regexp.MustCompile(`"msg":"serving /healthz, /readyz and /metrics","addr":"([^"]+)"`)

// opsURL returns the base URL of the probes of the bot started last.
func (h *harness) opsURL(t *testing.T) string {
	t.Helper()
	m := servingAddr.FindAllStringSubmatch(h.logs.String(), -1)
	if m == nil {
		t.Fatal("the bot did not log where it serves its probes")
	}
	return "http://" + m[len(m)-1][1]
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitGet waits until GET url answers want, and returns the body.
func (h *harness) waitGet(t *testing.T, url string, want int) string {
	t.Helper()
	var code int
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, body = get(t, url); code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %d", url, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of the sample named exactly by series (name and
// labels as Prometheus prints them), or -1 if it is absent.
func metric(body, series string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// waitMetric waits until the sample satisfies ok.
func (h *harness) waitMetric(t *testing.T, base, series string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, base+"/metrics")
		v := metric(body, series)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s = %v; never met the condition", series, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProbesAndMetrics(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	base := h.opsURL(t)

	t.Run("while connected", func(t *testing.T) {
		if code, body := get(t, base+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz = %d %q, want 200", code, body)
		}
		h.waitGet(t, base+"/readyz", http.StatusOK)
		_, body := get(t, base+"/metrics")
		for _, want := range []string{"orybot_slack_connected 1", `orybot_build_info{version="`, "go_goroutines ", "process_resident_memory_bytes "} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})

	t.Run("an approved request moves the counters", func(t *testing.T) {
		id := h.kratos.CreateIdentity(t, "metrics@customer.example")
		reqID, card := h.request(t, "deactivate metrics@customer.example -- metrics test")
		h.approve(t, reqID, card, "*Done*")
		h.waitMetric(t, base, `orybot_requests_total{outcome="done",verb="deactivate"}`, func(v float64) bool { return v == 1 })
		_, body := get(t, base+"/metrics")
		if v := metric(body, `orybot_commands_total{verb="deactivate"}`); v != 1 {
			t.Errorf(`orybot_commands_total{verb="deactivate"} = %v, want 1`, v)
		}
		if v := metric(body, `orybot_ory_request_duration_seconds_count{op="set_state"}`); v != 1 {
			t.Errorf(`orybot_ory_request_duration_seconds_count{op="set_state"} = %v, want 1`, v)
		}
		if v := metric(body, `orybot_ory_requests_total{code="200",op="set_state"}`); v != 1 {
			t.Errorf(`orybot_ory_requests_total{code="200",op="set_state"} = %v, want 1`, v)
		}
		if v := metric(body, "orybot_ack_duration_seconds_count"); v < 2 {
			t.Errorf("orybot_ack_duration_seconds_count = %v, want the command and the click", v)
		}
		// Labels never carry ids, emails or reasons.
		for _, secret := range []string{id, reqID, "metrics@customer.example", "metrics test"} {
			if strings.Contains(body, secret) {
				t.Errorf("/metrics contains %q", secret)
			}
		}
	})

	t.Run("undelivered audit records rise and fall", func(t *testing.T) {
		h.slack.SetMember(auditChan, false)
		h.kratos.CreateIdentity(t, "backlog@customer.example")
		h.request(t, "deactivate backlog@customer.example -- backlog test")
		h.waitMetric(t, base, "orybot_audit_undelivered_records", func(v float64) bool { return v >= 1 })
		h.waitMetric(t, base, `orybot_audit_delivery_errors_total{error="not_in_channel"}`, func(v float64) bool { return v >= 1 })
		h.waitMetric(t, base, "orybot_audit_oldest_undelivered_seconds", func(v float64) bool { return v > 0 })
		h.waitMetric(t, base, "orybot_pending_requests", func(v float64) bool { return v == 1 })
		h.slack.SetMember(auditChan, true)
		h.waitMetric(t, base, "orybot_audit_undelivered_records", func(v float64) bool { return v == 0 })
	})

	t.Run("not ready while Slack refuses connections", func(t *testing.T) {
		h.slack.ServerErrorNext("apps.connections.open", 4)
		before := h.slack.Connections()
		if err := h.slack.DropConnection(); err != nil {
			t.Fatal(err)
		}
		body := h.waitGet(t, base+"/readyz", http.StatusServiceUnavailable)
		if !strings.Contains(body, "slack") {
			t.Errorf("/readyz body %q does not name Slack", body)
		}
		h.waitMetric(t, base, "orybot_slack_connected", func(v float64) bool { return v == 0 })
		if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz = %d while reconnecting, want 200: the process is alive", code)
		}
		if err := h.slack.WaitFor(ctxT(t), func() bool { return h.slack.Connections() > before }); err != nil {
			t.Fatal("the bot did not reconnect")
		}
		h.waitGet(t, base+"/readyz", http.StatusOK)
		h.waitMetric(t, base, "orybot_slack_connected", func(v float64) bool { return v == 1 })
		h.waitMetric(t, base, "orybot_slack_reconnects_total", func(v float64) bool { return v >= 1 })
	})
}

// A port already in use stops the bot at start, naming the variable.
func TestListenAddrInUse(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h.setenv(t, "ORYBOT_LISTEN_ADDR", ln.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = run(ctx, nil, h.getenv, &bytes.Buffer{}, h.logs)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run = %v, want it to stop at once", err)
	}
	contains(t, "error", err.Error(), "ORYBOT_LISTEN_ADDR", "address already in use")
	if n := h.slack.Connections(); n != 0 {
		t.Errorf("the bot connected to Slack %d times before failing", n)
	}
}
