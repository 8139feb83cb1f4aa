package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// bot is a minimal socket mode app built on slack-go, the way orybot is.
type bot struct {
	api    *slack.Client
	client *socketmode.Client
	// events receives the slash command, interactive and Events API events,
	// after they have been acknowledged; events beyond its buffer are dropped.
	events chan socketmode.Event
}

// startBot connects a slack-go socket mode client to srv. It acknowledges
// every request with ackPayload(evt) (no payload if ackPayload is nil or
// returns nil) and stops when the test ends.
func startBot(t testing.TB, srv *Server, ackPayload func(socketmode.Event) any, opts ...socketmode.Option) *bot {
	t.Helper()
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(AppToken))
	b := &bot{api: api, client: socketmode.New(api, opts...), events: make(chan socketmode.Event, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	runDone, loopDone := make(chan error, 1), make(chan struct{})
	go func() { runDone <- b.client.RunContext(ctx) }()
	go func() {
		defer close(loopDone)
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-b.client.Events:
				if evt.Request == nil || evt.Type == socketmode.EventTypeHello {
					continue
				}
				var payload any
				if ackPayload != nil {
					payload = ackPayload(evt)
				}
				if err := b.client.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
					t.Errorf("ack: %v", err)
				}
				select {
				case b.events <- evt:
				default: // nobody is reading (benchmarks): drop
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-loopDone
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("socketmode client: %v", err)
		}
	})
	return b
}

func (b *bot) next(t *testing.T, ctx context.Context) socketmode.Event {
	t.Helper()
	select {
	case evt := <-b.events:
		return evt
	case <-ctx.Done():
		t.Fatal("bot received no event")
		return socketmode.Event{}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSlashCommandAck(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	b := startBot(t, srv, func(evt socketmode.Event) any {
		cmd := evt.Data.(slack.SlashCommand)
		return map[string]string{"text": "pong: " + cmd.Text}
	})
	if err := srv.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}

	env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory", Text: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := env.WaitAck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct{ Text string }
	if err := json.Unmarshal(ack.Payload, &payload); err != nil || payload.Text != "pong: whoami" {
		t.Errorf("ack payload = %s (%v), want text %q", ack.Payload, err, "pong: whoami")
	}
	if ack.EnvelopeID != env.ID || ack.At.Before(env.SentAt) {
		t.Errorf("ack = %+v for envelope %s sent at %v", ack, env.ID, env.SentAt)
	}
	if acks := srv.Acks(); len(acks) != 1 {
		t.Errorf("Acks() = %d acks, want 1", len(acks))
	}

	evt := b.next(t, ctx)
	cmd, ok := evt.Data.(slack.SlashCommand)
	if evt.Type != socketmode.EventTypeSlashCommand || !ok {
		t.Fatalf("event = %s %T, want a slash command", evt.Type, evt.Data)
	}
	want := slack.SlashCommand{
		Token: "verification-token", TeamID: TeamID, TeamDomain: "orybot-test",
		ChannelID: "C1", ChannelName: "c1", UserID: "U1", UserName: "u1",
		Command: "/ory", Text: "whoami", ResponseURL: env.ResponseURL, TriggerID: env.TriggerID, APIAppID: AppID,
	}
	if cmd != want {
		t.Errorf("slack-go parsed\n%+v\nwant\n%+v", cmd, want)
	}
	if !evt.Request.AcceptsResponsePayload || evt.Request.RetryAttempt != 0 {
		t.Errorf("request = %+v", evt.Request)
	}

	env2, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory", Text: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if env2.ID == env.ID || env2.ResponseURL == env.ResponseURL || env2.TriggerID == env.TriggerID {
		t.Errorf("envelopes share IDs: %+v %+v", env, env2)
	}
	if _, err := env2.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRedeliveryAndEventsAPI(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	b := startBot(t, srv, nil)

	env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b.next(t, ctx)
	retry, err := srv.Send(ctx, env.Type, env.Payload, 1)
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(t, ctx)
	if evt.Request.RetryAttempt != 1 || evt.Request.RetryReason != "timeout" || evt.Request.EnvelopeID != retry.ID {
		t.Errorf("redelivered request = %+v", evt.Request)
	}
	if ack, err := retry.WaitAck(ctx); err != nil || ack.Payload != nil {
		t.Errorf("ack = %+v, %v; want one without payload", ack, err)
	}

	event := map[string]any{
		"type": "event_callback", "team_id": TeamID, "api_app_id": AppID, "event_id": "Ev1",
		"event": map[string]any{"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "channel": "C1", "ts": "1.2"},
	}
	if _, err := srv.Send(ctx, "events_api", event, 0); err != nil {
		t.Fatal(err)
	}
	if evt := b.next(t, ctx); evt.Type != socketmode.EventTypeEventsAPI || evt.Request.AcceptsResponsePayload {
		t.Errorf("event = %s %+v", evt.Type, evt.Request)
	}
}

func TestWrongTokens(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)

	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken("xapp-wrong"))
	if _, _, err := api.StartSocketModeContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("apps.connections.open with a wrong app token: %v, want invalid_auth", err)
	}
	// A bot token is no app token.
	api = slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(BotToken))
	if err := socketmode.New(api).RunContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("socketmode client with a bot token as app token: %v, want invalid_auth", err)
	}
	api = slack.New("xoxb-wrong", slack.OptionAPIURL(srv.APIURL()))
	if _, err := api.AuthTestContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("auth.test with a wrong bot token: %v, want invalid_auth", err)
	}
	if srv.Connections() != 0 {
		t.Errorf("Connections() = %d, want 0", srv.Connections())
	}
}

