package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

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

// replier shows text to one user only.
type replier func(ctx context.Context, text string)

// click handles the buttons of an approval card.
func (b *Bot) click(ctx context.Context, cb slack.InteractionCallback) {
	say := func(ctx context.Context, text string) { b.reply(ctx, cb.ResponseURL, text) }
	for _, a := range cb.ActionCallback.BlockActions {
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
func (b *Bot) mayDecide(ctx context.Context, user, requestID string, say replier) (*store.Request, *slog.Logger, bool) {
	log := b.log.With("request_id", requestID, "approver", user)
	req, ok := b.load(ctx, requestID, say, log)
	if !ok {
		return nil, nil, false
	}
	log = log.With("cmd", req.Verb, "identity_id", req.IdentityID, "requester", req.Requester)
	if req.Status != store.StatusPending {
		say(ctx, alreadyDecided(req))
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
	own, err := b.ownIdentity(ctx, user, req.ID, req.Snapshot.EmailDigest)
	if err != nil {
		say(ctx, b.describe(err, "check own identity", log)+" The request is still pending.")
		return nil, nil, false
	}
	if own {
		log.Info("refused: approver's own identity")
		say(ctx, fmt.Sprintf("You cannot decide request `%s`: it acts on your own identity. Someone else must approve or deny it. The request is still pending.", req.ID))
		return nil, nil, false
	}
	return req, log, true
}

// load reads a request, telling the user if it does not exist.
func (b *Bot) load(ctx context.Context, requestID string, say replier, log *slog.Logger) (*store.Request, bool) {
	req, err := b.requests.Get(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		say(ctx, fmt.Sprintf("Request `%s` does not exist (it may have been made against another database). Ask the requester to run the command again.", requestID))
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
	// The store records the approval and, when it is the last one needed,
	// approves the request in one transaction under the request's lock, so
	// concurrent clicks, a click and its redelivery, or two replicas cannot
	// run the action twice or count one person twice.
	after, err := b.requests.Approve(ctx, req.ID, user, b.required(req.Verb), b.cfg.Now(), b.record(req, audit.Approved, user, "", ""))
	if !b.decided(ctx, req, after, err, say, log) {
		return
	}
	if after.Status == store.StatusPending {
		log.Info("approval recorded; more needed", "approvals", len(after.Approvals))
		b.updateCard(ctx, after, log)
		b.kickDelivery()
		say(ctx, fmt.Sprintf("Your approval of request `%s` is recorded. It needs %d more from other approvers.", req.ID, b.required(req.Verb)-len(after.Approvals)))
		return
	}
	log.Info("request approved")
	b.updateCard(ctx, after, log)
	b.kickDelivery()
	b.execute(ctx, after, log)
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
		say(ctx, alreadyDecided(after))
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

// execute runs an approved request and records the outcome. It first reads
// the identity again: if it changed since the card was posted, the
// approvers approved something that no longer exists, so nothing is done.
func (b *Bot) execute(ctx context.Context, req *store.Request, log *slog.Logger) {
	changed, err := b.changes(ctx, req)
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
		result, err = b.runSteps(withRetryNotice(ctx, req), req, log)
		if err != nil {
			event, status = audit.Failed, store.StatusFailed
		}
	}
	if err := b.requests.Finish(ctx, req.ID, status, result, b.cfg.Now(), b.record(req, event, req.Approver, "", result)); err != nil {
		log.Error("record outcome", "err", err)
	}
	req.Status, req.Result = status, result
	b.finish(ctx, req, log)
}

// changes says, without trait values, how the identity differs from when
// the request was made, or "" if it does not.
func (b *Bot) changes(ctx context.Context, req *store.Request) (string, error) {
	id, err := b.ory.Identity(ctx, req.IdentityID)
	if err != nil {
		return "", err
	}
	if req.Snapshot.Fingerprint == "" {
		// Without it nothing can be compared; "unchanged" would be a guess.
		return "", fmt.Errorf("compare identity %s with request %s: the request has no fingerprint", req.IdentityID, req.ID)
	}
	if id.Fingerprint == req.Snapshot.Fingerprint {
		return "", nil
	}
	var what []string
	if old := req.Snapshot.State; id.State != old {
		what = append(what, fmt.Sprintf("its state went from %s to %s", old, id.State))
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

// openDenyDialog asks the approver for an optional reason before denying.
// Slack's trigger id lives three seconds, so the dialog opens right after
// the checks; the denial itself happens when the dialog is submitted.
func (b *Bot) openDenyDialog(ctx context.Context, cb slack.InteractionCallback, requestID string, say replier) {
	req, log, ok := b.mayDecide(ctx, cb.User.ID, requestID, say)
	if !ok {
		return
	}
	if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, denyView(req)); err != nil {
		say(ctx, b.describe(err, "open deny dialog", log)+" Click Deny again.")
	}
}

// denySubmitted denies a request with the reason from the dialog.
func (b *Bot) denySubmitted(ctx context.Context, cb slack.InteractionCallback) {
	requestID := cb.View.PrivateMetadata
	reason := strings.TrimSpace(cb.View.State.Values[denyReasonID][denyReasonID].Value)
	var channel string
	say := func(ctx context.Context, text string) {
		if channel == "" {
			return
		}
		if _, err := b.api.PostEphemeralContext(ctx, channel, cb.User.ID, slack.MsgOptionText(text, false)); err != nil {
			b.log.Error("reply to deny dialog", "err", err, "request_id", requestID)
		}
	}
	if req, err := b.requests.Get(ctx, requestID); err == nil {
		channel = req.ChannelID
	}
	// The approver may have lost the right to deny while the dialog was open.
	req, log, ok := b.mayDecide(ctx, cb.User.ID, requestID, say)
	if !ok {
		return
	}
	result := "denied"
	if reason != "" {
		result = "denied: " + reason
	}
	after, err := b.requests.Deny(ctx, req.ID, cb.User.ID, reason, b.cfg.Now(), b.record(req, audit.Denied, cb.User.ID, "", result))
	if !b.decided(ctx, req, after, err, say, log) {
		return
	}
	log.Info("request denied")
	b.finish(ctx, after, log)
}

// cancel withdraws a pending request; only its requester may.
func (b *Bot) cancel(ctx context.Context, user, requestID string, say replier) {
	log := b.log.With("request_id", requestID, "requester", user)
	req, ok := b.load(ctx, requestID, say, log)
	if !ok {
		return
	}
	after, err := b.requests.Cancel(ctx, req.ID, user, b.cfg.Now(), b.record(req, audit.Cancelled, "", "", "cancelled by the requester"))
	if !b.decided(ctx, req, after, err, say, log) {
		return
	}
	log.Info("request cancelled")
	say(ctx, fmt.Sprintf("Request `%s` is cancelled. Nothing was changed.", req.ID))
	b.finish(ctx, after, log)
}

// expire ends a pending request whose time is up and says so on the card.
func (b *Bot) expire(ctx context.Context, req *store.Request, log *slog.Logger) {
	expired, err := b.requests.Expire(ctx, req.ID, b.cfg.Now(), b.record(req, audit.Expired, "", "", "expired without a decision"))
	if err != nil {
		if !errors.Is(err, store.ErrNotPending) {
			log.Error("expire request", "err", err)
		}
		return
	}
	log.Info("request expired")
	b.finish(ctx, expired, log)
}

// updateCard renders the request's card again, in place.
func (b *Bot) updateCard(ctx context.Context, req *store.Request, log *slog.Logger) {
	if req.MessageTS == "" {
		return
	}
	_, _, _, err := b.api.UpdateMessageContext(ctx, req.ChannelID, req.MessageTS,
		slack.MsgOptionText(cardText(req), false), slack.MsgOptionBlocks(cardBlocks(req, b.required(req.Verb))...))
	if err != nil {
		log.Error("update approval card", "err", err)
	}
}

// finish shows a request's end: the card, updated in place without buttons;
// the audit records, which the store already holds and the delivery loop
// posts; and a message to the requester.
func (b *Bot) finish(ctx context.Context, req *store.Request, log *slog.Logger) {
	b.updateCard(ctx, req, log)
	b.kickDelivery()
	b.tellRequester(ctx, req, log)
}

// record describes an event of req for the audit trail.
func (b *Bot) record(req *store.Request, event audit.Event, approver, subject, result string) audit.Record {
	return audit.Record{
		Time:       b.cfg.Now(),
		RequestID:  req.ID,
		Event:      event,
		Verb:       req.Verb,
		IdentityID: req.IdentityID,
		Subject:    subject,
		Requester:  req.Requester,
		Approver:   approver,
		Reason:     req.Reason,
		Result:     result,
	}
}

// tellRequester sends the outcome to the requester as a direct message from
// the app, so that they learn it without watching the channel.
func (b *Bot) tellRequester(ctx context.Context, req *store.Request, log *slog.Logger) {
	text := fmt.Sprintf("Your request `%s` (`%s` on identity `%s`): %s", req.ID, req.Verb, req.IdentityID, outcome(req))
	if _, _, err := b.api.PostMessageContext(ctx, req.Requester, slack.MsgOptionText(text, false)); err != nil {
		log.Error("tell requester the outcome", "err", err)
	}
}

// alreadyDecided tells a late clicker what became of the request.
func alreadyDecided(req *store.Request) string {
	switch req.Status {
	case store.StatusApproved:
		return fmt.Sprintf("Request `%s` was already approved by <@%s>; the action is running.", req.ID, req.Approver)
	case store.StatusDone:
		return fmt.Sprintf("Request `%s` was already approved by <@%s> and is done.", req.ID, req.Approver)
	case store.StatusFailed:
		return fmt.Sprintf("Request `%s` was already approved by <@%s>, and the action failed.", req.ID, req.Approver)
	case store.StatusStale:
		return fmt.Sprintf("Request `%s` was already approved by <@%s>, but the identity had changed, so nothing was done.", req.ID, req.Approver)
	case store.StatusDenied:
		return fmt.Sprintf("Request `%s` was already denied by <@%s>.", req.ID, req.Approver)
	case store.StatusCancelled:
		return fmt.Sprintf("Request `%s` was cancelled by its requester.", req.ID)
	case store.StatusExpired:
		return fmt.Sprintf("Request `%s` has expired and can no longer be decided.", req.ID)
	}
	return fmt.Sprintf("Request `%s` is no longer pending (%s).", req.ID, req.Status)
}
