// Package config loads orybot's settings from the environment. It is the one
// place that knows the variable names, their defaults and what each expects:
// all of that is in the tags of Config.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Config holds every setting of the bot, parsed and validated.
//
// Each field read from a variable names it in its envconfig tag; required
// and default say whether it must be set and what it is otherwise. desc is
// what the variable holds, in the words an error about a missing or
// rejected value uses. Typed fields check their values themselves (see
// types.go); Load reads the tags, see decode.
type Config struct {
	SlackBotToken string `envconfig:"SLACK_BOT_TOKEN" required:"true" desc:"required: the bot token (xoxb-…) from the Slack app's OAuth & Permissions page"`
	SlackAppToken string `envconfig:"SLACK_APP_TOKEN" required:"true" desc:"required: an app-level token (xapp-…) with connections:write, from the Slack app's Basic Information page"`
	// SlackAPIURL is empty, or ends in "/".
	SlackAPIURL string `envconfig:"SLACK_API_URL" desc:"optional: an absolute http(s) URL of the Slack Web API, such as https://slack.com/api/"`

	// OryAdminURL is ORY_ADMIN_URL, or else the Ory Network project named
	// by ORY_SDK_URL or ORY_PROJECT_SLUG, the names Ory's own examples use.
	OryAdminURL    string `envconfig:"ORY_ADMIN_URL" desc:"required: an http(s) URL, the Ory Network project URL (https://<slug>.projects.oryapis.com) or a Kratos admin URL (http://kratos:4434); or set ORY_SDK_URL or ORY_PROJECT_SLUG instead"`
	OrySDKURL      string `envconfig:"ORY_SDK_URL" desc:"optional, used when ORY_ADMIN_URL is unset: the Ory Network project URL, https://<slug>.projects.oryapis.com"`
	OryProjectSlug string `envconfig:"ORY_PROJECT_SLUG" desc:"optional, used when ORY_ADMIN_URL and ORY_SDK_URL are unset: the Ory Network project slug (lower-case letters, digits and dashes)"`
	OryAPIKey      string `envconfig:"ORY_API_KEY" desc:"required for Ory Network: an Ory API key (ory_pat_…)"`

	AuditChannel ChannelID      `envconfig:"ORYBOT_AUDIT_CHANNEL" required:"true" desc:"required: a Slack channel id such as C0123456789 (not a channel name)"`
	Approvers    UsersAndGroups `envconfig:"ORYBOT_APPROVERS" required:"true" desc:"required: comma-separated Slack user ids (U…, W…) and user-group ids (S…)"`
	// Requesters empty means every member of the workspace.
	Requesters UsersAndGroups `envconfig:"ORYBOT_REQUESTERS" desc:"optional: comma-separated Slack user ids (U…, W…) and user-group ids (S…) who may use /ory; empty means everyone"`
	// Channels empty means any channel the bot is in.
	Channels ChannelIDs `envconfig:"ORYBOT_CHANNELS" desc:"optional: comma-separated channel ids (C…, G…) where /ory is accepted; empty means any channel the bot is in"`
	// AllowedTeams are workspaces, besides the app's own, whose members may
	// use the bot.
	AllowedTeams TeamIDs `envconfig:"ORYBOT_ALLOWED_TEAMS" desc:"optional: comma-separated Slack team ids (T…, E…) besides the app's own workspace whose members may use /ory, for Enterprise Grid"`
	// ApprovalsRequired maps a changing verb to the distinct approvals it
	// needs; verbs not named need one.
	ApprovalsRequired Approvals `envconfig:"ORYBOT_APPROVALS_REQUIRED" desc:"optional: verb:count pairs such as lockout:2,recovery:1, for changing verbs and counts from 1 to 10"`
	DatabaseURL       string    `envconfig:"ORYBOT_DATABASE_URL" default:"orybot.db" desc:"optional: a SQLite file path such as orybot.db, or a postgres:// URL"`
	RequestTTL        Duration  `envconfig:"ORYBOT_REQUEST_TTL" default:"1h" desc:"optional: how long a request may wait for approval, a positive Go duration such as 30m or 1h"`
	RecoveryTTL       Duration  `envconfig:"ORYBOT_RECOVERY_TTL" default:"1h" desc:"optional: how long recovery links and codes are valid, a positive Go duration such as 30m or 1h"`
	// The default GroupCacheTTL keeps usergroups.users.list (about 20 calls
	// a minute) well inside its rate limit.
	GroupCacheTTL Duration `envconfig:"ORYBOT_GROUP_CACHE_TTL" default:"5m" desc:"optional: how long user-group members are cached, a positive Go duration such as 30m or 1h"`
	// The default SweepInterval ends an expired request's card within 20
	// seconds.
	SweepInterval Duration `envconfig:"ORYBOT_SWEEP_INTERVAL" default:"20s" desc:"optional: how often expired and interrupted requests are ended, a positive Go duration such as 30m or 1h"`
	// AuditMaxLag is how long audit records may wait for the audit channel
	// before changing requests are refused: no action without a trail.
	AuditMaxLag Duration `envconfig:"ORYBOT_AUDIT_MAX_LAG" default:"15m" desc:"optional: how long audit records may wait for the audit channel before changing requests are refused, a positive Go duration such as 30m or 1h"`
	LogLevel    LogLevel `envconfig:"ORYBOT_LOG_LEVEL" default:"info" desc:"optional: one of debug, info, warn, error"`
	// ListenAddr is "" when the HTTP endpoints are off.
	ListenAddr ListenAddr `envconfig:"ORYBOT_LISTEN_ADDR" default:":8080" desc:"optional: where /healthz, /readyz and /metrics are served, such as :8080, or off"`
	// ActionTimeout bounds the Ory steps of one approved request. It is
	// shorter than WorkTimeout, so that the outcome, the card and the
	// requester's message are always written after it runs out.
	ActionTimeout Duration `envconfig:"ORYBOT_ACTION_TIMEOUT" default:"90s" desc:"optional: how long the Ory steps of one approved request may take, a positive Go duration shorter than 2m such as 90s"`

	// WorkTimeout bounds the work done for one Slack envelope after it is
	// acked: Ory calls with their retries, and the card and audit updates.
	// It is not read from a variable; the bot also uses it to tell a
	// request that is still running from one a stopped bot left behind.
	WorkTimeout time.Duration
}

