package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// Run connects to Slack in socket mode and handles envelopes until ctx is
// cancelled or the connection fails for good (for example, a revoked app
// token). On return, work already acked has finished.
func (b *Bot) Run(ctx context.Context) error {
	if b.cfg.TeamID == "" {
		return errors.New("bot: no team id for the app's own workspace (from auth.test)")
	}
	if err := b.checkGroups(ctx); err != nil {
		return err
	}
	if err := b.checkApprovals(ctx); err != nil {
		return err
	}
	sm := socketmode.New(b.api)
	ctx, cancel := context.WithCancel(ctx)
	// Stop the loops, then wait for them and for work already acked.
	defer func() { cancel(); b.work.Wait() }()

	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	b.spawnLoop(ctx, b.sweep)
	b.spawnLoop(ctx, b.deliver)
	return b.loop(ctx, sm, errc)
}

// checkGroups lists the user groups of ORYBOT_APPROVERS and
// ORYBOT_REQUESTERS once, so that a wrong group id stops the bot at start.
func (b *Bot) checkGroups(ctx context.Context) error {
	for _, set := range []*userSet{b.approvers, b.requesters} {
		if err := set.check(ctx); err != nil {
			return fmt.Errorf("%s: %w", set.setting, groupError(err))
		}
	}
	return nil
}

// loop hands each socket-mode event to dispatch until ctx ends or the
// connection fails for good.
func (b *Bot) loop(ctx context.Context, sm *socketmode.Client, errc <-chan error) error {
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
	start := time.Now()
	defer func() {
		// One bad envelope must not stop the bot.
		if p := recover(); p != nil {
			b.logPanic(p)
		}
	}()
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.connection(true)
		b.log.Info("connected to slack")
	case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
		b.connection(false)
	case socketmode.EventTypeConnectionError:
		b.connection(false)
		var cause error
		if e, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			cause = e.ErrorObj
		}
		b.log.Warn("slack connection error; reconnecting", "err", cause)
	case socketmode.EventTypeInvalidAuth:
		b.connection(false)
		b.log.Error("slack rejected the app token (SLACK_APP_TOKEN)")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		ack, work := b.commandAck(cmd)
		if err := sm.Ack(*evt.Request, ack); err != nil {
			b.log.Error("ack slash command", "err", err)
		}
		b.metrics.Acked(b.verbLabel(cmd.Text), time.Since(start))
		b.spawn(ctx, b.guard(cmd.ResponseURL, work))
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		if err := sm.Ack(*evt.Request); err != nil {
			b.log.Error("ack interaction", "err", err)
		}
		b.metrics.Acked("", time.Since(start))
		b.spawn(ctx, b.guard(cb.ResponseURL, b.interaction(cb)))
	case socketmode.EventTypeEventsAPI:
		if evt.Request != nil {
			_ = sm.Ack(*evt.Request)
		}
	}
}

// interaction returns the work for a button click or a dialog submission,
// or nil for interactions the bot did not ask for.
func (b *Bot) interaction(cb slack.InteractionCallback) func(context.Context) {
	switch {
	case !b.clickTeamsOK(cb):
		return func(ctx context.Context) { b.refuseOutsider(ctx, cb) }
	case cb.Type == slack.InteractionTypeBlockActions:
		return func(ctx context.Context) { b.click(ctx, cb) }
	case cb.Type == slack.InteractionTypeViewSubmission && cb.View.CallbackID == denyDialog && cb.View.State == nil:
		return func(ctx context.Context) {
			b.log.Warn("ignored a deny dialog submission without state", "approver", cb.User.ID)
			b.dm(ctx, cb.User.ID, "Your deny dialog arrived without its contents, so nothing was denied. Click Deny on the card again.")
		}
	case cb.Type == slack.InteractionTypeViewSubmission && cb.View.CallbackID == denyDialog:
		// The empty ack closes the dialog; the outcome shows on the card.
		return func(ctx context.Context) { b.denySubmitted(ctx, cb) }
	}
	return nil
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
