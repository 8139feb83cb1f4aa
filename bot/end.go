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
	"github.com/orybot/orybot/store"
)

// Outcomes record how requests end, with their audit records in the same
// transaction.
type Outcomes interface {
	Finish(ctx context.Context, id string, to store.Status, result string, now time.Time, recs ...audit.Record) error
	Expire(ctx context.Context, id string, now time.Time, recs ...audit.Record) (*store.Request, error)
	AppendAudit(ctx context.Context, recs ...audit.Record) ([]audit.Record, error)
}

// expire ends a pending request whose time is up and says so on the card.
func (b *Bot) expire(ctx context.Context, req *store.Request, log *slog.Logger) {
	expired, err := b.deps.Outcomes.Expire(ctx, req.ID, b.cfg.Now(), b.record(req, audit.Expired, "", "", "expired without a decision"))
	if err != nil {
		if !errors.Is(err, store.ErrNotPending) {
			log.Error("expire request", "err", err)
		}
		return
	}
	log.Info("request expired")
	b.finish(ctx, expired, log)
}

// finish shows a request's end: the card, updated in place without buttons;
// the audit records, which the store already holds and the delivery loop
// posts; and a message to the requester.
func (b *Bot) finish(ctx context.Context, req *store.Request, log *slog.Logger) {
	b.metrics.Ended(req.Verb, string(req.Status))
	b.updateCard(ctx, req, log)
	b.kickDelivery()
	b.tellRequester(ctx, req, log)
}

// updateCard renders the request's card again, in place. Slack limits
// chat.update per channel; a rate-limited update is tried again.
func (b *Bot) updateCard(ctx context.Context, req *store.Request, log *slog.Logger) {
	if req.MessageTS == "" {
		return
	}
	err := retryRateLimited(ctx, func(ctx context.Context) error {
		_, _, _, err := b.api.UpdateMessageContext(ctx, req.ChannelID, req.MessageTS,
			slack.MsgOptionText(cardText(req), false), slack.MsgOptionBlocks(cardBlocks(req, b.required(req.Verb))...))
		return err
	})
	if err != nil {
		log.Error("update approval card", "err", err)
	}
}

// tellRequester sends the outcome to the requester as a direct message from
// the app, so that they learn it without watching the channel.
func (b *Bot) tellRequester(ctx context.Context, req *store.Request, log *slog.Logger) {
	card, _ := statusWords(req)
	text := fmt.Sprintf("Your request `%s` (`%s` on identity `%s`): %s", req.ID, req.Verb, req.IdentityID, card)
	if _, _, err := b.api.PostMessageContext(ctx, req.Requester, slack.MsgOptionText(text, false)); err != nil {
		log.Error("tell requester the outcome", "err", err)
	}
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

// statusWords is the one place a request's status becomes words. card is
// the line that replaces a decided card's buttons (and tells the requester
// the outcome); late tells someone who clicks a decided request what
// became of it.
func statusWords(r *store.Request) (card, late string) {
	by := "<@" + r.Approver + ">"
	late = "Request `" + r.ID + "` "
	switch r.Status {
	case store.StatusApproved:
		progress := "running…"
		if r.Result != "" { // a retry notice while Ory is slow or rate-limiting
			progress = r.Result
		}
		return ":hourglass_flowing_sand: Approved by " + by + "; " + progress,
			late + "was already approved by " + by + "; the action is running."
	case store.StatusDone:
		return ":white_check_mark: *Done*, approved by " + by + ":\n" + r.Result,
			late + "was already approved by " + by + " and is done."
	case store.StatusFailed:
		return ":x: *Failed*, approved by " + by + ":\n" + r.Result,
			late + "was already approved by " + by + ", and the action failed."
	case store.StatusStale:
		return ":warning: *Not run*, approved by " + by + ": " + r.Result,
			late + "was already approved by " + by + ", but the identity had changed, so nothing was done."
	case store.StatusDenied:
		card = ":no_entry_sign: *Denied* by " + by + ". Nothing was changed."
		if r.DecisionReason != "" {
			card = ":no_entry_sign: *Denied* by " + by + ": " + esc(strings.TrimSuffix(r.DecisionReason, ".")) + ". Nothing was changed."
		}
		return card, late + "was already denied by " + by + "."
	case store.StatusCancelled:
		return ":leftwards_arrow_with_hook: *Cancelled* by the requester. Nothing was changed.",
			late + "was cancelled by its requester."
	case store.StatusExpired:
		return ":hourglass: *Expired* without a decision. Nothing was changed.",
			late + "has expired and can no longer be decided."
	}
	return string(r.Status), late + "is no longer pending (" + string(r.Status) + ")."
}
