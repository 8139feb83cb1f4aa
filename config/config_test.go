package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests change the process environment with t.Setenv, so none of them
// may call t.Parallel.

// keys lists every variable Load reads.
var keys = []string{
	"SLACK_BOT_TOKEN",
	"SLACK_APP_TOKEN",
	"SLACK_API_URL",
	"ORY_ADMIN_URL",
	"ORY_API_KEY",
	"ORYBOT_AUDIT_CHANNEL",
	"ORYBOT_APPROVERS",
	"ORYBOT_DATABASE_URL",
	"ORYBOT_REQUEST_TTL",
	"ORYBOT_LOG_LEVEL",
	"ORYBOT_RECOVERY_TTL",
	"ORYBOT_REQUESTERS",
	"ORYBOT_CHANNELS",
	"ORYBOT_APPROVALS_REQUIRED",
	"ORYBOT_GROUP_CACHE_TTL",
	"ORYBOT_SWEEP_INTERVAL",
}

// Distinctive secret values, so that a leak into an error is easy to spot.
const (
	botToken = "xoxb-SECRET123"
	appToken = "xapp-SECRET456"
	apiKey   = "ory_pat_SECRET789"
)

var secrets = []string{"SECRET123", "SECRET456", "SECRET789"}

// validEnv returns the smallest valid environment: the required variables
// for an Ory Network project.
func validEnv() map[string]string {
	return map[string]string{
		"SLACK_BOT_TOKEN":      botToken,
		"SLACK_APP_TOKEN":      appToken,
		"ORY_ADMIN_URL":        "https://acme.projects.oryapis.com",
		"ORY_API_KEY":          apiKey,
		"ORYBOT_AUDIT_CHANNEL": "C0123456789",
		"ORYBOT_APPROVERS":     "U0123ABC,S0456DEF",
	}
}

// setEnv makes env the whole of orybot's environment: every variable in keys
// that env does not mention is unset, not merely empty, so that defaults
// apply. t.Setenv restores the old values when the test ends.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := env[k]; ok {
			t.Setenv(k, v)
			continue
		}
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}

// with returns a copy of validEnv changed by set, with the variables in
// unset removed.
func with(set map[string]string, unset ...string) map[string]string {
	env := validEnv()
	for k, v := range set {
		env[k] = v
	}
	for _, k := range unset {
		delete(env, k)
	}
	return env
}

// errorKeys returns the variables an error from Load names, one per line,
// sorted and without repeats.
func errorKeys(t *testing.T, err error) []string {
	t.Helper()
	var got []string
	for line := range strings.Lines(err.Error()) {
		key, _, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(keys, key) {
			t.Errorf("error line %q does not start with a variable name", line)
			continue
		}
		got = append(got, key)
	}
	slices.Sort(got)
	return slices.Compact(got)
}

func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error reveals the secret %q:\n%v", s, err)
		}
	}
}

