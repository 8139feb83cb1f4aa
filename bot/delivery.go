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

// Delivery pacing. Appends wake the deliverer: on PostgreSQL through a
// notification from whichever replica appended, on SQLite (one process per
// file) through kickDelivery. The slow poll only backs those up.
const (
	deliveryPoll       = 30 * time.Second
	deliveryBatch      = 50
	deliveryBackoffMin = time.Second
	deliveryBackoffMax = time.Minute
	// deliveryRetry is how often a replica that is not the deliverer tries
	// to become it, so that a dead deliverer is replaced within seconds.
	deliveryRetry = time.Second
)

// Outbox holds the audit records waiting for the audit channel, and the
// lock that lets one replica at a time post them.
type Outbox interface {
	Undelivered(ctx context.Context, limit int) ([]audit.Record, error)
	MarkDelivered(ctx context.Context, seq int64, now time.Time) error
	TryDeliveryLock(ctx context.Context) (*store.DeliveryLock, error)
}

// kickDelivery wakes the delivery loop after records were appended.
func (b *Bot) kickDelivery() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// deliver makes this replica the deliverer of the audit trail whenever no
// other replica is, and delivers while it holds the lock. The lock dies
// with the process that holds it, so when the deliverer is killed another
// replica (or the restarted bot) takes over at its next try.
func (b *Bot) deliver(ctx context.Context) {
	var failing error
	for {
		b.health.delivery.beat(time.Now())
		lock, err := b.deps.Outbox.TryDeliveryLock(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if failing == nil {
				b.log.Error("take audit delivery lock; retrying", "err", err)
			}
			failing = err
		case lock != nil:
			failing = nil
			b.log.Info("this replica delivers the audit trail", "instance", b.instance)
			b.deliverHeld(ctx, lock)
			lock.Release()
		}
		t := time.NewTimer(deliveryRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// deliverHeld posts audit records to the audit channel in order while lock
// is held. The store holds them first, so a Slack outage, a missing
// invitation or a restart loses nothing: a record that fails stays queued,
// with every later one behind it, and is retried with backoff. An outage is
// logged once when it starts and once when it ends.
func (b *Bot) deliverHeld(ctx context.Context, lock *store.DeliveryLock) {
	backoff := deliveryBackoffMin
	var outage error
	var loggedAt time.Time // when the outage was last logged
	for {
		b.health.delivery.beat(time.Now())
		wait := deliveryPoll
		recs, err := b.deps.Outbox.Undelivered(ctx, deliveryBatch)
		if err != nil && ctx.Err() == nil {
			b.log.Error("read undelivered audit records", "err", err)
			err = nil
		}
		for _, rec := range recs {
			if lost(lock) {
				b.log.Warn("lost the audit delivery lock; another replica delivers")
				return
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
		kick, appended := b.kick, lock.Appended()
		if outage != nil {
			// In backoff: a wake-up must not turn it into a busy loop.
			kick, appended = nil, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-lock.Lost():
			t.Stop()
			b.log.Warn("lost the audit delivery lock; another replica delivers")
			return
		case <-kick:
			t.Stop()
		case <-appended:
			t.Stop()
		case <-t.C:
		}
	}
}

// lost reports whether lock is gone.
func lost(lock *store.DeliveryLock) bool {
	select {
	case <-lock.Lost():
		return true
	default:
		return false
	}
}

// postAudit posts one record and marks it delivered. Posting comes first:
// if the bot dies between the two, the record is posted again after the
// restart rather than lost. That window, between Slack accepting the post
// and the mark, is the only one in which a record can be posted twice; the
// post carries the record's number and full hash, so a reader can tell a
// repeat.
func (b *Bot) postAudit(ctx context.Context, rec audit.Record) error {
	// Shutdown waits for this record: a post cut off half-way, or posted but
	// not marked, would be posted again by whoever delivers next.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_, _, err := b.api.PostMessageContext(ctx, b.cfg.AuditChannel,
		slack.MsgOptionText(auditText(rec), false), slack.MsgOptionBlocks(auditBlocks(rec)...))
	if err != nil {
		b.metrics.DeliveryFailed(slackErrorName(err))
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
