package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// Actions are the Ory calls that approved requests make.
type Actions interface {
	SetState(ctx context.Context, id, state string) (ory.Identity, error)
	RevokeSession(ctx context.Context, sessionID string) error
	RevokeSessions(ctx context.Context, identityID string) (int, error)
	DeleteCredential(ctx context.Context, identityID, credType, identifier string) error
}

// oryCalls are the Ory calls of one approved request, which report their
// retries on its card.
type oryCalls struct {
	act Actions
	rec Recoveries
}

// step is one Ory call of an approved request. do returns what it did, in
// words for the card and the audit record. subject names what it acts on
// (a session id, a credential type) for the audit trail.
type step struct {
	name    string
	subject string
	do      func(ctx context.Context) (string, error)
}

func setStateStep(act Actions, identityID, state string) step {
	return step{name: "set state to " + state, do: func(ctx context.Context) (string, error) {
		got, err := act.SetState(ctx, identityID, state)
		if err != nil {
			return "", err
		}
		return "identity is now " + esc(got.State), nil
	}}
}

func revokeAllStep(act Actions, identityID string) step {
	return step{name: "revoke all sessions", do: func(ctx context.Context) (string, error) {
		n, err := act.RevokeSessions(ctx, identityID)
		if err != nil {
			return "", err
		}
		switch n {
		case 0:
			return "none were active; nothing to revoke", nil
		case 1:
			return "revoked all sessions; 1 was active", nil
		}
		return fmt.Sprintf("revoked all sessions; %d were active", n), nil
	}}
}

func revokeSessionStep(act Actions, identityID, sessionID string) step {
	return step{name: "revoke session", subject: sessionID, do: func(ctx context.Context) (string, error) {
		if err := act.RevokeSession(ctx, sessionID); err != nil {
			return "", err
		}
		return fmt.Sprintf("revoked session %s of identity %s", sessionID, identityID), nil
	}}
}

func deleteCredentialStep(act Actions, identityID, typ, identifier string) step {
	return step{name: "remove " + typ, subject: typ, do: func(ctx context.Context) (string, error) {
		if err := act.DeleteCredential(ctx, identityID, typ, identifier); err != nil {
			return "", err
		}
		return fmt.Sprintf("removed the %s credential", esc(typ)), nil
	}}
}

// execute runs an approved request and records the outcome, and returns
// the request as it ended. It first reads the identity again: if it changed
// since the card was posted, the approvers approved something that no
// longer exists, so nothing is done. running is closed once the card says
// the request is running; retry notices wait for it, so that they are not
// overwritten.
//
// The identity check and the steps share ORYBOT_ACTION_TIMEOUT; the outcome
// is then recorded under a deadline of its own (endContext). execute returns
// the request as the store holds it, or nil if it cannot tell.
func (b *Bot) execute(ctx context.Context, req *store.Request, running <-chan struct{}, log *slog.Logger) *store.Request {
	actx, cancel := context.WithTimeout(ctx, b.cfg.ActionTimeout)
	defer cancel()
	changed, err := b.changes(actx, req)
	var (
		result string
		event  = audit.Done
		status = store.StatusDone
	)
	switch {
	case err != nil:
		result = "✗ read the identity again before acting: " + b.describe(err, "re-read identity", log)
		event, status = audit.Failed, store.StatusFailed
	case changed != "":
		log.Info("request is stale; nothing done")
		result = "The identity changed after the request was made: " + changed + ". Nothing was done; ask for a new request if it is still needed."
		event, status = audit.Stale, store.StatusStale
	default:
		notice := func(r ory.Retry) { b.showRetry(ctx, req, running, r, log) }
		result, err = b.runSteps(actx, req, oryCalls{act: b.deps.Actions(notice), rec: b.deps.Recoveries(notice)}, log)
		if err != nil {
			event, status = audit.Failed, store.StatusFailed
		}
	}
	return b.recordOutcome(ctx, req, status, event, result, log)
}

// recordOutcome writes how an approved request ended, under a deadline of
// its own, and returns the request as the store then holds it: the card
// must show what the store recorded. If the outcome cannot be written, the
// request is read again; if that fails too it returns nil, and the sweeper
// ends the request later.
func (b *Bot) recordOutcome(ctx context.Context, req *store.Request, status store.Status, event audit.Event, result string, log *slog.Logger) *store.Request {
	ctx, cancel := endContext(ctx)
	defer cancel()
	err := b.deps.Outcomes.Finish(ctx, req.ID, status, result, b.cfg.Now(), b.record(req, event, req.Approver, "", result))
	if err == nil {
		ended := *req
		ended.Status, ended.Result = status, result
		return &ended
	}
	log.Error("record outcome", "err", err)
	now, err := b.deps.Decisions.Get(ctx, req.ID)
	if err != nil {
		log.Error("read request after its outcome was not recorded", "err", err)
		return nil
	}
	return now
}

