// Package bot is orybot's Slack side: it receives slash commands and button
// clicks over socket mode, runs the two-person approval flow, calls Ory once a
// request is approved, and posts the outcome to the audit channel. It is the
// only package that imports slack-go.
//
// The files follow a request's life: command.go receives a slash command and
// applies the verb table (verbs.go); receive.go checks a changing request and
// posts its card; decide.go handles Approve, Deny and Cancel; execute.go runs
// an approved request's Ory steps; end.go ends requests and tells everyone;
// sweep.go ends the ones nobody decided; delivery.go posts the audit trail.
// Each role the bot needs from Ory or the store is a small interface declared
// in the file that uses it, and collected in Deps.
package bot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/ory"
)

// Deps are the parts the bot talks to besides Slack, one role per field. In
// production the Ory client fills the Ory roles and the store the others;
// tests give each role a small fake or a real store.
type Deps struct {
	Identities Identities // finding identities and sessions
	// Actions returns the Ory calls of one approved request, reporting
	// their retries to notice.
	Actions func(notice func(ory.Retry)) Actions
	// Recoveries returns the recovery calls of one approved request,
	// reporting their retries to notice.
	Recoveries func(notice func(ory.Retry)) Recoveries
	Intake     Intake    // storing new requests
	Decisions  Decisions // approving, denying and cancelling them
	Outcomes   Outcomes  // recording how they ended
	Sweeps     Sweeps    // finding the ones nobody ended
	Listings   Listings  // /ory pending and /ory audit verify
	Outbox     Outbox    // the audit records waiting for the audit channel
	Backlog    Backlog   // how far the audit channel is behind
	Secrets    Secrets   // direct messages to delete when their secret expires
	Metrics    Metrics   // counts for monitoring; nil means none
}

// Config holds the bot's settings. The config package fills it, with its
// defaults; every duration must be positive.
type Config struct {
	AuditChannel string
	// TeamID is the app's own workspace, from auth.test at start. Commands
	// and clicks from members of other workspaces (Slack Connect) are
	// refused. Run refuses to start without it.
	TeamID string
	// AllowedTeams are further team ids (T…, E…) whose members may use the
	// bot, for Enterprise Grid.
	AllowedTeams []string
	Approvers    []string // user ids (U…, W…) and user-group ids (S…)
	Requesters   []string // who may use /ory; empty means everyone
	Channels     []string // where /ory is accepted; empty means anywhere
	// ApprovalsRequired maps a verb to the distinct approvals it needs;
	// verbs not named need one.
	ApprovalsRequired map[string]int
	RequestTTL        time.Duration
	// RecoveryTTL is how long recovery links and codes are valid.
	RecoveryTTL time.Duration
	// WorkTimeout bounds the work done for one envelope after it is acked.
	WorkTimeout time.Duration
	// ActionTimeout bounds the Ory steps of one approved request; it is
	// shorter than WorkTimeout. Zero means three quarters of WorkTimeout.
	ActionTimeout time.Duration
	// SweepInterval is how often pending requests past their expiry are
	// ended, even if nobody clicks.
	SweepInterval time.Duration
	// GroupCacheTTL is how long user-group members and Slack users' emails
	// are cached (usergroups.users.list is a Tier 2 method).
	GroupCacheTTL time.Duration
	// AuditMaxLag is how long audit records may wait for the audit channel
	// before changing requests are refused; zero means 15 minutes.
	AuditMaxLag time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Bot runs the approval flow. Create it with New.
type Bot struct {
	log        *slog.Logger
	api        *slack.Client
	deps       Deps
	cfg        Config
	verbs      map[commands.Verb]verb
	approvers  *userSet
	requesters *userSet
	emails     *cache[string] // Slack user id → email, for the own-identity check
	http       *http.Client   // for response_url posts
	kick       chan struct{}  // wakes the audit delivery loop
	instance   string         // this replica, in logs of who delivers the audit trail
	work       sync.WaitGroup
	metrics    Metrics
	health     health
}

// New returns a Bot that talks to Slack through api and to the rest
// through deps.
func New(logger *slog.Logger, api *slack.Client, deps Deps, cfg Config) *Bot {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	members := func(ctx context.Context, g string) ([]string, error) {
		m, err := api.GetUserGroupMembersContext(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("list members of user group %s: %w", g, err)
		}
		return m, nil
	}
	b := &Bot{
		log:        logger,
		api:        api,
		deps:       deps,
		cfg:        cfg,
		verbs:      verbs(),
		approvers:  newUserSet("ORYBOT_APPROVERS", cfg.Approvers, newCache(members, cfg.GroupCacheTTL, cfg.Now)),
		requesters: newUserSet("ORYBOT_REQUESTERS", cfg.Requesters, newCache(members, cfg.GroupCacheTTL, cfg.Now)),
		http:       &http.Client{Timeout: 15 * time.Second},
		kick:       make(chan struct{}, 1),
		instance:   newRef() + newRef(),
	}
	b.emails = newCache(b.fetchEmail, cfg.GroupCacheTTL, cfg.Now)
	b.metrics = deps.Metrics
	if b.metrics == nil {
		b.metrics = noMetrics{}
	}
	return b
}