func TestChatMessages(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()))

	auth, err := api.AuthTestContext(ctx)
	if err != nil || auth.UserID != BotUserID || auth.BotID != BotID || auth.TeamID != TeamID {
		t.Fatalf("auth.test = %+v, %v", auth, err)
	}

	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*pending*", false, false), nil, nil)
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("pending", false), slack.MsgOptionBlocks(section))
	if err != nil || ch != "C1" || ts == "" {
		t.Fatalf("PostMessage = %q, %q, %v", ch, ts, err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("in thread", false), slack.MsgOptionTS(ts))
	if err != nil || ts2 == ts {
		t.Fatalf("PostMessage in thread = %q, %v", ts2, err)
	}
	_, _, text, err := api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("done", false), slack.MsgOptionBlocks())
	if err != nil || text != "done" {
		t.Fatalf("UpdateMessage = %q, %v", text, err)
	}

	msgs := srv.Messages("C1")
	if len(msgs) != 2 {
		t.Fatalf("Messages(C1) = %+v, want 2", msgs)
	}
	m := msgs[0]
	if m.TS != ts || m.Text != "done" || string(m.Blocks) != "[]" || len(m.Versions) != 2 {
		t.Errorf("updated message = %+v", m)
	}
	if v := m.Versions[0]; v.Text != "pending" || !strings.Contains(string(v.Blocks), "*pending*") {
		t.Errorf("first version = %+v", v)
	}
	if msgs[1].ThreadTS != ts || msgs[1].Text != "in thread" {
		t.Errorf("thread reply = %+v", msgs[1])
	}
	if got := srv.Messages("C2"); len(got) != 0 {
		t.Errorf("Messages(C2) = %+v", got)
	}

	_, _, _, err = api.UpdateMessageContext(ctx, "C1", "1.000000", slack.MsgOptionText("x", false))
	if err == nil || err.Error() != "message_not_found" {
		t.Errorf("update of unknown message: %v, want message_not_found", err)
	}
	if calls := srv.Calls("chat.update"); len(calls) != 2 || calls[0].Params.Get("ts") != ts || calls[0].Params.Has("token") {
		t.Errorf("Calls(chat.update) = %+v", calls)
	}
}

