// Package commands turns the text of an /ory slash command into a typed
// Command. It knows every verb, its arguments and its help line, and nothing
// about Slack or Ory.
package commands

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// Verb names an action the bot understands.
type Verb string

// The verbs. Changing verbs need a reason and a second person's approval.
const (
	Help             Verb = "help"
	Show             Verb = "show"
	Sessions         Verb = "sessions"
	Deactivate       Verb = "deactivate"
	Activate         Verb = "activate"
	Lockout          Verb = "lockout"
	RevokeSession    Verb = "revoke-session"
	RevokeSessions   Verb = "revoke-sessions"
	Recovery         Verb = "recovery"
	RecoveryCode     Verb = "recovery-code"
	DeleteCredential Verb = "delete-credential"
	Reset2FA         Verb = "reset-2fa"
	Audit            Verb = "audit"
	Cancel           Verb = "cancel"
	Pending          Verb = "pending"
)

// Target says what the first argument of a verb names.
type Target int

// Targets.
const (
	NoArg    Target = iota // the verb takes no target
	Identity               // an identity id or email
	Session                // a session id
	Request                // an approval request id
)

// Spec describes one verb: how it is written and what it does.
type Spec struct {
	Verb     Verb
	Usage    string // arguments after the verb, as shown in help
	Summary  string // one line for /ory help
	Example  string // a complete example after "/ory "
	Changing bool   // needs "-- reason" and an approval
	Target   Target // what the first argument names
	MinArgs  int    // arguments after the target
	MaxArgs  int
}

// Specs lists every verb in the order /ory help shows them.
func Specs() []Spec {
	const who = "<identity-id or email>"
	return []Spec{
		{Verb: Show, Usage: who, Target: Identity,
			Summary: "Show an identity: state, schema, credential types, active sessions. Only you see it.",
			Example: "show alice@example.com"},
		{Verb: Sessions, Usage: who, Target: Identity,
			Summary: "List an identity's active sessions. Only you see it.",
			Example: "sessions alice@example.com"},
		{Verb: Deactivate, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Set the identity's state to inactive, so it cannot log in (its sessions stay; see lockout).",
			Example: "deactivate alice@example.com -- phished on 2026-11-20"},
		{Verb: Activate, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Set the identity's state back to active.",
			Example: "activate alice@example.com -- laptop recovered, ticket SEC-42"},
		{Verb: Lockout, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Deactivate the identity, then revoke all its sessions, in one approval.",
			Example: "lockout alice@example.com -- account takeover"},
		{Verb: RevokeSession, Usage: "<session-id> -- <reason>", Target: Session, Changing: true,
			Summary: "Revoke one session.",
			Example: "revoke-session 5f1c0d9e-2b7a-4c3d-8e9f-0a1b2c3d4e5f -- unknown device"},
		{Verb: RevokeSessions, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Revoke every session of the identity.",
			Example: "revoke-sessions alice@example.com -- password leaked"},
		{Verb: Recovery, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Create a recovery link; only you receive it, ephemerally.",
			Example: "recovery alice@example.com -- locked out, verified by video call"},
		{Verb: RecoveryCode, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Create a recovery code and its link; only you receive them, ephemerally.",
			Example: "recovery-code alice@example.com -- locked out, verified by video call"},
		{Verb: DeleteCredential, Usage: who + " <type> [identifier] -- <reason>", Target: Identity, Changing: true, MinArgs: 1, MaxArgs: 2,
			Summary: "Remove one credential (totp, webauthn, lookup_secret, oidc, saml…); oidc and saml need the identifier.",
			Example: "delete-credential alice@example.com totp -- lost phone"},
		{Verb: Reset2FA, Usage: who + " -- <reason>", Target: Identity, Changing: true,
			Summary: "Remove every second factor (totp, lookup_secret, webauthn) the identity has.",
			Example: "reset-2fa alice@example.com -- lost phone and backup codes"},
		{Verb: Pending, Summary: "List the open requests you may approve, deny or cancel, with a link to each card.",
			Example: "pending"},
		{Verb: Cancel, Usage: "<request-id>", Target: Request,
			Summary: "Withdraw a request you made that is still pending.",
			Example: "cancel k3x7q2m4ab"},
		{Verb: Audit, Usage: "verify", MinArgs: 1, MaxArgs: 1,
			Summary: "Check the audit trail's hash chain. Only you see the answer.",
			Example: "audit verify"},
		{Verb: Help, Summary: "Show this list.", Example: "help"},
	}
}

// TargetKind says how a Command names its identity.
type TargetKind int

// Target kinds.
const (
	NoTarget TargetKind = iota
	ByID
	ByEmail
	ByRequestID
)

// Command is a parsed slash command.
type Command struct {
	Verb       Verb
	Target     string // the id (lower case) or email, as typed
	TargetKind TargetKind
	Args       []string // arguments after the target, such as a credential type
	Reason     string
}

// Errors returned by Parse, wrapped in a *ParseError.
var (
	ErrEmpty          = errors.New("no command given")
	ErrUnknownVerb    = errors.New("unknown command")
	ErrMissingTarget  = errors.New("missing identity")
	ErrBadTarget      = errors.New("not an identity id or email")
	ErrBadSessionID   = errors.New("not a session id")
	ErrBadRequestID   = errors.New("not a request id")
	ErrMissingArgs    = errors.New("missing arguments")
	ErrExtraArgs      = errors.New("unexpected arguments")
	ErrReasonRequired = errors.New("reason required")
	ErrReasonTooLong  = errors.New("reason too long")
)

