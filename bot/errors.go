package bot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
)

// describe is the one place that turns an error into words for Slack users.
// A known error becomes a specific sentence that says what went wrong and
// what to do; anything else becomes "internal error" with a reference that
// also appears in the log line, so an operator can find the details. The
// error is logged here, once, to log.
func (b *Bot) describe(err error, op string, log *slog.Logger) string {
	msg, known := userWords(err)
	if known {
		log.Info("refused", "op", op, "err", err)
		return msg
	}
	ref := newRef()
	log.Error("internal error", "op", op, "ref", ref, "err", err)
	return fmt.Sprintf("Something went wrong inside orybot (reference `%s`). Nothing was changed by this step; an admin can look up the reference in the bot's log.", ref)
}

// userWords maps known errors to sentences. It reports false for errors it
// does not know.
func userWords(err error) (string, bool) {
	var pe *commands.ParseError
	if errors.As(err, &pe) {
		return parseWords(pe), true
	}
	var rf *refusal
	if errors.As(err, &rf) {
		return rf.msg, true
	}
	var de *deliveryError
	if errors.As(err, &de) {
		if de.unrecorded {
			return "The recovery secret was created, but its direct message could not be scheduled for deletion, so it was taken back unseen and will simply expire. Nothing was sent; run the request again.", true
		}
		return "The recovery secret was created but *not sent*: Slack refused the direct message to the requester (" + esc(slackErrorName(de.err)) + "). It was discarded unseen and will simply expire; the requester should check that they can receive direct messages from orybot, then ask again.", true
	}
	var te *targetError
	if errors.As(err, &te) {
		if te.byEmail {
			return fmt.Sprintf("No identity in Ory has the email %s as a login identifier. Check the spelling, or use the identity id instead.", code(te.target)), true
		}
		return fmt.Sprintf("Ory has no identity with id %s. Check the id (for example in the Ory Console) and try again.", code(te.target)), true
	}
	var amb *ory.AmbiguousError
	if errors.As(err, &amb) {
		return fmt.Sprintf("That email matches %d identities in Ory, so I can't tell which one you mean. Use the identity id instead.", amb.Count), true
	}
	var oe *ory.Error
	reason := ""
	if errors.As(err, &oe) && oe.Reason != "" {
		reason = " Ory said: " + esc(strings.TrimSuffix(oe.Reason, ".")) + "."
	}
	switch {
	case errors.Is(err, ory.ErrInvalidID):
		return "That is not a valid Ory id: ids look like `8f3c2a1e-…` (a UUID).", true
	case errors.Is(err, ory.ErrNotFound):
		return "Ory could not find what the request refers to; it may have been deleted." + reason, true
	case errors.Is(err, ory.ErrUnauthorized):
		return "Ory refused the bot's credentials (HTTP 401/403). An admin should check ORY_API_KEY and that it belongs to this Ory project." + reason, true
	case errors.Is(err, ory.ErrRateLimited):
		return "Ory's rate limit was hit, and the bot gave up after retrying. Wait a minute and try again." + reason, true
	case errors.Is(err, ory.ErrUnavailable):
		return "Ory could not be reached or had a server error, even after retries. Try again in a few minutes; if it keeps failing, check Ory's status and ORY_ADMIN_URL." + reason, true
	case errors.Is(err, ory.ErrBadRequest):
		return "Ory rejected the request as invalid." + reason, true
	case errors.Is(err, ory.ErrConflict):
		return "Ory reported a conflict: the identity may have been changed at the same time. Check it and try again." + reason, true
	case errors.Is(err, ory.ErrWrongURL):
		return "Ory answered with a redirect: ORY_ADMIN_URL probably points at Kratos's public port instead of its admin port. An admin should fix the setting.", true
	case oe != nil && oe.Status != 0:
		return fmt.Sprintf("Ory refused the call with an unexpected answer (HTTP %d); this Ory version may not support it.%s", oe.Status, reason), true
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return fmt.Sprintf("Slack is rate-limiting the bot. Try again in %s.", rl.RetryAfter), true
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return fmt.Sprintf("Slack had a server error (HTTP %d). Try again in a minute.", sc.Code), true
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "not_in_channel", "channel_not_found":
			return "I'm not a member of this channel. Invite me with `/invite @orybot` and try again.", true
		case "missing_scope":
			return "The Slack app lacks a permission it needs (" + esc(se.Needed) + "). An admin should reinstall it from manifest.yml.", true
		case "no_such_subteam", "plan_upgrade_required":
			setting := "ORYBOT_APPROVERS or ORYBOT_REQUESTERS"
			var ge *groupListError
			if errors.As(err, &ge) {
				setting = ge.setting
			}
			return "Slack could not list a user group in " + setting + " (" + esc(se.Err) + "). An admin should check the group ids.", true
		}
		return "Slack answered with the error " + code(se.Err) + ". Try again; if it persists, an admin should check the bot's Slack app.", true
	}
	return "", false
}

