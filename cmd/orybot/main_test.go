package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orybot/orybot/internal/kratostest"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// Slack ids used throughout the end-to-end tests.
const (
	requester = "UREQ"   // asks; also a member of the approver group
	approver1 = "UAPP1"  // approver by user id
	approver2 = "UAPP2"  // approver through the user group
	outsider  = "UOTHER" // neither
	group     = "SAPPROVERS"
	opsChan   = "COPS"
	auditChan = "CAUDIT"
	apiKey    = "ory_pat_e2eSECRETkey"
)

// syncBuffer collects the bot's log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// oryProxy sits between the bot and the real Kratos. It counts the PATCH
// calls that change an identity's state, and can answer them with an
// injected status instead of passing them on. It also records every call,
// and inject makes it answer any method and path with an injected status.
type oryProxy struct {
	patches atomic.Int64
	// applied counts the PATCHes Kratos carried out (2xx): a retry of one
	// that lost a race in Kratos's database (400, nothing changed) is a
	// second patch but not a second change.
	applied   atomic.Int64
	failPatch atomic.Int64 // HTTP status to answer PATCH with; 0 passes it on
	authBad   atomic.Int64
	// requireKey makes the proxy refuse a call without the right API key
	// with 401, as Ory Network does; Kratos itself ignores the key.
	requireKey atomic.Bool

	mu     sync.Mutex
	faults []*proxyFault
	calls  []string // "METHOD /path" of every request, in order
}

// proxyFault answers the next n requests with this method and a path that
// matches path with status, and Retry-After if set, instead of passing them
// on to Kratos.
type proxyFault struct {
	method     string
	path       *regexp.Regexp
	status     int
	retryAfter string
	n          int
	// delay holds the request this long first; with status 0 it is then
	// passed on to Kratos, as a slow Ory that still applies the call.
	delay time.Duration
}

// inject adds a fault; it is removed when the test ends.
func (p *oryProxy) inject(t *testing.T, f proxyFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.faults = slices.DeleteFunc(p.faults, func(x *proxyFault) bool { return x == &f })
	})
}

// fault records r and returns the fault to answer it with, if any.
func (p *oryProxy) fault(r *http.Request) *proxyFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, r.Method+" "+r.URL.Path)
	for _, f := range p.faults {
		if f.n > 0 && f.method == r.Method && f.path.MatchString(r.URL.Path) {
			f.n--
			return f
		}
	}
	return nil
}

