package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

// Button action ids. Their values carry the request id, so a card keeps
// working across restarts and on any replica.
const (
	actionApprove = "approve"
	actionDeny    = "deny"
)

// click handles Approve and Deny.
func (b *Bot) click(ctx context.Context, cb slack.InteractionCallback) {
	for _, a := range cb.ActionCallback.BlockActions {
		switch a.ActionID {
		case actionApprove:
			b.decide(ctx, cb, a.Value, store.StatusApproved)
		case actionDeny:
			b.decide(ctx, cb, a.Value, store.StatusDenied)
		}
	}
}

func (b *Bot) decide(ctx context.Context, cb slack.InteractionCallback, requestID string, to store.Status) {
	user := cb.User.ID
	log := b.log.With("request_id", requestID, "approver", user)

	req, err := b.requests.Get(ctx, requestID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			b.reply(ctx, cb.ResponseURL, fmt.Sprintf("Request `%s` does not exist (it may have been made against another database). Ask the requester to run the command again.", requestID))
			return
		}
		b.reply(ctx, cb.ResponseURL, b.describe(err, "load request", log))
		return
	}
	log = log.With("cmd", req.Verb, "identity_id", req.IdentityID, "requester", req.Requester)
	if req.Status != store.StatusPending {
		b.reply(ctx, cb.ResponseURL, alreadyDecided(req))
		return
	}
	if user == req.Requester {
		log.Info("refused: requester tried to decide own request")
		b.reply(ctx, cb.ResponseURL, fmt.Sprintf("You asked for request `%s`, so someone else must approve or deny it. The request is still pending.", req.ID))
		return
	}
	ok, err := b.approvers.contains(ctx, user)
	if err != nil {
		b.reply(ctx, cb.ResponseURL, b.describe(err, "check approvers", log)+" The request is still pending.")
		return
	}
	if !ok {
		log.Info("refused: not an approver")
		b.reply(ctx, cb.ResponseURL, fmt.Sprintf("You are not allowed to approve or deny requests: only the users and groups in ORYBOT_APPROVERS are. Request `%s` is still pending.", req.ID))
		return
	}
	own, err := b.ownIdentity(ctx, user, req.ID, req.Args["email_digest"])
	if err != nil {
		b.reply(ctx, cb.ResponseURL, b.describe(err, "check own identity", log)+" The request is still pending.")
		return
	}
	if own {
		log.Info("refused: approver's own identity")
		b.reply(ctx, cb.ResponseURL, fmt.Sprintf("You cannot decide request `%s`: it acts on your own identity. Someone else must approve or deny it. The request is still pending.", req.ID))
		return
	}

	// The store decides with one conditional UPDATE, so of two concurrent
	// clicks (or a click and its redelivery) exactly one gets through.
	event := audit.Approved
	if to == store.StatusDenied {
		event = audit.Denied
	}
	decided, err := b.requests.Decide(ctx, req.ID, to, user, b.cfg.Now(), b.record(req, event, user, "", ""))
	switch {
	case errors.Is(err, store.ErrNotPending):
		b.reply(ctx, cb.ResponseURL, alreadyDecided(decided))
		return
	case errors.Is(err, store.ErrExpired):
		b.expire(ctx, req, log)
		b.reply(ctx, cb.ResponseURL, fmt.Sprintf("Request `%s` expired at %s without a decision, so it can no longer be approved. Ask the requester to run the command again if it is still needed.", req.ID, slackDate(req.ExpiresAt)))
		return
	case err != nil:
		b.reply(ctx, cb.ResponseURL, b.describe(err, "decide request", log)+" The request is still pending.")
		return
	}

	if to == store.StatusDenied {
		log.Info("request denied")
		b.finish(ctx, decided, log)
		return
	}
	log.Info("request approved; calling ory")
	b.updateCard(ctx, decided, log)
	b.kickDelivery()
	b.execute(ctx, decided, log)
}

// execute runs an approved request's steps and records the outcome.
func (b *Bot) execute(ctx context.Context, req *store.Request, log *slog.Logger) {
	result, err := b.runSteps(withRetryNotice(ctx, req), req, log)
	event, status := audit.Done, store.StatusDone
	if err != nil {
		event, status = audit.Failed, store.StatusFailed
	}
	if err := b.requests.Finish(ctx, req.ID, status, result, b.cfg.Now(), b.record(req, event, req.Approver, "", result)); err != nil {
		log.Error("record outcome", "err", err)
	}
	req.Status, req.Result = status, result
	b.finish(ctx, req, log)
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
		slack.MsgOptionText(cardText(req), false), slack.MsgOptionBlocks(cardBlocks(req, b.cfg.Now())...))
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
	case store.StatusDenied:
		return fmt.Sprintf("Request `%s` was already denied by <@%s>.", req.ID, req.Approver)
	case store.StatusExpired:
		return fmt.Sprintf("Request `%s` has expired and can no longer be approved.", req.ID)
	}
	return fmt.Sprintf("Request `%s` is no longer pending (%s).", req.ID, req.Status)
}
