package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// plan is what the bot learned before posting a card: whom the request is
// about and, in words, what approving it will do.
type plan struct {
	identity ory.Identity
	effect   string
	target   store.Target // kept with the request for run
}

// step is one Ory call of an approved request. do returns what it did, in
// words for the card and the audit record. subject names what it acts on
// (a session id, a credential type) for the audit trail.
type step struct {
	name    string
	subject string
	do      func(ctx context.Context) (string, error)
}

// check validates a changing command against Ory before any card is posted,
// so that an approver never sees a request that cannot work.
func (b *Bot) check(ctx context.Context, cmd commands.Command) (plan, error) {
	if cmd.Verb == commands.RevokeSession {
		return b.checkRevokeSession(ctx, cmd.Target)
	}
	id, err := b.resolve(ctx, cmd)
	if err != nil {
		return plan{}, err
	}
	p := plan{identity: id}
	switch cmd.Verb {
	case commands.Deactivate:
		p.effect = "Set the state to *inactive*, so the identity cannot log in. Existing sessions are not revoked (use `lockout` for both)."
	case commands.Activate:
		p.effect = "Set the state to *active*, so the identity can log in again."
		if id.State == ory.StateActive {
			p.effect += " (It is already active.)"
		}
	case commands.Lockout:
		n, err := b.activeSessions(ctx, id.ID)
		if err != nil {
			return plan{}, err
		}
		p.effect = fmt.Sprintf("1. Set the state to *inactive*. 2. Revoke all sessions (%s).", sessionCount(n))
	case commands.RevokeSessions:
		n, err := b.activeSessions(ctx, id.ID)
		if err != nil {
			return plan{}, err
		}
		p.effect = fmt.Sprintf("Revoke every session of the identity (%s).", sessionCount(n))
	case commands.Recovery:
		p.effect = fmt.Sprintf("Create a recovery link valid for %s. Only the requester receives it, ephemerally.", humanDuration(b.cfg.RecoveryTTL))
	case commands.RecoveryCode:
		p.effect = fmt.Sprintf("Create a recovery code valid for %s. Only the requester receives it, ephemerally.", humanDuration(b.cfg.RecoveryTTL))
	case commands.DeleteCredential:
		return b.checkDeleteCredential(p, cmd.Args)
	case commands.Reset2FA:
		var factors []string
		for _, t := range secondFactors {
			if slices.Contains(id.CredentialTypes, t) {
				factors = append(factors, t)
			}
		}
		if len(factors) == 0 {
			return plan{}, &refusal{fmt.Sprintf("Identity `%s` has no second factor (%s), so there is nothing to reset.", id.ID, strings.Join(secondFactors, ", "))}
		}
		p.effect = "Remove the second factors " + codeList(factors) + "."
		p.target = store.Target{Factors: factors}
	}
	return p, nil
}

// firstFactors are credential types Kratos refuses to delete.
var firstFactors = []string{"password", "code", "passkey"}

// secondFactors are the credential types reset-2fa removes.
var secondFactors = []string{"totp", "lookup_secret", "webauthn"}

func (b *Bot) checkRevokeSession(ctx context.Context, sessionID string) (plan, error) {
	s, err := b.ory.Session(ctx, sessionID)
	if errors.Is(err, ory.ErrNotFound) {
		return plan{}, &refusal{fmt.Sprintf("Ory has no session with id `%s`. Check the id (`/ory sessions <identity>` lists them).", sessionID)}
	}
	if err != nil {
		return plan{}, err
	}
	id, err := b.ory.Identity(ctx, s.IdentityID)
	if err != nil {
		return plan{}, err
	}
	// Kratos reports every session of an inactive identity as inactive, but
	// those sessions work again once the identity is reactivated, so they
	// are still worth revoking.
	if !s.Active && id.State == ory.StateActive {
		return plan{}, &refusal{fmt.Sprintf("Session `%s` is already inactive (revoked or expired); there is nothing to revoke.", sessionID)}
	}
	return plan{
		identity: id,
		effect: fmt.Sprintf("Revoke session `%s` of this identity (authenticated %s, %s, %s).",
			s.ID, slackDate(s.AuthenticatedAt), orDash(s.AAL), shortUA(s.UserAgent)),
		target: store.Target{SessionID: s.ID},
	}, nil
}

