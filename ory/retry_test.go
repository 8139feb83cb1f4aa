package ory_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/kratostest"
	"github.com/orybot/orybot/ory"
)

const testAPIKey = "ory_pat_test-key-0123456789"

// faultProxy sits between the client and a real Kratos. For each request it
// asks fault what to do; fault returns false to let the request through.
type faultProxy struct {
	url   string
	fault func(n int, w http.ResponseWriter, r *http.Request) bool

	mu   sync.Mutex
	n    int      // requests seen
	auth []string // Authorization header of each request
}

func newFaultProxy(t *testing.T, k *kratostest.Server, fault func(n int, w http.ResponseWriter, r *http.Request) bool) *faultProxy {
	t.Helper()
	target, err := url.Parse(k.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &faultProxy{fault: fault}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.n++
		n := p.n
		p.auth = append(p.auth, r.Header.Get("Authorization"))
		p.mu.Unlock()
		if p.fault != nil && p.fault(n, w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	// The API key must arrive on every call, retries included.
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, a := range p.auth {
			if a != "Bearer "+testAPIKey {
				t.Errorf("request %d: Authorization = %q, want the bearer API key", i+1, a)
			}
		}
	})
	return p
}

func (p *faultProxy) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// retryLog records retry notices.
type retryLog struct {
	mu    sync.Mutex
	waits []time.Duration
	errs  []error
}

func (l *retryLog) hook(r ory.Retry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits = append(l.waits, r.Wait)
	l.errs = append(l.errs, r.Err)
}

func (l *retryLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waits)
}

