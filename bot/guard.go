package bot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/slack-go/slack"
)

// guard returns work wrapped so that a panic in it does not stop the bot:
// the panic is logged with a reference and a stack, and the user, if a
// response_url can reach them, gets the same reference.
func (b *Bot) guard(responseURL string, work func(context.Context)) func(context.Context) {
	if work == nil {
		return nil
	}
	return func(ctx context.Context) {
		defer func() {
			if p := recover(); p != nil {
				b.reply(ctx, responseURL, panicWords(b.logPanic(p)))
			}
		}()
		work(ctx)
	}
}

// commandAck is command with a panic turned into an answer, so that the
// envelope is still acknowledged and Slack does not deliver it again.
func (b *Bot) commandAck(sc slack.SlashCommand) (ack any, work func(context.Context)) {
	defer func() {
		if p := recover(); p != nil {
			ack, work = ephemeral(panicWords(b.logPanic(p))), nil
		}
	}()
	return b.command(sc)
}

// panicWords tells the user that their command hit a bug, with the
// reference of the log line.
func panicWords(ref string) string {
	return fmt.Sprintf("Something went wrong inside orybot (reference `%s`). An admin can look up the reference in the bot's log; the bot keeps running.", ref)
}

// logPanic logs a recovered panic and returns its reference.
func (b *Bot) logPanic(p any) string {
	ref := newRef()
	b.log.Error("panic in handler; recovered", "ref", ref, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return ref
}

// maxButtonValue bounds the request id a button may carry; request ids are
// ten characters, and Slack allows 2000.
const maxButtonValue = 64

// badClick says why a click cannot be handled, or "" if it can: the bot
// posts only its own buttons, so anything else is a forged or stale
// payload, answered plainly and otherwise ignored.
func badClick(a *slack.BlockAction) string {
	switch a.ActionID {
	case actionApprove, actionDeny, actionCancel:
	default:
		return "I don't know that button. Nothing was done."
	}
	v := strings.TrimSpace(a.Value)
	if v == "" || len(v) > maxButtonValue {
		return "That button does not name a request I know. Nothing was done."
	}
	return ""
}

// checkApprovals refuses, at start, an ORYBOT_APPROVALS_REQUIRED count that
// the approvers cannot reach: such a verb could never be approved. It
// counts distinct users, those named plus the members of the groups named
// (which needs Slack, hence here and not in config).
func (b *Bot) checkApprovals(ctx context.Context) error {
	users := map[string]bool{}
	for _, u := range b.approvers.users {
		users[u] = true
	}
	for _, g := range b.approvers.groups {
		members, err := b.approvers.members.get(ctx, g)
		if err != nil {
			return fmt.Errorf("ORYBOT_APPROVERS: %w", groupError(err))
		}
		for _, u := range members {
			users[u] = true
		}
	}
	var errs []error
	for _, verb := range slices.Sorted(maps.Keys(b.cfg.ApprovalsRequired)) {
		if n := b.cfg.ApprovalsRequired[verb]; n > len(users) {
			errs = append(errs, fmt.Errorf("ORYBOT_APPROVALS_REQUIRED: %s needs %d distinct approvals, but ORYBOT_APPROVERS names only %d distinct users (with the members of its groups)", verb, n, len(users)))
		}
	}
	return errors.Join(errs...)
}

// withoutURL drops the URL that *url.Error puts into its message: a
// response_url is a credential for posting into a conversation, so it must
// not reach the logs.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s response_url: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// dm tells user something in a direct message from the app, for the few
// answers that have no response_url, such as a deny dialog gone wrong.
func (b *Bot) dm(ctx context.Context, user, text string) {
	if _, _, err := b.api.PostMessageContext(ctx, user, slack.MsgOptionText(text, false)); err != nil {
		b.log.Error("direct message to user", "err", err, "approver", user)
	}
}
