// Package config loads orybot's settings from the environment. It is the one
// place that knows the variable names, their defaults and what each expects.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/orybot/orybot/commands"
)

// Config holds every setting of the bot, parsed and validated.
type Config struct {
	SlackBotToken string
	SlackAppToken string
	SlackAPIURL   string // empty, or ends in "/"

	OryAdminURL string
	OryAPIKey   string

	AuditChannel string
	Approvers    []string
	Requesters   []string // empty: every member of the workspace
	Channels     []string // empty: any channel the bot is in
	// ApprovalsRequired maps a changing verb to the distinct approvals it
	// needs; verbs not named need one.
	ApprovalsRequired map[string]int
	DatabaseURL       string
	RequestTTL        time.Duration
	RecoveryTTL       time.Duration
	// GroupCacheTTL is how long user-group members are cached.
	GroupCacheTTL time.Duration
	// SweepInterval is how often expired and interrupted requests are ended.
	SweepInterval time.Duration
	LogLevel      string
}

// env is the raw environment. Every field is a string so that envconfig
// never fails on a value (its errors quote the value, which may be a
// secret) and so that every problem can be reported at once. A variable set
// to the empty string counts as unset, as container platforms often leave
// variables blank.
type env struct {
	SlackBotToken string `envconfig:"SLACK_BOT_TOKEN"`
	SlackAppToken string `envconfig:"SLACK_APP_TOKEN"`
	SlackAPIURL   string `envconfig:"SLACK_API_URL"`
	OryAdminURL   string `envconfig:"ORY_ADMIN_URL"`
	OryAPIKey     string `envconfig:"ORY_API_KEY"`
	AuditChannel  string `envconfig:"ORYBOT_AUDIT_CHANNEL"`
	Approvers     string `envconfig:"ORYBOT_APPROVERS"`
	Requesters    string `envconfig:"ORYBOT_REQUESTERS"`
	Channels      string `envconfig:"ORYBOT_CHANNELS"`
	Approvals     string `envconfig:"ORYBOT_APPROVALS_REQUIRED"`
	DatabaseURL   string `envconfig:"ORYBOT_DATABASE_URL"`
	RequestTTL    string `envconfig:"ORYBOT_REQUEST_TTL"`
	RecoveryTTL   string `envconfig:"ORYBOT_RECOVERY_TTL"`
	GroupCacheTTL string `envconfig:"ORYBOT_GROUP_CACHE_TTL"`
	SweepInterval string `envconfig:"ORYBOT_SWEEP_INTERVAL"`
	LogLevel      string `envconfig:"ORYBOT_LOG_LEVEL"`
}

// Defaults of the optional variables.
const (
	DefaultDatabaseURL = "orybot.db"
	DefaultRequestTTL  = time.Hour
	DefaultRecoveryTTL = time.Hour
	// DefaultGroupCacheTTL keeps usergroups.users.list (about 20 calls a
	// minute) well inside its rate limit.
	DefaultGroupCacheTTL = 5 * time.Minute
	// DefaultSweepInterval ends an expired request's card within 20 seconds.
	DefaultSweepInterval = 20 * time.Second
	DefaultLogLevel      = "info"
)

// Load reads the configuration from the process environment and validates
// it. The error names every variable that is missing or malformed, one per
// line, and never repeats a value: some of them are secrets.
func Load() (Config, error) {
	var e env
	if err := envconfig.Process("", &e); err != nil {
		return Config{}, fmt.Errorf("read environment: %w", err)
	}
	var errs []error
	bad := func(key string) { errs = append(errs, fmt.Errorf("%s: %s", key, expects(key))) }

	c := Config{
		SlackBotToken: strings.TrimSpace(e.SlackBotToken),
		SlackAppToken: strings.TrimSpace(e.SlackAppToken),
		SlackAPIURL:   strings.TrimSpace(e.SlackAPIURL),
		OryAdminURL:   strings.TrimSpace(e.OryAdminURL),
		OryAPIKey:     strings.TrimSpace(e.OryAPIKey),
		AuditChannel:  strings.TrimSpace(e.AuditChannel),
		DatabaseURL:   cmp.Or(strings.TrimSpace(e.DatabaseURL), DefaultDatabaseURL),
		RequestTTL:    DefaultRequestTTL,
		RecoveryTTL:   DefaultRecoveryTTL,
		GroupCacheTTL: DefaultGroupCacheTTL,
		SweepInterval: DefaultSweepInterval,
		LogLevel:      strings.ToLower(cmp.Or(strings.TrimSpace(e.LogLevel), DefaultLogLevel)),
	}
	c.Approvers = list(e.Approvers)
	c.Requesters = list(e.Requesters)
	c.Channels = list(e.Channels)
	for _, item := range list(e.Approvals) {
		verb, n, ok := strings.Cut(item, ":")
		count, err := strconv.Atoi(strings.TrimSpace(n))
		verb = strings.ToLower(strings.TrimSpace(verb))
		if spec, known := commands.Lookup(commands.Verb(verb)); !ok || err != nil || count < 1 || count > 10 || !known || !spec.Changing {
			errs = append(errs, fmt.Errorf("ORYBOT_APPROVALS_REQUIRED: %q: %s", item, expects("ORYBOT_APPROVALS_REQUIRED")))
			continue
		}
		if c.ApprovalsRequired == nil {
			c.ApprovalsRequired = map[string]int{}
		}
		c.ApprovalsRequired[verb] = count
	}
	duration := func(key, raw string, into *time.Duration) {
		if s := strings.TrimSpace(raw); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				bad(key)
			}
			*into = d
		}
	}
	duration("ORYBOT_REQUEST_TTL", e.RequestTTL, &c.RequestTTL)
	duration("ORYBOT_RECOVERY_TTL", e.RecoveryTTL, &c.RecoveryTTL)
	duration("ORYBOT_GROUP_CACHE_TTL", e.GroupCacheTTL, &c.GroupCacheTTL)
	duration("ORYBOT_SWEEP_INTERVAL", e.SweepInterval, &c.SweepInterval)
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

