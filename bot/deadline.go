package bot

import (
	"context"
	"errors"
	"time"

	"github.com/slack-go/slack"
)

// endTimeout bounds the writing of how something ended: a request's
// outcome, its step records, its card and the requester's message, and one
// item of the sweeper. It runs on a context of its own, never on the one
// whose deadline the action may just have used up, so that an action cut
// short by ORYBOT_ACTION_TIMEOUT still ends on the card and in the store.
const endTimeout = 20 * time.Second

// endContext returns a context for writing how something ended: not
// cancelled with ctx (neither by shutdown nor by its deadline), and with a
// deadline of its own.
func endContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
}

// Card updates that Slack rate-limits (HTTP 429) are tried again after the
// Retry-After it asks for, at most cardAttempts times in all and never for
// a wait longer than maxRetryAfter or past the context's deadline.
const (
	cardAttempts  = 4
	maxRetryAfter = 15 * time.Second
)

// retryRateLimited calls call until it returns something other than a
// *slack.RateLimitedError, honouring Retry-After within the bounds above.
func retryRateLimited(ctx context.Context, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		var rl *slack.RateLimitedError
		if err == nil || !errors.As(err, &rl) || attempt == cardAttempts {
			return err
		}
		wait := max(rl.RetryAfter, time.Second)
		if wait > maxRetryAfter {
			return err
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
