package ory

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"kratos admin", Config{AdminURL: "http://127.0.0.1:4434"}, false},
		{"trailing slash", Config{AdminURL: "http://kratos:4434/"}, false},
		{"path prefix", Config{AdminURL: "https://proxy.example.com/kratos"}, false},
		{"ory network", Config{AdminURL: "https://slug.projects.oryapis.com", APIKey: "ory_pat_x"}, false},
		{"empty", Config{}, true},
		{"no scheme", Config{AdminURL: "kratos:4434"}, true},
		{"ftp", Config{AdminURL: "ftp://kratos"}, true},
		{"no host", Config{AdminURL: "http://"}, true},
		{"query", Config{AdminURL: "http://kratos:4434?x=1"}, true},
		{"bad url", Config{AdminURL: "http://[::1"}, true},
		{"key with newline", Config{AdminURL: "http://kratos", APIKey: "a\nb"}, true},
		{"negative timeout", Config{AdminURL: "http://kratos", Timeout: -time.Second}, true},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: New(%+v) error = %v, want error %v", tt.name, tt.cfg, err, tt.wantErr)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	hc := &http.Client{Timeout: time.Minute}
	c, err := New(Config{AdminURL: "http://kratos", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != DefaultTimeout || c.maxRetries != DefaultMaxRetries || c.backoffBase != DefaultBackoffBase || c.backoffMax != DefaultBackoffMax {
		t.Errorf("defaults not applied: %+v", c)
	}
	if hc.CheckRedirect != nil {
		t.Errorf("New modified the caller's http.Client")
	}
	if c.api.GetConfig().HTTPClient.CheckRedirect == nil {
		t.Errorf("the client follows redirects")
	}
	c, _ = New(Config{AdminURL: "http://kratos", MaxRetries: -1})
	if c.maxRetries != 0 {
		t.Errorf("MaxRetries -1 gave %d retries, want 0", c.maxRetries)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"http date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"reset relative", map[string]string{"X-Ratelimit-Reset": "12"}, 12 * time.Second},
		{"reset unix", map[string]string{"X-Ratelimit-Reset": fmt.Sprint(now.Add(40 * time.Second).Unix())}, 40 * time.Second},
		{"reset unix past", map[string]string{"X-Ratelimit-Reset": fmt.Sprint(now.Add(-40 * time.Second).Unix())}, 0},
		{"retry-after wins", map[string]string{"Retry-After": "3", "X-Ratelimit-Reset": "30"}, 3 * time.Second},
		{"bad retry-after falls back", map[string]string{"Retry-After": "x", "X-Ratelimit-Reset": "30"}, 30 * time.Second},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("%s: retryAfter(%v) = %v, want %v", tt.name, tt.header, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	for attempt := 1; attempt <= 8; attempt++ {
		ceiling := min(base<<(attempt-1), limit)
		for range 50 {
			got := backoff(base, limit, attempt)
			if got < ceiling/2 || got > ceiling {
				t.Fatalf("backoff(attempt %d) = %v, want in [%v, %v]", attempt, got, ceiling/2, ceiling)
			}
		}
	}
}

func TestRetryWait(t *testing.T) {
	c := &Client{maxRetries: 2, backoffBase: time.Millisecond, backoffMax: 10 * time.Second}
	get := call{op: "get", idempotent: true}
	post := call{op: "post"}
	tests := []struct {
		name      string
		cl        call
		err       *Error
		attempt   int
		wantRetry bool
		wantWait  time.Duration // checked when non-zero
	}{
		{"429 get", get, &Error{Status: 429, Err: ErrRateLimited}, 1, true, 0},
		{"429 post", post, &Error{Status: 429, Err: ErrRateLimited}, 1, true, 0},
		{"429 retry-after", post, &Error{Status: 429, Err: ErrRateLimited, RetryAfter: 2 * time.Second}, 1, true, 2 * time.Second},
		{"429 retry-after too long", get, &Error{Status: 429, Err: ErrRateLimited, RetryAfter: time.Minute}, 1, false, 0},
		{"429 out of retries", get, &Error{Status: 429, Err: ErrRateLimited}, 3, false, 0},
		{"503 get", get, &Error{Status: 503, Err: ErrUnavailable}, 2, true, 0},
		{"503 post", post, &Error{Status: 503, Err: ErrUnavailable}, 1, false, 0},
		{"network post", post, &Error{Err: ErrUnavailable}, 1, false, 0},
		{"404 get", get, &Error{Status: 404, Err: ErrNotFound}, 1, false, 0},
		{"400 get", get, &Error{Status: 400, Err: ErrBadRequest}, 1, false, 0},
	}
	for _, tt := range tests {
		wait, ok := c.retryWait(tt.cl, tt.err, tt.attempt)
		if ok != tt.wantRetry || (tt.wantWait != 0 && wait != tt.wantWait) {
			t.Errorf("%s: retryWait = %v, %v; want retry %v wait %v", tt.name, wait, ok, tt.wantRetry, tt.wantWait)
		}
	}
}

func TestBodyReason(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{`{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}`, "Unable to locate the resource"},
		{`{"error":{"code":400,"reason":"You cannot remove first factor credentials.","message":"The request was malformed"}}`, "You cannot remove first factor credentials."},
		{`{"message":"flat message"}`, "flat message"},
		{`{"error":"invalid_client","error_description":"Client authentication failed"}`, "Client authentication failed"},
		{`{"error":"invalid_client"}`, "invalid_client"},
		{`404 page not found`, ""},
		{``, ""},
		{`{"error":{"reason":"line one\nline\ttwo"}}`, "line one line two"},
	}
	for _, tt := range tests {
		if got := bodyReason([]byte(tt.body)); got != tt.want {
			t.Errorf("bodyReason(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
	long := `{"error":{"reason":"` + strings.Repeat("é", 400) + `"}}`
	if got := bodyReason([]byte(long)); len(got) > 310 || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "é") {
		t.Errorf("long reason not cut cleanly: %d bytes", len(got))
	}
}

func TestNextPageToken(t *testing.T) {
	tests := []struct {
		link, want string
	}{
		{"", ""},
		{`</admin/identities/x/sessions?page=0&page_size=250&page_token=AAA&per_page=250>; rel="first",</admin/identities/x/sessions?page=1&page_size=250&page_token=BBB&per_page=250>; rel="next"`, "BBB"},
		{`<https://x/admin/sessions?page_token=CCC>; rel=next`, "CCC"},
		{`</a?page_token=AAA>; rel="first",</a?page_token=ZZZ>; rel="prev"`, ""},
	}
	for _, tt := range tests {
		if got := nextPageToken(tt.link); got != tt.want {
			t.Errorf("nextPageToken(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}

func TestValidUUID(t *testing.T) {
	good := []string{"bb294808-5ff4-4641-994f-668a57fe06b0", "BB294808-5FF4-4641-994F-668A57FE06B0", "00000000-0000-0000-0000-000000000000"}
	bad := []string{"", "bb294808-5ff4-4641-994f-668a57fe06b", "bb294808x5ff4-4641-994f-668a57fe06b0", "bb294808-5ff4-4641-994f-668a57fe06bz", "urn:uuid:bb294808-5ff4-4641-994f-668a57fe06b0"}
	for _, s := range good {
		if !validUUID(s) {
			t.Errorf("validUUID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if validUUID(s) {
			t.Errorf("validUUID(%q) = true", s)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "get identity x", Status: 404, Reason: "Unable to locate the resource", Err: ErrNotFound}, "get identity x: not found (HTTP 404): Unable to locate the resource"},
		{&Error{Op: "ping", Reason: "connection refused", Err: ErrUnavailable}, "ping: unavailable: connection refused"},
		{&Error{Op: "get identity x", Status: 429, RetryAfter: time.Minute, Err: ErrRateLimited}, "get identity x: rate limited (HTTP 429) (retry after 1m0s)"},
		{&Error{Op: "ping", Status: 405}, "ping: unexpected answer (HTTP 405)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	wrapped := fmt.Errorf("lock account: %w", &Error{Op: "x", Status: 409, Err: ErrConflict})
	if !errors.Is(wrapped, ErrConflict) || errors.Is(wrapped, ErrNotFound) {
		t.Errorf("errors.Is does not see the sentinel through *Error")
	}
	amb := fmt.Errorf("lookup: %w", &AmbiguousError{Op: "find identity by email", Count: 2, IDs: []string{"a", "b"}})
	var ae *AmbiguousError
	if !errors.Is(amb, ErrAmbiguous) || !errors.As(amb, &ae) || ae.Count != 2 {
		t.Errorf("AmbiguousError does not unwrap: %v", amb)
	}
}

func TestStatusError(t *testing.T) {
	tests := map[int]error{
		301: ErrWrongURL, 307: ErrWrongURL, 308: ErrWrongURL,
		400: ErrBadRequest, 401: ErrUnauthorized, 403: ErrUnauthorized,
		404: ErrNotFound, 409: ErrConflict, 429: ErrRateLimited,
		500: ErrUnavailable, 502: ErrUnavailable, 503: ErrUnavailable, 504: ErrUnavailable,
		405: nil, 410: nil, 422: nil,
	}
	for status, want := range tests {
		if got := statusError(status); got != want {
			t.Errorf("statusError(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestRedirectReason(t *testing.T) {
	tests := []struct {
		from, location, want string
	}{
		{"http://127.0.0.1:4433/admin/identities?credentials_identifier=a%40b.c", "http://127.0.0.1:4434/admin/identities?credentials_identifier=a%40b.c",
			"the server redirected to http://127.0.0.1:4434/admin/identities; the admin URL probably points at the public API"},
		{"http://slug.projects.oryapis.com/admin/identities", "https://slug.projects.oryapis.com/admin/identities",
			"the server redirected to https; use an https admin URL"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", tt.from, nil)
		resp := &http.Response{StatusCode: 307, Header: http.Header{"Location": {tt.location}}, Request: req}
		if got := redirectReason(resp); got != tt.want {
			t.Errorf("redirectReason(%s -> %s) = %q, want %q", tt.from, tt.location, got, tt.want)
		}
	}
}