func TestEphemeral(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()))

	ts, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("only you", false))
	if err != nil || ts == "" {
		t.Fatalf("PostEphemeral = %q, %v", ts, err)
	}
	got := srv.Ephemerals("U1")
	if len(got) != 1 || got[0].Channel != "C1" || got[0].Text != "only you" || got[0].TS != ts {
		t.Errorf("Ephemerals(U1) = %+v", got)
	}

	srv.SetChannelUsers("C1", "U1")
	if _, err := api.PostEphemeralContext(ctx, "C1", "U2", slack.MsgOptionText("x", false)); err == nil || err.Error() != "user_not_in_channel" {
		t.Errorf("ephemeral to a user outside the channel: %v", err)
	}
	srv.SetMember("C1", false)
	if _, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("x", false)); err == nil || err.Error() != "not_in_channel" {
		t.Errorf("ephemeral where the bot is not a member: %v", err)
	}
	if n := len(srv.Ephemerals("")); n != 1 {
		t.Errorf("%d ephemerals stored, want 1", n)
	}
}

func TestResponseURL(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	startBot(t, srv, nil)

	env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.ResponseURL, strings.TrimSuffix(srv.APIURL(), "api/")+"response/") {
		t.Errorf("response URL %q is not served by the fake", env.ResponseURL)
	}
	err = slack.PostWebhookContext(ctx, env.ResponseURL, &slack.WebhookMessage{
		Text: "working on it", ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The other way slack-go posts to a response_url.
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()))
	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.PlainTextType, "done", false, false), nil, nil)
	_, _, err = api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(env.ResponseURL, slack.ResponseTypeInChannel),
		slack.MsgOptionText("done", false), slack.MsgOptionBlocks(section))
	if err != nil {
		t.Fatal(err)
	}

	posts := srv.ResponsePosts(env.ResponseURL)
	if len(posts) != 2 {
		t.Fatalf("ResponsePosts = %+v, want 2", posts)
	}
	if p := posts[0]; p.Text != "working on it" || p.ResponseType != "ephemeral" || !p.ReplaceOriginal || p.DeleteOriginal {
		t.Errorf("first post = %+v", p)
	}
	if p := posts[1]; p.Text != "done" || p.ResponseType != "in_channel" || !strings.Contains(string(p.Blocks), `"done"`) {
		t.Errorf("second post = %+v", p)
	}

	var codeErr slack.StatusCodeError
	err = slack.PostWebhookContext(ctx, env.ResponseURL+"0", &slack.WebhookMessage{Text: "x"})
	if !errors.As(err, &codeErr) || codeErr.Code != 404 {
		t.Errorf("post to an unknown response URL: %v, want 404", err)
	}
	srv.ServerErrorNext("response_url", 1)
	err = slack.PostWebhookContext(ctx, env.ResponseURL, &slack.WebhookMessage{Text: "x"})
	if !errors.As(err, &codeErr) || codeErr.Code != 500 {
		t.Errorf("post with an injected error: %v, want 500", err)
	}
}

