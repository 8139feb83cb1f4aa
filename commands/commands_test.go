package commands

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

const (
	testUUID  = "0b1e8f4c-3d2a-4c5b-9e6f-7a8b9c0d1e2f"
	testEmail = "alice@example.com"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		text string
		want Command
	}{
		{name: "help", text: "help", want: Command{Verb: Help}},
		{name: "help with spaces", text: "  help \n", want: Command{Verb: Help}},
		{name: "verb is case-insensitive", text: "HeLp", want: Command{Verb: Help}},
		{
			name: "deactivate by id",
			text: "deactivate " + testUUID + " -- phished",
			want: Command{Verb: Deactivate, Target: testUUID, TargetKind: ByID, Reason: "phished"},
		},
		{name: "pending", text: "pending", want: Command{Verb: Pending}},
		{name: "cancel a request", text: "cancel K3X7Q2M4AB", want: Command{Verb: Cancel, Target: "k3x7q2m4ab", TargetKind: ByRequestID}},
		{name: "show needs no reason", text: "show " + testEmail, want: Command{Verb: Show, Target: testEmail, TargetKind: ByEmail}},
		{name: "sessions by id", text: "sessions " + testUUID, want: Command{Verb: Sessions, Target: testUUID, TargetKind: ByID}},
		{
			name: "revoke-session takes a session id",
			text: "revoke-session " + testUUID + " -- stolen",
			want: Command{Verb: RevokeSession, Target: testUUID, TargetKind: ByID, Reason: "stolen"},
		},
		{
			name: "delete-credential with a type",
			text: "delete-credential " + testEmail + " totp -- lost phone",
			want: Command{Verb: DeleteCredential, Target: testEmail, TargetKind: ByEmail, Args: []string{"totp"}, Reason: "lost phone"},
		},
		{
			name: "delete-credential with an identifier",
			text: "delete-credential " + testEmail + " oidc google:1234 -- unlink",
			want: Command{Verb: DeleteCredential, Target: testEmail, TargetKind: ByEmail, Args: []string{"oidc", "google:1234"}, Reason: "unlink"},
		},
		{
			name: "upper-case id is lowered",
			text: "deactivate " + strings.ToUpper(testUUID) + " -- phished",
			want: Command{Verb: Deactivate, Target: testUUID, TargetKind: ByID, Reason: "phished"},
		},
		{
			name: "deactivate by email",
			text: "deactivate " + testEmail + " -- phished",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "email keeps its case",
			text: "deactivate Alice@Example.com -- phished",
			want: Command{Verb: Deactivate, Target: "Alice@Example.com", TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "slack mailto link is unwrapped",
			text: "deactivate <mailto:a@b.c|a@b.c> -- phished",
			want: Command{Verb: Deactivate, Target: "a@b.c", TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "verb upper case",
			text: "DEACTIVATE " + testEmail + " -- phished",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "em dash separates the reason",
			text: "deactivate " + testEmail + " — phished",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "en dash separates the reason",
			text: "deactivate " + testEmail + " – phished",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "reason keeps its spacing and punctuation",
			text: "deactivate " + testEmail + " --   phished  on 2026-11-20,\tsee INC-42!  ",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished  on 2026-11-20,\tsee INC-42!"},
		},
		{
			name: "reason may contain the separator",
			text: "deactivate " + testEmail + " -- phished -- twice — really",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished -- twice — really"},
		},
		{
			name: "separator separated by other white space",
			text: "deactivate\t" + testEmail + "\n--\nphished",
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: "phished"},
		},
		{
			name: "reason of exactly the maximum length",
			text: "deactivate " + testEmail + " -- " + strings.Repeat("é", MaxReasonLen),
			want: Command{Verb: Deactivate, Target: testEmail, TargetKind: ByEmail, Reason: strings.Repeat("é", MaxReasonLen)},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse(%q) error = %v, want nil", tt.text, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		text string
		want ParseError
	}{
		{name: "empty", text: "", want: ParseError{Err: ErrEmpty}},
		{name: "blank", text: " \t\n ", want: ParseError{Err: ErrEmpty}},
		{name: "only a reason", text: "-- phished", want: ParseError{Err: ErrEmpty}},
		{name: "unknown verb", text: "delete " + testEmail, want: ParseError{Err: ErrUnknownVerb, Value: "delete"}},
		{name: "unknown verb keeps its case", text: "Nuke", want: ParseError{Err: ErrUnknownVerb, Value: "Nuke"}},
		{name: "missing target", text: "deactivate", want: ParseError{Err: ErrMissingTarget, Verb: Deactivate}},
		{name: "missing target with reason", text: "deactivate -- phished", want: ParseError{Err: ErrMissingTarget, Verb: Deactivate}},
		{name: "number is no target", text: "deactivate 12345 -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "12345"}},
		{name: "name is no target", text: "deactivate alice -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "alice"}},
		{name: "almost a uuid", text: "deactivate not-a-uuid-1234 -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "not-a-uuid-1234"}},
		{name: "uuid too short", text: "deactivate " + testUUID[1:] + " -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: testUUID[1:]}},
		{name: "uuid in braces", text: "deactivate {" + testUUID + "} -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "{" + testUUID + "}"}},
		{name: "named address", text: "deactivate <alice@example.com> -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "<alice@example.com>"}},
		{name: "empty mailto", text: "deactivate <mailto:> -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "<mailto:>"}},
		{name: "slack user mention", text: "deactivate <@U012345> -- phished", want: ParseError{Err: ErrBadTarget, Verb: Deactivate, Value: "<@U012345>"}},
		{name: "extra args", text: "deactivate " + testEmail + " now please -- phished", want: ParseError{Err: ErrExtraArgs, Verb: Deactivate, Value: "now please"}},
		{name: "help takes no args", text: "help deactivate", want: ParseError{Err: ErrExtraArgs, Verb: Help, Value: "deactivate"}},
		{name: "reason glued to separator", text: "deactivate " + testEmail + " --phished", want: ParseError{Err: ErrExtraArgs, Verb: Deactivate, Value: "--phished"}},
		{name: "no reason", text: "deactivate " + testEmail, want: ParseError{Err: ErrReasonRequired, Verb: Deactivate}},
		{name: "cancel needs a request id", text: "cancel " + testUUID, want: ParseError{Err: ErrBadRequestID, Verb: Cancel, Value: testUUID}},
		{name: "cancel needs an argument", text: "cancel", want: ParseError{Err: ErrMissingTarget, Verb: Cancel}},
		{name: "session verb needs a session id", text: "revoke-session " + testEmail + " -- x", want: ParseError{Err: ErrBadSessionID, Verb: RevokeSession, Value: testEmail}},
		{name: "delete-credential needs a type", text: "delete-credential " + testEmail + " -- x", want: ParseError{Err: ErrMissingArgs, Verb: DeleteCredential}},
		{name: "delete-credential takes at most two", text: "delete-credential " + testEmail + " oidc google extra -- x", want: ParseError{Err: ErrExtraArgs, Verb: DeleteCredential, Value: "extra"}},
		{name: "read-only verbs take no extra args", text: "show " + testEmail + " now", want: ParseError{Err: ErrExtraArgs, Verb: Show, Value: "now"}},
		{name: "every changing verb needs a reason", text: "lockout " + testEmail, want: ParseError{Err: ErrReasonRequired, Verb: Lockout}},
		{name: "empty reason", text: "deactivate " + testEmail + " --", want: ParseError{Err: ErrReasonRequired, Verb: Deactivate}},
		{name: "blank reason", text: "deactivate " + testEmail + " --  \t ", want: ParseError{Err: ErrReasonRequired, Verb: Deactivate}},
		{name: "empty reason after em dash", text: "deactivate " + testEmail + " —", want: ParseError{Err: ErrReasonRequired, Verb: Deactivate}},
		{
			name: "reason too long",
			text: "deactivate " + testEmail + " -- " + strings.Repeat("é", MaxReasonLen+1),
			want: ParseError{Err: ErrReasonTooLong, Verb: Deactivate},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error %v", tt.text, got, tt.want.Err)
			}
			if !errors.Is(err, tt.want.Err) {
				t.Errorf("Parse(%q) error = %v, want errors.Is %v", tt.text, err, tt.want.Err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error = %T, want *ParseError", tt.text, err)
			}
			if diff := cmp.Diff(tt.want, *pe, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("Parse(%q) error mismatch (-want +got):\n%s", tt.text, diff)
			}
			if diff := cmp.Diff(Command{}, got); diff != "" {
				t.Errorf("Parse(%q) returned a command with its error (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse("deactivate alice -- phished")
	if got, want := err.Error(), `parse deactivate: not an identity id or email: "alice"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Parse("deactivate " + testEmail)
	if got, want := err.Error(), "parse deactivate: reason required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSpecs(t *testing.T) {
	seen := map[Verb]bool{}
	for _, s := range Specs() {
		t.Run(string(s.Verb), func(t *testing.T) {
			if seen[s.Verb] {
				t.Errorf("verb %q listed twice", s.Verb)
			}
			seen[s.Verb] = true
			if s.Summary == "" {
				t.Error("Summary is empty")
			}
			if s.Example == "" {
				t.Fatal("Example is empty")
			}
			if s.Changing && !strings.Contains(s.Usage, "--") {
				t.Errorf("changing verb's Usage %q does not show -- <reason>", s.Usage)
			}
			if got, ok := Lookup(s.Verb); !ok || got.Verb != s.Verb {
				t.Errorf("Lookup(%q) = %+v, %v", s.Verb, got, ok)
			}
			example := strings.TrimPrefix(s.Example, "/ory ")
			cmd, err := Parse(example)
			if err != nil {
				t.Fatalf("Parse(Example %q) error = %v", example, err)
			}
			if cmd.Verb != s.Verb {
				t.Errorf("Parse(Example %q).Verb = %q, want %q", example, cmd.Verb, s.Verb)
			}
		})
	}
}

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		testUUID:                               true,
		strings.ToUpper(testUUID):              true,
		"":                                     false,
		testUUID + "0":                         false,
		strings.ReplaceAll(testUUID, "-", ""):  false,
		"0b1e8f4c-3d2a-4c5b-9e6f-7a8b9c0d1e2g": false,
		" " + testUUID:                         false,
	} {
		if got := IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"help",
		"HELP -- x",
		"deactivate " + testUUID + " -- phished",
		"deactivate " + strings.ToUpper(testUUID) + " — phished -- twice",
		"deactivate <mailto:a@b.c|a@b.c> – phished",
		"deactivate alice@example.com --",
		"deactivate alice -- x",
		"deactivate a@b.c extra -- x",
		"deactivate\u00a0a@b.c\u2003--\u3000x",
		"nuke everything",
		"deactivate a@b.c -- " + strings.Repeat("x", MaxReasonLen+1),
	} {
		f.Add(s)
	}
	sentinels := []error{ErrEmpty, ErrUnknownVerb, ErrMissingTarget, ErrBadTarget, ErrExtraArgs, ErrReasonRequired, ErrReasonTooLong}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := Parse(text)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error = %T %v, want *ParseError", text, err, err)
			}
			known := false
			for _, s := range sentinels {
				if pe.Err == s {
					known = true
				}
			}
			if !known {
				t.Fatalf("Parse(%q) error wraps %v, not a sentinel", text, pe.Err)
			}
			return
		}
		spec, ok := Lookup(cmd.Verb)
		if !ok {
			t.Fatalf("Parse(%q).Verb = %q, not a known verb", text, cmd.Verb)
		}
		if spec.Changing && cmd.Reason == "" {
			t.Fatalf("Parse(%q) = %+v: changing verb without a reason", text, cmd)
		}
		if n := utf8.RuneCountInString(cmd.Reason); n > MaxReasonLen {
			t.Fatalf("Parse(%q) reason has %d runes, more than %d", text, n, MaxReasonLen)
		}
		if cmd.Reason != strings.TrimSpace(cmd.Reason) {
			t.Fatalf("Parse(%q) reason %q has surrounding space", text, cmd.Reason)
		}
		switch cmd.TargetKind {
		case ByID:
			if !IsUUID(cmd.Target) || cmd.Target != strings.ToLower(cmd.Target) {
				t.Fatalf("Parse(%q) ByID target %q is not a lower-case UUID", text, cmd.Target)
			}
		case ByEmail:
			if !strings.Contains(cmd.Target, "@") || strings.ContainsFunc(cmd.Target, unicode.IsSpace) {
				t.Fatalf("Parse(%q) ByEmail target %q is not an address", text, cmd.Target)
			}
		case ByRequestID:
			if spec.Target != Request || !requestRE.MatchString(cmd.Target) {
				t.Fatalf("Parse(%q) request id %q is not a request id", text, cmd.Target)
			}
		case NoTarget:
			if spec.Target != NoArg || cmd.Target != "" {
				t.Fatalf("Parse(%q) = %+v: target kind does not match the spec", text, cmd)
			}
		}
		// Parse drops NUL and replaces invalid UTF-8 before anything else.
		clean := strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\x00", "")
		if want, _ := refReason(clean); cmd.Reason != want {
			t.Fatalf("Parse(%q).Reason = %q, want %q (the text after the first separator word)", text, cmd.Reason, want)
		}
	})
}

// refReason is a plain restatement of the reason rule: the trimmed text after
// the first word that is "--", "—" or "–". FuzzParse checks Parse against it.
func refReason(text string) (string, bool) {
	start := -1 // byte offset of the current word, or -1 between words
	for i, r := range text + " " {
		if !unicode.IsSpace(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			switch text[start:min(i, len(text))] {
			case "--", "—", "–":
				return strings.TrimSpace(text[min(i, len(text)):]), true
			}
			start = -1
		}
	}
	return "", false
}