func TestLoad(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{
			name: "defaults",
			env:  validEnv(),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				OryAdminURL:   "https://acme.projects.oryapis.com",
				OryAPIKey:     apiKey,
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    time.Hour,
				RecoveryTTL:   time.Hour,
				GroupCacheTTL: 5 * time.Minute,
				SweepInterval: 20 * time.Second,
				LogLevel:      "info",
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"SLACK_BOT_TOKEN":           botToken,
				"SLACK_APP_TOKEN":           appToken,
				"SLACK_API_URL":             "http://localhost:8080/api",
				"ORY_ADMIN_URL":             "http://kratos:4434",
				"ORY_API_KEY":               apiKey,
				"ORYBOT_AUDIT_CHANNEL":      "G0123ABC",
				"ORYBOT_APPROVERS":          "W0123ABC",
				"ORYBOT_DATABASE_URL":       "/var/lib/orybot/orybot.db",
				"ORYBOT_REQUEST_TTL":        "30m",
				"ORYBOT_RECOVERY_TTL":       "15m",
				"ORYBOT_REQUESTERS":         "U0REQ1, S0GRP1",
				"ORYBOT_CHANNELS":           "C0OPS1,G0SEC1",
				"ORYBOT_APPROVALS_REQUIRED": "lockout:2, Recovery:1",
				"ORYBOT_LOG_LEVEL":          "DEBUG",
			},
			want: Config{
				SlackBotToken:     botToken,
				SlackAppToken:     appToken,
				SlackAPIURL:       "http://localhost:8080/api/",
				OryAdminURL:       "http://kratos:4434",
				OryAPIKey:         apiKey,
				AuditChannel:      "G0123ABC",
				Approvers:         []string{"W0123ABC"},
				DatabaseURL:       "/var/lib/orybot/orybot.db",
				RequestTTL:        30 * time.Minute,
				RecoveryTTL:       15 * time.Minute,
				GroupCacheTTL:     5 * time.Minute,
				SweepInterval:     20 * time.Second,
				Requesters:        []string{"U0REQ1", "S0GRP1"},
				Channels:          []string{"C0OPS1", "G0SEC1"},
				ApprovalsRequired: map[string]int{"lockout": 2, "recovery": 1},
				LogLevel:          "debug",
			},
		},
		{
			name: "slack api url with slash is kept",
			env:  with(map[string]string{"SLACK_API_URL": "https://slack.com/api/"}),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				SlackAPIURL:   "https://slack.com/api/",
				OryAdminURL:   "https://acme.projects.oryapis.com",
				OryAPIKey:     apiKey,
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    time.Hour,
				RecoveryTTL:   time.Hour,
				GroupCacheTTL: 5 * time.Minute,
				SweepInterval: 20 * time.Second,
				LogLevel:      "info",
			},
		},
		{
			name: "kratos needs no api key",
			env:  with(map[string]string{"ORY_ADMIN_URL": "http://kratos:4434"}, "ORY_API_KEY"),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				OryAdminURL:   "http://kratos:4434",
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    time.Hour,
				RecoveryTTL:   time.Hour,
				GroupCacheTTL: 5 * time.Minute,
				SweepInterval: 20 * time.Second,
				LogLevel:      "info",
			},
		},
		{
			name: "approvers are trimmed and empties dropped",
			env:  with(map[string]string{"ORYBOT_APPROVERS": " U0123ABC, S0456DEF,, "}),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				OryAdminURL:   "https://acme.projects.oryapis.com",
				OryAPIKey:     apiKey,
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    time.Hour,
				RecoveryTTL:   time.Hour,
				GroupCacheTTL: 5 * time.Minute,
				SweepInterval: 20 * time.Second,
				LogLevel:      "info",
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			got, err := Load()
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string // the variables the error names, sorted
	}{
		// Each required variable missing.
		{name: "no bot token", env: with(nil, "SLACK_BOT_TOKEN"), want: []string{"SLACK_BOT_TOKEN"}},
		{name: "no app token", env: with(nil, "SLACK_APP_TOKEN"), want: []string{"SLACK_APP_TOKEN"}},
		{name: "no ory url", env: with(nil, "ORY_ADMIN_URL"), want: []string{"ORY_ADMIN_URL"}},
		{name: "no api key for ory network", env: with(nil, "ORY_API_KEY"), want: []string{"ORY_API_KEY"}},
		{name: "no audit channel", env: with(nil, "ORYBOT_AUDIT_CHANNEL"), want: []string{"ORYBOT_AUDIT_CHANNEL"}},
		{name: "no approvers", env: with(nil, "ORYBOT_APPROVERS"), want: []string{"ORYBOT_APPROVERS"}},
		{name: "only empty approvers", env: with(map[string]string{"ORYBOT_APPROVERS": " , ,"}), want: []string{"ORYBOT_APPROVERS"}},
		{name: "empty bot token", env: with(map[string]string{"SLACK_BOT_TOKEN": ""}), want: []string{"SLACK_BOT_TOKEN"}},

		// Malformed values.
		{name: "user token as bot token", env: with(map[string]string{"SLACK_BOT_TOKEN": "xoxp-SECRET123"}), want: []string{"SLACK_BOT_TOKEN"}},
		{name: "app token as bot token", env: with(map[string]string{"SLACK_BOT_TOKEN": appToken}), want: []string{"SLACK_BOT_TOKEN"}},
		{name: "bot token as app token", env: with(map[string]string{"SLACK_APP_TOKEN": "xoxb-SECRET456"}), want: []string{"SLACK_APP_TOKEN"}},
		{name: "tokens swapped", env: with(map[string]string{"SLACK_BOT_TOKEN": appToken, "SLACK_APP_TOKEN": botToken}), want: []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"}},
		{name: "relative slack api url", env: with(map[string]string{"SLACK_API_URL": "slack.com/api"}), want: []string{"SLACK_API_URL"}},
		{name: "ory url not http", env: with(map[string]string{"ORY_ADMIN_URL": "ftp://kratos:4434"}), want: []string{"ORY_ADMIN_URL"}},
		{name: "ory url without scheme", env: with(map[string]string{"ORY_ADMIN_URL": "kratos:4434"}), want: []string{"ORY_ADMIN_URL"}},
		{name: "ory url without host", env: with(map[string]string{"ORY_ADMIN_URL": "https://"}), want: []string{"ORY_ADMIN_URL"}},
		{name: "ory network with empty api key", env: with(map[string]string{"ORY_API_KEY": ""}), want: []string{"ORY_API_KEY"}},
		{name: "audit channel name", env: with(map[string]string{"ORYBOT_AUDIT_CHANNEL": "#security"}), want: []string{"ORYBOT_AUDIT_CHANNEL"}},
		{name: "audit channel is a user", env: with(map[string]string{"ORYBOT_AUDIT_CHANNEL": "U0123ABC"}), want: []string{"ORYBOT_AUDIT_CHANNEL"}},
		{name: "approver name", env: with(map[string]string{"ORYBOT_APPROVERS": "alice"}), want: []string{"ORYBOT_APPROVERS"}},
		{name: "one bad approver", env: with(map[string]string{"ORYBOT_APPROVERS": "U0123ABC, <@U0456DEF>"}), want: []string{"ORYBOT_APPROVERS"}},
		{name: "ttl not a duration", env: with(map[string]string{"ORYBOT_REQUEST_TTL": "abc"}), want: []string{"ORYBOT_REQUEST_TTL"}},
		{name: "ttl negative", env: with(map[string]string{"ORYBOT_REQUEST_TTL": "-5m"}), want: []string{"ORYBOT_REQUEST_TTL"}},
		{name: "requester not an id", env: with(map[string]string{"ORYBOT_REQUESTERS": "U0REQ1,bob"}), want: []string{"ORYBOT_REQUESTERS"}},
		{name: "channel name instead of id", env: with(map[string]string{"ORYBOT_CHANNELS": "#ops"}), want: []string{"ORYBOT_CHANNELS"}},
		{name: "approvals for an unknown verb", env: with(map[string]string{"ORYBOT_APPROVALS_REQUIRED": "nuke:2"}), want: []string{"ORYBOT_APPROVALS_REQUIRED"}},
		{name: "approvals for a read-only verb", env: with(map[string]string{"ORYBOT_APPROVALS_REQUIRED": "show:2"}), want: []string{"ORYBOT_APPROVALS_REQUIRED"}},
		{name: "approvals count zero", env: with(map[string]string{"ORYBOT_APPROVALS_REQUIRED": "lockout:0"}), want: []string{"ORYBOT_APPROVALS_REQUIRED"}},
		{name: "approvals without count", env: with(map[string]string{"ORYBOT_APPROVALS_REQUIRED": "lockout"}), want: []string{"ORYBOT_APPROVALS_REQUIRED"}},
		{name: "recovery ttl malformed", env: with(map[string]string{"ORYBOT_RECOVERY_TTL": "soon"}), want: []string{"ORYBOT_RECOVERY_TTL"}},
		{name: "ttl zero", env: with(map[string]string{"ORYBOT_REQUEST_TTL": "0s"}), want: []string{"ORYBOT_REQUEST_TTL"}},
		{name: "log level", env: with(map[string]string{"ORYBOT_LOG_LEVEL": "loud"}), want: []string{"ORYBOT_LOG_LEVEL"}},

		// Validate reports every problem, not just the first.
		{
			name: "several problems",
			env: with(map[string]string{
				"ORYBOT_AUDIT_CHANNEL": "#security",
				"ORYBOT_LOG_LEVEL":     "loud",
			}, "SLACK_BOT_TOKEN", "ORY_API_KEY"),
			want: []string{"ORYBOT_AUDIT_CHANNEL", "ORYBOT_LOG_LEVEL", "ORY_API_KEY", "SLACK_BOT_TOKEN"},
		},
		{name: "empty environment", env: nil, want: []string{"ORYBOT_APPROVERS", "ORYBOT_AUDIT_CHANNEL", "ORY_ADMIN_URL", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			_, err := Load()
			if err == nil {
				t.Fatalf("Load() error = nil, want one naming %v", tt.want)
			}
			if diff := cmp.Diff(tt.want, errorKeys(t, err)); diff != "" {
				t.Errorf("Load() error names the wrong variables (-want +got):\n%s\nerror:\n%v", diff, err)
			}
			checkNoSecrets(t, err)
		})
	}
}