func TestBlockAction(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	b := startBot(t, srv, nil)

	button := slack.NewButtonBlockElement("approve", "req-42", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	_, ts, err := b.api.PostMessageContext(ctx, "C1", slack.MsgOptionText("approve?", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("actions", button)))
	if err != nil {
		t.Fatal(err)
	}

	env, err := srv.BlockAction(ctx, BlockAction{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "approve", BlockID: "actions", Value: "req-42"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	evt := b.next(t, ctx)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if evt.Type != socketmode.EventTypeInteractive || !ok {
		t.Fatalf("event = %s %T, want an interaction", evt.Type, evt.Data)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U1" || cb.Channel.ID != "C1" ||
		cb.Container.MessageTs != ts || cb.Container.ChannelID != "C1" ||
		cb.ResponseURL != env.ResponseURL || cb.TriggerID != env.TriggerID || cb.Team.ID != TeamID {
		t.Errorf("callback = %+v", cb)
	}
	if len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("block actions = %+v", cb.ActionCallback)
	}
	if a := cb.ActionCallback.BlockActions[0]; a.ActionID != "approve" || a.BlockID != "actions" || a.Value != "req-42" || a.Type != "button" {
		t.Errorf("action = %+v", a)
	}
	if cb.Message.Timestamp != ts || cb.Message.Text != "approve?" || len(cb.Message.Blocks.BlockSet) != 1 {
		t.Errorf("message = %+v", cb.Message.Msg)
	}
}

func TestReconnect(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	startBot(t, srv, nil)
	roundTrip := func() {
		t.Helper()
		env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()

	if err := srv.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func() bool { return srv.Connections() == 2 }); err != nil {
		t.Fatalf("%v; Connections() = %d", err, srv.Connections())
	}
	roundTrip()

	if err := srv.DropConnection(); err != nil {
		t.Fatal(err)
	}
	// SlashCommand waits for the client to come back.
	roundTrip()
	if n := srv.Connections(); n != 3 {
		t.Errorf("Connections() = %d, want 3", n)
	}
	if n := len(srv.Calls("apps.connections.open")); n != 3 {
		t.Errorf("%d calls to apps.connections.open, want 3", n)
	}
}

func TestPings(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)

	// The client gives up on a connection without a ping for 300ms.
	alive := New(t, WithPingInterval(50*time.Millisecond))
	startBot(t, alive, nil, socketmode.OptionPingInterval(300*time.Millisecond))
	silent := New(t, WithPingInterval(time.Hour)) // one ping on connect, then none
	startBot(t, silent, nil, socketmode.OptionPingInterval(300*time.Millisecond))

	// Each silent connection lasts 300-600ms; meanwhile the other client
	// must stay on its first connection.
	if err := silent.WaitFor(ctx, func() bool { return silent.Connections() >= 3 }); err != nil {
		t.Errorf("client did not reconnect after pings stopped: %v", err)
	}
	if n := alive.Connections(); n != 1 {
		t.Errorf("client with regular pings connected %d times, want 1", n)
	}
}

func TestFaults(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()))
	post := func(channel string) error {
		_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
		return err
	}

	srv.SetMember("C2", false)
	var slackErr slack.SlackErrorResponse
	if err := post("C2"); !errors.As(err, &slackErr) || slackErr.Err != "not_in_channel" {
		t.Errorf("post where not a member: %v, want not_in_channel", err)
	}
	srv.SetMember("C2", true)
	if err := post("C2"); err != nil {
		t.Errorf("post after joining: %v", err)
	}

	srv.RateLimitNext("chat.postMessage", 1, 1)
	var rateErr *slack.RateLimitedError
	if err := post("C1"); !errors.As(err, &rateErr) || rateErr.RetryAfter != time.Second {
		t.Errorf("rate limited post: %v, want *slack.RateLimitedError after 1s", err)
	}
	srv.ServerErrorNext("chat.postMessage", 1)
	var codeErr slack.StatusCodeError
	if err := post("C1"); !errors.As(err, &codeErr) || codeErr.Code != 500 {
		t.Errorf("post with server error: %v, want 500", err)
	}
	srv.FailNext("chat.postMessage", "fatal_error", 2)
	for i := range 2 {
		if err := post("C1"); err == nil || err.Error() != "fatal_error" {
			t.Errorf("failed post %d: %v, want fatal_error", i, err)
		}
	}
	if err := post("C1"); err != nil {
		t.Errorf("post after faults: %v", err)
	}
	if n := len(srv.Messages("")); n != 2 {
		t.Errorf("%d messages stored, want 2", n)
	}
	if n := len(srv.Calls("chat.postMessage")); n != 7 {
		t.Errorf("%d calls recorded, want 7", n)
	}

	srv.SetDelay("auth.test", 200*time.Millisecond)
	start := time.Now()
	if _, err := api.AuthTestContext(ctx); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Errorf("delayed auth.test took %v: %v", time.Since(start), err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := api.AuthTestContext(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed auth.test with a short deadline: %v", err)
	}
}

func TestDirectoryMethods(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()))

	srv.SetUserGroup("S1", "U1", "U2")
	users, err := api.GetUserGroupMembersContext(ctx, "S1")
	if err != nil || strings.Join(users, ",") != "U1,U2" {
		t.Errorf("GetUserGroupMembers(S1) = %v, %v", users, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S9"); err == nil || err.Error() != "no_such_subteam" {
		t.Errorf("unknown group: %v", err)
	}
	srv.SetPlanUpgradeRequired(true)
	if _, err := api.GetUserGroupMembersContext(ctx, "S1"); err == nil || err.Error() != "plan_upgrade_required" {
		t.Errorf("free plan: %v", err)
	}

	srv.SetUser("U1", "alice", "alice@example.com")
	u, err := api.GetUserInfoContext(ctx, "U1")
	if err != nil || u.ID != "U1" || u.Name != "alice" || u.Profile.Email != "alice@example.com" {
		t.Errorf("GetUserInfo(U1) = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "U9"); err == nil || err.Error() != "user_not_found" {
		t.Errorf("unknown user: %v", err)
	}

	srv.SetMember("C2", false)
	for ch, member := range map[string]bool{"C1": true, "C2": false} {
		info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: ch})
		if err != nil || info.ID != ch || info.IsMember != member {
			t.Errorf("GetConversationInfo(%s) = %+v, %v", ch, info, err)
		}
	}

	if err := api.ArchiveConversationContext(ctx, "C1"); err == nil || err.Error() != "unknown_method" {
		t.Errorf("unsupported method: %v, want unknown_method", err)
	}
	if calls := srv.Calls("conversations.archive"); len(calls) != 1 || calls[0].Params.Get("channel") != "C1" {
		t.Errorf("Calls(conversations.archive) = %+v", calls)
	}
}

