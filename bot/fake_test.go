package bot

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// fakeOry is a hand-written Ory: it holds identities and sessions, changes
// them as Kratos would, records every call, and answers a method with an
// error when the test says so.
type fakeOry struct {
	mu         sync.Mutex
	identities []ory.Identity
	sessions   []ory.Session
	errs       map[string]error // method name → error to answer with
	// retries makes each action call report this many retry notices
	// before it answers.
	retries int
	calls   []string    // "Method arg", in order
	called  chan string // if not nil, also receives every call
}

var (
	_ Identities = (*fakeOry)(nil)
	_ Actions    = (*fakeOry)(nil)
	_ Recoveries = (*fakeOry)(nil)
)

// fakeRecoveryLink is the secret the fake's recovery calls hand out.
const fakeRecoveryLink = "https://kratos.test/self-service/recovery?flow=f1&token=SECRETtoken"

// fakeRecoveryCode is the code the fake's RecoveryCode hands out.
const fakeRecoveryCode = "739104"

// record notes a call and returns the error the test set for method.
func (f *fakeOry) record(method, arg string) error {
	f.mu.Lock()
	f.calls = append(f.calls, method+" "+arg)
	err := f.errs[method]
	ch := f.called
	f.mu.Unlock()
	if ch != nil {
		ch <- method
	}
	return err
}

// Calls returns the calls so far, as "Method arg".
func (f *fakeOry) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// find returns the index of identity id, or -1.
func (f *fakeOry) find(id string) int {
	return slices.IndexFunc(f.identities, func(i ory.Identity) bool { return i.ID == id })
}

