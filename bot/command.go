package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/commands"
)

// invocation is one slash command being answered: who typed what, where,
// with the logger and the reply channel every handler needs.
type invocation struct {
	sc  slack.SlashCommand
	cmd commands.Command
	log *slog.Logger
	say replier
}

// replier shows text to one user only.
type replier func(ctx context.Context, text string)

// command handles a slash command in two parts. The ack payload is computed
// here, from the text alone, so that parse errors and help answer at once;
// the returned work does everything that needs Ory, the database or the
// Web API, after the ack has gone out. Who may use the verb is checked
// here, from the verb table, for every verb.
func (b *Bot) command(sc slack.SlashCommand) (ack any, work func(context.Context)) {
	if !b.ourTeam(sc.TeamID) {
		b.log.Warn("refused: user of another team", "requester", sc.UserID, "team", sc.TeamID)
		return ephemeral(outsiderWords), nil
	}
	cmd, err := commands.Parse(sc.Text)
	if err != nil {
		// A typing mistake, not worth a log line: answer it in the ack.
		var pe *commands.ParseError
		errors.As(err, &pe)
		return ephemeral(parseWords(pe) + "\n\n" + helpText()), nil
	}
	v, ok := b.verbs[cmd.Verb]
	if !ok {
		// commands knows a verb the table lacks; TestVerbTable prevents it.
		return ephemeral(fmt.Sprintf("I don't know the command `%s`.", cmd.Verb)), nil
	}
	if v.ack != nil {
		if text := v.ack(cmd); text != "" {
			return ephemeral(text), nil
		}
	}
	if msg := b.channelRefusal(sc.ChannelID); msg != "" {
		return ephemeral(msg), nil
	}
	if v.changing() && strings.HasPrefix(sc.ChannelID, "D") {
		return ephemeral("Approvers can't see a direct message, so requests need a channel: run this in a channel where the approvers and I are members."), nil
	}
	return nil, func(ctx context.Context) {
		in := &invocation{
			sc:  sc,
			cmd: cmd,
			log: b.log.With("cmd", string(cmd.Verb), "requester", sc.UserID),
			say: func(ctx context.Context, text string) { b.reply(ctx, sc.ResponseURL, text) },
		}
		if !b.authorize(ctx, in, v.access) {
			return
		}
		if v.changing() {
			b.receive(ctx, in, v)
			return
		}
		v.answer(b, ctx, in)
	}
}

// authorize checks that the user may use a verb with the given access, and
// tells them if not.
func (b *Bot) authorize(ctx context.Context, in *invocation, a access) bool {
	if a == anyone {
		return true
	}
	if a == requestersOrApprovers {
		approver, err := b.approvers.contains(ctx, in.sc.UserID)
		if err != nil {
			in.say(ctx, b.describe(err, "check approvers", in.log))
			return false
		}
		if approver {
			return true
		}
	}
	msg, err := b.mayRequest(ctx, in.sc.UserID)
	if err != nil {
		in.say(ctx, b.describe(err, "check requesters", in.log))
		return false
	}
	if msg != "" {
		in.log.Info("refused: not a requester")
		in.say(ctx, msg)
		return false
	}
	return true
}

// verbLabel is the verb of a slash command's text for metrics: a verb of
// the verb table, or "invalid", never what the user typed.
func (b *Bot) verbLabel(text string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	verb := commands.Verb(strings.ToLower(first))
	if _, ok := b.verbs[verb]; ok {
		return string(verb)
	}
	return "invalid"
}

func ephemeral(text string) map[string]any {
	return map[string]any{"response_type": slack.ResponseTypeEphemeral, "text": text}
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
		b.log.Error("reply via response_url", "err", withoutURL(err))
	}
}