var (
	channelID  = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
	approverID = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)
)

// expects says in words what a variable must hold.
func expects(key string) string {
	switch key {
	case "SLACK_BOT_TOKEN":
		return "required: the bot token (xoxb-…) from the Slack app's OAuth & Permissions page"
	case "SLACK_APP_TOKEN":
		return "required: an app-level token (xapp-…) with connections:write, from the Slack app's Basic Information page"
	case "SLACK_API_URL":
		return "optional: an absolute http(s) URL of the Slack Web API, such as https://slack.com/api/"
	case "ORY_ADMIN_URL":
		return "required: an http(s) URL, the Ory Network project URL (https://<slug>.projects.oryapis.com) or a Kratos admin URL (http://kratos:4434)"
	case "ORY_API_KEY":
		return "required for Ory Network: an Ory API key (ory_pat_…)"
	case "ORYBOT_AUDIT_CHANNEL":
		return "required: a Slack channel id such as C0123456789 (not a channel name)"
	case "ORYBOT_APPROVERS":
		return "required: comma-separated Slack user ids (U…, W…) and user-group ids (S…)"
	case "ORYBOT_REQUESTERS":
		return "optional: comma-separated Slack user ids (U…, W…) and user-group ids (S…) who may use /ory; empty means everyone"
	case "ORYBOT_CHANNELS":
		return "optional: comma-separated channel ids (C…, G…) where /ory is accepted; empty means any channel the bot is in"
	case "ORYBOT_APPROVALS_REQUIRED":
		return "optional: verb:count pairs such as lockout:2,recovery:1, for changing verbs and counts from 1 to 10"
	case "ORYBOT_DATABASE_URL":
		return "a SQLite file path such as orybot.db, or a postgres:// URL"
	case "ORYBOT_REQUEST_TTL", "ORYBOT_RECOVERY_TTL", "ORYBOT_GROUP_CACHE_TTL", "ORYBOT_SWEEP_INTERVAL":
		return "a positive Go duration such as 30m or 1h"
	case "ORYBOT_LOG_LEVEL":
		return "one of debug, info, warn, error"
	}
	return "malformed"
}

// validate checks the parsed settings and returns one error per problem.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key string) { errs = append(errs, fmt.Errorf("%s: %s", key, expects(key))) }

	if !strings.HasPrefix(c.SlackBotToken, "xoxb-") {
		bad("SLACK_BOT_TOKEN")
	}
	if !strings.HasPrefix(c.SlackAppToken, "xapp-") {
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
	if !isHTTPURL(c.OryAdminURL) {
		bad("ORY_ADMIN_URL")
	} else if u, _ := url.Parse(c.OryAdminURL); isOryNetwork(u.Hostname()) && c.OryAPIKey == "" {
		bad("ORY_API_KEY")
	}
	if !channelID.MatchString(c.AuditChannel) {
		bad("ORYBOT_AUDIT_CHANNEL")
	}
	if len(c.Approvers) == 0 {
		bad("ORYBOT_APPROVERS")
	}
	checkIDs := func(key string, ids []string) {
		for _, a := range ids {
			if !approverID.MatchString(a) {
				errs = append(errs, fmt.Errorf("%s: %q is not a Slack user id (U…, W…) or user-group id (S…)", key, a))
			}
		}
	}
	checkIDs("ORYBOT_APPROVERS", c.Approvers)
	checkIDs("ORYBOT_REQUESTERS", c.Requesters)
	for _, ch := range c.Channels {
		if !channelID.MatchString(ch) {
			errs = append(errs, fmt.Errorf("ORYBOT_CHANNELS: %q is not a channel id (C…, G…)", ch))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("ORYBOT_LOG_LEVEL")
	}
	return errs
}

// isOryNetwork reports whether host belongs to Ory Network, which always
// needs an API key.
func isOryNetwork(host string) bool {
	return strings.HasSuffix(strings.TrimSuffix(strings.ToLower(host), "."), ".oryapis.com")
}

// list splits a comma-separated variable, dropping blanks.
func list(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
