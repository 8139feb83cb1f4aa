package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// access says who may use a verb.
type access int

const (
	// anyone: nothing to check here (help), or the store checks it (cancel,
	// which only the requester of a request may do).
	anyone access = iota
	// requesters: ORYBOT_REQUESTERS, or everyone when it is empty.
	requesters
	// requestersOrApprovers: approvers may list what waits for them even
	// when ORYBOT_REQUESTERS does not name them.
	requestersOrApprovers
)

// verb is everything the bot does for one command verb, declared once.
// commands.Spec says how the verb is written; this says who may use it and
// what it does. A verb with a check changes an identity: check runs before
// its card is posted and says what approval will do, and steps are the Ory
// calls that approval runs.
type verb struct {
	access access
	// ack answers the command in the ack itself, before any I/O, when it
	// returns text.
	ack func(cmd commands.Command) string
	// answer runs a verb that needs no approval, after the ack.
	answer func(b *Bot, ctx context.Context, in *invocation)
	check  func(b *Bot, ctx context.Context, cmd commands.Command) (plan, error)
	steps  func(b *Bot, req *store.Request, calls oryCalls) []step
}

func (v verb) changing() bool { return v.check != nil }

// verbs is the verb table. TestVerbTable checks that it matches
// commands.Specs.
func verbs() map[commands.Verb]verb {
	return map[commands.Verb]verb{
		commands.Help:     {access: anyone, ack: func(commands.Command) string { return helpText() }},
		commands.Show:     {access: requesters, answer: (*Bot).show},
		commands.Sessions: {access: requesters, answer: (*Bot).sessions},
		commands.Pending:  {access: requestersOrApprovers, answer: (*Bot).pending},
		commands.Cancel:   {access: anyone, answer: (*Bot).cancelCommand},
		commands.Audit:    {access: requesters, ack: auditAck, answer: (*Bot).verifyAudit},

		commands.Deactivate: {access: requesters,
			check: identityCheck(func(*Bot, context.Context, ory.Identity, commands.Command) (plan, error) {
				return plan{effect: "Set the state to *inactive*, so the identity cannot log in. Existing sessions are not revoked (use `lockout` for both)."}, nil
			}),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				return []step{setStateStep(c.act, req.IdentityID, ory.StateInactive)}
			}},
		commands.Activate: {access: requesters,
			check: identityCheck(func(_ *Bot, _ context.Context, id ory.Identity, _ commands.Command) (plan, error) {
				p := plan{effect: "Set the state to *active*, so the identity can log in again."}
				if id.State == ory.StateActive {
					p.effect += " (It is already active.)"
				}
				return p, nil
			}),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				return []step{setStateStep(c.act, req.IdentityID, ory.StateActive)}
			}},
		commands.Lockout: {access: requesters,
			check: sessionsCheck("1. Set the state to *inactive*. 2. Revoke all sessions (%s)."),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				return []step{setStateStep(c.act, req.IdentityID, ory.StateInactive), revokeAllStep(c.act, req.IdentityID)}
			}},
		commands.RevokeSessions: {access: requesters,
			check: sessionsCheck("Revoke every session of the identity (%s)."),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				return []step{revokeAllStep(c.act, req.IdentityID)}
			}},
		commands.RevokeSession: {access: requesters, check: checkRevokeSession,
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				return []step{revokeSessionStep(c.act, req.IdentityID, req.Target.SessionID)}
			}},
		commands.Recovery: {access: requesters, check: recoveryCheck("link"),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step { return []step{b.recoveryStep(req, c.rec)} }},
		commands.RecoveryCode: {access: requesters, check: recoveryCheck("code"),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step { return []step{b.recoveryStep(req, c.rec)} }},
		commands.DeleteCredential: {access: requesters, check: identityCheck(checkDeleteCredential),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				return []step{deleteCredentialStep(c.act, req.IdentityID, req.Target.Credential, req.Target.Identifier)}
			}},
		commands.Reset2FA: {access: requesters, check: identityCheck(checkReset2FA),
			steps: func(b *Bot, req *store.Request, c oryCalls) []step {
				var steps []step
				for _, t := range req.Target.Factors {
					steps = append(steps, deleteCredentialStep(c.act, req.IdentityID, t, ""))
				}
				return steps
			}},
	}
}

// plan is what the bot learned before posting a card: whom the request is
// about and, in words, what approving it will do.
type plan struct {
	identity ory.Identity
	effect   string
	target   store.Target // kept with the request for its steps
}

// identityCheck is the check of a verb that acts on an identity named by
// id or email: it finds the identity, then asks check about it.
func identityCheck(check func(b *Bot, ctx context.Context, id ory.Identity, cmd commands.Command) (plan, error)) func(*Bot, context.Context, commands.Command) (plan, error) {
	return func(b *Bot, ctx context.Context, cmd commands.Command) (plan, error) {
		id, err := b.resolve(ctx, cmd)
		if err != nil {
			return plan{}, err
		}
		p, err := check(b, ctx, id, cmd)
		p.identity = id
		return p, err
	}
}

