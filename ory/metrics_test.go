package ory_test

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/kratostest"
	"github.com/orybot/orybot/ory"
)

// opsSeen records what the client reports to its Metrics.
type opsSeen struct {
	mu       sync.Mutex
	requests []string // "op status"
	retries  []string
}

func (o *opsSeen) OryRequest(op string, status int, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, op+" "+strconv.Itoa(status))
}

func (o *opsSeen) OryRetry(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, op)
}

// Every attempt is reported with a fixed operation name and the HTTP status,
// never with the ids or emails that the operation's error text carries.
func TestMetricsNames(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)
	email := newEmail(t)
	id := k.CreateIdentity(t, email)
	seen := &opsSeen{}
	c := newClient(t, k.AdminURL, func(cfg *ory.Config) { cfg.Metrics = seen })

	if _, err := c.Identity(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.IdentityByEmail(t.Context(), email); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetState(t.Context(), id, ory.StateInactive); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Identity(t.Context(), "00000000-0000-4000-8000-000000000000"); err == nil {
		t.Fatal("an unknown identity was found")
	}
	want := []string{"get_identity 200", "find_identity 200", "set_state 200", "get_identity 404"}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if !slices.Equal(seen.requests, want) {
		t.Errorf("reported %q, want %q", seen.requests, want)
	}
	for _, r := range seen.requests {
		if strings.Contains(r, id) || strings.Contains(strings.ToLower(r), strings.ToLower(email)) {
			t.Errorf("a metric label carries an id or email: %q", r)
		}
	}
}
