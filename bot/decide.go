package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/store"
)

// Decisions approve, deny and cancel pending requests. Each is a
// conditional update in the store, so that two replicas, a double click or
// a redelivered envelope cannot decide a request twice.
type Decisions interface {
	Get(ctx context.Context, id string) (*store.Request, error)
	Approve(ctx context.Context, id, approver string, required int, now time.Time, recs ...audit.Record) (*store.Request, error)
	Deny(ctx context.Context, id, approver, reason string, now time.Time, recs ...audit.Record) (*store.Request, error)
	Cancel(ctx context.Context, id, requester string, now time.Time, recs ...audit.Record) (*store.Request, error)
}

// Button action ids and the deny dialog's callback id. Button values carry
// the request id, so a card keeps working across restarts and on any
// replica.
const (
	actionApprove = "approve"
	actionDeny    = "deny"
	actionCancel  = "cancel"
	denyDialog    = "deny_reason"
	denyReasonID  = "reason"
)

// click handles the buttons of an approval card.
func (b *Bot) click(ctx context.Context, cb slack.InteractionCallback) {
	say := func(ctx context.Context, text string) { b.reply(ctx, cb.ResponseURL, text) }
	for _, a := range cb.ActionCallback.BlockActions {
		if msg := badClick(a); msg != "" {
			b.log.Info("ignored a malformed click", "approver", cb.User.ID, "action_id", truncate(a.ActionID, 40))
			say(ctx, msg)
			continue
		}
		switch a.ActionID {
		case actionApprove:
			b.approve(ctx, cb.User.ID, a.Value, say)
		case actionDeny:
			b.openDenyDialog(ctx, cb, a.Value, say)
		case actionCancel:
			b.cancel(ctx, cb.User.ID, a.Value, say)
		}
	}
}

// mayDecide loads a request and checks that user may approve or deny it: it
// is pending, they did not ask for it, they are an approver, and the
// identity is not their own. Otherwise it tells them why and returns false.
// With the caches warm it makes no Slack call.
func (b *Bot) mayDecide(ctx context.Context, user, requestID string, say replier) (*store.Request, *slog.Logger, bool) {
	log := b.log.With("request_id", requestID, "approver", user)
	req, ok := b.load(ctx, requestID, say, log)
	if !ok {
		return nil, nil, false
	}
	log = log.With("cmd", req.Verb, "identity_id", req.IdentityID, "requester", req.Requester)
	if req.Status != store.StatusPending {
		_, late := statusWords(req)
		say(ctx, late)
		return nil, nil, false
	}
	if user == req.Requester {
		log.Info("refused: requester tried to decide own request")
		say(ctx, fmt.Sprintf("You asked for request `%s`, so someone else must approve or deny it. The request is still pending.", req.ID))
		return nil, nil, false
	}
	ok, err := b.approvers.contains(ctx, user)
	if err != nil {
		say(ctx, b.describe(err, "check approvers", log)+" The request is still pending.")
		return nil, nil, false
	}
	if !ok {
		log.Info("refused: not an approver")
		say(ctx, fmt.Sprintf("You are not allowed to approve or deny requests: only the users and groups in ORYBOT_APPROVERS are. Request `%s` is still pending.", req.ID))
		return nil, nil, false
	}
	switch s, err := b.self(ctx, user, req); {
	case err != nil:
		say(ctx, b.describe(err, "check own identity", log)+" The request is still pending.")
		return nil, nil, false
	case s == noSlackEmail:
		log.Info("refused: approver has no slack email")
		say(ctx, noEmailWords+fmt.Sprintf(" Request `%s` is still pending.", req.ID))
		return nil, nil, false
	case s == ownIdentity:
		log.Info("refused: approver's own identity")
		say(ctx, fmt.Sprintf("You cannot decide request `%s`: it acts on your own identity. Someone else must approve or deny it. The request is still pending.", req.ID))
		return nil, nil, false
	}
	return req, log, true
}

// load reads a request, telling the user if it does not exist.
func (b *Bot) load(ctx context.Context, requestID string, say replier, log *slog.Logger) (*store.Request, bool) {
	req, err := b.deps.Decisions.Get(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		say(ctx, fmt.Sprintf("Request %s does not exist (it may have been made against another database). Ask the requester to run the command again.", code(truncate(requestID, 40))))
		return nil, false
	}
	if err != nil {
		say(ctx, b.describe(err, "load request", log))
		return nil, false
	}
	return req, true
}

// required is how many distinct approvals a verb needs.
func (b *Bot) required(verb string) int {
	if n := b.cfg.ApprovalsRequired[verb]; n > 0 {
		return n
	}
	return 1
}

// approve records one approval; the last one needed runs the request.
func (b *Bot) approve(ctx context.Context, user, requestID string, say replier) {
	req, log, ok := b.mayDecide(ctx, user, requestID, say)
	if !ok {
		return
	}
	if msg := b.auditGate(ctx, log); msg != "" {
		say(ctx, msg+fmt.Sprintf(" Request `%s` is still pending.", req.ID))
		return
	}
	// The store records the approval and, when it is the last one needed,
	// approves the request in one transaction under the request's lock, so
	// concurrent clicks, a click and its redelivery, or two replicas cannot
	// run the action twice or count one person twice.
	after, err := b.deps.Decisions.Approve(ctx, req.ID, user, b.required(req.Verb), b.cfg.Now(), b.record(req, audit.Approved, user, "", ""))
	if !b.decided(ctx, req, after, err, say, log) {
		return
	}
	b.kickDelivery()
	if after.Status == store.StatusPending {
		log.Info("approval recorded; more needed", "approvals", len(after.Approvals))
		b.updateCard(ctx, after, log)
		say(ctx, fmt.Sprintf("Your approval of request `%s` is recorded. It needs %d more from other approvers.", req.ID, b.required(req.Verb)-len(after.Approvals)))
		return
	}
	log.Info("request approved")
	if ended, refused := b.refuseAtApproval(ctx, after, log); refused {
		if ended != nil {
			b.finish(ctx, ended, log)
		}
		return
	}
	// The card says "running" while the action runs, but the action does
	// not wait for Slack to say so.
	running := make(chan struct{})
	go func() {
		defer close(running)
		b.updateCard(ctx, after, log)
	}()
	ended := b.execute(ctx, after, running, log)
	<-running
	if ended == nil {
		return
	}
	// The action may have used up ctx; its end is told on a deadline of
	// its own.
	ctx, cancel := endContext(ctx)
	defer cancel()
	b.finish(ctx, ended, log)
}