// TestLoadNeverRevealsSecrets breaks the environment in every way the tests
// know, always with the secrets present, and checks that no error repeats
// them. The malformed TTL matters most: envconfig's own error carries the
// value of every variable it fails on.
func TestLoadNeverRevealsSecrets(t *testing.T) {
	breakages := []map[string]string{
		{"ORYBOT_REQUEST_TTL": "abc"},
		{"ORYBOT_REQUEST_TTL": "-5m"},
		{"ORYBOT_REQUEST_TTL": "SECRET123"},
		{"SLACK_BOT_TOKEN": "xoxp-SECRET123"},
		{"SLACK_BOT_TOKEN": "x" + botToken},
		{"SLACK_APP_TOKEN": "SECRET456"},
		{"SLACK_BOT_TOKEN": appToken, "SLACK_APP_TOKEN": botToken},
		{"ORY_ADMIN_URL": "https://" + apiKey + "@acme.projects.oryapis.com:bad"},
		{"ORY_ADMIN_URL": apiKey},
		{"SLACK_API_URL": "https://user:" + botToken + "@slack.example:bad/api"},
		{"ORYBOT_AUDIT_CHANNEL": "#security", "ORYBOT_APPROVERS": "alice", "ORYBOT_LOG_LEVEL": "loud"},
	}
	for i, b := range breakages {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			setEnv(t, with(b))
			_, err := Load()
			if err == nil {
				t.Fatalf("Load() with %q: error = nil, want an error", b)
			}
			checkNoSecrets(t, err)
		})
	}
}