func TestAllText(t *testing.T) {
	ctx := testContext(t)
	srv := New(t)
	const (
		inBlocks = `s3cret<&>"blocks"`
		inAck    = "s3cret-ack"
		inPost   = "s3cret-response"
	)
	b := startBot(t, srv, func(socketmode.Event) any { return map[string]string{"text": inAck} })

	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, inBlocks, false, false), nil, nil)
	if _, _, err := b.api.PostMessageContext(ctx, "C1", slack.MsgOptionText("plain", false), slack.MsgOptionBlocks(section)); err != nil {
		t.Fatal(err)
	}
	env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	if err := slack.PostWebhookContext(ctx, env.ResponseURL, &slack.WebhookMessage{Text: inPost}); err != nil {
		t.Fatal(err)
	}

	all := srv.AllText()
	for _, s := range []string{inBlocks, inAck, inPost, "plain"} {
		if !strings.Contains(all, s) {
			t.Errorf("AllText() lacks %q:\n%s", s, all)
		}
	}
	for _, s := range []string{BotToken, AppToken, "never-sent"} {
		if strings.Contains(all, s) {
			t.Errorf("AllText() contains %q", s)
		}
	}
}

func BenchmarkSlashCommandAck(b *testing.B) {
	ctx := context.Background()
	srv := New(b)
	startBot(b, srv, func(socketmode.Event) any { return map[string]string{"text": "ok"} })
	var total time.Duration
	for b.Loop() {
		env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory", Text: "ping"})
		if err != nil {
			b.Fatal(err)
		}
		ack, err := env.WaitAck(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total += ack.At.Sub(env.SentAt)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/ack")
}

func TestRoundRobin(t *testing.T) {
	ctx := testContext(t)
	srv := New(t, WithRoundRobin())
	a := startBot(t, srv, nil)
	if err := srv.WaitFor(ctx, func() bool { return srv.LiveConnections() == 1 }); err != nil {
		t.Fatal(err)
	}
	b := startBot(t, srv, nil)
	if err := srv.WaitFor(ctx, func() bool { return srv.LiveConnections() == 2 }); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 4 {
		env, err := srv.SlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/ory"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitAck(ctx); err != nil {
			t.Fatal(err)
		}
		got = append(got, env.Connection)
	}
	if want := []int{1, 2, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("envelopes went to connections %v, want %v", got, want)
	}
	// Each client received its share.
	for _, c := range []*bot{a, b} {
		for range 2 {
			c.next(t, ctx)
		}
	}
}
