package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kelseyhightower/envconfig"
)

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
	"ORYBOT_LISTEN_ADDR",
	"ORY_SDK_URL",
	"ORY_PROJECT_SLUG",
	"ORYBOT_ACTION_TIMEOUT",
	"ORYBOT_ALLOWED_TEAMS",
	"ORYBOT_AUDIT_MAX_LAG",
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

// getenv returns a getenv for Load that sees only env: every variable it
// does not mention is unset, so that defaults apply.
func getenv(env map[string]string) func(string) string {
	return func(key string) string { return env[key] }
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
				RequestTTL:    Duration(time.Hour),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				LogLevel:      "info",
				ListenAddr:    ":8080",
				WorkTimeout:   2 * time.Minute,
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
				"ORYBOT_ALLOWED_TEAMS":      "T0ABC, E0GRID",
				"ORYBOT_AUDIT_MAX_LAG":      "5m",
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
				RequestTTL:        Duration(30 * time.Minute),
				RecoveryTTL:       Duration(15 * time.Minute),
				GroupCacheTTL:     Duration(5 * time.Minute),
				SweepInterval:     Duration(20 * time.Second),
				ActionTimeout:     Duration(90 * time.Second),
				AuditMaxLag:       Duration(5 * time.Minute),
				Requesters:        []string{"U0REQ1", "S0GRP1"},
				Channels:          []string{"C0OPS1", "G0SEC1"},
				ApprovalsRequired: map[string]int{"lockout": 2, "recovery": 1},
				AllowedTeams:      []string{"T0ABC", "E0GRID"},
				LogLevel:          "debug",
				ListenAddr:        ":8080",
				WorkTimeout:       2 * time.Minute,
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
				RequestTTL:    Duration(time.Hour),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				LogLevel:      "info",
				ListenAddr:    ":8080",
				WorkTimeout:   2 * time.Minute,
			},
		},
		{
			name: "blank variables take their defaults",
			env: with(map[string]string{
				"SLACK_API_URL":             " ",
				"ORYBOT_REQUESTERS":         "",
				"ORYBOT_CHANNELS":           "\t",
				"ORYBOT_APPROVALS_REQUIRED": " ",
				"ORYBOT_DATABASE_URL":       "  ",
				"ORYBOT_REQUEST_TTL":        " ",
				"ORYBOT_RECOVERY_TTL":       "",
				"ORYBOT_GROUP_CACHE_TTL":    " ",
				"ORYBOT_SWEEP_INTERVAL":     " ",
				"ORYBOT_ACTION_TIMEOUT":     " ",
				"ORYBOT_LOG_LEVEL":          " ",
			}),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				OryAdminURL:   "https://acme.projects.oryapis.com",
				OryAPIKey:     apiKey,
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    Duration(time.Hour),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				LogLevel:      "info",
				ListenAddr:    ":8080",
				WorkTimeout:   2 * time.Minute,
			},
		},
		{
			name: "values are trimmed",
			env: with(map[string]string{
				"SLACK_BOT_TOKEN":      " " + botToken + " ",
				"ORYBOT_AUDIT_CHANNEL": " C0123456789\n",
				"ORYBOT_REQUEST_TTL":   " 30m ",
				"ORYBOT_LOG_LEVEL":     " Warn ",
			}),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				OryAdminURL:   "https://acme.projects.oryapis.com",
				OryAPIKey:     apiKey,
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    Duration(30 * time.Minute),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				LogLevel:      "warn",
				ListenAddr:    ":8080",
				WorkTimeout:   2 * time.Minute,
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
				RequestTTL:    Duration(time.Hour),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				LogLevel:      "info",
				ListenAddr:    ":8080",
				WorkTimeout:   2 * time.Minute,
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
				RequestTTL:    Duration(time.Hour),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				LogLevel:      "info",
				ListenAddr:    ":8080",
				WorkTimeout:   2 * time.Minute,
			},
		},
		{
			name: "ory network by ORY_SDK_URL, HTTP endpoints off",
			env:  with(map[string]string{"ORY_SDK_URL": "https://acme.projects.oryapis.com", "ORYBOT_LISTEN_ADDR": "OFF"}, "ORY_ADMIN_URL"),
			want: Config{
				SlackBotToken: botToken,
				SlackAppToken: appToken,
				OryAdminURL:   "https://acme.projects.oryapis.com",
				OrySDKURL:     "https://acme.projects.oryapis.com",
				OryAPIKey:     apiKey,
				AuditChannel:  "C0123456789",
				Approvers:     []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:   "orybot.db",
				RequestTTL:    Duration(time.Hour),
				RecoveryTTL:   Duration(time.Hour),
				GroupCacheTTL: Duration(5 * time.Minute),
				SweepInterval: Duration(20 * time.Second),
				LogLevel:      "info",
				ActionTimeout: Duration(90 * time.Second),
				AuditMaxLag:   Duration(15 * time.Minute),
				WorkTimeout:   2 * time.Minute,
			},
		},
		{
			name: "ory network by ORY_PROJECT_SLUG",
			env:  with(map[string]string{"ORY_PROJECT_SLUG": "acme-prod", "ORYBOT_LISTEN_ADDR": "127.0.0.1:9090"}, "ORY_ADMIN_URL"),
			want: Config{
				SlackBotToken:  botToken,
				SlackAppToken:  appToken,
				OryAdminURL:    "https://acme-prod.projects.oryapis.com",
				OryProjectSlug: "acme-prod",
				OryAPIKey:      apiKey,
				AuditChannel:   "C0123456789",
				Approvers:      []string{"U0123ABC", "S0456DEF"},
				DatabaseURL:    "orybot.db",
				RequestTTL:     Duration(time.Hour),
				RecoveryTTL:    Duration(time.Hour),
				GroupCacheTTL:  Duration(5 * time.Minute),
				SweepInterval:  Duration(20 * time.Second),
				LogLevel:       "info",
				ListenAddr:     "127.0.0.1:9090",
				ActionTimeout:  Duration(90 * time.Second),
				AuditMaxLag:    Duration(15 * time.Minute),
				WorkTimeout:    2 * time.Minute,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(getenv(tt.env))
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
		{name: "blank bot token", env: with(map[string]string{"SLACK_BOT_TOKEN": "  "}), want: []string{"SLACK_BOT_TOKEN"}},
		{name: "blank audit channel", env: with(map[string]string{"ORYBOT_AUDIT_CHANNEL": " "}), want: []string{"ORYBOT_AUDIT_CHANNEL"}},

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
		{name: "sweep interval malformed", env: with(map[string]string{"ORYBOT_SWEEP_INTERVAL": "often"}), want: []string{"ORYBOT_SWEEP_INTERVAL"}},
		{name: "action timeout malformed", env: with(map[string]string{"ORYBOT_ACTION_TIMEOUT": "long"}), want: []string{"ORYBOT_ACTION_TIMEOUT"}},
		{name: "action timeout not shorter than the work deadline", env: with(map[string]string{"ORYBOT_ACTION_TIMEOUT": "2m"}), want: []string{"ORYBOT_ACTION_TIMEOUT"}},
		{name: "group cache ttl negative", env: with(map[string]string{"ORYBOT_GROUP_CACHE_TTL": "-1m"}), want: []string{"ORYBOT_GROUP_CACHE_TTL"}},
		{name: "approvals count above ten", env: with(map[string]string{"ORYBOT_APPROVALS_REQUIRED": "lockout:11"}), want: []string{"ORYBOT_APPROVALS_REQUIRED"}},

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
			_, err := Load(getenv(tt.env))
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
			_, err := Load(getenv(with(b)))
			if err == nil {
				t.Fatalf("Load() with %q: error = nil, want an error", b)
			}
			checkNoSecrets(t, err)
		})
	}
}

