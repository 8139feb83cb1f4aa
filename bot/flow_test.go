package bot

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// The people and places of the flow tests. UREQ asks; UAPP is an approver
// by user id and UAPP2 through the user group SAPPROVERS; UOTHER is
// neither. UGRP may ask only through the group SREQUESTERS, when a test
// sets ORYBOT_REQUESTERS.
const (
	flowSessionID    = "5f1c0d9e-2b7a-4c3d-8e9f-0a1b2c3d4e5f"
	flowOldSessionID = "6a2b1c0d-3e4f-4a5b-9c8d-7e6f5a4b3c2d"
	flowTargetEmail  = "target@example.com"
)

// flow is a running bot with everything around it: the fake Slack, a real
// SQLite store, a fake Ory holding one identity (rigIdentity) with two
// sessions, and a clock the test moves.
type flow struct {
	t      *testing.T
	ctx    context.Context // the test's context, with a deadline for every wait
	fs     *slacktest.Server
	st     *store.Store
	o      *fakeOry
	clock  *clock
	sweeps *sweepCounter
	dbPath string
}

// sweepCounter is the store as the sweeper sees it, counting sweeps, so
// that a test can wait for a sweep that started after it moved the clock.
type sweepCounter struct {
	Sweeps
	mu sync.Mutex
	n  int // sweeps that have listed interrupted requests, the last thing they read
}

func (s *sweepCounter) Interrupted(ctx context.Context, decidedBefore time.Time) ([]*store.Request, error) {
	r, err := s.Sweeps.Interrupted(ctx, decidedBefore)
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return r, err
}

