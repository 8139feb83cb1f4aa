// Package ory talks to the admin API of Ory Kratos or Ory Network on the
// bot's behalf. It is the only package that imports ory/client-go: callers
// see small domain types (Identity, Session) and the sentinel errors of this
// package, never client-go types.
//
// Every call runs under a per-call timeout and is retried when that is
// safe: 429 answers are always retried (Ory did not process the request),
// 5xx answers and network failures only for calls that may be repeated.
package ory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	client "github.com/ory/client-go"
)

// Defaults for the zero values of Config.
const (
	// DefaultTimeout bounds each attempt of a call.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxRetries is how many times a failed call is retried.
	DefaultMaxRetries = 3
	// DefaultBackoffBase is the first backoff delay.
	DefaultBackoffBase = 500 * time.Millisecond
	// DefaultBackoffMax caps the backoff delay and the Retry-After honoured.
	DefaultBackoffMax = 30 * time.Second
)

// Config configures a Client. Only AdminURL is required.
type Config struct {
	// AdminURL is the base URL of the admin API: Kratos's admin port, or
	// https://<slug>.projects.oryapis.com for Ory Network.
	AdminURL string
	// APIKey, if set, is sent as "Authorization: Bearer <key>" on every
	// call. Ory Network needs it; self-hosted Kratos ignores it.
	APIKey string
	// HTTPClient is used for requests if set. A copy is made that does not
	// follow redirects.
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how many times a failed call may be retried. Zero means
	// DefaultMaxRetries; a negative value disables retries.
	MaxRetries int
	// BackoffBase is the first backoff delay; it doubles on each retry.
	// Zero means DefaultBackoffBase.
	BackoffBase time.Duration
	// BackoffMax caps the backoff delay and is the longest Retry-After the
	// client waits for; a longer one ends the call with ErrRateLimited.
	// Zero means DefaultBackoffMax.
	BackoffMax time.Duration
	// Logger receives a warning for each retry. Nil discards logs.
	Logger *slog.Logger
	// Metrics, if set, is told of every attempt and every retry.
	Metrics Metrics
}

// Metrics receives what the client observes, for monitoring. op is a fixed
// name such as "get_identity", never carrying ids; status is the HTTP
// status, or 0 when no answer came.
type Metrics interface {
	OryRequest(op string, status int, took time.Duration)
	OryRetry(op string)
}

// Retry describes a failed attempt that is about to be retried.
type Retry struct {
	Op      string        // the operation, as in errors and logs
	Attempt int           // the attempt that failed, from 1
	Wait    time.Duration // how long until the next attempt
	Err     error         // why it failed
}

// Client calls the Ory admin API. It is safe for concurrent use.
type Client struct {
	api         *client.APIClient
	apiKey      string
	timeout     time.Duration
	maxRetries  int
	backoffBase time.Duration
	backoffMax  time.Duration
	log         *slog.Logger
	onRetry     func(Retry)
	metrics     Metrics
}

// WithRetryNotice returns a copy of c that calls notice, after logging it,
// before waiting to retry a failed call: a caller that runs one piece of
// work can show its users that Ory is slow without the client knowing
// about the work.
func (c *Client) WithRetryNotice(notice func(Retry)) *Client {
	copied := *c
	copied.onRetry = notice
	return &copied
}

