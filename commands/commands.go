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
	Help       Verb = "help"
	Deactivate Verb = "deactivate"
)

// Spec describes one verb: how it is written and what it does.
type Spec struct {
	Verb     Verb
	Usage    string // arguments after the verb, as shown in help
	Summary  string // one line for /ory help
	Example  string // a complete example after "/ory "
	Changing bool   // needs "-- reason" and an approval
	Target   bool   // takes an identity id or email as first argument
}

// Specs lists every verb in the order /ory help shows them.
func Specs() []Spec {
	return []Spec{
		{Verb: Deactivate, Usage: "<identity-id or email> -- <reason>", Summary: "Lock an identity out of Ory (state inactive), after a second person approves.",
			Example: "deactivate alice@example.com -- phished on 2026-11-20", Changing: true, Target: true},
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
)

// Command is a parsed slash command.
type Command struct {
	Verb       Verb
	Target     string // the identity id (lower case) or email, as typed
	TargetKind TargetKind
	Reason     string
}

// Errors returned by Parse, wrapped in a *ParseError.
var (
	ErrEmpty          = errors.New("no command given")
	ErrUnknownVerb    = errors.New("unknown command")
	ErrMissingTarget  = errors.New("missing identity")
	ErrBadTarget      = errors.New("not an identity id or email")
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

// IsUUID reports whether s is a UUID in its canonical text form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// Parse turns the text after "/ory" into a Command. The reason is
// everything after the first "--" word.
func Parse(text string) (Command, error) {
	text = strings.TrimSpace(text)
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
	if spec.Target {
		if len(args) == 0 {
			return Command{}, &ParseError{Err: ErrMissingTarget, Verb: verb}
		}
		cmd.Target = unwrapMailto(args[0])
		cmd.TargetKind = targetKind(cmd.Target)
		if cmd.TargetKind == NoTarget {
			return Command{}, &ParseError{Err: ErrBadTarget, Verb: verb, Value: args[0]}
		}
		if cmd.TargetKind == ByID {
			cmd.Target = strings.ToLower(cmd.Target)
		}
		args = args[1:]
	}
	if len(args) > 0 {
		return Command{}, &ParseError{Err: ErrExtraArgs, Verb: verb, Value: strings.Join(args, " ")}
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
