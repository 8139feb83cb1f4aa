// Package bot is orybot's Slack side: it receives slash commands and button
// clicks over socket mode, runs the two-person approval flow, calls Ory once a
// request is approved, and posts the outcome to the audit channel. It is the
// only package that imports slack-go.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// Ory is what the bot needs from the Ory admin API: finding identities and
// sessions, and the calls that approved requests make. It is wider than the
// usual few methods because it is the whole of the bot's Ory surface, which
// a fake in tests implements in one place.
type Ory interface {
	Identity(ctx context.Context, id string) (ory.Identity, error)
	IdentityByEmail(ctx context.Context, email string) (ory.Identity, error)
	Sessions(ctx context.Context, identityID string, activeOnly bool) ([]ory.Session, error)
	Session(ctx context.Context, sessionID string) (ory.Session, error)

	SetState(ctx context.Context, id, state string) (ory.Identity, error)
	RevokeSession(ctx context.Context, sessionID string) error
	RevokeSessions(ctx context.Context, identityID string) (int, error)
	RecoveryLink(ctx context.Context, identityID string, expiresIn time.Duration) (link string, expiresAt time.Time, err error)
	RecoveryCode(ctx context.Context, identityID string, expiresIn time.Duration) (link, code string, expiresAt time.Time, err error)
	DeleteCredential(ctx context.Context, identityID, credType, identifier string) error
}

// Requests is what the bot needs from the request store. Every state change
// is a conditional update in the store, so that two replicas, a double click
// or a redelivered envelope cannot decide a request twice.
type Requests interface {
	AuditLog
	Create(ctx context.Context, r *store.Request, recs ...audit.Record) error
	Get(ctx context.Context, id string) (*store.Request, error)
	SetMessage(ctx context.Context, id, channelID, ts string) error
	Approve(ctx context.Context, id, approver string, required int, now time.Time, recs ...audit.Record) (*store.Request, error)
	Deny(ctx context.Context, id, approver, reason string, now time.Time, recs ...audit.Record) (*store.Request, error)
	Cancel(ctx context.Context, id, requester string, now time.Time, recs ...audit.Record) (*store.Request, error)
	Pending(ctx context.Context, now time.Time) ([]*store.Request, error)
	Expire(ctx context.Context, id string, now time.Time, recs ...audit.Record) (*store.Request, error)
	Finish(ctx context.Context, id string, to store.Status, result string, now time.Time, recs ...audit.Record) error
	ExpiredPending(ctx context.Context, now time.Time) ([]*store.Request, error)
	Interrupted(ctx context.Context, decidedBefore time.Time) ([]*store.Request, error)
}

