package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// testLogger sends the bot's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startBot runs a Bot against a fake Slack, a real SQLite store and o.
func startBot(t testing.TB, o *fakeOry) *slacktest.Server {
	t.Helper()
	fs, _ := startBotWith(t, o, testConfig())
	return fs
}

// startBotWith runs a Bot with cfg against a fake Slack, a real SQLite
// store and o, and returns the fake Slack and the store. setup prepares
// the fake Slack (users, user groups) before the bot starts, since the bot
// lists its user groups at start.
func startBotWith(t testing.TB, o *fakeOry, cfg Config, setup ...func(*slacktest.Server)) (*slacktest.Server, *store.Store) {
	t.Helper()
	fs := slacktest.New(t)
	for _, f := range setup {
		f(fs)
	}
	st := openStore(t, filepath.Join(t.TempDir(), "orybot.db"))
	runBot(t, fs, testDeps(o, st), cfg)
	return fs, st
}

// openStore opens a SQLite store at path, closed when the test ends.
func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// runBot runs a Bot with deps and cfg against fs until the test ends, and
// waits for it to connect. The bot stops, and its acked work finishes,
// before the store closes; a Run that fails fails the test.
func runBot(t testing.TB, fs *slacktest.Server, deps Deps, cfg Config) {
	t.Helper()
	api := slack.New(slacktest.BotToken, slack.OptionAPIURL(fs.APIURL()), slack.OptionAppLevelToken(slacktest.AppToken))
	b := New(testLogger(t), api, deps, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := fs.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
}

func TestRefusalsBeforeTheCard(t *testing.T) {
	const id = "8f3c2a1e-5b6d-4c7e-9f00-1a2b3c4d5e6f"
	active := func(creds ...string) ory.Identity {
		return ory.Identity{ID: id, State: "active", Email: "a@example.com", Fingerprint: "fp", CredentialTypes: creds}
	}
	failing := func(err error) *fakeOry {
		return &fakeOry{identities: []ory.Identity{active("password")}, errs: map[string]error{"Identity": err}}
	}
	tests := []struct {
		name string
		text string
		ory  *fakeOry
		want string
	}{
		{
			name: "email matches several identities",
			text: "deactivate twin@example.com -- test",
			ory: &fakeOry{identities: []ory.Identity{
				{ID: "1", Email: "twin@example.com"}, {ID: "2", Email: "Twin@example.com"}}},
			want: "matches 2 identities",
		},
		{
			name: "bad API key",
			text: "deactivate " + id + " -- test",
			ory:  failing(&ory.Error{Op: "get identity", Status: 401, Err: ory.ErrUnauthorized}),
			want: "ORY_API_KEY",
		},
		{
			name: "rate limited",
			text: "deactivate " + id + " -- test",
			ory:  failing(&ory.Error{Op: "get identity", Status: 429, Err: ory.ErrRateLimited}),
			want: "rate limit",
		},
		{
			name: "unknown error gets a reference",
			text: "deactivate " + id + " -- test",
			ory:  failing(errors.New("something odd")),
			want: "reference `",
		},
		{
			name: "reset-2fa without second factors",
			text: "reset-2fa " + id + " -- lost phone",
			ory:  &fakeOry{identities: []ory.Identity{active("password")}},
			want: "has no second factor",
		},
		{
			name: "delete-credential password",
			text: "delete-credential " + id + " password -- x",
			ory:  &fakeOry{identities: []ory.Identity{active("password")}},
			want: "cannot be removed",
		},
		{
			name: "delete-credential oidc needs an identifier",
			text: "delete-credential " + id + " oidc -- x",
			ory: &fakeOry{identities: []ory.Identity{{ID: id, State: "active", CredentialTypes: []string{"password", "oidc"},
				Identifiers: map[string][]string{"oidc": {"google:123", "github:9"}}}}},
			want: "`google:123`, `github:9`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := startBot(t, tt.ory)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			env, err := fs.SlashCommand(ctx, slacktest.SlashCommand{User: "UREQ", Channel: "COPS", Command: "/ory", Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			if err := fs.WaitFor(ctx, func() bool { return len(fs.ResponsePosts(env.ResponseURL)) > 0 }); err != nil {
				t.Fatalf("no reply: %v", err)
			}
			got := fs.ResponsePosts(env.ResponseURL)[0]
			if !strings.Contains(got.Text, tt.want) || got.ResponseType != "ephemeral" {
				t.Errorf("reply = %q (%s), want an ephemeral reply containing %q", got.Text, got.ResponseType, tt.want)
			}
			if n := len(fs.Messages("")); n != 0 {
				t.Errorf("%d messages posted, want none", n)
			}
		})
	}
}