// workTimeout is Config.WorkTimeout.
const workTimeout = 2 * time.Minute

// Load reads the configuration through getenv, which is os.Getenv outside
// tests, and validates it. A variable set to the empty string, or to
// spaces, counts as unset, as container platforms often leave variables
// blank. The error names every variable that is missing or malformed, one
// per line as "NAME: what it expects", and never repeats a value: some of
// them are secrets.
func Load(getenv func(string) string) (Config, error) {
	c := Config{WorkTimeout: workTimeout}
	errs := decode(getenv, &c)
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// DatabaseURL returns ORYBOT_DATABASE_URL, or its default, read through
// getenv. The audit subcommands use it: they read only the database, so
// they must work without the Slack and Ory settings, and the problems of
// those are ignored here.
func DatabaseURL(getenv func(string) string) string {
	var c Config
	_ = decode(getenv, &c)
	return c.DatabaseURL
}

// ListenAddress returns ORYBOT_LISTEN_ADDR, or its default, read through
// getenv; "" means the endpoints are off. "orybot check --liveness" uses
// it, and ignores the other variables like DatabaseURL does.
func ListenAddress(getenv func(string) string) string {
	var c Config
	_ = decode(getenv, &c)
	return string(c.ListenAddr)
}

// validate checks what the typed fields cannot check alone and returns one
// error per problem. Missing required variables are reported by decode, so
// empty values are not checked again here.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key string) { errs = append(errs, fmt.Errorf("%s: %s", key, expects(key))) }

	if c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-") {
		bad("SLACK_BOT_TOKEN")
	}
	if c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-") {
		bad("SLACK_APP_TOKEN")
	}
	if c.SlackAPIURL != "" {
		if !isHTTPURL(c.SlackAPIURL) {
			bad("SLACK_API_URL")
		} else if !strings.HasSuffix(c.SlackAPIURL, "/") {
			// slack-go appends method names directly to the base URL.
			c.SlackAPIURL += "/"
		}
	}
	if time.Duration(c.ActionTimeout) >= c.WorkTimeout {
		bad("ORYBOT_ACTION_TIMEOUT")
	}
	switch {
	case c.OryAdminURL != "":
	case c.OrySDKURL != "":
		if !isHTTPURL(c.OrySDKURL) {
			bad("ORY_SDK_URL")
		}
		c.OryAdminURL = c.OrySDKURL
	case c.OryProjectSlug != "":
		if !projectSlugRE.MatchString(c.OryProjectSlug) {
			bad("ORY_PROJECT_SLUG")
		}
		c.OryAdminURL = "https://" + c.OryProjectSlug + ".projects.oryapis.com"
	default:
		bad("ORY_ADMIN_URL")
	}
	if c.OryAdminURL != "" {
		if !isHTTPURL(c.OryAdminURL) {
			bad("ORY_ADMIN_URL")
		} else if u, _ := url.Parse(c.OryAdminURL); isOryNetwork(u.Hostname()) && c.OryAPIKey == "" {
			bad("ORY_API_KEY")
		}
	}
	return errs
}

// expects says in words what a variable must hold: the desc tag of the
// Config field read from it.
func expects(key string) string {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if tag := t.Field(i).Tag; tag.Get("envconfig") == key {
			return tag.Get("desc")
		}
	}
	return "malformed"
}

var projectSlugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// isOryNetwork reports whether host belongs to Ory Network, which always
// needs an API key.
func isOryNetwork(host string) bool {
	return strings.HasSuffix(strings.TrimSuffix(strings.ToLower(host), "."), ".oryapis.com")
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
