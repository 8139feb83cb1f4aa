package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

// Delivery pacing. The loop also polls, so that records appended by another
// replica, or left behind by a crash, go out without a kick.
const (
	deliveryPoll       = 5 * time.Second
	deliveryBatch      = 50
	deliveryBackoffMin = time.Second
	deliveryBackoffMax = time.Minute
	// deliveryLease outlasts the longest backoff, so that the deliverer
	// keeps its lease through an outage.
	deliveryLease = 2 * time.Minute
)

// Outbox holds the audit records waiting for the audit channel, and the
// lease that lets one replica at a time post them.
type Outbox interface {
	Undelivered(ctx context.Context, limit int) ([]audit.Record, error)
	MarkDelivered(ctx context.Context, seq int64, now time.Time) error
	AcquireDeliveryLease(ctx context.Context, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseDeliveryLease(ctx context.Context, holder string) error
}

// kickDelivery wakes the delivery loop after records were appended.
func (b *Bot) kickDelivery() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// deliver posts audit records to the audit channel in order. The store
// holds them first, so a Slack outage, a missing invitation or a restart
// loses nothing: a record that fails stays queued, with every later one
// behind it, and is retried with backoff. An outage is logged once when it
// starts and once when it ends.
func (b *Bot) deliver(ctx context.Context) {
	defer func() {
		// Let another replica deliver at once rather than after the lease.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := b.deps.Outbox.ReleaseDeliveryLease(ctx, b.instance); err != nil {
			b.log.Error("release audit delivery lease", "err", err)
		}
	}()
	backoff := deliveryBackoffMin
	var outage error
	var loggedAt time.Time // when the outage was last logged
	for {
		wait := deliveryPoll
		var recs []audit.Record
		held, err := b.leaseDelivery(ctx)
		if held {
			recs, err = b.deps.Outbox.Undelivered(ctx, deliveryBatch)
		}
		if err != nil && ctx.Err() == nil {
			b.log.Error("read undelivered audit records", "err", err)
			err = nil
		}
		for _, rec := range recs {
			// Renewed before every post: a batch at Slack's rate limit can
			// outlast a lease taken once.
			if held, err = b.leaseDelivery(ctx); !held || err != nil {
				break
			}
			if err = b.postAudit(ctx, rec); err != nil {
				break
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if outage == nil || time.Since(loggedAt) >= deliveryRelog {
				b.logOutage(err, outage == nil)
				loggedAt = time.Now()
			}
			outage = err
			wait = backoff
			var rl *slack.RateLimitedError
			if errors.As(err, &rl) && rl.RetryAfter > wait {
				wait = rl.RetryAfter
			}
			backoff = min(2*backoff, deliveryBackoffMax)
		default:
			if outage != nil {
				b.log.Info("audit channel delivery recovered", "channel", b.cfg.AuditChannel)
				outage = nil
			}
			backoff = deliveryBackoffMin
			if len(recs) == deliveryBatch {
				wait = 0
			}
		}
		kick := b.kick
		if outage != nil {
			kick = nil // in backoff: a kick must not turn it into a busy loop
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// leaseDelivery takes or renews the lease that makes this bot the one
// replica delivering the audit trail; the others leave it alone, so records
// go out once and in order.
func (b *Bot) leaseDelivery(ctx context.Context) (bool, error) {
	return b.deps.Outbox.AcquireDeliveryLease(ctx, b.instance, b.cfg.Now(), deliveryLease)
}

// postAudit posts one record and marks it delivered. Posting comes first:
// if the bot dies between the two, the record is posted again after the
// restart rather than lost.
func (b *Bot) postAudit(ctx context.Context, rec audit.Record) error {
	// Shutdown waits for this record: a post cut off half-way, or posted but
	// not marked, would be posted again by whoever delivers next.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_, _, err := b.api.PostMessageContext(ctx, b.cfg.AuditChannel,
		slack.MsgOptionText(auditText(rec), false), slack.MsgOptionBlocks(auditBlocks(rec)...))
	if err != nil {
		return fmt.Errorf("post audit record %d: %w", rec.Seq, err)
	}
	if err := b.deps.Outbox.MarkDelivered(ctx, rec.Seq, b.cfg.Now()); err != nil && !errors.Is(err, store.ErrDelivered) {
		return fmt.Errorf("mark audit record %d delivered: %w", rec.Seq, err)
	}
	return nil
}

func deliveryHint(err error) string {
	switch {
	case isNotInChannel(err):
		return "invite the bot to ORYBOT_AUDIT_CHANNEL with /invite @orybot"
	case permanentSlackError(err):
		return "the audit channel or the bot's token is unusable; fix ORYBOT_AUDIT_CHANNEL or SLACK_BOT_TOKEN; changing requests are refused after ORYBOT_AUDIT_MAX_LAG"
	}
	return "Slack is unavailable or rate-limiting; delivery resumes by itself"
}