// AuditLog is the audit trail the bot appends to and delivers from.
type AuditLog interface {
	AppendAudit(ctx context.Context, recs ...audit.Record) ([]audit.Record, error)
	Undelivered(ctx context.Context, limit int) ([]audit.Record, error)
	MarkDelivered(ctx context.Context, seq int64, now time.Time) error
	AcquireDeliveryLease(ctx context.Context, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseDeliveryLease(ctx context.Context, holder string) error
	VerifyAudit(ctx context.Context) (audit.Record, error)
}

// Config holds the bot's settings.
type Config struct {
	AuditChannel string
	Approvers    []string // user ids (U…, W…) and user-group ids (S…)
	Requesters   []string // who may use /ory; empty means everyone
	Channels     []string // where /ory is accepted; empty means anywhere
	// ApprovalsRequired maps a verb to the distinct approvals it needs;
	// verbs not named need one.
	ApprovalsRequired map[string]int
	RequestTTL        time.Duration
	// RecoveryTTL is how long recovery links and codes are valid. Zero
	// means one hour.
	RecoveryTTL time.Duration
	// WorkTimeout bounds the work done for one envelope after it is acked.
	// Zero means two minutes.
	WorkTimeout time.Duration
	// SweepInterval is how often pending requests past their expiry are
	// ended, even if nobody clicks. Zero means 20 seconds.
	SweepInterval time.Duration
	// GroupCacheTTL is how long user-group members are cached. Zero means
	// five minutes (usergroups.users.list is a Tier 2 method).
	GroupCacheTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Bot runs the approval flow. Create it with New.
type Bot struct {
	log        *slog.Logger
	api        *slack.Client
	ory        Ory
	requests   Requests
	cfg        Config
	approvers  *userSet
	requesters *userSet
	http       *http.Client  // for response_url posts
	kick       chan struct{} // wakes the audit delivery loop
	instance   string        // this replica, as holder of the delivery lease
	work       sync.WaitGroup
}

// New returns a Bot that talks to Slack through api, to Ory through ids and
// keeps requests in reqs.
func New(logger *slog.Logger, api *slack.Client, ids Ory, reqs Requests, cfg Config) *Bot {
	if cfg.WorkTimeout == 0 {
		cfg.WorkTimeout = 2 * time.Minute
	}
	if cfg.RecoveryTTL == 0 {
		cfg.RecoveryTTL = time.Hour
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = 20 * time.Second
	}
	if cfg.GroupCacheTTL == 0 {
		cfg.GroupCacheTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	members := func(ctx context.Context, g string) ([]string, error) {
		return api.GetUserGroupMembersContext(ctx, g)
	}
	return &Bot{
		log:        logger,
		api:        api,
		ory:        ids,
		requests:   reqs,
		cfg:        cfg,
		approvers:  newUserSet(cfg.Approvers, members, cfg.GroupCacheTTL, cfg.Now),
		requesters: newUserSet(cfg.Requesters, members, cfg.GroupCacheTTL, cfg.Now),
		http:       &http.Client{Timeout: 15 * time.Second},
		kick:       make(chan struct{}, 1),
		instance:   newRef() + newRef(),
	}
}

// Run connects to Slack in socket mode and handles envelopes until ctx is
// cancelled or the connection fails for good (for example, a revoked app
// token). On return, work already acked has finished.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.approvers.check(ctx); err != nil {
		return fmt.Errorf("ORYBOT_APPROVERS: %w", groupError(err))
	}
	if err := b.requesters.check(ctx); err != nil {
		return fmt.Errorf("ORYBOT_REQUESTERS: %w", groupError(err))
	}
	sm := socketmode.New(b.api)
	ctx, cancel := context.WithCancel(ctx)
	// Stop the loops, then wait for them and for work already acked.
	defer func() { cancel(); b.work.Wait() }()

	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	b.spawnLoop(ctx, b.sweep)
	b.spawnLoop(ctx, b.deliver)

	for {
		select {
		case <-ctx.Done():
			<-errc
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			var se slack.SlackErrorResponse
			if errors.As(err, &se) && se.Err == "invalid_auth" {
				return fmt.Errorf("slack socket mode: check SLACK_APP_TOKEN (an app-level token with connections:write): %w", err)
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt, ok := <-sm.Events:
			if !ok {
				return fmt.Errorf("slack socket mode: event stream closed: %w", <-errc)
			}
			b.dispatch(ctx, sm, evt)
		}
	}
}

// dispatch acknowledges an envelope at once and hands the work to a
// goroutine: Slack shows the user an error, and may deliver the envelope
// again, if the ack takes longer than three seconds.
func (b *Bot) dispatch(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.log.Info("connected to slack")
	case socketmode.EventTypeConnectionError:
		b.log.Warn("slack connection error; reconnecting")
	case socketmode.EventTypeInvalidAuth:
		b.log.Error("slack rejected the app token (SLACK_APP_TOKEN)")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		ack, work := b.command(cmd)
		if err := sm.Ack(*evt.Request, ack); err != nil {
			b.log.Error("ack slash command", "err", err)
		}
		b.spawn(ctx, work)
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		if err := sm.Ack(*evt.Request); err != nil {
			b.log.Error("ack interaction", "err", err)
		}
		switch {
		case cb.Type == slack.InteractionTypeBlockActions:
			b.spawn(ctx, func(ctx context.Context) { b.click(ctx, cb) })
		case cb.Type == slack.InteractionTypeViewSubmission && cb.View.CallbackID == denyDialog:
			// The empty ack closes the dialog; the outcome shows on the card.
			b.spawn(ctx, func(ctx context.Context) { b.denySubmitted(ctx, cb) })
		}
	case socketmode.EventTypeEventsAPI:
		if evt.Request != nil {
			_ = sm.Ack(*evt.Request)
		}
	}
}

// spawn runs work after the ack. The work gets its own deadline and is not
// cancelled by shutdown: a request that was approved must finish its Ory call
// and record the outcome.
func (b *Bot) spawn(ctx context.Context, work func(context.Context)) {
	if work == nil {
		return
	}
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.WorkTimeout)
		defer cancel()
		work(ctx)
	}()
}

