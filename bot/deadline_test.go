package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// A card update that Slack rate-limits is tried again after Retry-After,
// a bounded number of times.
func TestCardUpdateHonoursRateLimits(t *testing.T) {
	fs := slacktest.New(t)
	api := slack.New(slacktest.BotToken, slack.OptionAPIURL(fs.APIURL()))
	b := New(testLogger(t), api, Deps{}, testConfig())
	_, ts, err := api.PostMessageContext(t.Context(), "COPS", slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	req := &store.Request{ID: "req0000001", Verb: "deactivate", ChannelID: "COPS", MessageTS: ts,
		Status: store.StatusDone, Approver: "UAPP", Result: "✓ identity is now inactive"}
	updates := func() int { return len(fs.Calls("chat.update")) }

	fs.RateLimitNext("chat.update", 2, 1)
	start := time.Now()
	b.updateCard(t.Context(), req, b.log)
	if n := updates(); n != 3 {
		t.Errorf("%d chat.update calls, want 3 (two rate-limited, then one through)", n)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("gave up waiting after %v, want it to honour Retry-After: 1 twice", d)
	}
	if got := string(fs.Messages("COPS")[0].Blocks); !strings.Contains(got, "Done") {
		t.Errorf("card after rate limits = %s, want it updated to Done", got)
	}

	// A Retry-After beyond the context's deadline is not waited for.
	before := updates()
	fs.RateLimitNext("chat.update", 1, 5)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	b.updateCard(ctx, req, b.log)
	if n := updates() - before; n != 1 {
		t.Errorf("%d attempts when Retry-After outlasts the deadline, want 1", n)
	}

	before = updates()
	fs.RateLimitNext("chat.update", 10, 1)
	b.updateCard(t.Context(), req, b.log)
	if n := updates() - before; n != cardAttempts {
		t.Errorf("%d attempts against a lasting rate limit, want %d", n, cardAttempts)
	}
}