// timedOut is the result line of a step cut off by ORYBOT_ACTION_TIMEOUT:
// the call may have reached Ory, so its effect is unknown.
func (b *Bot) timedOut(s step, req *store.Request) string {
	return fmt.Sprintf("✗ %s did not finish within ORYBOT_ACTION_TIMEOUT (%s), so whether Ory applied it is unknown. Check the identity with `/ory show %s` before asking again.",
		s.name, b.cfg.ActionTimeout, req.IdentityID)
}

// showRetry says on the card that Ory is being retried. The ory client
// logs the retry itself.
func (b *Bot) showRetry(ctx context.Context, req *store.Request, running <-chan struct{}, r ory.Retry, log *slog.Logger) {
	<-running
	words := "Ory did not answer in time."
	switch {
	case errors.Is(r.Err, ory.ErrRateLimited):
		words = "Ory's rate limit was hit."
	case errors.Is(r.Err, ory.ErrUnavailable):
		words = "Ory could not be reached or had a server error."
	}
	notice := *req
	notice.Result = fmt.Sprintf("retrying (attempt %d) in %s: %s", r.Attempt+1, r.Wait.Round(100*time.Millisecond), words)
	b.updateCard(ctx, &notice, log)
}

// changes says, without trait values, how the identity differs from when
// the request was made, or "" if it does not. A request without a
// fingerprint cannot be compared, which is an error, never "unchanged".
func (b *Bot) changes(ctx context.Context, req *store.Request) (string, error) {
	if req.Snapshot.Fingerprint == "" {
		return "", fmt.Errorf("compare identity %s with request %s: the request has no fingerprint", req.IdentityID, req.ID)
	}
	id, err := b.deps.Identities.Identity(ctx, req.IdentityID)
	if err != nil {
		return "", err
	}
	if id.Fingerprint == req.Snapshot.Fingerprint {
		return "", nil
	}
	var what []string
	if old := req.Snapshot.State; id.State != old {
		what = append(what, fmt.Sprintf("its state went from %s to %s", esc(old), esc(id.State)))
	}
	if emailDigest(req.ID, id.Email) != req.Snapshot.EmailDigest {
		what = append(what, "its email changed")
	}
	if !slices.Equal(id.CredentialTypes, req.Snapshot.Credentials) {
		what = append(what, fmt.Sprintf("its credentials changed (now %s)", codeList(id.CredentialTypes)))
	}
	if len(what) == 0 {
		what = append(what, "its traits or credential details changed")
	}
	return strings.Join(what, "; "), nil
}

// runSteps runs a request's steps in order and stops at the first failure.
// The result has one line per step: what was done, what failed and why, and
// what was not attempted, so that nobody has to guess the identity's state.
// Each step that ran gets an audit record of its own.
func (b *Bot) runSteps(ctx context.Context, req *store.Request, calls oryCalls, log *slog.Logger) (string, error) {
	v, ok := b.verbs[commands.Verb(req.Verb)]
	var steps []step
	if ok && v.steps != nil {
		steps = v.steps(b, req, calls)
	}
	if len(steps) == 0 {
		return "", fmt.Errorf("run request %s: verb %q has no steps", req.ID, req.Verb)
	}
	var lines []string
	for i, s := range steps {
		done, err := s.do(ctx)
		line := "✓ " + done
		switch {
		case err != nil && ctx.Err() != nil:
			log.Error("step cut off by ORYBOT_ACTION_TIMEOUT", "step", s.name, "err", err)
			line = b.timedOut(s, req)
		case err != nil:
			line = fmt.Sprintf("✗ %s failed: %s", s.name, b.describe(err, s.name, log))
		}
		lines = append(lines, line)
		b.recordStep(ctx, req, s, line, log)
		if err != nil {
			for _, rest := range steps[i+1:] {
				lines = append(lines, "– "+rest.name+": not attempted")
			}
			return strings.Join(lines, "\n"), err
		}
	}
	return strings.Join(lines, "\n"), nil
}

// recordStep appends the audit record of one step, under a deadline of its
// own: the step's context may have run out.
func (b *Bot) recordStep(ctx context.Context, req *store.Request, s step, line string, log *slog.Logger) {
	ctx, cancel := endContext(ctx)
	defer cancel()
	if _, err := b.deps.Outcomes.AppendAudit(ctx, b.record(req, audit.Step, req.Approver, s.subject, line)); err != nil {
		log.Error("record step in audit trail", "err", err)
	}
}
