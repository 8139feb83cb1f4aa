package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

// Backlog says how far the audit channel is behind the audit trail.
type Backlog interface {
	// OldestUndelivered returns when the oldest record not yet posted
	// happened, or the zero time if every record was posted.
	OldestUndelivered(ctx context.Context) (time.Time, error)
}

// auditGate says why changes are refused now, or "" if they are not: no
// action without an audit trail. While the oldest record waiting for the
// audit channel is older than ORYBOT_AUDIT_MAX_LAG (archived channel,
// revoked token, bot removed), nobody would see what the bot does, so
// changing requests are refused, at request time and at approval.
// Read-only commands do not ask.
//
// It returns the words for the user, with the log line written, or "".
// A backlog it cannot read refuses too: the check fails closed.
func (b *Bot) auditGate(ctx context.Context, log *slog.Logger) string {
	oldest, err := b.deps.Backlog.OldestUndelivered(ctx)
	if err != nil {
		return b.describe(err, "check audit backlog", log)
	}
	if oldest.IsZero() || b.cfg.Now().Sub(oldest) <= b.cfg.AuditMaxLag {
		return ""
	}
	log.Warn("refused: audit channel unreachable")
	return fmt.Sprintf(":rotating_light: The audit channel <#%s> has been unreachable since %s: audit records are waiting to be posted there. "+
		"Changes are refused until it works again, so that nothing happens without an audit trail; `show`, `sessions` and `pending` still work. "+
		"An admin should check the bot's log.", b.cfg.AuditChannel, slackDate(oldest))
}

// recheck says why an approved request may not run after all, or "" if it
// may. Permissions can change while a request waits: the requester may
// have been removed from ORYBOT_REQUESTERS, or the channel from
// ORYBOT_CHANNELS, and for a recovery the secret would go to them.
func (b *Bot) recheck(ctx context.Context, req *store.Request) (string, error) {
	msg, err := b.mayRequest(ctx, req.Requester)
	if err != nil {
		return "", err
	}
	if msg != "" {
		return fmt.Sprintf("the requester <@%s> is no longer allowed to make requests (ORYBOT_REQUESTERS changed after the request was made)", req.Requester), nil
	}
	if b.channelRefusal(req.ChannelID) != "" {
		return fmt.Sprintf("requests are no longer accepted in <#%s> (ORYBOT_CHANNELS changed after the request was made)", req.ChannelID), nil
	}
	return "", nil
}

// refuseAtApproval checks an approved request once more before it runs. If
// it may not run, it ends the request as failed, saying why, without any
// Ory call, and reports true with the request as the store then holds it
// (nil if that cannot be read; see recordOutcome).
func (b *Bot) refuseAtApproval(ctx context.Context, req *store.Request, log *slog.Logger) (*store.Request, bool) {
	why, err := b.recheck(ctx, req)
	if err != nil {
		// Fail closed: a check that cannot be made is a refusal.
		why = "the requester's permissions could not be checked: " + b.describe(err, "recheck requester", log)
	}
	if why == "" {
		return nil, false
	}
	log.Info("refused at approval", "why", why)
	return b.recordOutcome(ctx, req, store.StatusFailed, audit.Failed, "✗ Not run: "+why+". Nothing was sent to Ory.", log), true
}

// deliveryRelog is how often a continuing audit delivery outage is logged
// again: a dead audit channel must not go unnoticed after one log line.
const deliveryRelog = 5 * time.Minute

// logOutage logs that posting to the audit channel fails. Errors that do
// not go away by themselves are logged at error level every time, others
// at error level when they start and as warnings while they last.
func (b *Bot) logOutage(err error, first bool) {
	level := slog.LevelWarn
	if first || permanentSlackError(err) {
		level = slog.LevelError
	}
	b.log.Log(context.Background(), level, "audit channel delivery failing; records stay queued and will be retried",
		"channel", b.cfg.AuditChannel, "err", err, "hint", deliveryHint(err), "permanent", permanentSlackError(err))
}

// permanentSlackError reports whether Slack refused a post for a reason
// that lasts until someone acts: the channel is archived or gone, the bot
// was removed from it, or its token no longer works.
func permanentSlackError(err error) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "is_archived", "channel_not_found", "not_in_channel", "token_revoked", "token_expired",
		"account_inactive", "invalid_auth", "not_authed", "missing_scope", "team_access_not_granted":
		return true
	}
	return false
}