func (b *Bot) checkDeleteCredential(p plan, args []string) (plan, error) {
	typ := strings.ToLower(args[0])
	identifier := ""
	if len(args) > 1 {
		identifier = args[1]
	}
	id := p.identity
	switch {
	case slices.Contains(firstFactors, typ):
		return plan{}, &refusal{fmt.Sprintf("The `%s` credential is a first factor and cannot be removed. To lock the account use `deactivate` or `lockout`; to let the user set a new password use `recovery`.", typ)}
	case !slices.Contains(id.CredentialTypes, typ):
		return plan{}, &refusal{fmt.Sprintf("Identity `%s` has no `%s` credential. It has: %s.", id.ID, typ, codeList(id.CredentialTypes))}
	case (typ == "oidc" || typ == "saml") && identifier == "":
		return plan{}, &refusal{fmt.Sprintf("Removing `%s` needs the identifier of the provider link. The identity has: %s. Example: `/ory delete-credential %s %s %s -- <reason>`",
			typ, codeList(id.Identifiers[typ]), id.ID, typ, firstOr(id.Identifiers[typ], "<identifier>"))}
	case identifier != "" && (typ == "oidc" || typ == "saml") && !slices.Contains(id.Identifiers[typ], identifier):
		return plan{}, &refusal{fmt.Sprintf("Identity `%s` has no `%s` identifier `%s`. It has: %s.", id.ID, typ, identifier, codeList(id.Identifiers[typ]))}
	}
	p.effect = fmt.Sprintf("Remove the `%s` credential (the identity has it).", typ)
	p.target = store.Target{Credential: typ}
	if identifier != "" && (typ == "oidc" || typ == "saml") {
		p.effect = fmt.Sprintf("Remove the `%s` link `%s` (the identity has it).", typ, identifier)
		p.target.Identifier = identifier
	}
	return p, nil
}

// steps turns an approved request into its Ory calls.
func (b *Bot) steps(req *store.Request) []step {
	id := req.IdentityID
	setState := func(state string) step {
		return step{name: "set state to " + state, do: func(ctx context.Context) (string, error) {
			got, err := b.ory.SetState(ctx, id, state)
			if err != nil {
				return "", err
			}
			return "identity is now " + got.State, nil
		}}
	}
	revokeAll := step{name: "revoke all sessions", do: func(ctx context.Context) (string, error) {
		n, err := b.ory.RevokeSessions(ctx, id)
		if err != nil {
			return "", err
		}
		switch n {
		case 0:
			return "none were active; nothing to revoke", nil
		case 1:
			return "revoked all sessions; 1 was active", nil
		}
		return fmt.Sprintf("revoked all sessions; %d were active", n), nil
	}}
	deleteCred := func(typ, identifier string) step {
		return step{name: "remove " + typ, subject: typ, do: func(ctx context.Context) (string, error) {
			if err := b.ory.DeleteCredential(ctx, id, typ, identifier); err != nil {
				return "", err
			}
			return fmt.Sprintf("removed the %s credential", typ), nil
		}}
	}

	switch commands.Verb(req.Verb) {
	case commands.Deactivate:
		return []step{setState(ory.StateInactive)}
	case commands.Activate:
		return []step{setState(ory.StateActive)}
	case commands.Lockout:
		return []step{setState(ory.StateInactive), revokeAll}
	case commands.RevokeSessions:
		return []step{revokeAll}
	case commands.RevokeSession:
		sid := req.Target.SessionID
		return []step{{name: "revoke session", subject: sid, do: func(ctx context.Context) (string, error) {
			if err := b.ory.RevokeSession(ctx, sid); err != nil {
				return "", err
			}
			return fmt.Sprintf("revoked session %s of identity %s", sid, id), nil
		}}}
	case commands.DeleteCredential:
		return []step{deleteCred(req.Target.Credential, req.Target.Identifier)}
	case commands.Reset2FA:
		var steps []step
		for _, t := range req.Target.Factors {
			steps = append(steps, deleteCred(t, ""))
		}
		return steps
	case commands.Recovery, commands.RecoveryCode:
		return []step{{name: "create " + req.Verb, do: func(ctx context.Context) (string, error) { return b.recover(ctx, req) }}}
	}
	return nil
}