func (f *fakeOry) Identity(_ context.Context, id string) (ory.Identity, error) {
	if err := f.record("Identity", id); err != nil {
		return ory.Identity{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.find(id); i >= 0 {
		return f.identities[i], nil
	}
	return ory.Identity{}, &ory.Error{Op: "get identity", Status: 404, Err: ory.ErrNotFound}
}

func (f *fakeOry) IdentityByEmail(_ context.Context, email string) (ory.Identity, error) {
	if err := f.record("IdentityByEmail", email); err != nil {
		return ory.Identity{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var found []ory.Identity
	for _, i := range f.identities {
		if strings.EqualFold(i.Email, email) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		return ory.Identity{}, ory.ErrNotFound
	case 1:
		return found[0], nil
	}
	return ory.Identity{}, &ory.AmbiguousError{Op: "find identity by email", Count: len(found)}
}

func (f *fakeOry) Sessions(_ context.Context, identityID string, activeOnly bool) ([]ory.Session, error) {
	if err := f.record("Sessions", identityID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ory.Session
	for _, s := range f.sessions {
		if s.IdentityID == identityID && (s.Active || !activeOnly) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeOry) Session(_ context.Context, id string) (ory.Session, error) {
	if err := f.record("Session", id); err != nil {
		return ory.Session{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		if s.ID == id {
			return s, nil
		}
	}
	return ory.Session{}, ory.ErrNotFound
}

// changed updates identity id as Kratos would: any admin change gives it a
// new fingerprint.
func (f *fakeOry) changed(id string, change func(*ory.Identity)) (ory.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(id)
	if i < 0 {
		return ory.Identity{}, &ory.Error{Op: "change identity", Status: 404, Err: ory.ErrNotFound}
	}
	change(&f.identities[i])
	f.identities[i].Fingerprint += "'"
	return f.identities[i], nil
}

func (f *fakeOry) SetState(_ context.Context, id, state string) (ory.Identity, error) {
	if err := f.record("SetState", id+" "+state); err != nil {
		return ory.Identity{}, err
	}
	return f.changed(id, func(i *ory.Identity) { i.State = state })
}

func (f *fakeOry) RevokeSession(_ context.Context, sessionID string) error {
	if err := f.record("RevokeSession", sessionID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.sessions {
		if f.sessions[i].ID == sessionID {
			f.sessions[i].Active = false
			return nil
		}
	}
	return ory.ErrNotFound
}

func (f *fakeOry) RevokeSessions(_ context.Context, identityID string) (int, error) {
	if err := f.record("RevokeSessions", identityID); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i := range f.sessions {
		if f.sessions[i].IdentityID == identityID && f.sessions[i].Active {
			f.sessions[i].Active = false
			n++
		}
	}
	return n, nil
}

func (f *fakeOry) DeleteCredential(_ context.Context, identityID, credType, identifier string) error {
	if err := f.record("DeleteCredential", strings.TrimSpace(identityID+" "+credType+" "+identifier)); err != nil {
		return err
	}
	_, err := f.changed(identityID, func(i *ory.Identity) {
		i.CredentialTypes = slices.DeleteFunc(slices.Clone(i.CredentialTypes), func(t string) bool { return t == credType })
	})
	return err
}

func (f *fakeOry) RecoveryLink(_ context.Context, identityID string, expiresIn time.Duration) (string, time.Time, error) {
	if err := f.record("RecoveryLink", identityID); err != nil {
		return "", time.Time{}, err
	}
	return fakeRecoveryLink, time.Now().Add(expiresIn), nil
}

func (f *fakeOry) RecoveryCode(_ context.Context, identityID string, expiresIn time.Duration) (string, string, time.Time, error) {
	if err := f.record("RecoveryCode", identityID); err != nil {
		return "", "", time.Time{}, err
	}
	return fakeRecoveryLink, fakeRecoveryCode, time.Now().Add(expiresIn), nil
}

// notifying is the fake as one request's Actions and Recoveries: each
// action call first reports the fake's retries to notice.
type notifying struct {
	*fakeOry
	notice func(ory.Retry)
}

func (n notifying) retry(op string) {
	for a := range n.retries {
		n.notice(ory.Retry{Op: op, Attempt: a + 1, Wait: 10 * time.Millisecond,
			Err: &ory.Error{Op: op, Status: 429, Err: ory.ErrRateLimited}})
	}
}

func (n notifying) SetState(ctx context.Context, id, state string) (ory.Identity, error) {
	n.retry("patch identity")
	return n.fakeOry.SetState(ctx, id, state)
}

// testDeps gives a bot the fake Ory and a real store in every role.
func testDeps(o *fakeOry, st *store.Store) Deps {
	return Deps{
		Identities: o,
		Actions:    func(notice func(ory.Retry)) Actions { return notifying{o, notice} },
		Recoveries: func(notice func(ory.Retry)) Recoveries { return notifying{o, notice} },
		Intake:     st,
		Decisions:  st,
		Outcomes:   st,
		Sweeps:     st,
		Listings:   st,
		Outbox:     st,
		Backlog:    st,
		Secrets:    st,
	}
}

// testConfig is the configuration the tests start from: one approver, UAPP.
func testConfig() Config {
	return Config{
		AuditChannel:  "CAUDIT",
		TeamID:        slacktest.TeamID,
		Approvers:     []string{"UAPP"},
		RequestTTL:    time.Hour,
		RecoveryTTL:   time.Hour,
		WorkTimeout:   time.Minute,
		ActionTimeout: 45 * time.Second,
		SweepInterval: time.Hour,
		GroupCacheTTL: 5 * time.Minute,
		AuditMaxLag:   15 * time.Minute,
	}
}

// setErr makes method answer err from now on; nil lets it succeed again.
func (f *fakeOry) setErr(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs == nil {
		f.errs = map[string]error{}
	}
	f.errs[method] = err
}

// edit changes identity id as someone outside the bot would; change sets
// the fingerprint, or not, as the test needs.
func (f *fakeOry) edit(id string, change func(*ory.Identity)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.identities[f.find(id)])
}

// actionMethods are the fake's methods that change something in Ory or
// hand out a secret, as opposed to reading.
var actionMethods = []string{"SetState", "RevokeSession", "RevokeSessions", "DeleteCredential", "RecoveryLink", "RecoveryCode"}

// actions returns the calls that change something in Ory or hand out a
// secret, as "Method arg", in order.
func (f *fakeOry) actions() []string {
	var out []string
	for _, c := range f.Calls() {
		method, _, _ := strings.Cut(c, " ")
		if slices.Contains(actionMethods, method) {
			out = append(out, c)
		}
	}
	return out
}
