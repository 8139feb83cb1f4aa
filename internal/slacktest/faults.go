package slacktest

import (
	"net/http"
	"strconv"
	"time"
)

// fault is an injected failure of one call.
type fault struct {
	status     int    // http.StatusOK for a Slack error
	slackErr   string // the "error" of {"ok":false}
	retryAfter int    // seconds, for 429
}

// FailNext makes the next n calls to method answer {"ok":false,"error":slackErr}.
// method is a Web API method such as "chat.postMessage", or "response_url"
// for posts to any response URL.
func (s *Server) FailNext(method, slackErr string, n int) {
	s.addFaults(method, fault{status: http.StatusOK, slackErr: slackErr}, n)
}

// RateLimitNext makes the next n calls to method answer HTTP 429 with
// "Retry-After: retryAfter" (seconds); slack-go returns *slack.RateLimitedError.
func (s *Server) RateLimitNext(method string, n, retryAfter int) {
	s.addFaults(method, fault{status: http.StatusTooManyRequests, slackErr: "ratelimited", retryAfter: retryAfter}, n)
}

// ServerErrorNext makes the next n calls to method answer HTTP 500; slack-go
// returns slack.StatusCodeError.
func (s *Server) ServerErrorNext(method string, n int) {
	s.addFaults(method, fault{status: http.StatusInternalServerError}, n)
}

func (s *Server) addFaults(method string, f fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], f)
	}
}

// popFaultLocked returns the next fault for method, if any. s.mu must be held.
func (s *Server) popFaultLocked(method string) (fault, bool) {
	q := s.faults[method]
	if len(q) == 0 {
		return fault{}, false
	}
	s.faults[method] = q[1:]
	return q[0], true
}

func (f fault) write(w http.ResponseWriter) {
	switch f.status {
	case http.StatusInternalServerError:
		http.Error(w, "internal server error", f.status)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		writeJSON(w, f.status, failure(f.slackErr))
	default:
		writeJSON(w, f.status, failure(f.slackErr))
	}
}

// SetDelay delays every answer to method (as named in FailNext) by d, until
// set back to 0. The call is recorded when it arrives.
func (s *Server) SetDelay(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[method] = d
}

// delay waits for method's delay; it reports false if r or the Server ended first.
func (s *Server) delay(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.quit:
	}
	return false
}