// New returns a Client for cfg. It checks the configuration but does not
// contact Ory; call Ping for that.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.AdminURL))
	switch {
	case cfg.AdminURL == "":
		return nil, errors.New("ory: admin URL is empty")
	case err != nil:
		return nil, fmt.Errorf("ory: admin URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("ory: admin URL %s: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("ory: admin URL %s: no host", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("ory: admin URL %s: must not have a query or fragment", u.Redacted())
	}
	if strings.ContainsAny(cfg.APIKey, " \t\r\n") {
		return nil, errors.New("ory: API key contains white space")
	}
	if cfg.Timeout < 0 || cfg.BackoffBase < 0 || cfg.BackoffMax < 0 {
		return nil, errors.New("ory: negative timeout or backoff")
	}

	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	// Kratos's public port answers /admin/* with a 307 to the admin port.
	// Following it would hide a misconfiguration that breaks as soon as the
	// ports are firewalled, so a redirect is an error (ErrWrongURL).
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	apiCfg := client.NewConfiguration()
	apiCfg.Servers = client.ServerConfigurations{{URL: strings.TrimRight(u.String(), "/")}}
	apiCfg.HTTPClient = hc
	apiCfg.UserAgent = "orybot"
	if cfg.APIKey != "" {
		apiCfg.DefaultHeader["Authorization"] = "Bearer " + cfg.APIKey
	}

	c := &Client{
		api:         client.NewAPIClient(apiCfg),
		apiKey:      cfg.APIKey,
		timeout:     orDefault(cfg.Timeout, DefaultTimeout),
		maxRetries:  cfg.MaxRetries,
		backoffBase: orDefault(cfg.BackoffBase, DefaultBackoffBase),
		backoffMax:  orDefault(cfg.BackoffMax, DefaultBackoffMax),
		log:         cfg.Logger,
		metrics:     cfg.Metrics,
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// call describes one operation for the retry loop.
type call struct {
	// name is the operation's fixed name in metrics: no ids, no traits.
	name string
	// op names the operation in errors and logs, e.g. "get identity <id>".
	// It must not contain traits such as the email.
	op string
	// idempotent calls may be repeated after a 5xx or a network failure,
	// when the first attempt may have been processed.
	idempotent bool
	// goneOK makes a 404 count as success when an earlier attempt may have
	// been processed: a DELETE whose answer was lost did its job.
	goneOK bool
}

// do runs fn until it succeeds, fails for good, or ctx ends. fn makes one
// client-go call under the context it is given and returns its response
// and error.
func (c *Client) do(ctx context.Context, cl call, fn func(ctx context.Context) (*http.Response, error)) error {
	maybeProcessed := false
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		start := time.Now()
		resp, err := fn(actx)
		cancel() // client-go has read and closed the body by now.
		if c.metrics != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			c.metrics.OryRequest(cl.name, status, time.Since(start))
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", cl.op, ctx.Err())
		}
		e := c.classify(cl.op, resp, err, time.Now())
		if cl.goneOK && maybeProcessed && e.Status == http.StatusNotFound {
			return nil
		}
		if e.Status == 0 || e.Status >= 500 {
			maybeProcessed = true
		}
		wait, ok := c.retryWait(cl, e, attempt)
		if !ok {
			return e
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			return e // waiting would outlive the caller.
		}
		c.log.WarnContext(ctx, "ory call failed, retrying", "op", cl.op, "attempt", attempt, "wait", wait, "err", e)
		if c.metrics != nil {
			c.metrics.OryRetry(cl.name)
		}
		if c.onRetry != nil {
			c.onRetry(Retry{Op: cl.op, Attempt: attempt, Wait: wait, Err: e})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", cl.op, ctx.Err())
		case <-t.C:
		}
	}
}

// retryWait decides whether a failed attempt is retried, and after how long.
func (c *Client) retryWait(cl call, e *Error, attempt int) (time.Duration, bool) {
	if attempt > c.maxRetries {
		return 0, false
	}
	switch {
	case errors.Is(e, ErrRateLimited):
		// A 429 was not processed, so even a POST may be repeated.
	case errors.Is(e, ErrUnavailable) && cl.idempotent:
	case isSerializationFailure(e) && cl.idempotent:
		// Kratos answers a transaction that lost a race in its database
		// with 400 "Unable to serialize access due to a concurrent update";
		// nothing was changed, so an idempotent call may try again.
	default:
		return 0, false
	}
	if e.RetryAfter > 0 {
		if e.RetryAfter > c.backoffMax {
			return 0, false // the caller had better tell the user to come back later.
		}
		return e.RetryAfter, true
	}
	return backoff(c.backoffBase, c.backoffMax, attempt), true
}

// isSerializationFailure reports whether Kratos refused a call because its
// database transaction collided with another one.
func isSerializationFailure(e *Error) bool {
	return errors.Is(e, ErrBadRequest) && strings.Contains(strings.ToLower(e.Reason), "concurrent update")
}

// backoff returns the delay before retry number attempt (from 1): base
// doubled for each earlier attempt, capped at limit, with the upper half
// randomised so that clients that failed together do not retry together.
func backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter reads how long the server asked to wait: Retry-After in seconds
// or as an HTTP date, else x-ratelimit-reset, which Ory Network sends either
// as seconds from now or as a Unix time. It returns 0 if neither is usable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, ok := parseSeconds(v); ok {
			return secs
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if v := strings.TrimSpace(h.Get("X-Ratelimit-Reset")); v != "" {
		if d, ok := parseSeconds(v); ok {
			// A value this large is a timestamp: no limit window lasts
			// 30 years.
			const epochThreshold = 1_000_000_000 * time.Second
			if d >= epochThreshold {
				return max(time.Unix(int64(d/time.Second), 0).Sub(now), 0)
			}
			return d
		}
	}
	return 0
}

func parseSeconds(v string) (time.Duration, bool) {
	var n int64
	if v == "" || len(v) > 12 {
		return 0, false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int64(r-'0')
	}
	return time.Duration(n) * time.Second, true
}