// TestLoadErrorText pins the wording of some errors: one line per problem,
// each "NAME: what it expects", and a bad list item named by its place.
func TestLoadErrorText(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{
			name: "empty environment",
			env:  nil,
			want: `SLACK_BOT_TOKEN: required: the bot token (xoxb-…) from the Slack app's OAuth & Permissions page
SLACK_APP_TOKEN: required: an app-level token (xapp-…) with connections:write, from the Slack app's Basic Information page
ORYBOT_AUDIT_CHANNEL: required: a Slack channel id such as C0123456789 (not a channel name)
ORYBOT_APPROVERS: required: comma-separated Slack user ids (U…, W…) and user-group ids (S…)
ORY_ADMIN_URL: required: an http(s) URL, the Ory Network project URL (https://<slug>.projects.oryapis.com) or a Kratos admin URL (http://kratos:4434); or set ORY_SDK_URL or ORY_PROJECT_SLUG instead`,
		},
		{
			name: "bad ory project and listen address",
			env:  with(map[string]string{"ORY_PROJECT_SLUG": "Acme_Prod!", "ORYBOT_LISTEN_ADDR": "8080"}, "ORY_ADMIN_URL"),
			want: `ORYBOT_LISTEN_ADDR: an address such as :8080 or 127.0.0.1:8080, or off
ORY_PROJECT_SLUG: optional, used when ORY_ADMIN_URL and ORY_SDK_URL are unset: the Ory Network project slug (lower-case letters, digits and dashes)`,
		},
		{
			name: "malformed values",
			env: with(map[string]string{
				"SLACK_BOT_TOKEN":      "xoxp-SECRET123",
				"ORYBOT_AUDIT_CHANNEL": "#security",
				"ORYBOT_REQUEST_TTL":   "SECRET123",
				"ORYBOT_LOG_LEVEL":     "loud",
			}, "ORY_API_KEY"),
			want: `ORYBOT_AUDIT_CHANNEL: a Slack channel id such as C0123456789 (not a channel name)
ORYBOT_REQUEST_TTL: a positive Go duration such as 30m or 1h
ORYBOT_LOG_LEVEL: one of debug, info, warn, error
SLACK_BOT_TOKEN: required: the bot token (xoxb-…) from the Slack app's OAuth & Permissions page
ORY_API_KEY: required for Ory Network: an Ory API key (ory_pat_…)`,
		},
		{
			name: "bad list items",
			env: with(map[string]string{
				"ORYBOT_APPROVERS":          "U0123ABC, <@U0456DEF>,,alice",
				"ORYBOT_CHANNELS":           "COPS,#ops",
				"ORYBOT_APPROVALS_REQUIRED": "lockout:2,nuke:2, show:1",
				"ORYBOT_ALLOWED_TEAMS":      "T0ABC,acme",
			}),
			want: `ORYBOT_APPROVERS: item 2 is not a Slack user id (U…, W…) or user-group id (S…)
ORYBOT_APPROVERS: item 4 is not a Slack user id (U…, W…) or user-group id (S…)
ORYBOT_CHANNELS: item 2 is not a channel id (C…, G…)
ORYBOT_ALLOWED_TEAMS: item 2 is not a Slack team id (T…) or organization id (E…)
ORYBOT_APPROVALS_REQUIRED: item 2 is not a verb:count pair such as lockout:2, for a changing verb and a count from 1 to 10
ORYBOT_APPROVALS_REQUIRED: item 3 is not a verb:count pair such as lockout:2, for a changing verb and a count from 1 to 10`,
		},
		{
			name: "a list of blanks is missing",
			env:  with(map[string]string{"ORYBOT_APPROVERS": " , ,"}),
			want: `ORYBOT_APPROVERS: required: comma-separated Slack user ids (U…, W…) and user-group ids (S…)`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(getenv(tt.env))
			if err == nil {
				t.Fatal("Load() error = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecode runs each typed field's Decode on its own, as envconfig would.
func TestDecode(t *testing.T) {
	decoded := func(d envconfig.Decoder) func(string) (any, error) {
		return func(s string) (any, error) {
			err := d.Decode(s)
			return reflect.ValueOf(d).Elem().Interface(), err
		}
	}
	for _, tt := range []struct {
		name    string
		decode  func(string) (any, error) // a fresh zero value each time
		value   string
		want    any
		wantErr string
	}{
		{"channel", decoded(new(ChannelID)), "C0123ABC", ChannelID("C0123ABC"), ""},
		{"private channel", decoded(new(ChannelID)), " G0123ABC ", ChannelID("G0123ABC"), ""},
		{"channel name", decoded(new(ChannelID)), "#ops", ChannelID(""), "a Slack channel id such as C0123456789 (not a channel name)"},
		{"channel in lower case", decoded(new(ChannelID)), "c0123abc", ChannelID(""), "a Slack channel id such as C0123456789 (not a channel name)"},
		{"channels", decoded(new(ChannelIDs)), "C1AB, ,G2CD,", ChannelIDs{"C1AB", "G2CD"}, ""},
		{"no channels", decoded(new(ChannelIDs)), " , ", ChannelIDs(nil), ""},
		{"a user among channels", decoded(new(ChannelIDs)), "C1AB,U2CD", ChannelIDs(nil), "item 2 is not a channel id (C…, G…)"},
		{"users and groups", decoded(new(UsersAndGroups)), "U1AB,W2CD, S3EF", UsersAndGroups{"U1AB", "W2CD", "S3EF"}, ""},
		{"a channel among users", decoded(new(UsersAndGroups)), "C1AB,U2CD,x", UsersAndGroups(nil),
			"item 1 is not a Slack user id (U…, W…) or user-group id (S…)\nitem 3 is not a Slack user id (U…, W…) or user-group id (S…)"},
		{"approvals", decoded(new(Approvals)), "Lockout : 2,recovery-code:10", Approvals{"lockout": 2, "recovery-code": 10}, ""},
		{"no approvals", decoded(new(Approvals)), ",", Approvals(nil), ""},
		{"approvals without count", decoded(new(Approvals)), "lockout", Approvals(nil), "item 1 is not a verb:count pair such as lockout:2, for a changing verb and a count from 1 to 10"},
		{"approvals for a read-only verb", decoded(new(Approvals)), "sessions:2", Approvals(nil), "item 1 is not a verb:count pair such as lockout:2, for a changing verb and a count from 1 to 10"},
		{"duration", decoded(new(Duration)), "90s", Duration(90 * time.Second), ""},
		{"zero duration", decoded(new(Duration)), "0", Duration(0), "a positive Go duration such as 30m or 1h"},
		{"duration without unit", decoded(new(Duration)), "30", Duration(0), "a positive Go duration such as 30m or 1h"},
		{"log level", decoded(new(LogLevel)), "ERROR", LogLevel("error"), ""},
		{"log level unknown", decoded(new(LogLevel)), "trace", LogLevel(""), "one of debug, info, warn, error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode(tt.value)
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("Decode(%q) error mismatch (-want +got):\n%s", tt.value, diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode(%q) mismatch (-want +got):\n%s", tt.value, diff)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"default", nil, "orybot.db"},
		{"blank", map[string]string{"ORYBOT_DATABASE_URL": "  "}, "orybot.db"},
		{"set", map[string]string{"ORYBOT_DATABASE_URL": " postgres://db/orybot "}, "postgres://db/orybot"},
		// The audit subcommands need nothing else, so nothing else is checked.
		{"other variables broken", map[string]string{"ORYBOT_DATABASE_URL": "audit.db", "ORYBOT_REQUEST_TTL": "soon"}, "audit.db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DatabaseURL(getenv(tt.env)); got != tt.want {
				t.Errorf("DatabaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVariables checks that keys lists exactly the variables Config reads
// and that each says what it holds.
func TestVariables(t *testing.T) {
	var got []string
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key := f.Tag.Get("envconfig")
		if key == "" {
			continue
		}
		got = append(got, key)
		if f.Tag.Get("desc") == "" {
			t.Errorf("%s (Config.%s) has no desc tag", key, f.Name)
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variables of Config differ from keys (-keys +Config):\n%s", diff)
	}
}