// BenchmarkAck measures envelope in → ack out over the WebSocket, through
// slack-go's socket-mode client, for a command answered in the ack (help)
// and for one whose work runs after the ack (deactivate). It reports p50
// and p99 in microseconds.
func BenchmarkAck(b *testing.B) {
	for _, text := range []string{"help", "deactivate alice@example.com -- benchmark"} {
		b.Run(strings.Fields(text)[0], func(b *testing.B) {
			o := &fakeOry{}
			fs := startBot(b, o)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				env, err := fs.SlashCommand(ctx, slacktest.SlashCommand{User: "UREQ", Channel: "COPS", Command: "/ory", Text: text})
				if err != nil {
					b.Fatal(err)
				}
				ack, err := env.WaitAck(ctx)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, ack.At.Sub(env.SentAt))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// Two replicas on one database must not both post the audit trail: the
// delivery lock lets one deliver, so each record reaches the channel once.
func TestDeliveryLockBetweenReplicas(t *testing.T) {
	fs := slacktest.New(t)
	fs.SetDelay("chat.postMessage", 50*time.Millisecond) // both would read the same records
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "orybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var bots []*Bot
	for range 2 {
		api := slack.New(slacktest.BotToken, slack.OptionAPIURL(fs.APIURL()), slack.OptionAppLevelToken(slacktest.AppToken))
		b := New(testLogger(t), api, testDeps(&fakeOry{}, st), testConfig())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); b.deliver(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		bots = append(bots, b)
	}
	const n = 6
	for i := range n {
		rec := audit.Record{Time: time.Now(), RequestID: fmt.Sprintf("req%07d", i), Event: audit.Requested, Verb: "deactivate", Requester: "UREQ"}
		if _, err := st.AppendAudit(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bots {
		b.kickDelivery()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := fs.WaitFor(ctx, func() bool { return len(fs.Messages("CAUDIT")) >= n }); err != nil {
		t.Fatalf("%d of %d records delivered", len(fs.Messages("CAUDIT")), n)
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong second post
	if got := len(fs.Messages("CAUDIT")); got != n {
		t.Errorf("%d audit posts for %d records, want each once", got, n)
	}
}

func TestOryErrorsInWords(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ory.Error{Status: 400, Reason: "The request was malformed.", Err: ory.ErrBadRequest}, "rejected the request as invalid. Ory said: The request was malformed."},
		{&ory.Error{Status: 401, Err: ory.ErrUnauthorized}, "ORY_API_KEY"},
		{&ory.Error{Status: 404, Err: ory.ErrNotFound}, "could not find"},
		{&ory.Error{Status: 409, Err: ory.ErrConflict}, "conflict"},
		{&ory.Error{Status: 429, Err: ory.ErrRateLimited}, "rate limit"},
		{&ory.Error{Status: 503, Err: ory.ErrUnavailable}, "server error"},
		{&ory.Error{Reason: "dial tcp: connection refused", Err: ory.ErrUnavailable}, "could not be reached"},
		{&ory.Error{Status: 307, Err: ory.ErrWrongURL}, "public port"},
		{&ory.Error{Status: 405}, "unexpected answer (HTTP 405)"},
	}
	for _, tt := range tests {
		got, known := userWords(fmt.Errorf("op: %w", tt.err))
		if !known || !strings.Contains(got, tt.want) || strings.Contains(got, "Bad Request") {
			t.Errorf("userWords(%v) = %q, %v; want words containing %q", tt.err, got, known, tt.want)
		}
	}
}

func TestRequestsNeedAChannel(t *testing.T) {
	fs := startBot(t, &fakeOry{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	env, err := fs.SlashCommand(ctx, slacktest.SlashCommand{User: "UREQ", Channel: "D0DIRECT", Command: "/ory", Text: "lockout a@example.com -- x"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := env.WaitAck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack.Payload), "need a channel") {
		t.Errorf("ack = %s, want a refusal saying requests need a channel", ack.Payload)
	}
}
