package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// Listings answer the read-only commands about the bot's own records.
type Listings interface {
	Pending(ctx context.Context, now time.Time) ([]*store.Request, error)
	VerifyAudit(ctx context.Context) (audit.Record, error)
}

// maxSessionsShown keeps a sessions answer well inside Slack's message size.
const maxSessionsShown = 20

// identityWithSessions finds the identity a lookup names and its active
// sessions, telling the user if it cannot.
func (b *Bot) identityWithSessions(ctx context.Context, in *invocation) (ory.Identity, []ory.Session, bool) {
	id, err := b.resolve(ctx, in.cmd)
	if err != nil {
		in.say(ctx, b.describe(err, "resolve identity", in.log))
		return ory.Identity{}, nil, false
	}
	sessions, err := b.deps.Identities.Sessions(ctx, id.ID, true)
	if err != nil {
		in.say(ctx, b.describe(err, "list sessions", in.log))
		return ory.Identity{}, nil, false
	}
	in.log.Info("looked up identity", "identity_id", id.ID)
	return id, sessions, true
}

// show answers `/ory show` to the requester alone.
func (b *Bot) show(ctx context.Context, in *invocation) {
	id, sessions, ok := b.identityWithSessions(ctx, in)
	if !ok {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "*Identity* `%s`\n", id.ID)
	fmt.Fprintf(&sb, "• Email: %s\n", orDash(esc(maskEmail(id.Email))))
	fmt.Fprintf(&sb, "• State: %s\n", esc(id.State))
	fmt.Fprintf(&sb, "• Schema: %s\n", orDash(esc(id.SchemaID)))
	fmt.Fprintf(&sb, "• Created: %s\n", slackDate(id.CreatedAt))
	fmt.Fprintf(&sb, "• Credentials: %s\n", codeList(id.CredentialTypes))
	fmt.Fprintf(&sb, "• Active sessions: %d", len(sessions))
	in.say(ctx, sb.String())
}

// sessions answers `/ory sessions` to the requester alone.
func (b *Bot) sessions(ctx context.Context, in *invocation) {
	id, sessions, ok := b.identityWithSessions(ctx, in)
	if !ok {
		return
	}
	if len(sessions) == 0 {
		in.say(ctx, fmt.Sprintf("Identity `%s` has no active sessions.", id.ID))
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "*Active sessions of* `%s` (%d):\n", id.ID, len(sessions))
	for i, s := range sessions {
		if i == maxSessionsShown {
			fmt.Fprintf(&sb, "…and %d more.", len(sessions)-i)
			break
		}
		fmt.Fprintf(&sb, "• `%s` · authenticated %s · expires %s · %s · %s\n",
			esc(s.ID), slackDate(s.AuthenticatedAt), slackDate(s.ExpiresAt), orDash(esc(s.AAL)), esc(shortUA(s.UserAgent)))
	}
	in.say(ctx, strings.TrimSpace(sb.String()))
}

// verifyAudit checks the audit trail's hash chain, as `orybot audit verify`
// does, and tells only the user who asked.
func (b *Bot) verifyAudit(ctx context.Context, in *invocation) {
	last, err := b.deps.Listings.VerifyAudit(ctx)
	var ce *audit.ChainError
	switch {
	case errors.As(err, &ce):
		in.log.Error("audit trail does not verify", "err", err)
		in.say(ctx, fmt.Sprintf(":rotating_light: The audit trail does *not* verify: %s. "+
			"Someone may have changed the database; compare with the records in <#%s> and run `orybot audit verify` for details.", ce.Error(), b.cfg.AuditChannel))
	case err != nil:
		in.say(ctx, b.describe(err, "verify audit trail", in.log))
	default:
		in.say(ctx, fmt.Sprintf(":white_check_mark: The audit trail verifies: %d records, the last with hash `%s`. "+
			"It should match the newest record in <#%s>.", last.Seq, orDash(last.Hash), b.cfg.AuditChannel))
	}
}

// maxPendingShown keeps /ory pending within one message.
const maxPendingShown = 25

// pending lists the open requests the user may act on: approve or deny as
// an approver, or cancel as the requester.
func (b *Bot) pending(ctx context.Context, in *invocation) {
	user := in.sc.UserID
	approver, err := b.approvers.contains(ctx, user)
	if err != nil {
		in.say(ctx, b.describe(err, "check approvers", in.log))
		return
	}
	reqs, err := b.deps.Listings.Pending(ctx, b.cfg.Now())
	if err != nil {
		in.say(ctx, b.describe(err, "list pending requests", in.log))
		return
	}
	var email string // the user's Slack email, to leave out their own identity
	if approver {
		if email, err = b.slackEmail(ctx, user); err != nil {
			in.say(ctx, b.describe(err, "look up your email", in.log))
			return
		}
	}
	var lines []string
	for _, r := range reqs {
		var role string
		switch {
		case r.Requester == user:
			role = "yours; you may cancel it"
		case approver && (email == "" || owns(r, email)):
			continue // it may act on their own identity, so they may not decide it
		case approver && !slices.ContainsFunc(r.Approvals, func(a store.Approval) bool { return a.Approver == user }):
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
	note := ""
	if approver && email == "" {
		// Every request others made is left out above; say why.
		note = "\n\n" + noEmailWords
	}
	if len(lines) == 0 {
		in.say(ctx, "No open requests that you can act on."+note)
		return
	}
	in.say(ctx, "*Open requests you can act on:*\n"+strings.Join(lines, "\n")+note)
}

// cardLink links to a request's card. Slack redirects /archives links to
// the workspace of whoever opens them, so no API call is needed.
func cardLink(r *store.Request) string {
	if r.MessageTS == "" {
		return "<#" + r.ChannelID + ">"
	}
	return fmt.Sprintf("<https://slack.com/archives/%s/p%s|open the card>", r.ChannelID, strings.ReplaceAll(r.MessageTS, ".", ""))
}
