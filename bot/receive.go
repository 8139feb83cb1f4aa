package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// Identities finds identities and sessions in Ory.
type Identities interface {
	Identity(ctx context.Context, id string) (ory.Identity, error)
	IdentityByEmail(ctx context.Context, email string) (ory.Identity, error)
	Sessions(ctx context.Context, identityID string, activeOnly bool) ([]ory.Session, error)
	Session(ctx context.Context, sessionID string) (ory.Session, error)
}

// Intake stores new requests. A request whose card cannot be posted is
// cancelled, on the record.
type Intake interface {
	Create(ctx context.Context, r *store.Request, recs ...audit.Record) error
	SetMessage(ctx context.Context, id, channelID, ts string) error
	Cancel(ctx context.Context, id, requester string, now time.Time, recs ...audit.Record) (*store.Request, error)
}

// receive checks a changing request against Ory, stores it as pending and
// posts the approval card in the channel where the command was typed.
func (b *Bot) receive(ctx context.Context, in *invocation, v verb) {
	sc, cmd, log := in.sc, in.cmd, in.log
	// Without a Slack email the own-identity check cannot pass, so say so
	// before asking Ory anything (an error is reported by that check).
	if email, err := b.slackEmail(ctx, sc.UserID); err == nil && email == "" {
		log.Info("refused: requester has no slack email")
		in.say(ctx, noEmailWords+" Nothing was requested.")
		return
	}
	if msg := b.auditGate(ctx, log); msg != "" {
		in.say(ctx, msg+" Nothing was requested.")
		return
	}
	p, err := v.check(b, ctx, cmd)
	if err != nil {
		in.say(ctx, b.describe(err, "check request", log)+" Nothing was requested.")
		return
	}
	id := p.identity
	reqID := store.NewID()
	now := b.cfg.Now()
	req := &store.Request{
		ID:         reqID,
		TriggerID:  sc.TriggerID,
		Verb:       string(cmd.Verb),
		IdentityID: id.ID,
		Target:     p.target,
		// Kept so that an approver's click can be checked against the
		// identity's email (never stored in clear) and the identity as it
		// was when the request was made.
		Snapshot: store.Snapshot{Email: maskEmail(id.Email), EmailDigest: emailDigest(reqID, id.Email),
			AddressDigests: addressDigests(reqID, id), State: id.State,
			Fingerprint: id.Fingerprint, Credentials: id.CredentialTypes},
		Effect:    p.effect,
		Requester: sc.UserID,
		Reason:    cmd.Reason,
		ChannelID: sc.ChannelID,
		CreatedAt: now,
		ExpiresAt: now.Add(b.cfg.RequestTTL),
	}
	log = log.With("request_id", req.ID, "identity_id", id.ID)
	switch s, err := b.self(ctx, sc.UserID, req); {
	case err != nil:
		in.say(ctx, b.describe(err, "check own identity", log)+" Nothing was requested.")
		return
	case s == noSlackEmail:
		log.Info("refused: requester has no slack email")
		in.say(ctx, noEmailWords+" Nothing was requested.")
		return
	case s == ownIdentity:
		log.Info("refused: requester's own identity")
		in.say(ctx, "You cannot act on your own identity: ask someone else to make this request. Nothing was requested.")
		return
	}
	// The request and its "requested" audit record are committed together.
	if err := b.deps.Intake.Create(ctx, req, b.record(req, audit.Requested, "", "", p.effect)); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			// Slack redelivered the command; the first delivery made the request.
			log.Info("ignored a redelivered slash command")
			return
		}
		in.say(ctx, b.describe(err, "create request", log))
		return
	}
	if !b.postCard(ctx, in, req, log) {
		return
	}
	b.kickDelivery()
	log.Info("request waiting for approval")
	in.say(ctx, fmt.Sprintf("Request `%s` is waiting for approval: `%s` on identity `%s`. It expires %s.",
		req.ID, req.Verb, req.IdentityID, slackDate(req.ExpiresAt)))
}

// postCard posts a new request's approval card and reports whether it is
// up. Without a card nobody can approve the request, so it is withdrawn,
// on the record, and the requester is told why.
func (b *Bot) postCard(ctx context.Context, in *invocation, req *store.Request, log *slog.Logger) bool {
	_, ts, err := b.api.PostMessageContext(ctx, req.ChannelID,
		slack.MsgOptionText(cardText(req), false), slack.MsgOptionBlocks(cardBlocks(req, b.required(req.Verb))...))
	if err != nil {
		why := "the approval card could not be posted: " + esc(slackErrorName(err))
		if _, cerr := b.deps.Intake.Cancel(ctx, req.ID, req.Requester, b.cfg.Now(), b.record(req, audit.Cancelled, "", "", why)); cerr != nil {
			log.Error("withdraw request whose card was not posted", "err", cerr)
		} else {
			b.metrics.Ended(req.Verb, string(store.StatusCancelled))
		}
		b.kickDelivery()
		if isNotInChannel(err) {
			log.Info("bot is not in the channel", "channel", req.ChannelID)
			in.say(ctx, "I can't post the approval request here because I'm not a member of this channel. "+
				"Invite me with `/invite @orybot`, then run the command again. Nothing was requested.")
			return false
		}
		in.say(ctx, b.describe(err, "post approval card", log)+" Nothing was requested.")
		return false
	}
	if err := b.deps.Intake.SetMessage(ctx, req.ID, req.ChannelID, ts); err != nil {
		// The card is up and its buttons carry the request id, so clicks
		// still work; only the in-place card update would fall back.
		log.Error("store card timestamp", "err", err)
	}
	req.MessageTS = ts
	return true
}

// resolve finds the identity a command names, by id or by email.
func (b *Bot) resolve(ctx context.Context, cmd commands.Command) (ory.Identity, error) {
	if cmd.TargetKind == commands.ByEmail {
		id, err := b.deps.Identities.IdentityByEmail(ctx, cmd.Target)
		if errors.Is(err, ory.ErrNotFound) {
			return ory.Identity{}, &targetError{target: cmd.Target, byEmail: true, err: err}
		}
		return id, err
	}
	id, err := b.deps.Identities.Identity(ctx, cmd.Target)
	if errors.Is(err, ory.ErrNotFound) {
		return ory.Identity{}, &targetError{target: cmd.Target, err: err}
	}
	return id, err
}