// decided handles what Approve, Deny and Cancel return when the request was
// not in the state the click expected. It reports whether to go on.
func (b *Bot) decided(ctx context.Context, req, after *store.Request, err error, say replier, log *slog.Logger) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrAlreadyApproved):
		say(ctx, fmt.Sprintf("You have already approved request `%s`; one person's approval counts once. It needs %d more from other approvers.",
			req.ID, b.required(req.Verb)-len(after.Approvals)))
	case errors.Is(err, store.ErrNotPending):
		_, late := statusWords(after)
		say(ctx, late)
	case errors.Is(err, store.ErrExpired):
		b.expire(ctx, req, log)
		say(ctx, fmt.Sprintf("Request `%s` expired at %s without a decision, so it can no longer be decided or cancelled. Ask for a new request if it is still needed.", req.ID, slackDate(req.ExpiresAt)))
	case errors.Is(err, store.ErrNotRequester):
		say(ctx, fmt.Sprintf("Only the requester, <@%s>, can cancel request `%s`. Approvers can deny it instead.", req.Requester, req.ID))
	default:
		say(ctx, b.describe(err, "decide request", log)+" The request is still pending.")
	}
	return false
}

// openDenyDialog asks the approver for an optional reason before denying.
// Slack's trigger id lives three seconds, so the dialog opens straight from
// the click, after one read of the request from the store and before any
// other Slack call: a slow user-group lookup must not make it fail. Whether
// the clicker is an approver, and not the identity's owner, is checked when
// the dialog is submitted (denySubmitted).
func (b *Bot) openDenyDialog(ctx context.Context, cb slack.InteractionCallback, requestID string, say replier) {
	log := b.log.With("request_id", requestID, "approver", cb.User.ID)
	req, ok := b.load(ctx, requestID, say, log)
	if !ok {
		return
	}
	// The checks that need no Slack call are made at once.
	switch {
	case req.Status != store.StatusPending:
		_, late := statusWords(req)
		say(ctx, late)
		return
	case cb.User.ID == req.Requester:
		say(ctx, fmt.Sprintf("You asked for request `%s`, so someone else must approve or deny it. The request is still pending.", req.ID))
		return
	}
	if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, denyView(req)); err != nil {
		say(ctx, b.describe(err, "open deny dialog", log)+" Click Deny again.")
	}
}

// denySubmitted denies a request with the reason from the dialog.
func (b *Bot) denySubmitted(ctx context.Context, cb slack.InteractionCallback) {
	requestID := cb.View.PrivateMetadata
	// The dialog limits the reason's length, but a forged payload need not.
	reason := truncate(strings.TrimSpace(cb.View.State.Values[denyReasonID][denyReasonID].Value), commands.MaxReasonLen)
	var channel string
	say := func(ctx context.Context, text string) {
		if channel == "" {
			// No such request, so no channel to answer in.
			b.dm(ctx, cb.User.ID, text)
			return
		}
		if _, err := b.api.PostEphemeralContext(ctx, channel, cb.User.ID, slack.MsgOptionText(text, false)); err != nil {
			b.log.Error("reply to deny dialog", "err", err, "request_id", requestID)
		}
	}
	if req, err := b.deps.Decisions.Get(ctx, requestID); err == nil {
		channel = req.ChannelID
	}
	// Who may deny is checked here, not when the dialog opened.
	req, log, ok := b.mayDecide(ctx, cb.User.ID, requestID, say)
	if !ok {
		return
	}
	result := "denied"
	if reason != "" {
		result = "denied: " + esc(reason)
	}
	after, err := b.deps.Decisions.Deny(ctx, req.ID, cb.User.ID, reason, b.cfg.Now(), b.record(req, audit.Denied, cb.User.ID, "", result))
	if !b.decided(ctx, req, after, err, say, log) {
		return
	}
	log.Info("request denied")
	b.finish(ctx, after, log)
}

// cancelCommand is `/ory cancel <request-id>`.
func (b *Bot) cancelCommand(ctx context.Context, in *invocation) {
	b.cancel(ctx, in.sc.UserID, in.cmd.Target, in.say)
}

// cancel withdraws a pending request; only its requester may.
func (b *Bot) cancel(ctx context.Context, user, requestID string, say replier) {
	log := b.log.With("request_id", requestID, "requester", user)
	req, ok := b.load(ctx, requestID, say, log)
	if !ok {
		return
	}
	after, err := b.deps.Decisions.Cancel(ctx, req.ID, user, b.cfg.Now(), b.record(req, audit.Cancelled, "", "", "cancelled by the requester"))
	if !b.decided(ctx, req, after, err, say, log) {
		return
	}
	log.Info("request cancelled")
	say(ctx, fmt.Sprintf("Request `%s` is cancelled. Nothing was changed.", req.ID))
	b.finish(ctx, after, log)
}