func (s *sweepCounter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// waitSweep waits until a whole sweep has run after the call: the sweep in
// progress may have read the clock before, the one after it may still be
// ending requests when it lists interrupted ones, so it waits for three.
func (f *flow) waitSweep() {
	f.t.Helper()
	n := f.sweeps.count()
	if err := f.fs.WaitFor(f.ctx, func() bool { return f.sweeps.count() >= n+3 }); err != nil {
		f.t.Fatalf("no sweep: %v", err)
	}
}

// clock is a Config.Now that moves only when the test says.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// flowIdentity is the identity the flow tests act on: active, with a
// password, every second factor and one Google link.
func flowIdentity() ory.Identity {
	return ory.Identity{
		ID: rigIdentity, State: ory.StateActive, Email: flowTargetEmail, Fingerprint: "fp1",
		SchemaID:        "default",
		CreatedAt:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		CredentialTypes: []string{"lookup_secret", "oidc", "password", "totp", "webauthn"},
		Identifiers:     map[string][]string{"oidc": {"google:123"}},
	}
}

// newFlow starts a flow. tweak, if not nil, changes the configuration and
// the fake Ory before the bot starts.
func newFlow(t *testing.T, tweak func(*Config, *fakeOry)) *flow {
	t.Helper()
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	o := &fakeOry{
		identities: []ory.Identity{flowIdentity()},
		sessions: []ory.Session{
			{ID: flowSessionID, IdentityID: rigIdentity, Active: true, AuthenticatedAt: at, ExpiresAt: at.Add(24 * time.Hour), AAL: "aal2", UserAgent: "Firefox"},
			{ID: flowOldSessionID, IdentityID: rigIdentity, Active: false, AuthenticatedAt: at.Add(-48 * time.Hour), ExpiresAt: at.Add(-24 * time.Hour)},
		},
	}
	c := &clock{now: time.Now()}
	cfg := testConfig()
	cfg.Approvers = []string{"UAPP", "SAPPROVERS"}
	cfg.Now = c.Now
	if tweak != nil {
		tweak(&cfg, o)
	}
	fs := slacktest.New(t)
	fs.SetUser("UREQ", "req", "req@corp.example")
	fs.SetUser("UAPP", "app", "app@corp.example")
	fs.SetUser("UAPP2", "app2", "app2@corp.example")
	fs.SetUser("UOTHER", "other", "other@corp.example")
	fs.SetUser("UGRP", "grp", "grp@corp.example")
	fs.SetUserGroup("SAPPROVERS", "UAPP2")
	fs.SetUserGroup("SREQUESTERS", "UGRP")
	dbPath := filepath.Join(t.TempDir(), "orybot.db")
	st := openStore(t, dbPath)
	deps := testDeps(o, st)
	sweeps := &sweepCounter{Sweeps: st}
	deps.Sweeps = sweeps
	runBot(t, fs, deps, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return &flow{t: t, ctx: ctx, fs: fs, st: st, o: o, clock: c, sweeps: sweeps, dbPath: dbPath}
}

// command types /ory text as user in the channel COPS.
func (f *flow) command(user, text string) *slacktest.Envelope {
	f.t.Helper()
	return f.commandIn(user, "COPS", text)
}

func (f *flow) commandIn(user, channel, text string) *slacktest.Envelope {
	f.t.Helper()
	env, err := f.fs.SlashCommand(f.ctx, slacktest.SlashCommand{User: user, Channel: channel, Command: "/ory", Text: text})
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

// reply waits for the bot's first answer to env through its response_url,
// which only the user sees, and returns its text.
func (f *flow) reply(env *slacktest.Envelope) string {
	f.t.Helper()
	if err := f.fs.WaitFor(f.ctx, func() bool { return len(f.fs.ResponsePosts(env.ResponseURL)) > 0 }); err != nil {
		f.t.Fatalf("no reply: %v", err)
	}
	p := f.fs.ResponsePosts(env.ResponseURL)[0]
	if p.ResponseType != "ephemeral" {
		f.t.Errorf("reply %q is %q, want ephemeral", p.Text, p.ResponseType)
	}
	return p.Text
}

// ask runs a command and returns the bot's reply.
func (f *flow) ask(user, text string) string {
	f.t.Helper()
	return f.reply(f.command(user, text))
}

var requestIDIn = regexp.MustCompile("Request `([a-z2-7]{10})` is waiting")

// request asks for text as UREQ and returns the new request's id and the
// ts of its card.
func (f *flow) request(text string) (id, ts string) {
	f.t.Helper()
	got := f.ask("UREQ", text)
	m := requestIDIn.FindStringSubmatch(got)
	if m == nil {
		f.t.Fatalf("/ory %s: reply %q, want a request waiting for approval", text, got)
	}
	card, ok := f.card(m[1])
	if !ok {
		f.t.Fatalf("request %s has no card", m[1])
	}
	return m[1], card.TS
}

// card returns the card of request id.
func (f *flow) card(id string) (slacktest.Message, bool) {
	for _, m := range f.fs.Messages("COPS") {
		if strings.Contains(m.Versions[0].Text, id) {
			return m, true
		}
	}
	return slacktest.Message{}, false
}

// cardText returns every text of the card of request id as it is now, one
// per line.
func (f *flow) cardText(id string) string {
	f.t.Helper()
	m, ok := f.card(id)
	if !ok {
		f.t.Fatalf("request %s has no card", id)
	}
	return blockText(m.Text, m.Blocks)
}

// blockText returns text and every string in blocks, one per line, with
// the JSON escapes undone.
func blockText(text string, blocks json.RawMessage) string {
	out := []string{text}
	var v any
	_ = json.Unmarshal(blocks, &v)
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}

// click clicks a card button (actionApprove, actionDeny, actionCancel) as
// user.
func (f *flow) click(user, action, id, ts string) *slacktest.Envelope {
	f.t.Helper()
	env, err := f.fs.BlockAction(f.ctx, slacktest.BlockAction{User: user, Channel: "COPS", MessageTS: ts, ActionID: action, BlockID: "decide", Value: id})
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

// dms returns the direct messages the bot sent user, oldest first.
func (f *flow) dms(user string) []string {
	var out []string
	for _, m := range f.fs.Messages(user) {
		out = append(out, m.Text)
	}
	return out
}

// waitDM waits until user has n direct messages and returns the last.
func (f *flow) waitDM(user string, n int) string {
	f.t.Helper()
	if err := f.fs.WaitFor(f.ctx, func() bool { return len(f.fs.Messages(user)) >= n }); err != nil {
		f.t.Fatalf("%s has %d direct messages, want %d: %v", user, len(f.fs.Messages(user)), n, err)
	}
	dms := f.dms(user)
	return dms[n-1]
}

// get reads request id from the store.
func (f *flow) get(id string) *store.Request {
	f.t.Helper()
	r, err := f.st.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// waitStatus waits until request id has status s, and returns it.
func (f *flow) waitStatus(id string, s store.Status) *store.Request {
	f.t.Helper()
	var r *store.Request
	err := f.fs.WaitFor(f.ctx, func() bool {
		r = f.get(id)
		return r.Status == s
	})
	if err != nil {
		f.t.Fatalf("request %s is %s, want %s: %v", id, r.Status, s, err)
	}
	return r
}

// approveAndWait clicks Approve as user and waits for the requester to be
// told the outcome, the last thing the bot does for an approval.
func (f *flow) approveAndWait(user, id, ts string) *store.Request {
	f.t.Helper()
	f.click(user, actionApprove, id, ts)
	// The outcome message is the requester's last; a recovery secret comes
	// before it, in a direct message of its own.
	err := f.fs.WaitFor(f.ctx, func() bool {
		return slices.ContainsFunc(f.fs.Messages("UREQ"), func(m slacktest.Message) bool {
			return strings.HasPrefix(m.Text, "Your request `"+id+"`")
		})
	})
	if err != nil {
		f.t.Fatalf("the requester was not told how %s ended: %v", id, err)
	}
	return f.get(id)
}

// audit returns the audit records of request id, in order.
func (f *flow) audit(id string) []audit.Record {
	f.t.Helper()
	var out []audit.Record
	err := f.st.AuditRecords(f.ctx, time.Time{}, func(r audit.Record) error {
		if r.RequestID == id {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// events returns the events of the audit records of request id.
func (f *flow) events(id string) []audit.Event {
	f.t.Helper()
	var out []audit.Event
	for _, r := range f.audit(id) {
		out = append(out, r.Event)
	}
	return out
}

// waitAuditDelivered waits until every audit record in the store has been
// posted to the audit channel.
func (f *flow) waitAuditDelivered() {
	f.t.Helper()
	err := f.fs.WaitFor(f.ctx, func() bool {
		recs, err := f.st.Undelivered(f.ctx, 1)
		return err == nil && len(recs) == 0
	})
	if err != nil {
		f.t.Fatalf("audit records not delivered: %v", err)
	}
}

// mustContain fails the test unless got contains every one of want.
func mustContain(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

// mustNotContain fails the test if got contains any of bad.
func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Errorf("%s = %q, want it without %q", what, got, b)
		}
	}
}

// noActions fails the test if Ory was asked to change anything.
func (f *flow) noActions() {
	f.t.Helper()
	if got := f.o.actions(); len(got) > 0 {
		f.t.Errorf("Ory actions = %q, want none", got)
	}
}

// sameEvents compares audit events.
func sameEvents(t *testing.T, id string, got, want []audit.Event) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("audit events of %s = %q, want %q", id, got, want)
	}
}
