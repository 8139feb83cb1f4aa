package bot

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Metrics counts what the bot does, for monitoring; the metrics package
// implements it. Labels are verbs, statuses and Slack error names only.
type Metrics interface {
	// Acked times an acknowledged envelope; verb is the slash command's
	// verb, or "" for other envelopes.
	Acked(verb string, took time.Duration)
	// Ended counts a request that reached a final status.
	Ended(verb, outcome string)
	// Connected records the socket-mode connection going up or down.
	Connected(up, reconnect bool)
	// DeliveryFailed counts a failed post to the audit channel.
	DeliveryFailed(reason string)
}

// noMetrics is the Metrics of a bot that is not monitored.
type noMetrics struct{}

func (noMetrics) Acked(string, time.Duration) {}
func (noMetrics) Ended(string, string)        {}
func (noMetrics) Connected(bool, bool)        {}
func (noMetrics) DeliveryFailed(string)       {}

// health is what the bot knows about its own state, for probes.
type health struct {
	connected atomic.Bool
	connects  atomic.Int64
	sweep     heartbeat
	delivery  heartbeat
}

// heartbeat is the last time a loop went round, in unix nanoseconds; zero
// before it started.
type heartbeat struct{ at atomic.Int64 }

func (h *heartbeat) beat(now time.Time) { h.at.Store(now.UnixNano()) }

// stale says whether the loop started and then stopped going round for
// longer than limit.
func (h *heartbeat) stale(now time.Time, limit time.Duration) bool {
	at := h.at.Load()
	return at != 0 && now.Sub(time.Unix(0, at)) > limit
}

// connection records a socket-mode connection going up or down.
func (b *Bot) connection(up bool) {
	if up {
		b.health.connected.Store(true)
		b.metrics.Connected(true, b.health.connects.Add(1) > 1)
		return
	}
	if b.health.connected.Swap(false) {
		b.metrics.Connected(false, false)
	}
}

// Ready says why the bot cannot serve Slack now, or returns nil: it is
// ready while its socket-mode connection is up.
func (b *Bot) Ready() error {
	if !b.health.connected.Load() {
		return errors.New("slack socket mode is not connected")
	}
	return nil
}

// Alive says which of the bot's loops stopped going round, or returns nil.
// A loop that never started (the bot is still starting) counts as alive.
func (b *Bot) Alive() error {
	now := time.Now()
	// Each limit covers the loop's longest wait plus one round of work.
	if b.health.sweep.stale(now, 2*b.cfg.SweepInterval+b.cfg.WorkTimeout) {
		return fmt.Errorf("the expiry sweep has not run for over %s", 2*b.cfg.SweepInterval+b.cfg.WorkTimeout)
	}
	if limit := 2*deliveryBackoffMax + time.Minute; b.health.delivery.stale(now, limit) {
		return fmt.Errorf("the audit delivery loop has not run for over %s", limit)
	}
	return nil
}