func parseWords(pe *commands.ParseError) string {
	usage := ""
	if spec, ok := commands.Lookup(pe.Verb); ok {
		usage = fmt.Sprintf(" Usage: `/ory %s %s`", spec.Verb, spec.Usage)
	}
	switch {
	case errors.Is(pe.Err, commands.ErrEmpty):
		return "Tell me what to do: type a command after `/ory`."
	case errors.Is(pe.Err, commands.ErrUnknownVerb):
		return fmt.Sprintf("I don't know the command %s.", code(pe.Value))
	case errors.Is(pe.Err, commands.ErrMissingTarget):
		return "Say which identity: give its id or email." + usage
	case errors.Is(pe.Err, commands.ErrBadTarget):
		return fmt.Sprintf("%s is neither an identity id (a UUID such as `8f3c2a1e-5b6d-4c7e-9f00-1a2b3c4d5e6f`) nor an email address.", code(pe.Value)) + usage
	case errors.Is(pe.Err, commands.ErrBadSessionID):
		return fmt.Sprintf("%s is not a session id: session ids are UUIDs. `/ory sessions &lt;identity&gt;` lists them.", code(pe.Value)) + usage
	case errors.Is(pe.Err, commands.ErrBadRequestID):
		return fmt.Sprintf("%s is not a request id: request ids are ten letters and digits, shown on each card and by `/ory pending`.", code(pe.Value)) + usage
	case errors.Is(pe.Err, commands.ErrMissingArgs):
		return "Some arguments are missing." + usage
	case errors.Is(pe.Err, commands.ErrExtraArgs):
		return fmt.Sprintf("I didn't expect %s there. Put the reason after ` -- `.", code(pe.Value)) + usage
	case errors.Is(pe.Err, commands.ErrReasonRequired):
		return "A reason is required: add ` -- ` and why, so approvers and the audit trail know." + usage
	case errors.Is(pe.Err, commands.ErrReasonTooLong):
		return fmt.Sprintf("The reason is too long: keep it under %d characters.", commands.MaxReasonLen)
	}
	return "I couldn't read that command." + usage
}

// slackErrorName names a Slack failure in a word or two, for records.
func slackErrorName(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Status
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return "rate limited"
	}
	return "network error"
}

func newRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// refusal is a request the bot will not make, with the words that say why.
// Its Error names only the kind of refusal: the words may quote identity
// data (an OIDC or SAML identifier), and errors end up in logs.
type refusal struct{ kind, msg string }

func refuse(kind, msg string) *refusal { return &refusal{kind: kind, msg: msg} }

func (e *refusal) Error() string { return "refused: " + e.kind }

// targetError is an identity that does not exist, with the words the user
// typed to name it.
type targetError struct {
	target  string
	byEmail bool
	err     error
}

func (e *targetError) Error() string { return "no identity matches the target: " + e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// deliveryError is a recovery secret that was created but could not be
// handed to the requester safely. The secret is not kept anywhere, so it is lost
// and simply expires.
type deliveryError struct {
	err        error
	unrecorded bool // posted, but could not be recorded for deletion, so deleted at once
}

func (e *deliveryError) Error() string {
	return "deliver recovery secret to requester: " + e.err.Error()
}
func (e *deliveryError) Unwrap() error { return e.err }

// groupListError is a user group of a setting (ORYBOT_APPROVERS,
// ORYBOT_REQUESTERS) that Slack would not list.
type groupListError struct {
	setting string
	err     error
}

func (e *groupListError) Error() string { return e.setting + ": " + e.err.Error() }
func (e *groupListError) Unwrap() error { return e.err }

// groupError explains the user-group failures an operator can fix.
func groupError(err error) error {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "plan_upgrade_required":
			return fmt.Errorf("this Slack workspace's plan has no user groups (plan_upgrade_required); name users (U…) instead of groups (S…): %w", err)
		case "no_such_subteam":
			return fmt.Errorf("no such Slack user group (no_such_subteam); check the S… ids: %w", err)
		case "missing_scope":
			return fmt.Errorf("the Slack app lacks the usergroups:read scope; reinstall it from manifest.yml: %w", err)
		}
	}
	return err
}

// isNotInChannel reports whether Slack refused a post because the bot is not
// a member of the channel.
func isNotInChannel(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && (se.Err == "not_in_channel" || se.Err == "channel_not_found")
}