// spawnLoop runs loop until ctx is cancelled; Run waits for it to return.
func (b *Bot) spawnLoop(ctx context.Context, loop func(context.Context)) {
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		loop(ctx)
	}()
}

// sweep ends pending requests whose time is up, so that their cards say
// "expired" and the audit trail records it even when nobody clicks, and even
// for requests that expired while the bot was down.
func (b *Bot) sweep(ctx context.Context) {
	t := time.NewTicker(b.cfg.SweepInterval)
	defer t.Stop()
	for {
		expired, err := b.requests.ExpiredPending(ctx, b.cfg.Now())
		if err != nil && ctx.Err() == nil {
			b.log.Error("list expired requests", "err", err)
		}
		for _, req := range expired {
			b.expire(ctx, req, b.log.With("request_id", req.ID, "cmd", req.Verb, "identity_id", req.IdentityID))
		}
		b.endInterrupted(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// endInterrupted fails approved requests whose action started long enough
// ago that no replica can still be running it: the bot stopped in between.
// Their cards would otherwise say "running…" for ever.
func (b *Bot) endInterrupted(ctx context.Context) {
	reqs, err := b.requests.Interrupted(ctx, b.cfg.Now().Add(-b.cfg.WorkTimeout-time.Minute))
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("list interrupted requests", "err", err)
		}
		return
	}
	for _, req := range reqs {
		log := b.log.With("request_id", req.ID, "cmd", req.Verb, "identity_id", req.IdentityID)
		result := fmt.Sprintf("✗ the bot stopped while running this action, so whether Ory applied it is unknown. Check with `/ory show %s` before asking again.", req.IdentityID)
		err := b.requests.Finish(ctx, req.ID, store.StatusFailed, result, b.cfg.Now(), b.record(req, audit.Failed, req.Approver, "", result))
		if err != nil {
			if !errors.Is(err, store.ErrNotPending) {
				log.Error("end interrupted request", "err", err)
			}
			continue
		}
		log.Warn("ended a request interrupted by a stop")
		req.Status, req.Result = store.StatusFailed, result
		b.finish(ctx, req, log)
	}
}

// reply shows text to one user only, through a response_url. That works even
// where the bot is not a channel member, which is exactly when it must tell
// the user to invite it.
func (b *Bot) reply(ctx context.Context, responseURL, text string) {
	if responseURL == "" {
		return
	}
	msg := &slack.WebhookMessage{Text: text, ResponseType: slack.ResponseTypeEphemeral}
	if err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, b.http, msg); err != nil {
		b.log.Error("reply via response_url", "err", err)
	}
}

// groupError explains the user-group failures an operator can fix.
func groupError(err error) error {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "plan_upgrade_required":
			return fmt.Errorf("this Slack workspace's plan has no user groups (plan_upgrade_required); name users (U…) instead of groups (S…): %w", err)
		case "no_such_subteam":
			return fmt.Errorf("no such Slack user group (no_such_subteam); check the S… ids: %w", err)
		case "missing_scope":
			return fmt.Errorf("the Slack app lacks the usergroups:read scope; reinstall it from manifest.yml: %w", err)
		}
	}
	return err
}

// isNotInChannel reports whether Slack refused a post because the bot is not
// a member of the channel.
func isNotInChannel(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && (se.Err == "not_in_channel" || se.Err == "channel_not_found")
}