func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%d,"status":%q,"message":%q}}`, status, http.StatusText(status), message)
}

func hijackAndClose(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

func TestRetries(t *testing.T) {
	t.Parallel()
	k := kratostest.Start(t)
	email := "retry-user@example.com"
	id := k.CreateIdentity(t, email)

	// client returns a client through p with fast backoff and a recorder
	// of retry notices.
	client := func(t *testing.T, p *faultProxy, opts ...func(*ory.Config)) (*ory.Client, *retryLog) {
		log := &retryLog{}
		c := newClient(t, p.url, append([]func(*ory.Config){func(cfg *ory.Config) {
			cfg.APIKey = testAPIKey
			cfg.MaxRetries = 2
			cfg.BackoffBase = 5 * time.Millisecond
			cfg.BackoffMax = 5 * time.Second
		}}, opts...)...)
		return c.WithRetryNotice(log.hook), log
	}

	t.Run("429ThenSuccess", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusTooManyRequests, "slow down")
				return true
			}
			return false
		})
		c, log := client(t, p)
		start := time.Now()
		got, err := c.Identity(t.Context(), id)
		if err != nil || got.ID != id {
			t.Fatalf("Identity = %v, %v; want success after a retry", got.ID, err)
		}
		if log.count() != 1 || log.waits[0] != time.Second || !errors.Is(log.errs[0], ory.ErrRateLimited) {
			t.Errorf("retry notices: waits %v errs %v; want one 1s wait for ErrRateLimited", log.waits, log.errs)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("call took %v, want at least the 1s Retry-After", d)
		}
	})

	t.Run("SerializationFailureIsRetried", func(t *testing.T) {
		t.Parallel()
		// Kratos answers a database transaction that lost a race with 400.
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				writeError(w, http.StatusBadRequest, "Unable to serialize access due to a concurrent update in another session")
				return true
			}
			return false
		})
		c, log := client(t, p)
		got, err := c.SetState(t.Context(), id, ory.StateActive)
		if err != nil || got.State != ory.StateActive {
			t.Fatalf("SetState = %v, %v; want success after a retry", got.State, err)
		}
		if p.requests() != 2 || log.count() != 1 {
			t.Errorf("%d requests, %d retries; want 2 and 1", p.requests(), log.count())
		}
	})

	t.Run("OtherBadRequestIsNotRetried", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusBadRequest, "The request was malformed")
			return true
		})
		c, log := client(t, p)
		if _, err := c.SetState(t.Context(), id, ory.StateActive); !errors.Is(err, ory.ErrBadRequest) {
			t.Fatalf("SetState error = %v, want ErrBadRequest", err)
		}
		if p.requests() != 1 || log.count() != 0 {
			t.Errorf("%d requests, %d retries; want 1 and 0", p.requests(), log.count())
		}
	})

	t.Run("429Forever", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
			return true
		})
		c, log := client(t, p)
		_, err := c.Identity(t.Context(), id)
		if !errors.Is(err, ory.ErrRateLimited) {
			t.Fatalf("Identity error = %v, want ErrRateLimited", err)
		}
		if e := asError(t, err); e.Reason != "rate limit exceeded" || e.Status != http.StatusTooManyRequests {
			t.Errorf("error = %+v, want status 429 and Kratos-style reason", e)
		}
		if got := p.requests(); got != 3 || log.count() != 2 {
			t.Errorf("%d requests and %d retry notices, want 3 and 2 (MaxRetries=2)", got, log.count())
		}
	})

	t.Run("429LongRetryAfter", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Retry-After", "3600")
			writeError(w, http.StatusTooManyRequests, "quota exhausted")
			return true
		})
		c, log := client(t, p)
		_, err := c.Identity(t.Context(), id)
		e := asError(t, err)
		if !errors.Is(err, ory.ErrRateLimited) || e.RetryAfter != time.Hour {
			t.Fatalf("error = %+v, want ErrRateLimited with RetryAfter 1h", e)
		}
		if p.requests() != 1 || log.count() != 0 {
			t.Errorf("%d requests, %d retries; a wait beyond BackoffMax must not be attempted", p.requests(), log.count())
		}
	})

	t.Run("429RatelimitResetOnPOST", func(t *testing.T) {
		t.Parallel()
		// 429 means "not processed", so even recovery creation retries.
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				w.Header().Set("X-Ratelimit-Reset", "0")
				writeError(w, http.StatusTooManyRequests, "slow down")
				return true
			}
			return false
		})
		c, log := client(t, p)
		if _, _, err := c.RecoveryLink(t.Context(), id, time.Minute); err != nil {
			t.Fatalf("RecoveryLink = %v, want success after a retry", err)
		}
		if p.requests() != 2 || log.count() != 1 {
			t.Errorf("%d requests, %d retries; want 2 and 1", p.requests(), log.count())
		}
	})

	t.Run("503ThenSuccessOnGET", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				writeError(w, http.StatusServiceUnavailable, "maintenance")
				return true
			}
			return false
		})
		c, log := client(t, p)
		got, err := c.IdentityByEmail(t.Context(), email)
		if err != nil || got.ID != id {
			t.Fatalf("IdentityByEmail = %v, %v; want success after a retry", got.ID, err)
		}
		if log.count() != 1 || !errors.Is(log.errs[0], ory.ErrUnavailable) {
			t.Errorf("OnRetry errs %v, want one ErrUnavailable", log.errs)
		}
	})

	t.Run("503OnRecoveryNotRetried", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusServiceUnavailable, "maintenance")
			return true
		})
		c, log := client(t, p)
		_, _, err := c.RecoveryLink(t.Context(), id, time.Minute)
		if !errors.Is(err, ory.ErrUnavailable) {
			t.Errorf("RecoveryLink error = %v, want ErrUnavailable", err)
		}
		_, _, _, err = c.RecoveryCode(t.Context(), id, time.Minute)
		if !errors.Is(err, ory.ErrUnavailable) {
			t.Errorf("RecoveryCode error = %v, want ErrUnavailable", err)
		}
		if p.requests() != 2 || log.count() != 0 {
			t.Errorf("%d requests, %d retries; want one request per call and no retry", p.requests(), log.count())
		}
	})

	t.Run("SlowAnswer", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		})
		c, log := client(t, p, func(cfg *ory.Config) { cfg.Timeout = 200 * time.Millisecond })
		start := time.Now()
		_, err := c.Identity(t.Context(), id)
		if !errors.Is(err, ory.ErrUnavailable) {
			t.Fatalf("Identity error = %v, want ErrUnavailable", err)
		}
		t.Logf("slow: %v", err)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("call took %v; each attempt should stop after 200ms", d)
		}
		if log.count() != 2 {
			t.Errorf("%d retries, want 2", log.count())
		}
	})

	t.Run("DroppedConnection", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			hijackAndClose(t, w)
			return true
		})
		c, _ := client(t, p)
		_, err := c.IdentityByEmail(t.Context(), email)
		if !errors.Is(err, ory.ErrUnavailable) {
			t.Fatalf("IdentityByEmail error = %v, want ErrUnavailable", err)
		}
		// *url.Error carries the request URL, whose query holds the email.
		if strings.Contains(err.Error(), "retry-user") {
			t.Errorf("error %q contains the email", err)
		}
		t.Logf("dropped: %v", err)
		// Recovery creation may have happened before the drop: no retry.
		before := p.requests()
		if _, _, err := c.RecoveryLink(t.Context(), id, time.Minute); !errors.Is(err, ory.ErrUnavailable) {
			t.Errorf("RecoveryLink error = %v, want ErrUnavailable", err)
		}
		if got := p.requests() - before; got != 1 {
			t.Errorf("RecoveryLink made %d requests, want 1", got)
		}
	})

	t.Run("LostDeleteAnswer", func(t *testing.T) {
		t.Parallel()
		email := "lost-delete@example.com"
		id := k.CreateIdentity(t, email)
		k.AddTOTP(t, email)
		// Kratos deletes the credential, but the answer is lost; the retry
		// then gets 404, which means the job is done.
		rp := httputil.NewSingleHostReverseProxy(mustParse(t, k.AdminURL))
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				rp.ServeHTTP(httptest.NewRecorder(), r)
				writeError(w, http.StatusBadGateway, "upstream reset")
				return true
			}
			return false
		})
		c, log := client(t, p)
		if err := c.DeleteCredential(t.Context(), id, "totp", ""); err != nil {
			t.Fatalf("DeleteCredential = %v, want success", err)
		}
		if log.count() != 1 {
			t.Errorf("%d retries, want 1", log.count())
		}
		if _, ok := k.Identity(t, id).GetCredentials()["totp"]; ok {
			t.Errorf("totp credential still present")
		}
	})

	t.Run("CallerCancelsDuringBackoff", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusServiceUnavailable, "down")
			return true
		})
		ctx, cancel := context.WithCancel(t.Context())
		c, _ := client(t, p, func(cfg *ory.Config) {
			cfg.BackoffBase = time.Minute
			cfg.BackoffMax = time.Minute
		})
		c = c.WithRetryNotice(func(ory.Retry) { cancel() })
		_, err := c.Identity(ctx, id)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Identity error = %v, want context.Canceled", err)
		}
	})

	t.Run("DeadlineTooShortForWait", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Retry-After", "3")
			writeError(w, http.StatusTooManyRequests, "slow down")
			return true
		})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		c, _ := client(t, p)
		start := time.Now()
		_, err := c.Identity(ctx, id)
		if e := asError(t, err); !errors.Is(err, ory.ErrRateLimited) || e.RetryAfter != 3*time.Second {
			t.Errorf("error = %v, want ErrRateLimited with RetryAfter 3s", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("call took %v; it should give up at once when the deadline is too close", d)
		}
	})

	t.Run("ReasonNeverHoldsAPIKey", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			// A misbehaving proxy that echoes the request headers.
			writeError(w, http.StatusBadRequest, "bad header: "+r.Header.Get("Authorization"))
			return true
		})
		c, _ := client(t, p)
		_, err := c.Identity(t.Context(), id)
		if !errors.Is(err, ory.ErrBadRequest) {
			t.Fatalf("Identity error = %v, want ErrBadRequest", err)
		}
		if strings.Contains(err.Error(), testAPIKey) || !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("error %q must show the key redacted", err)
		}
	})

	t.Run("SessionPagination", func(t *testing.T) {
		t.Parallel()
		email := "paged@example.com"
		id := k.CreateIdentity(t, email)
		want := map[string]bool{}
		for range 3 {
			sid, _ := k.Login(t, email)
			want[sid] = true
		}
		rp := httputil.NewSingleHostReverseProxy(mustParse(t, k.AdminURL))
		for _, keepTotal := range []bool{true, false} {
			t.Run(fmt.Sprintf("X-Total-Count=%v", keepTotal), func(t *testing.T) {
				// Force one session per page so that Sessions must follow
				// Kratos's Link headers; without X-Total-Count it has to
				// stop at the first empty page.
				p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
					q := r.URL.Query()
					q.Set("page_size", "1")
					r.URL.RawQuery = q.Encode()
					rec := httptest.NewRecorder()
					rp.ServeHTTP(rec, r)
					for name, values := range rec.Header() {
						if keepTotal || name != "X-Total-Count" {
							w.Header()[name] = values
						}
					}
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes())
					return true
				})
				c, _ := client(t, p)
				got, err := c.Sessions(t.Context(), id, false)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, s := range got {
					if seen[s.ID] || !want[s.ID] {
						t.Errorf("Sessions returned %s twice or from nowhere: %v", s.ID, sessionIDs(got))
					}
					seen[s.ID] = true
				}
				if len(got) == 0 || p.requests() > 4 {
					t.Errorf("Sessions returned %d sessions in %d requests", len(got), p.requests())
				}
				// Kratos v1.3.1's "next" link repeats the first page and never
				// reaches the last one. When this log stops appearing, Kratos
				// is fixed and the workaround (one page of 1000) can go.
				if !maps.Equal(seen, want) {
					t.Logf("known Kratos v1.3.1 pagination bug: got %d of 3 sessions in %d requests", len(got), p.requests())
				}
			})
		}
	})

	t.Run("Unauthorized", func(t *testing.T) {
		t.Parallel()
		p := newFaultProxy(t, k, func(n int, w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusUnauthorized, "The request could not be authorized")
			return true
		})
		c, log := client(t, p)
		if err := c.Ping(t.Context()); !errors.Is(err, ory.ErrUnauthorized) {
			t.Errorf("Ping error = %v, want ErrUnauthorized", err)
		}
		if log.count() != 0 {
			t.Errorf("401 was retried")
		}
	})
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
