package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// Errors the bot knows become a specific sentence, whatever wraps them.
func TestKnownErrorsInWords(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refusal", refuse("test", "No, because."), "No, because."},
		{"undelivered secret", &deliveryError{err: slack.SlackErrorResponse{Err: "user_not_in_channel"}},
			"The recovery secret was created but *not sent*: Slack refused the direct message to the requester (user_not_in_channel)."},
		{"no identity with email", &targetError{target: "a@example.com", byEmail: true, err: ory.ErrNotFound}, "No identity in Ory has the email `a@example.com`"},
		{"no identity with id", &targetError{target: "8f3c", err: ory.ErrNotFound}, "Ory has no identity with id `8f3c`"},
		{"ambiguous email", &ory.AmbiguousError{Op: "find", Count: 3}, "That email matches 3 identities"},
		{"invalid id", &ory.Error{Status: 400, Err: ory.ErrInvalidID}, "That is not a valid Ory id"},
		{"slack rate limit", &slack.RateLimitedError{RetryAfter: 30 * time.Second}, "Slack is rate-limiting the bot. Try again in 30s."},
		{"slack server error", slack.StatusCodeError{Code: 502, Status: "502 Bad Gateway"}, "Slack had a server error (HTTP 502)"},
		{"not in channel", slack.SlackErrorResponse{Err: "not_in_channel"}, "I'm not a member of this channel. Invite me with `/invite @orybot`"},
		{"channel not found", slack.SlackErrorResponse{Err: "channel_not_found"}, "I'm not a member of this channel."},
		{"missing scope", slack.SlackErrorResponse{Err: "missing_scope", Needed: "chat:write"}, "lacks a permission it needs (chat:write)"},
		{"no such group", &groupListError{setting: "ORYBOT_APPROVERS", err: slack.SlackErrorResponse{Err: "no_such_subteam"}}, "Slack could not list a user group in ORYBOT_APPROVERS (no_such_subteam)"},
		{"no such group, setting unknown", slack.SlackErrorResponse{Err: "no_such_subteam"}, "in ORYBOT_APPROVERS or ORYBOT_REQUESTERS (no_such_subteam)"},
		{"no groups on the plan", slack.SlackErrorResponse{Err: "plan_upgrade_required"}, "(plan_upgrade_required)"},
		{"other slack error", slack.SlackErrorResponse{Err: "team_access_not_granted"}, "Slack answered with the error `team_access_not_granted`"},
	}
	for _, tt := range tests {
		got, known := userWords(fmt.Errorf("some op: %w", tt.err))
		if !known || !strings.Contains(got, tt.want) {
			t.Errorf("%s: userWords = %q, %v; want words containing %q", tt.name, got, known, tt.want)
		}
	}
	for _, err := range []error{errors.New("disk on fire"), store.ErrNotFound, context.DeadlineExceeded} {
		if got, known := userWords(err); known || got != "" {
			t.Errorf("userWords(%v) = %q, %v; want it unknown", err, got, known)
		}
	}
}

// An unknown error gets a reference that the log line repeats, so that an
// admin can find the details; a known one is logged as a refusal.
func TestDescribe(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b := New(testLogger(t), nil, Deps{}, testConfig())

	got := b.describe(errors.New("disk on fire"), "load request", log)
	m := regexp.MustCompile("reference `([0-9a-f]{8})`").FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("describe = %q, want an internal error with a reference", got)
	}
	mustNotContain(t, "describe", got, "disk on fire")
	mustContain(t, "log", logs.String(), "level=ERROR", "ref="+m[1], "disk on fire", "op=\"load request\"")

	logs.Reset()
	if got := b.describe(refuse("test", "No."), "check", log); got != "No." {
		t.Errorf("describe(refusal) = %q, want its words", got)
	}
	mustContain(t, "log", logs.String(), "level=INFO", "refused")
	if b.describe(errors.New("x"), "op", log) == got {
		t.Error("two internal errors got the same reference")
	}
}