// sessionsCheck says how many sessions a verb that revokes them all will
// revoke, in effect (a format with one %s).
func sessionsCheck(effect string) func(*Bot, context.Context, commands.Command) (plan, error) {
	return identityCheck(func(b *Bot, ctx context.Context, id ory.Identity, _ commands.Command) (plan, error) {
		s, err := b.deps.Identities.Sessions(ctx, id.ID, true)
		if err != nil {
			return plan{}, err
		}
		return plan{effect: fmt.Sprintf(effect, sessionCount(len(s)))}, nil
	})
}

func recoveryCheck(kind string) func(*Bot, context.Context, commands.Command) (plan, error) {
	return identityCheck(func(b *Bot, _ context.Context, _ ory.Identity, _ commands.Command) (plan, error) {
		return plan{effect: fmt.Sprintf("Create a recovery %s valid for %s. Only the requester receives it, in a direct message from orybot that is deleted when it expires.", kind, humanDuration(b.cfg.RecoveryTTL))}, nil
	})
}

// firstFactors are credential types Kratos refuses to delete.
var firstFactors = []string{"password", "code", "passkey"}

// secondFactors are the credential types reset-2fa removes.
var secondFactors = []string{"totp", "lookup_secret", "webauthn"}

func checkReset2FA(_ *Bot, _ context.Context, id ory.Identity, _ commands.Command) (plan, error) {
	var factors []string
	for _, t := range secondFactors {
		if slices.Contains(id.CredentialTypes, t) {
			factors = append(factors, t)
		}
	}
	if len(factors) == 0 {
		return plan{}, refuse("no_second_factor", fmt.Sprintf("Identity `%s` has no second factor (%s), so there is nothing to reset.", id.ID, strings.Join(secondFactors, ", ")))
	}
	return plan{effect: "Remove the second factors " + codeList(factors) + ".", target: store.Target{Factors: factors}}, nil
}

func checkRevokeSession(b *Bot, ctx context.Context, cmd commands.Command) (plan, error) {
	sessionID := cmd.Target
	s, err := b.deps.Identities.Session(ctx, sessionID)
	if errors.Is(err, ory.ErrNotFound) {
		return plan{}, refuse("no_such_session", fmt.Sprintf("Ory has no session with id %s. Check the id (`/ory sessions &lt;identity&gt;` lists them).", code(sessionID)))
	}
	if err != nil {
		return plan{}, err
	}
	id, err := b.deps.Identities.Identity(ctx, s.IdentityID)
	if err != nil {
		return plan{}, err
	}
	// Kratos reports every session of an inactive identity as inactive, but
	// those sessions work again once the identity is reactivated, so they
	// are still worth revoking.
	if !s.Active && id.State == ory.StateActive {
		return plan{}, refuse("session_inactive", fmt.Sprintf("Session %s is already inactive (revoked or expired); there is nothing to revoke.", code(sessionID)))
	}
	return plan{
		identity: id,
		effect: fmt.Sprintf("Revoke session `%s` of this identity (authenticated %s, %s, %s).",
			s.ID, slackDate(s.AuthenticatedAt), orDash(esc(s.AAL)), esc(shortUA(s.UserAgent))),
		target: store.Target{SessionID: s.ID},
	}, nil
}

func checkDeleteCredential(_ *Bot, _ context.Context, id ory.Identity, cmd commands.Command) (plan, error) {
	typ := strings.ToLower(cmd.Args[0])
	identifier := ""
	if len(cmd.Args) > 1 {
		identifier = cmd.Args[1]
	}
	linked := typ == "oidc" || typ == "saml"
	switch {
	case slices.Contains(firstFactors, typ):
		return plan{}, refuse("first_factor", fmt.Sprintf("The %s credential is a first factor and cannot be removed. To lock the account use `deactivate` or `lockout`; to let the user set a new password use `recovery`.", code(typ)))
	case !slices.Contains(id.CredentialTypes, typ):
		return plan{}, refuse("no_such_credential", fmt.Sprintf("Identity `%s` has no %s credential. It has: %s.", id.ID, code(typ), codeList(id.CredentialTypes)))
	case linked && identifier == "":
		return plan{}, refuse("identifier_needed", fmt.Sprintf("Removing %s needs the identifier of the provider link. The identity has: %s. Example: `/ory delete-credential %s %s %s -- &lt;reason&gt;`",
			code(typ), codeList(id.Identifiers[typ]), id.ID, esc(typ), esc(firstOr(id.Identifiers[typ], "<identifier>"))))
	case linked && !slices.Contains(id.Identifiers[typ], identifier):
		return plan{}, refuse("no_such_link", fmt.Sprintf("Identity `%s` has no %s identifier %s. It has: %s.", id.ID, code(typ), code(identifier), codeList(id.Identifiers[typ])))
	}
	if linked {
		return plan{effect: fmt.Sprintf("Remove the %s link %s (the identity has it).", code(typ), code(identifier)),
			target: store.Target{Credential: typ, Identifier: identifier}}, nil
	}
	return plan{effect: fmt.Sprintf("Remove the %s credential (the identity has it).", code(typ)), target: store.Target{Credential: typ}}, nil
}

// auditAck answers `/ory audit <anything but verify>` in the ack.
func auditAck(cmd commands.Command) string {
	if cmd.Args[0] == "verify" {
		return ""
	}
	return fmt.Sprintf("I don't know %s. Did you mean `/ory audit verify`?", code("/ory audit "+cmd.Args[0]))
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
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = code(s)
	}
	return strings.Join(quoted, ", ")
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