// Calls returns "METHOD /path" of every request the proxy received.
func (p *oryProxy) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func startProxy(t *testing.T, target string) (*oryProxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &oryProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			p.authBad.Add(1)
			if p.requireKey.Load() {
				p.fault(r)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":{"code":401,"status":"Unauthorized","reason":"The API key is not valid."}}`)
				return
			}
		}
		f := p.fault(r)
		if f != nil && f.delay > 0 {
			time.Sleep(f.delay)
			if f.status == 0 {
				// The bot may have given up; Kratos gets the call anyway.
				r = r.WithContext(context.WithoutCancel(r.Context()))
				f = nil
			}
		}
		if f != nil {
			w.Header().Set("Content-Type", "application/json")
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			w.WriteHeader(f.status)
			fmt.Fprintf(w, `{"error":{"code":%d,"status":%q,"reason":"injected by the test"}}`, f.status, http.StatusText(f.status))
			return
		}
		if r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/admin/identities/") {
			p.patches.Add(1)
			if code := p.failPatch.Load(); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(int(code))
				fmt.Fprintf(w, `{"error":{"code":%d,"status":%q,"reason":"injected by the test"}}`, code, http.StatusText(int(code)))
				return
			}
		}
		if r.Method == http.MethodPatch {
			rec := &statusRecorder{ResponseWriter: w}
			rp.ServeHTTP(rec, r)
			if rec.status/100 == 2 {
				p.applied.Add(1)
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// statusRecorder notes the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// harness is one real Kratos, one fake Slack, a proxy and a database, shared
// by the bots a test starts one after another.
type harness struct {
	kratos *kratostest.Server
	slack  *slacktest.Server
	proxy  *oryProxy
	dbPath string
	logs   *syncBuffer

	// env is the bots' environment: run reads it through getenv, and the
	// tests change it with setenv, also while a bot runs.
	envMu sync.Mutex
	env   map[string]string
}

// getenv is what run reads the environment with, instead of os.Getenv.
func (h *harness) getenv(key string) string {
	h.envMu.Lock()
	defer h.envMu.Unlock()
	return h.env[key]
}

// setenv sets a variable of the bots' environment until t ends, like
// t.Setenv for the process: it applies to bots started after it.
func (h *harness) setenv(t *testing.T, key, value string) {
	h.envMu.Lock()
	defer h.envMu.Unlock()
	old, had := h.env[key]
	h.env[key] = value
	t.Cleanup(func() {
		h.envMu.Lock()
		defer h.envMu.Unlock()
		if had {
			h.env[key] = old
		} else {
			delete(h.env, key)
		}
	})
}

// option configures a harness: a kratostest.Option for its Kratos or a
// slacktest.Option for its fake Slack.
type option = any

func newHarness(t *testing.T, opts ...option) *harness {
	var kopts []kratostest.Option
	var sopts []slacktest.Option
	for _, o := range opts {
		switch o := o.(type) {
		case kratostest.Option:
			kopts = append(kopts, o)
		case slacktest.Option:
			sopts = append(sopts, o)
		}
	}
	h := &harness{
		kratos: kratostest.Start(t, kopts...),
		slack:  slacktest.New(t, sopts...),
		dbPath: filepath.Join(t.TempDir(), "orybot.db"),
		logs:   &syncBuffer{},
	}
	var proxyURL string
	h.proxy, proxyURL = startProxy(t, h.kratos.AdminURL)
	h.slack.SetUserGroup(group, approver2, requester)
	for _, u := range []string{requester, approver1, approver2, outsider} {
		h.slack.SetUser(u, strings.ToLower(u), strings.ToLower(u)+"@corp.example")
	}
	h.env = map[string]string{
		"SLACK_BOT_TOKEN":      slacktest.BotToken,
		"SLACK_APP_TOKEN":      slacktest.AppToken,
		"SLACK_API_URL":        h.slack.APIURL(),
		"ORY_ADMIN_URL":        proxyURL,
		"ORY_API_KEY":          apiKey,
		"ORYBOT_AUDIT_CHANNEL": auditChan,
		"ORYBOT_APPROVERS":     approver1 + "," + group,
		"ORYBOT_DATABASE_URL":  h.dbPath,
		"ORYBOT_REQUEST_TTL":   "1h",
		"ORYBOT_LOG_LEVEL":     "debug",
		"ORYBOT_LISTEN_ADDR":   "127.0.0.1:0",
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bot logs:\n%s", h.logs.String())
		}
	})
	return h
}