func TestSlackErrorName(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{slack.SlackErrorResponse{Err: "not_in_channel"}, "not_in_channel"},
		{slack.StatusCodeError{Code: 500, Status: "500 Internal Server Error"}, "500 Internal Server Error"},
		{&slack.RateLimitedError{RetryAfter: time.Second}, "rate limited"},
		{errors.New("dial tcp: connection refused"), "network error"},
	}
	for _, tt := range tests {
		if got := slackErrorName(fmt.Errorf("post: %w", tt.err)); got != tt.want {
			t.Errorf("slackErrorName(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// groupError explains the group failures an operator can fix, and keeps
// the error it explains.
func TestGroupError(t *testing.T) {
	tests := []struct {
		slackErr string
		want     string
	}{
		{"plan_upgrade_required", "name users (U…) instead of groups (S…)"},
		{"no_such_subteam", "no such Slack user group (no_such_subteam); check the S… ids"},
		{"missing_scope", "lacks the usergroups:read scope"},
		{"ratelimited", ""},
	}
	for _, tt := range tests {
		err := fmt.Errorf("list members of user group S1: %w", slack.SlackErrorResponse{Err: tt.slackErr})
		got := groupError(err)
		if tt.want == "" {
			if got != err {
				t.Errorf("groupError(%v) = %v, want it unchanged", err, got)
			}
			continue
		}
		mustContain(t, "groupError", got.Error(), tt.want)
		if !errors.Is(got, err) {
			t.Errorf("groupError(%v) lost the error it explains", err)
		}
	}
	if err := errors.New("timeout"); groupError(err) != err {
		t.Errorf("groupError changed a non-Slack error")
	}
}

func TestNotInChannel(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
		hint string
	}{
		{slack.SlackErrorResponse{Err: "not_in_channel"}, true, "invite the bot"},
		{fmt.Errorf("post: %w", slack.SlackErrorResponse{Err: "channel_not_found"}), true, "invite the bot"},
		{slack.SlackErrorResponse{Err: "ratelimited"}, false, "resumes by itself"},
		{errors.New("network"), false, "resumes by itself"},
	} {
		if got := isNotInChannel(tt.err); got != tt.want {
			t.Errorf("isNotInChannel(%v) = %v, want %v", tt.err, got, tt.want)
		}
		mustContain(t, "deliveryHint", deliveryHint(tt.err), tt.hint)
	}
}

// The bot's own error types say what happened and keep their cause.
func TestErrorTypes(t *testing.T) {
	te := &targetError{target: "a@example.com", byEmail: true, err: ory.ErrNotFound}
	if !errors.Is(te, ory.ErrNotFound) || !strings.Contains(te.Error(), "no identity matches the target") {
		t.Errorf("targetError: %q, Is(ErrNotFound) = %v", te, errors.Is(te, ory.ErrNotFound))
	}
	de := &deliveryError{err: slack.SlackErrorResponse{Err: "user_not_in_channel"}}
	var se slack.SlackErrorResponse
	if !errors.As(de, &se) || se.Err != "user_not_in_channel" || !strings.Contains(de.Error(), "deliver recovery secret to requester: user_not_in_channel") {
		t.Errorf("deliveryError: %q, As(SlackErrorResponse) = %v", de, se.Err)
	}
}

// A user group Slack cannot list stops the bot at start, naming the
// setting and what to do, before it connects.
func TestRunFailsOnABadUserGroup(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*slacktest.Server)
		cfg   func(*Config)
		want  []string
	}{
		{
			name: "unknown approver group",
			cfg:  func(c *Config) { c.Approvers = []string{"UAPP", "SNOPE"} },
			want: []string{"ORYBOT_APPROVERS: ", "no_such_subteam", "check the S… ids"},
		},
		{
			name:  "workspace without groups",
			setup: func(fs *slacktest.Server) { fs.SetPlanUpgradeRequired(true) },
			cfg:   func(c *Config) { c.Approvers = []string{"SAPPROVERS"} },
			want:  []string{"ORYBOT_APPROVERS: ", "plan_upgrade_required", "name users (U…)"},
		},
		{
			name:  "unknown requester group",
			setup: func(fs *slacktest.Server) { fs.SetUserGroup("SAPPROVERS", "UAPP") },
			cfg:   func(c *Config) { c.Approvers, c.Requesters = []string{"SAPPROVERS"}, []string{"SNOPE"} },
			want:  []string{"ORYBOT_REQUESTERS: ", "no_such_subteam"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := slacktest.New(t)
			if tt.setup != nil {
				tt.setup(fs)
			}
			cfg := testConfig()
			tt.cfg(&cfg)
			api := slack.New(slacktest.BotToken, slack.OptionAPIURL(fs.APIURL()), slack.OptionAppLevelToken(slacktest.AppToken))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := New(testLogger(t), api, testDeps(&fakeOry{}, nil), cfg).Run(ctx)
			if err == nil {
				t.Fatal("Run succeeded, want it to fail at start")
			}
			mustContain(t, "Run error", err.Error(), tt.want...)
			if n := fs.Connections(); n != 0 {
				t.Errorf("the bot connected %d times, want it to stop before connecting", n)
			}
		})
	}
}

