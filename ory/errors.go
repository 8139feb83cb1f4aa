package ory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	client "github.com/ory/client-go"
)

// Sentinel errors. Every failed call returns an error that matches at most
// one of them with errors.Is; HTTP failures carry an *Error with details.
var (
	// ErrNotFound means the identity, session or credential does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidID means an identity or session id is not a UUID, or an email
	// is malformed; it is detected before any request is made.
	ErrInvalidID = errors.New("invalid id")
	// ErrUnauthorized means the API key is missing, wrong or lacks
	// permission (HTTP 401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrConflict means the change conflicts with the current state (HTTP 409).
	ErrConflict = errors.New("conflict")
	// ErrRateLimited means Ory answered 429 and the allowed retries ran out,
	// or it asked for a wait longer than Config.BackoffMax; the *Error's
	// RetryAfter then says when to come back.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable means Ory answered 5xx, did not answer in time, or could
	// not be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrBadRequest means Ory rejected the request as invalid (HTTP 400), for
	// example removing a first-factor credential.
	ErrBadRequest = errors.New("bad request")
	// ErrWrongURL means the admin URL answered with a redirect, which is
	// what Kratos's public port does for /admin paths.
	ErrWrongURL = errors.New("wrong admin URL")
	// ErrAmbiguous means a lookup matched more than one identity; the error
	// is an *AmbiguousError.
	ErrAmbiguous = errors.New("ambiguous")
)

// Error describes a failed call to Ory. It unwraps to one of the sentinel
// errors, or to nil for an unexpected status.
type Error struct {
	// Op is the operation, such as "get identity <id>". It never contains
	// identity traits.
	Op string
	// Status is the HTTP status, or 0 if no response arrived.
	Status int
	// Reason is Ory's explanation (error.reason or error.message in the
	// body) or the transport failure; fit to show to an operator.
	Reason string
	// RetryAfter is how long Ory asked the caller to wait, if it said so.
	RetryAfter time.Duration
	// Err is the sentinel this error matches.
	Err error
}

// Error returns "op: sentinel (HTTP status): reason".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unexpected answer")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the sentinel, so that errors.Is(err, ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Err }

// AmbiguousError reports that a lookup matched several identities.
type AmbiguousError struct {
	// Op is the operation; it never contains the email searched for.
	Op string
	// Count is how many identities matched (at least 2).
	Count int
	// IDs are the ids of the matching identities.
	IDs []string
}

// Error returns "op: ambiguous: N identities match".
func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%s: %v: %d identities match", e.Op, ErrAmbiguous, e.Count)
}

// Unwrap returns ErrAmbiguous.
func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// statusError maps an HTTP status to a sentinel.
func statusError(status int) error {
	switch {
	case status >= 300 && status < 400:
		return ErrWrongURL
	case status == http.StatusBadRequest:
		return ErrBadRequest
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500:
		return ErrUnavailable
	}
	return nil
}

// classify turns what a client-go call returned into an *Error.
func (c *Client) classify(op string, resp *http.Response, err error, now time.Time) *Error {
	var apiErr *client.GenericOpenAPIError
	if resp == nil || !errors.As(err, &apiErr) {
		// No response, or the body could not be read: a transport failure.
		return &Error{Op: op, Reason: c.redact(transportReason(err, c.timeout)), Err: ErrUnavailable}
	}
	e := &Error{Op: op, Status: resp.StatusCode, Err: statusError(resp.StatusCode)}
	switch {
	case resp.StatusCode < 300:
		// A 2xx whose body client-go could not decode.
		e.Reason = "decode response: " + apiErr.Error()
	case resp.StatusCode < 400:
		e.Reason = redirectReason(resp)
	default:
		e.Reason = bodyReason(apiErr.Body())
	}
	e.Reason = c.redact(e.Reason)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(resp.Header, now)
	}
	return e
}

// transportReason describes a failure without a usable response. It drops
// the request URL that *url.Error carries: for a lookup by email the query
// string holds the address, which must not reach logs.
func transportReason(err error, timeout time.Duration) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// redirectReason names where the server redirected to, without the query.
func redirectReason(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil {
		return "the server answered with a redirect; the admin URL probably points at the public API"
	}
	if req := resp.Request; req != nil && req.URL.Scheme == "http" && loc.Scheme == "https" && req.URL.Host == loc.Host {
		return "the server redirected to https; use an https admin URL"
	}
	return fmt.Sprintf("the server redirected to %s://%s%s; the admin URL probably points at the public API", loc.Scheme, loc.Host, loc.Path)
}

// bodyReason extracts Ory's explanation from an error body. Only the known
// JSON fields are used, never the raw body, which for some proxies echoes
// the request.
func bodyReason(body []byte) string {
	var v struct {
		Error            json.RawMessage `json:"error"`
		Reason           string          `json:"reason"`
		Message          string          `json:"message"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	// Kratos nests {"error":{"reason","message"}}; OAuth2-style answers
	// have a string "error" with "error_description".
	var nested struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	var flat string
	if json.Unmarshal(v.Error, &nested) != nil {
		_ = json.Unmarshal(v.Error, &flat)
	}
	for _, s := range []string{nested.Reason, nested.Message, v.Reason, v.Message, v.ErrorDescription, flat} {
		if s != "" {
			return clean(s)
		}
	}
	return ""
}

// clean makes s safe for a one-line log or chat message: no control
// characters, bounded length.
func clean(s string) string {
	const limit = 300
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// redact removes the API key from s, in case a proxy echoes headers.
func (c *Client) redact(s string) string {
	if c.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.apiKey, "[REDACTED]")
}
