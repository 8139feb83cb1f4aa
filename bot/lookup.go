package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/store"
)

// maxSessionsShown keeps a sessions answer well inside Slack's message size.
const maxSessionsShown = 20

// lookup answers the read-only verbs, show and sessions, to the requester
// alone. They change nothing, so they need no approval.
func (b *Bot) lookup(ctx context.Context, sc slack.SlashCommand, cmd commands.Command) {
	log := b.log.With("cmd", string(cmd.Verb), "requester", sc.UserID)
	if !b.allowed(ctx, sc, log) {
		return
	}
	id, err := b.resolve(ctx, cmd)
	if err != nil {
		b.reply(ctx, sc.ResponseURL, b.describe(err, "resolve identity", log))
		return
	}
	sessions, err := b.ory.Sessions(ctx, id.ID, true)
	if err != nil {
		b.reply(ctx, sc.ResponseURL, b.describe(err, "list sessions", log))
		return
	}
	log.Info("looked up identity", "identity_id", id.ID)
	var sb strings.Builder
	if cmd.Verb == commands.Show {
		fmt.Fprintf(&sb, "*Identity* `%s`\n", id.ID)
		fmt.Fprintf(&sb, "• Email: %s\n", orDash(maskEmail(id.Email)))
		fmt.Fprintf(&sb, "• State: %s\n", id.State)
		fmt.Fprintf(&sb, "• Schema: %s\n", orDash(id.SchemaID))
		fmt.Fprintf(&sb, "• Created: %s\n", slackDate(id.CreatedAt))
		fmt.Fprintf(&sb, "• Credentials: %s\n", codeList(id.CredentialTypes))
		fmt.Fprintf(&sb, "• Active sessions: %d", len(sessions))
		b.reply(ctx, sc.ResponseURL, sb.String())
		return
	}
	if len(sessions) == 0 {
		b.reply(ctx, sc.ResponseURL, fmt.Sprintf("Identity `%s` has no active sessions.", id.ID))
		return
	}
	fmt.Fprintf(&sb, "*Active sessions of* `%s` (%d):\n", id.ID, len(sessions))
	for i, s := range sessions {
		if i == maxSessionsShown {
			fmt.Fprintf(&sb, "…and %d more.", len(sessions)-i)
			break
		}
		fmt.Fprintf(&sb, "• `%s` · authenticated %s · expires %s · %s · %s\n",
			s.ID, slackDate(s.AuthenticatedAt), slackDate(s.ExpiresAt), orDash(s.AAL), shortUA(s.UserAgent))
	}
	b.reply(ctx, sc.ResponseURL, strings.TrimSpace(sb.String()))
}

// verifyAudit checks the audit trail's hash chain, as `orybot audit verify`
// does, and tells only the user who asked.
func (b *Bot) verifyAudit(ctx context.Context, sc slack.SlashCommand) {
	log := b.log.With("cmd", "audit verify", "requester", sc.UserID)
	if !b.allowed(ctx, sc, log) {
		return
	}
	last, err := b.requests.VerifyAudit(ctx)
	var ce *audit.ChainError
	switch {
	case errors.As(err, &ce):
		log.Error("audit trail does not verify", "err", err)
		b.reply(ctx, sc.ResponseURL, fmt.Sprintf(":rotating_light: The audit trail does *not* verify: %s. "+
			"Someone may have changed the database; compare with the records in <#%s> and run `orybot audit verify` for details.", ce.Error(), b.cfg.AuditChannel))
	case err != nil:
		b.reply(ctx, sc.ResponseURL, b.describe(err, "verify audit trail", log))
	default:
		b.reply(ctx, sc.ResponseURL, fmt.Sprintf(":white_check_mark: The audit trail verifies: %d records, the last with hash `%s`. "+
			"It should match the newest record in <#%s>.", last.Seq, orDash(last.ShortHash()), b.cfg.AuditChannel))
	}
}

// maxPendingShown keeps /ory pending within one message.
const maxPendingShown = 25

// pending lists the open requests the user may act on: approve or deny as
// an approver, or cancel as the requester.
func (b *Bot) pending(ctx context.Context, sc slack.SlashCommand) {
	log := b.log.With("cmd", "pending", "requester", sc.UserID)
	// Approvers may list what waits for them even when ORYBOT_REQUESTERS
	// does not name them.
	approver, err := b.approvers.contains(ctx, sc.UserID)
	if err != nil {
		b.reply(ctx, sc.ResponseURL, b.describe(err, "check approvers", log))
		return
	}
	if !approver && !b.allowed(ctx, sc, log) {
		return
	}
	reqs, err := b.requests.Pending(ctx, b.cfg.Now())
	if err != nil {
		b.reply(ctx, sc.ResponseURL, b.describe(err, "list pending requests", log))
		return
	}
	var email string // the user's Slack email, to leave out their own identity
	if approver {
		if email, err = b.slackEmail(ctx, sc.UserID); err != nil {
			b.reply(ctx, sc.ResponseURL, b.describe(err, "look up your email", log))
			return
		}
	}
	var lines []string
	for _, r := range reqs {
		var role string
		switch {
		case r.Requester == sc.UserID:
			role = "yours; you may cancel it"
		case approver && email != "" && emailDigest(r.ID, email) == r.Snapshot.EmailDigest:
			continue // it acts on their own identity, so they may not decide it
		case approver && !slices.ContainsFunc(r.Approvals, func(a store.Approval) bool { return a.Approver == sc.UserID }):
			role = fmt.Sprintf("asked by <@%s>; %d of %d approvals", r.Requester, len(r.Approvals), b.required(r.Verb))
		default:
			continue
		}
		if len(lines) == maxPendingShown {
			lines = append(lines, "…and more; decide some of these first.")
			break
		}
		lines = append(lines, fmt.Sprintf("• `%s` `%s` on `%s` (%s), expires %s · %s",
			r.ID, r.Verb, r.IdentityID, role, slackDate(r.ExpiresAt), cardLink(r)))
	}
	if len(lines) == 0 {
		b.reply(ctx, sc.ResponseURL, "No open requests that you can act on.")
		return
	}
	b.reply(ctx, sc.ResponseURL, "*Open requests you can act on:*\n"+strings.Join(lines, "\n"))
}

// cardLink links to a request's card. Slack redirects /archives links to
// the workspace of whoever opens them, so no API call is needed.
func cardLink(r *store.Request) string {
	if r.MessageTS == "" {
		return "<#" + r.ChannelID + ">"
	}
	return fmt.Sprintf("<https://slack.com/archives/%s/p%s|open the card>", r.ChannelID, strings.ReplaceAll(r.MessageTS, ".", ""))
}
