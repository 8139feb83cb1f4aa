package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/store"
)

// Sweeps find the requests that nobody ended: pending ones past their
// expiry, and approved ones whose action a stopped bot left running.
type Sweeps interface {
	ExpiredPending(ctx context.Context, now time.Time) ([]*store.Request, error)
	Interrupted(ctx context.Context, decidedBefore time.Time) ([]*store.Request, error)
}

// sweep ends pending requests whose time is up, so that their cards say
// "expired" and the audit trail records it even when nobody clicks, and even
// for requests that expired while the bot was down.
func (b *Bot) sweep(ctx context.Context) {
	t := time.NewTicker(b.cfg.SweepInterval)
	defer t.Stop()
	for {
		b.health.sweep.beat(time.Now())
		b.endExpired(ctx)
		b.endInterrupted(ctx)
		b.deleteDueSecrets(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// endExpired ends the pending requests whose time is up. Each one gets a
// deadline of its own, which shutdown does not cut short: its card and its
// requester hear of it once the store has it.
func (b *Bot) endExpired(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, endTimeout)
	expired, err := b.deps.Sweeps.ExpiredPending(lctx, b.cfg.Now())
	cancel()
	if err != nil && ctx.Err() == nil {
		b.log.Error("list expired requests", "err", err)
	}
	for _, req := range expired {
		ictx, cancel := endContext(ctx)
		b.expire(ictx, req, b.log.With("request_id", req.ID, "cmd", req.Verb, "identity_id", req.IdentityID))
		cancel()
	}
}

// endInterrupted fails approved requests whose action started long enough
// ago that no replica can still be running it: the bot stopped in between.
// Their cards would otherwise say "running…" for ever.
func (b *Bot) endInterrupted(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, endTimeout)
	reqs, err := b.deps.Sweeps.Interrupted(lctx, b.cfg.Now().Add(-b.cfg.WorkTimeout-time.Minute))
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("list interrupted requests", "err", err)
		}
		return
	}
	for _, req := range reqs {
		ictx, cancel := endContext(ctx)
		b.endOneInterrupted(ictx, req)
		cancel()
	}
}

// endOneInterrupted fails one request that a stopped bot left running.
func (b *Bot) endOneInterrupted(ctx context.Context, req *store.Request) {
	log := b.log.With("request_id", req.ID, "cmd", req.Verb, "identity_id", req.IdentityID)
	result := fmt.Sprintf("✗ the bot stopped while running this action, so whether Ory applied it is unknown. Check with `/ory show %s` before asking again.", req.IdentityID)
	err := b.deps.Outcomes.Finish(ctx, req.ID, store.StatusFailed, result, b.cfg.Now(), b.record(req, audit.Failed, req.Approver, "", result))
	if err != nil {
		if !errors.Is(err, store.ErrNotPending) {
			log.Error("end interrupted request", "err", err)
		}
		return
	}
	log.Warn("ended a request interrupted by a stop")
	req.Status, req.Result = store.StatusFailed, result
	b.finish(ctx, req, log)
}
