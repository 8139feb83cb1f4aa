package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/orybot/orybot/store"
)

// retryKey marks a context as running an approved request, so that a retry
// inside the ory package can be shown on that request's card.
type retryKey struct{}

func withRetryNotice(ctx context.Context, req *store.Request) context.Context {
	return context.WithValue(ctx, retryKey{}, req)
}

// OnOryRetry shows on the card that Ory is being retried. Pass it as
// ory.Config.OnRetry; it ignores calls made outside an approved request.
func (b *Bot) OnOryRetry(ctx context.Context, op string, attempt int, wait time.Duration, err error) {
	req, ok := ctx.Value(retryKey{}).(*store.Request)
	if !ok {
		return
	}
	words, _ := userWords(err)
	if words == "" {
		words = "Ory did not answer in time."
	}
	notice := *req
	notice.Result = fmt.Sprintf("retrying (attempt %d) in %s: %s", attempt+1, wait.Round(100*time.Millisecond), words)
	log := b.log.With("request_id", req.ID, "cmd", req.Verb)
	log.Info("retrying ory", "op", op, "attempt", attempt, "wait", wait)
	b.updateCard(ctx, &notice, log)
}