// MaxReasonLen bounds a reason so that it fits on an approval card and in an
// audit record.
const MaxReasonLen = 500

// ParseError says what was wrong with the text and where.
type ParseError struct {
	Err   error  // one of the Err… sentinels
	Verb  Verb   // the verb, when it was recognised
	Value string // the offending word, when there is one
}

func (e *ParseError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("parse %s: %v: %q", e.Verb, e.Err, e.Value)
	}
	return fmt.Sprintf("parse %s: %v", e.Verb, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Lookup returns the spec of a verb.
func Lookup(v Verb) (Spec, bool) {
	for _, s := range Specs() {
		if s.Verb == v {
			return s, true
		}
	}
	return Spec{}, false
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// requestRE matches the request ids the store makes: ten characters of
// lower-case base32, as shown on every card.
var requestRE = regexp.MustCompile(`^[a-z2-7]{10}$`)

// IsUUID reports whether s is a UUID in its canonical text form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// Parse turns the text after "/ory" into a Command. The reason is
// everything after the first "--" word.
func Parse(text string) (Command, error) {
	// NUL and invalid UTF-8 have no business in a command, and PostgreSQL
	// refuses to store them.
	text = strings.TrimSpace(strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\x00", ""))
	if text == "" {
		return Command{}, &ParseError{Err: ErrEmpty}
	}
	head, reason, hasReason := cutReason(text)
	words := strings.Fields(head)
	if len(words) == 0 {
		return Command{}, &ParseError{Err: ErrEmpty}
	}
	verb := Verb(strings.ToLower(words[0]))
	spec, ok := Lookup(verb)
	if !ok {
		return Command{}, &ParseError{Err: ErrUnknownVerb, Value: words[0]}
	}
	cmd := Command{Verb: verb, Reason: reason}
	args := words[1:]
	if spec.Target != NoArg {
		if len(args) == 0 {
			return Command{}, &ParseError{Err: ErrMissingTarget, Verb: verb}
		}
		if spec.Target == Request {
			if !requestRE.MatchString(strings.ToLower(args[0])) {
				return Command{}, &ParseError{Err: ErrBadRequestID, Verb: verb, Value: args[0]}
			}
			args[0] = strings.ToLower(args[0])
		}
		cmd.Target = unwrapMailto(args[0])
		cmd.TargetKind = targetKind(cmd.Target)
		if spec.Target == Request {
			cmd.TargetKind = ByRequestID
		}
		if spec.Target == Session && cmd.TargetKind != ByID {
			return Command{}, &ParseError{Err: ErrBadSessionID, Verb: verb, Value: args[0]}
		}
		if cmd.TargetKind == NoTarget {
			return Command{}, &ParseError{Err: ErrBadTarget, Verb: verb, Value: args[0]}
		}
		if cmd.TargetKind == ByID {
			cmd.Target = strings.ToLower(cmd.Target)
		}
		args = args[1:]
	}
	if len(args) < spec.MinArgs {
		return Command{}, &ParseError{Err: ErrMissingArgs, Verb: verb}
	}
	if len(args) > spec.MaxArgs {
		return Command{}, &ParseError{Err: ErrExtraArgs, Verb: verb, Value: strings.Join(args[spec.MaxArgs:], " ")}
	}
	if len(args) > 0 {
		cmd.Args = args
	}
	if spec.Changing && (!hasReason || reason == "") {
		return Command{}, &ParseError{Err: ErrReasonRequired, Verb: verb}
	}
	if len([]rune(reason)) > MaxReasonLen {
		return Command{}, &ParseError{Err: ErrReasonTooLong, Verb: verb}
	}
	return cmd, nil
}

// cutReason splits text at the first "--" that stands as a word of its own.
// Slack clients may turn "--" into an em or en dash, so those count too.
func cutReason(text string) (head, reason string, found bool) {
	fields := strings.Fields(text)
	for i, f := range fields {
		if f == "--" || f == "—" || f == "–" {
			// Find the separator's byte offset to keep the reason's own spacing.
			idx := 0
			for j := 0; j <= i; j++ {
				k := strings.Index(text[idx:], fields[j])
				idx += k + len(fields[j])
			}
			return strings.Join(fields[:i], " "), strings.TrimSpace(text[idx:]), true
		}
	}
	return text, "", false
}

// unwrapMailto turns Slack's escaped email link <mailto:a@b.c|a@b.c> back
// into the address; Slack sends that form when the app asks for escaping or
// the client linked the address.
func unwrapMailto(s string) string {
	if rest, ok := strings.CutPrefix(s, "<mailto:"); ok && strings.HasSuffix(rest, ">") {
		addr, _, _ := strings.Cut(strings.TrimSuffix(rest, ">"), "|")
		return addr
	}
	return s
}

func targetKind(s string) TargetKind {
	if IsUUID(s) {
		return ByID
	}
	if strings.Contains(s, "@") && !strings.ContainsAny(s, "<>|\"") {
		if a, err := mail.ParseAddress(s); err == nil && a.Address == s {
			return ByEmail
		}
	}
	return NoTarget
}