// startBot runs the bot through the same run function as main and returns a
// function that stops it and waits until it has stopped.
func (h *harness) startBot(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	before := h.slack.Connections()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, h.getenv, &bytes.Buffer{}, h.logs) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer wcancel()
	err := h.slack.WaitFor(wctx, func() bool { return h.slack.Connections() > before })
	if err != nil {
		cancel()
		t.Fatalf("bot did not connect to the fake Slack: %v (run returned: %v)", err, drain(done))
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run returned %v, want nil after cancel", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("bot did not stop within 20s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func drain(c chan error) error {
	select {
	case err := <-c:
		return err
	case <-time.After(time.Second):
		return errors.New("still running")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// command types /ory text as user in channel and returns the envelope and
// the ack's text (empty if the ack had no payload).
func (h *harness) command(t *testing.T, user, channel, text string) (*slacktest.Envelope, string) {
	t.Helper()
	env, err := h.slack.SlashCommand(ctxT(t), slacktest.SlashCommand{User: user, Channel: channel, Command: "/ory", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := env.WaitAck(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Text string }
	if len(ack.Payload) > 0 {
		if err := json.Unmarshal(ack.Payload, &p); err != nil {
			t.Fatalf("ack payload %s: %v", ack.Payload, err)
		}
	}
	return env, p.Text
}

// response waits for the n-th (1-based) post to an envelope's response_url
// and returns its text. Every such post must be ephemeral.
func (h *harness) response(t *testing.T, env *slacktest.Envelope, n int) string {
	t.Helper()
	err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.slack.ResponsePosts(env.ResponseURL)) >= n })
	if err != nil {
		t.Fatalf("no reply #%d to %s: %v", n, env.Type, err)
	}
	p := h.slack.ResponsePosts(env.ResponseURL)[n-1]
	if p.ResponseType != "ephemeral" {
		t.Errorf("reply %q has response_type %q, want ephemeral", p.Text, p.ResponseType)
	}
	return p.Text
}

var requestIDRE = regexp.MustCompile("Request `([a-z0-9]+)` is waiting for approval")

// request asks for text as the requester and returns the request id and
// its card.
func (h *harness) request(t *testing.T, text string) (string, slacktest.Message) {
	t.Helper()
	return h.requestBy(t, requester, text)
}

// requestBy is request for any requester: user types text in opsChan and
// the request waits for approval.
func (h *harness) requestBy(t *testing.T, user, text string) (string, slacktest.Message) {
	t.Helper()
	env, ack := h.command(t, user, opsChan, text)
	if ack != "" {
		t.Fatalf("ack for %q carried %q, want an empty ack", text, ack)
	}
	reply := h.response(t, env, 1)
	m := requestIDRE.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("reply to %q = %q, want it to say the request is waiting for approval", text, reply)
	}
	return m[1], h.card(t, m[1])
}

// card returns the current approval card of a request.
func (h *harness) card(t *testing.T, id string) slacktest.Message {
	t.Helper()
	for _, msg := range h.slack.Messages(opsChan) {
		if strings.Contains(string(msg.Blocks), "`"+id+"`") {
			return msg
		}
	}
	t.Fatalf("no card for request %s in %s", id, opsChan)
	return slacktest.Message{}
}

func (h *harness) click(t *testing.T, user string, card slacktest.Message, action, id string) *slacktest.Envelope {
	t.Helper()
	env, err := h.slack.BlockAction(ctxT(t), slacktest.BlockAction{
		User: user, Channel: opsChan, MessageTS: card.TS, ActionID: action, BlockID: "decide", Value: id,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return env
}

// deny clicks Deny, which opens a dialog, and submits it with reason.
func (h *harness) deny(t *testing.T, user string, card slacktest.Message, id, reason string) {
	t.Helper()
	before := len(h.slack.Views())
	h.click(t, user, card, "deny", id)
	if err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.slack.Views()) > before }); err != nil {
		t.Fatalf("Deny opened no dialog")
	}
	v := h.slack.Views()[before]
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
	}
	if err := json.Unmarshal(v.View, &view); err != nil {
		t.Fatal(err)
	}
	if view.PrivateMetadata != id {
		t.Fatalf("deny dialog is for request %q, want %q", view.PrivateMetadata, id)
	}
	env, err := h.slack.ViewSubmission(ctxT(t), slacktest.ViewSubmission{
		User: user, ViewID: v.ID, CallbackID: view.CallbackID, PrivateMetadata: view.PrivateMetadata,
		Values: map[string]map[string]string{"reason": {"reason": reason}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// waitCard waits until the request's card contains want.
func (h *harness) waitCard(t *testing.T, id, want string) slacktest.Message {
	t.Helper()
	var last string
	err := h.slack.WaitFor(ctxT(t), func() bool {
		for _, msg := range h.slack.Messages(opsChan) {
			if b := string(msg.Blocks); strings.Contains(b, "`"+id+"`") {
				last = b
				return strings.Contains(b, want)
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("card of %s never showed %q; last version:\n%s", id, want, last)
	}
	return h.card(t, id)
}

// auditRecords returns the audit-channel posts about a request.
func (h *harness) auditRecords(id string) []string {
	var out []string
	for _, msg := range h.slack.Messages(auditChan) {
		if strings.Contains(string(msg.Blocks), id) {
			out = append(out, string(msg.Blocks))
		}
	}
	return out
}

// outcomeRecords returns the audit-channel posts that end a request.
func (h *harness) outcomeRecords(id string) []string {
	var out []string
	for _, r := range h.auditRecords(id) {
		for _, ev := range []string{"done", "failed", "denied", "expired", "cancelled", "stale"} {
			if strings.Contains(r, "*"+ev+"* · ") {
				out = append(out, r)
			}
		}
	}
	return out
}

// waitAudit waits for the audit record that ends a request and returns it.
func (h *harness) waitAudit(t *testing.T, id string) string {
	t.Helper()
	if err := h.slack.WaitFor(ctxT(t), func() bool { return len(h.outcomeRecords(id)) > 0 }); err != nil {
		t.Fatalf("no final audit record for %s; records so far: %q", id, h.auditRecords(id))
	}
	return h.outcomeRecords(id)[0]
}

func (h *harness) state(t *testing.T, id string) string {
	t.Helper()
	return h.kratos.Identity(t, id).GetState()
}

func (h *harness) status(t *testing.T, id string) store.Status {
	t.Helper()
	st, err := store.Open(t.Context(), h.getenv("ORYBOT_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get request %s: %v", id, err)
	}
	return r.Status
}

func hasButtons(m slacktest.Message) bool {
	return strings.Contains(string(m.Blocks), `"action_id":"approve"`)
}

// unescape undoes the HTML escaping json.Marshal applies to <, > and &, so
// that assertions can look for Slack mentions such as <@U1>.
var unescape = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	got = unescape.Replace(got)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

func TestDeactivateEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	emails := []string{}
	newIdentity := func(local string) (id, email string) {
		email = local + "@customer.example"
		emails = append(emails, email)
		return h.kratos.CreateIdentity(t, email), email
	}

	t.Run("help and bad input are answered in the ack", func(t *testing.T) {
		before := len(h.slack.Messages(""))
		tests := []struct{ text, want string }{
			{"help", "/ory deactivate"},
			{"", "/ory deactivate"},
			{"frobnicate x", "I don't know the command `frobnicate`"},
			{"deactivate 12345 -- stolen laptop", "neither an identity id"},
			{"deactivate alice@customer.example", "A reason is required"},
			{"deactivate -- why", "Say which identity"},
		}
		for _, tt := range tests {
			_, ack := h.command(t, requester, opsChan, tt.text)
			contains(t, "ack to "+tt.text, ack, tt.want)
		}
		_, ack := h.command(t, requester, opsChan, "frobnicate")
		contains(t, "ack to an unknown verb", ack, "/ory help")
		if n := len(h.slack.Messages("")); n != before {
			t.Errorf("bad input posted %d messages, want none", n-before)
		}
	})

	t.Run("unknown identities are refused before any card", func(t *testing.T) {
		before := len(h.slack.Messages(""))
		env, _ := h.command(t, requester, opsChan, "deactivate 0b7b3f4e-1111-4c7e-9f00-1a2b3c4d5e6f -- test")
		contains(t, "reply", h.response(t, env, 1), "Ory has no identity with id `0b7b3f4e-1111-4c7e-9f00-1a2b3c4d5e6f`")
		env, _ = h.command(t, requester, opsChan, "deactivate nobody@customer.example -- test")
		contains(t, "reply", h.response(t, env, 1), "No identity in Ory has the email `nobody@customer.example`")
		if n := len(h.slack.Messages("")); n != before {
			t.Errorf("posted %d messages, want none", n-before)
		}
	})

	t.Run("bot not in channel", func(t *testing.T) {
		id, email := newIdentity("outside")
		h.slack.SetMember("CNOTIN", false)
		env, _ := h.command(t, requester, "CNOTIN", "deactivate "+email+" -- test")
		contains(t, "reply", h.response(t, env, 1), "/invite @orybot", "Nothing was requested")
		if n := len(h.slack.Messages("CNOTIN")); n != 0 {
			t.Errorf("%d messages in CNOTIN, want 0", n)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("state = %q, want active", got)
		}
	})

	t.Run("approve", func(t *testing.T) {
		id, email := newIdentity("alice")
		patches := h.proxy.patches.Load()
		env, _ := h.command(t, requester, opsChan, "deactivate "+email+" -- phished on 2026-11-20")
		ack, _ := env.WaitAck(ctxT(t))
		reqID := requestIDRE.FindStringSubmatch(h.response(t, env, 1))
		if reqID == nil {
			t.Fatalf("no request id in reply")
		}
		card := h.card(t, reqID[1])
		posts := h.slack.Calls("chat.postMessage")
		if first := posts[len(posts)-1].At; !ack.At.Before(first) {
			t.Errorf("ack at %v came after the card was posted at %v", ack.At, first)
		}
		contains(t, "card", string(card.Blocks), id, "a***@customer.example", "active", "<@"+requester+">",
			"phished on 2026-11-20", "Expires", `"text":"Approve"`, `"text":"Deny"`)
		if strings.Contains(string(card.Blocks), email) {
			t.Errorf("card shows the full email")
		}

		// The requester may not approve, even though they are in the approver group.
		e := h.click(t, requester, card, "approve", reqID[1])
		contains(t, "reply to requester", h.response(t, e, 1), "someone else must approve", "still pending")
		// Nor may someone who is not an approver.
		e = h.click(t, outsider, card, "approve", reqID[1])
		contains(t, "reply to outsider", h.response(t, e, 1), "not allowed", "ORYBOT_APPROVERS", "still pending")
		if got := h.status(t, reqID[1]); got != store.StatusPending {
			t.Fatalf("status after refused clicks = %s, want pending", got)
		}
		if got := h.state(t, id); got != "active" {
			t.Fatalf("state after refused clicks = %s, want active", got)
		}

		// An approver through the user group approves.
		first := h.click(t, approver2, card, "approve", reqID[1])
		card = h.waitCard(t, reqID[1], "Done")
		if hasButtons(card) {
			t.Errorf("decided card still has buttons")
		}
		contains(t, "decided card", string(card.Blocks), "<@"+approver2+">", "inactive")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
		rec := h.waitAudit(t, reqID[1])
		contains(t, "audit record", rec, reqID[1], "deactivate", id, "<@"+requester+">", "<@"+approver2+">", "phished on 2026-11-20", "done", "<!date^")

		// A second approver, and Slack redelivering the first click.
		e = h.click(t, approver1, card, "approve", reqID[1])
		contains(t, "second approver's reply", h.response(t, e, 1), "already approved by <@"+approver2+">")
		redo, err := h.slack.Send(ctxT(t), "interactive", json.RawMessage(first.Payload), 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := redo.WaitAck(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// The approval itself got no reply (the card says it all), so this
		// is the first post to that response_url.
		contains(t, "reply to the redelivered click", h.response(t, first, 1), "already approved")
		if n := h.proxy.patches.Load() - patches; n != 1 {
			t.Errorf("Ory PATCH calls = %d, want exactly 1", n)
		}
		if n := len(h.outcomeRecords(reqID[1])); n != 1 {
			t.Errorf("final audit records = %d, want 1", n)
		}
		// requested, approved, one step, done: in order, each once.
		var events []string
		for _, r := range h.auditRecords(reqID[1]) {
			for _, ev := range []string{"requested", "approved", "step", "done"} {
				if strings.Contains(r, "*"+ev+"* · ") {
					events = append(events, ev)
				}
			}
		}
		if got, want := strings.Join(events, ","), "requested,approved,step,done"; got != want {
			t.Errorf("audit events = %s, want %s", got, want)
		}
		if got := h.status(t, reqID[1]); got != store.StatusDone {
			t.Errorf("status = %s, want done", got)
		}
	})

	t.Run("concurrent approvals call Ory once", func(t *testing.T) {
		id, email := newIdentity("bob")
		reqID, card := h.request(t, "deactivate "+email+" -- suspicious logins")
		patches := h.proxy.patches.Load()
		var wg sync.WaitGroup
		envs := make([]*slacktest.Envelope, 2)
		for i, u := range []string{approver1, approver2} {
			wg.Go(func() { envs[i] = h.click(t, u, card, "approve", reqID) })
		}
		wg.Wait()
		h.waitCard(t, reqID, "Done")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("state = %q, want inactive", got)
		}
		// The loser is told; the winner gets no reply, the card speaks.
		err := h.slack.WaitFor(ctxT(t), func() bool {
			return len(h.slack.ResponsePosts(envs[0].ResponseURL))+len(h.slack.ResponsePosts(envs[1].ResponseURL)) >= 1
		})
		if err != nil {
			t.Fatalf("neither clicker got a reply: %v", err)
		}
		time.Sleep(300 * time.Millisecond) // room for a wrong second reply
		var replies []string
		for _, e := range envs {
			for _, p := range h.slack.ResponsePosts(e.ResponseURL) {
				replies = append(replies, p.Text)
			}
		}
		if len(replies) != 1 || !strings.Contains(replies[0], "already approved") {
			t.Errorf("replies to the two clickers = %q, want one saying it was already approved", replies)
		}
		if n := h.proxy.patches.Load() - patches; n != 1 {
			t.Errorf("Ory PATCH calls = %d, want 1", n)
		}
	})

	t.Run("deny", func(t *testing.T) {
		id, email := newIdentity("carol")
		reqID, card := h.request(t, "deactivate "+id+" -- false alarm?")
		_ = email
		patches := h.proxy.patches.Load()
		h.deny(t, approver1, card, reqID, "checked with the user: it was them")
		card = h.waitCard(t, reqID, "Denied")
		if hasButtons(card) {
			t.Errorf("denied card still has buttons")
		}
		contains(t, "denied card", string(card.Blocks), "<@"+approver1+">", "checked with the user: it was them")
		contains(t, "audit record", h.waitAudit(t, reqID), "denied", "<@"+approver1+">", "false alarm?", "checked with the user: it was them")
		// The requester hears of it without watching the channel.
		err := h.slack.WaitFor(ctxT(t), func() bool {
			for _, m := range h.slack.Messages(requester) {
				if strings.Contains(m.Text, reqID) && strings.Contains(m.Text, "checked with the user") {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Errorf("requester was not told of the denial and its reason")
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("state after deny = %q, want active", got)
		}
		if n := h.proxy.patches.Load() - patches; n != 0 {
			t.Errorf("deny made %d Ory PATCH calls, want 0", n)
		}
		if got := h.status(t, reqID); got != store.StatusDenied {
			t.Errorf("status = %s, want denied", got)
		}
	})

	t.Run("ory failure at approval", func(t *testing.T) {
		id, email := newIdentity("dave")
		reqID, card := h.request(t, "deactivate "+email+" -- test outage")
		h.proxy.failPatch.Store(http.StatusServiceUnavailable)
		defer h.proxy.failPatch.Store(0)
		h.click(t, approver1, card, "approve", reqID)
		card = h.waitCard(t, reqID, "Failed")
		contains(t, "failed card", string(card.Blocks), "could not be reached or had a server error")
		if strings.Contains(string(card.Blocks), "503") {
			t.Errorf("card shows a bare status code")
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "failed", "server error")
		if got := h.status(t, reqID); got != store.StatusFailed {
			t.Errorf("status = %s, want failed", got)
		}
		if got := h.state(t, id); got != "active" {
			t.Errorf("state = %q, want active", got)
		}
	})

	t.Run("identity deleted before approval", func(t *testing.T) {
		id, email := newIdentity("erin")
		reqID, card := h.request(t, "deactivate "+email+" -- left the company")
		h.kratos.DeleteIdentity(t, id)
		h.click(t, approver1, card, "approve", reqID)
		card = h.waitCard(t, reqID, "Failed")
		contains(t, "failed card", string(card.Blocks), "could not find")
	})

	t.Run("redelivered slash command makes one request", func(t *testing.T) {
		_, email := newIdentity("frank")
		env, _ := h.command(t, requester, opsChan, "deactivate "+email+" -- redelivery")
		h.response(t, env, 1)
		redo, err := h.slack.Send(ctxT(t), "slash_commands", json.RawMessage(env.Payload), 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := redo.WaitAck(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // give a wrong second card time to appear
		cards := 0
		for _, m := range h.slack.Messages(opsChan) {
			if strings.Contains(string(m.Blocks), "redelivery") {
				cards++
			}
		}
		if cards != 1 {
			t.Errorf("%d cards for one command delivered twice, want 1", cards)
		}
	})

	t.Run("secrets stay out of logs and the audit channel", func(t *testing.T) {
		logs := h.logs.String()
		var audit strings.Builder
		for _, m := range h.slack.Messages(auditChan) {
			audit.WriteString(m.Text + string(m.Blocks))
		}
		for _, s := range append([]string{slacktest.BotToken, slacktest.AppToken, apiKey}, emails...) {
			if strings.Contains(logs, s) {
				t.Errorf("bot logs contain %q", s)
			}
			if strings.Contains(audit.String(), s) {
				t.Errorf("audit channel contains %q", s)
			}
		}
		if n := h.proxy.authBad.Load(); n != 0 {
			t.Errorf("%d Ory calls lacked the API key as bearer token", n)
		}
	})
}

func TestPendingRequestSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	stop := h.startBot(t)
	id := h.kratos.CreateIdentity(t, "restart@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- restart test")
	stop()

	h.startBot(t)
	h.click(t, approver1, card, "approve", reqID)
	h.waitCard(t, reqID, "Done")
	if got := h.state(t, id); got != "inactive" {
		t.Errorf("state = %q, want inactive", got)
	}
}

func TestExpiredRequestIsRefused(t *testing.T) {
	h := newHarness(t)
	h.setenv(t, "ORYBOT_REQUEST_TTL", "1s")
	h.startBot(t)
	id := h.kratos.CreateIdentity(t, "late@customer.example")
	reqID, card := h.request(t, "deactivate "+id+" -- slow approver")
	time.Sleep(1200 * time.Millisecond)
	e := h.click(t, approver1, card, "approve", reqID)
	contains(t, "reply", h.response(t, e, 1), "expired")
	card = h.waitCard(t, reqID, "Expired")
	if hasButtons(card) {
		t.Errorf("expired card still has buttons")
	}
	contains(t, "audit record", h.waitAudit(t, reqID), "expired")
	if got := h.state(t, id); got != "active" {
		t.Errorf("state = %q, want active", got)
	}
	if n := h.proxy.patches.Load(); n != 0 {
		t.Errorf("%d Ory PATCH calls, want 0", n)
	}
}

func TestBadConfigurationStopsAtStart(t *testing.T) {
	env := map[string]string{
		"SLACK_BOT_TOKEN":      "",
		"SLACK_APP_TOKEN":      "xapp-SECRETapp",
		"ORY_ADMIN_URL":        "http://127.0.0.1:1",
		"ORY_API_KEY":          "ory_pat_SECRETkey",
		"ORYBOT_AUDIT_CHANNEL": "C123",
		"ORYBOT_APPROVERS":     "U123",
	}
	getenv := func(key string) string { return env[key] }
	var stderr bytes.Buffer
	err := run(t.Context(), nil, getenv, &bytes.Buffer{}, &stderr)
	if err == nil {
		t.Fatal("run succeeded without SLACK_BOT_TOKEN")
	}
	contains(t, "error", err.Error(), "SLACK_BOT_TOKEN")
	for _, s := range []string{"SECRETapp", "SECRETkey"} {
		if strings.Contains(err.Error()+stderr.String(), s) {
			t.Errorf("error output reveals %q", s)
		}
	}
}
