package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbes(t *testing.T) {
	slackUp := false
	h := Handler(
		[]Check{{Name: "loops", Test: func(context.Context) error { return nil }}},
		[]Check{
			{Name: "slack", Test: func(context.Context) error {
				if !slackUp {
					return errors.New("not connected")
				}
				return nil
			}},
			{Name: "database", Test: func(context.Context) error { return nil }},
		},
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") }))
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	tests := []struct {
		path     string
		slackUp  bool
		wantCode int
		wantBody string
	}{
		{"/healthz", false, 200, "ok"},
		{"/readyz", false, 503, "slack: not connected"},
		{"/readyz", true, 200, "ok"},
		{"/metrics", false, 200, "metrics"},
		{"/admin", false, 404, ""},
	}
	for _, tt := range tests {
		slackUp = tt.slackUp
		code, body := get(tt.path)
		if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
			t.Errorf("GET %s (slack up %v) = %d %q, want %d containing %q", tt.path, tt.slackUp, code, body, tt.wantCode, tt.wantBody)
		}
		if strings.Contains(body, "database") {
			t.Errorf("GET %s names the database, which is ready: %q", tt.path, body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/readyz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz = %d, want 405", rec.Code)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(ln.Addr().String()); err == nil {
		t.Error("Listen on a port in use succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Handler(nil, nil, http.NotFoundHandler()), slog.New(slog.DiscardHandler))
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz with no checks = %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}