// runSteps runs a request's steps in order and stops at the first failure.
// The result has one line per step: what was done, what failed and why, and
// what was not attempted, so that nobody has to guess the identity's state.
// Each step that ran gets an audit record of its own.
func (b *Bot) runSteps(ctx context.Context, req *store.Request, log *slog.Logger) (string, error) {
	steps := b.steps(req)
	if len(steps) == 0 {
		return "", fmt.Errorf("run request %s: verb %q has no steps", req.ID, req.Verb)
	}
	var lines []string
	for i, s := range steps {
		done, err := s.do(ctx)
		line := "✓ " + done
		if err != nil {
			line = fmt.Sprintf("✗ %s failed: %s", s.name, b.describe(err, s.name, log))
		}
		lines = append(lines, line)
		if _, aerr := b.requests.AppendAudit(ctx, b.record(req, audit.Step, req.Approver, s.subject, line)); aerr != nil {
			log.Error("record step in audit trail", "err", aerr)
		}
		if err != nil {
			for _, rest := range steps[i+1:] {
				lines = append(lines, "– "+rest.name+": not attempted")
			}
			return strings.Join(lines, "\n"), err
		}
	}
	return strings.Join(lines, "\n"), nil
}

// recover creates a recovery link or code and hands it to the requester
// alone, as an ephemeral message in the channel where they asked. The card,
// the audit record and the logs get only its expiry and a fingerprint that
// lets the team match a link a user shows them.
func (b *Bot) recover(ctx context.Context, req *store.Request) (string, error) {
	var (
		link, code, secret string
		expires            time.Time
		err                error
	)
	if req.Verb == string(commands.RecoveryCode) {
		link, code, expires, err = b.ory.RecoveryCode(ctx, req.IdentityID, b.cfg.RecoveryTTL)
		// A six-digit code alone could be found from its fingerprint by
		// trying all of them; with the flow's link it cannot.
		secret = link + "\n" + code
	} else {
		link, expires, err = b.ory.RecoveryLink(ctx, req.IdentityID, b.cfg.RecoveryTTL)
		secret = link
	}
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("Recovery link for identity `%s` (request `%s`), valid until %s. Send it to the user over a channel you trust:\n%s",
		req.IdentityID, req.ID, slackDate(expires), link)
	if code != "" {
		text = fmt.Sprintf("Recovery code for identity `%s` (request `%s`), valid until %s: `%s`\nThe user enters it at %s",
			req.IdentityID, req.ID, slackDate(expires), code, link)
	}
	if _, err := b.api.PostEphemeralContext(ctx, req.ChannelID, req.Requester, slack.MsgOptionText(text, false)); err != nil {
		return "", &deliveryError{err: err}
	}
	kind := "link"
	if code != "" {
		kind = "code"
	}
	return fmt.Sprintf("recovery %s sent to <@%s> only; expires %s; fingerprint `%s`", kind, req.Requester, slackDate(expires), Fingerprint(secret)), nil
}

// Fingerprint is the short hash of a recovery link or code that the audit
// trail keeps instead of the secret.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}

// deliveryError is a recovery secret that was created but could not be
// handed to the requester. The secret is not kept anywhere, so it is lost
// and simply expires.
type deliveryError struct{ err error }

func (e *deliveryError) Error() string {
	return "deliver recovery secret to requester: " + e.err.Error()
}
func (e *deliveryError) Unwrap() error { return e.err }

// refusal is a request the bot will not make, with the words that say why.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

func (b *Bot) activeSessions(ctx context.Context, identityID string) (int, error) {
	s, err := b.ory.Sessions(ctx, identityID, true)
	return len(s), err
}

// humanDuration writes 1h0m0s as 1h and 30m0s as 30m.
func humanDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func sessionCount(n int) string {
	switch n {
	case 0:
		return "none are active now"
	case 1:
		return "1 is active now"
	}
	return fmt.Sprintf("%d are active now", n)
}

func codeList(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return "`" + strings.Join(items, "`, `") + "`"
}

func firstOr(items []string, fallback string) string {
	if len(items) > 0 {
		return items[0]
	}
	return fallback
}

// shortUA keeps a user agent short enough for one line of a card.
func shortUA(ua string) string {
	if ua == "" {
		return "unknown device"
	}
	if r := []rune(ua); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return ua
}