// statusWords is the one place a status becomes words: the card line names
// who decided and what happened, the late line what became of the request.
func TestStatusWords(t *testing.T) {
	tests := []struct {
		status     store.Status
		result     string
		reason     string
		card, late string
	}{
		{store.StatusApproved, "", "", "Approved by <@UAPP>; running…", "was already approved by <@UAPP>; the action is running."},
		{store.StatusApproved, "retrying (attempt 2)", "", "Approved by <@UAPP>; retrying (attempt 2)", "the action is running"},
		{store.StatusDone, "✓ done it", "", "*Done*, approved by <@UAPP>:\n✓ done it", "was already approved by <@UAPP> and is done."},
		{store.StatusFailed, "✗ no", "", "*Failed*, approved by <@UAPP>:\n✗ no", "and the action failed."},
		{store.StatusStale, "it changed", "", "*Not run*, approved by <@UAPP>: it changed", "but the identity had changed, so nothing was done."},
		{store.StatusDenied, "", "", "*Denied* by <@UAPP>. Nothing was changed.", "was already denied by <@UAPP>."},
		{store.StatusDenied, "", "not needed.", "*Denied* by <@UAPP>: not needed. Nothing was changed.", "was already denied by <@UAPP>."},
		{store.StatusCancelled, "", "", "*Cancelled* by the requester. Nothing was changed.", "was cancelled by its requester."},
		{store.StatusExpired, "", "", "*Expired* without a decision. Nothing was changed.", "has expired and can no longer be decided."},
		{store.Status("archived"), "", "", "archived", "is no longer pending (archived)."},
	}
	for _, tt := range tests {
		r := &store.Request{ID: "abcd2345ef", Status: tt.status, Approver: "UAPP", Result: tt.result, DecisionReason: tt.reason}
		card, late := statusWords(r)
		if !strings.Contains(card, tt.card) || !strings.HasPrefix(late, "Request `abcd2345ef` ") || !strings.Contains(late, tt.late) {
			t.Errorf("statusWords(%s, %q, %q) =\n%q,\n%q\nwant %q and %q", tt.status, tt.result, tt.reason, card, late, tt.card, tt.late)
		}
	}
}

// The caches keep what Slack answered for their ttl, fetch again after it,
// and do not keep errors.
func TestCache(t *testing.T) {
	c := &clock{now: time.Now()}
	var fetched []string
	fail := false
	cache := newCache(func(_ context.Context, key string) (string, error) {
		fetched = append(fetched, key)
		if fail {
			return "", errors.New("slack down")
		}
		return key + "@example.com", nil
	}, time.Minute, c.Now)
	get := func(key, want string) {
		t.Helper()
		got, err := cache.get(t.Context(), key)
		if want == "" {
			if err == nil {
				t.Errorf("get(%s) = %q, want an error", key, got)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("get(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	get("a", "a@example.com")
	get("a", "a@example.com")
	get("b", "b@example.com")
	c.advance(time.Minute)
	fail = true
	get("a", "")
	fail = false
	get("a", "a@example.com")
	get("a", "a@example.com")
	if want := []string{"a", "b", "a", "a"}; strings.Join(fetched, ",") != strings.Join(want, ",") {
		t.Errorf("fetched %q, want %q", fetched, want)
	}
}
