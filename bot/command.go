package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// command handles a slash command in two parts. The ack payload is computed
// here, from the text alone, so that parse errors and help answer at once;
// the returned work does everything that needs Ory, the database or the
// Web API, after the ack has gone out.
func (b *Bot) command(sc slack.SlashCommand) (ack any, work func(context.Context)) {
	cmd, err := commands.Parse(sc.Text)
	if err != nil {
		// A typing mistake, not worth a log line: answer it in the ack.
		var pe *commands.ParseError
		errors.As(err, &pe)
		return ephemeral(parseWords(pe) + "\n\n" + helpText()), nil
	}
	if cmd.Verb == commands.Help {
		return ephemeral(helpText()), nil
	}
	if msg := b.channelRefusal(sc.ChannelID); msg != "" {
		return ephemeral(msg), nil
	}
	switch spec, _ := commands.Lookup(cmd.Verb); {
	case cmd.Verb == commands.Pending:
		return nil, func(ctx context.Context) { b.pending(ctx, sc) }
	case cmd.Verb == commands.Cancel:
		return nil, func(ctx context.Context) {
			b.cancel(ctx, sc.UserID, cmd.Target, func(ctx context.Context, text string) { b.reply(ctx, sc.ResponseURL, text) })
		}
	case cmd.Verb == commands.Audit && cmd.Args[0] != "verify":
		return ephemeral(fmt.Sprintf("I don't know `/ory audit %s`. Did you mean `/ory audit verify`?", cmd.Args[0])), nil
	case cmd.Verb == commands.Audit:
		return nil, func(ctx context.Context) { b.verifyAudit(ctx, sc) }
	case !spec.Changing:
		return nil, func(ctx context.Context) { b.lookup(ctx, sc, cmd) }
	case strings.HasPrefix(sc.ChannelID, "D"):
		return ephemeral("Approvers can't see a direct message, so requests need a channel: run this in a channel where the approvers and I are members."), nil
	}
	return nil, func(ctx context.Context) { b.request(ctx, sc, cmd) }
}

func ephemeral(text string) map[string]any {
	return map[string]any{"response_type": slack.ResponseTypeEphemeral, "text": text}
}

// request checks the target identity, stores a pending request and posts the
// approval card in the channel where the command was typed.
func (b *Bot) request(ctx context.Context, sc slack.SlashCommand, cmd commands.Command) {
	log := b.log.With("cmd", string(cmd.Verb), "requester", sc.UserID)
	if !b.allowed(ctx, sc, log) {
		return
	}
	p, err := b.check(ctx, cmd)
	if err != nil {
		b.reply(ctx, sc.ResponseURL, b.describe(err, "check request", log)+" Nothing was requested.")
		return
	}
	id := p.identity
	reqID := store.NewID()
	digest := emailDigest(reqID, id.Email)
	if own, err := b.ownIdentity(ctx, sc.UserID, reqID, digest); err != nil || own {
		msg := "You cannot act on your own identity: ask someone else to make this request. Nothing was requested."
		if err != nil {
			msg = b.describe(err, "check own identity", log) + " Nothing was requested."
		} else {
			log.Info("refused: requester's own identity", "identity_id", id.ID)
		}
		b.reply(ctx, sc.ResponseURL, msg)
		return
	}
	now := b.cfg.Now()
	req := &store.Request{
		ID:         reqID,
		TriggerID:  sc.TriggerID,
		Verb:       string(cmd.Verb),
		IdentityID: id.ID,
		Target:     p.target,
		// Kept so that an approver's click can be checked against the
		// identity's email (never stored in clear) and the identity's state
		// at request time.
		Snapshot: store.Snapshot{Email: maskEmail(id.Email), EmailDigest: digest, State: id.State,
			Fingerprint: id.Fingerprint, Credentials: id.CredentialTypes},
		Effect:    p.effect,
		Requester: sc.UserID,
		Reason:    cmd.Reason,
		ChannelID: sc.ChannelID,
		CreatedAt: now,
		ExpiresAt: now.Add(b.cfg.RequestTTL),
	}
	log = log.With("request_id", req.ID, "identity_id", id.ID)
	// The request and its "requested" audit record are committed together.
	if err := b.requests.Create(ctx, req, b.record(req, audit.Requested, "", "", p.effect)); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			// Slack redelivered the command; the first delivery made the request.
			log.Info("ignored a redelivered slash command")
			return
		}
		b.reply(ctx, sc.ResponseURL, b.describe(err, "create request", log))
		return
	}
	blocks := cardBlocks(req, b.required(req.Verb))
	_, ts, err := b.api.PostMessageContext(ctx, sc.ChannelID,
		slack.MsgOptionText(cardText(req), false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		// Without a card nobody can approve it: withdraw it, on the record.
		why := "the approval card could not be posted: " + slackErrorName(err)
		if _, cerr := b.requests.Cancel(ctx, req.ID, req.Requester, b.cfg.Now(), b.record(req, audit.Cancelled, "", "", why)); cerr != nil {
			log.Error("withdraw request whose card was not posted", "err", cerr)
		}
		b.kickDelivery()
		if isNotInChannel(err) {
			log.Info("bot is not in the channel", "channel", sc.ChannelID)
			b.reply(ctx, sc.ResponseURL, "I can't post the approval request here because I'm not a member of this channel. "+
				"Invite me with `/invite @orybot`, then run the command again. Nothing was requested.")
			return
		}
		b.reply(ctx, sc.ResponseURL, b.describe(err, "post approval card", log)+" Nothing was requested.")
		return
	}
	if err := b.requests.SetMessage(ctx, req.ID, sc.ChannelID, ts); err != nil {
		// The card is up and its buttons carry the request id, so clicks
		// still work; only the in-place card update would fall back.
		log.Error("store card timestamp", "err", err)
	}
	b.kickDelivery()
	log.Info("request waiting for approval")
	b.reply(ctx, sc.ResponseURL, fmt.Sprintf("Request `%s` is waiting for approval: `%s` on identity `%s`. It expires %s.",
		req.ID, req.Verb, req.IdentityID, slackDate(req.ExpiresAt)))
}

// allowed checks that the user may use /ory at all, and tells them if not.
func (b *Bot) allowed(ctx context.Context, sc slack.SlashCommand, log *slog.Logger) bool {
	msg, err := b.mayRequest(ctx, sc.UserID)
	if err != nil {
		b.reply(ctx, sc.ResponseURL, b.describe(err, "check requesters", log))
		return false
	}
	if msg != "" {
		log.Info("refused: not a requester")
		b.reply(ctx, sc.ResponseURL, msg)
		return false
	}
	return true
}

// resolve finds the identity a command names, by id or by email.
func (b *Bot) resolve(ctx context.Context, cmd commands.Command) (ory.Identity, error) {
	if cmd.TargetKind == commands.ByEmail {
		id, err := b.ory.IdentityByEmail(ctx, cmd.Target)
		if errors.Is(err, ory.ErrNotFound) {
			return ory.Identity{}, &targetError{target: cmd.Target, byEmail: true, err: err}
		}
		return id, err
	}
	id, err := b.ory.Identity(ctx, cmd.Target)
	if errors.Is(err, ory.ErrNotFound) {
		return ory.Identity{}, &targetError{target: cmd.Target, err: err}
	}
	return id, err
}

// targetError is an identity that does not exist, with the words the user
// typed to name it.
type targetError struct {
	target  string
	byEmail bool
	err     error
}

func (e *targetError) Error() string { return "no identity matches the target: " + e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// maskEmail keeps the first letter and the domain, enough for an approver to
// recognise the account without the card spreading the address.
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return ""
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}
