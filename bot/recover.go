package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/store"
)

// Recoveries create recovery secrets for an identity.
type Recoveries interface {
	RecoveryLink(ctx context.Context, identityID string, expiresIn time.Duration) (link string, expiresAt time.Time, err error)
	RecoveryCode(ctx context.Context, identityID string, expiresIn time.Duration) (link, code string, expiresAt time.Time, err error)
}

// recoveryStep creates a recovery link or code and hands it to the
// requester alone, in a direct message from the app. Unlike an ephemeral
// message, which Slack drops when the user is not active, a direct message
// is confirmed by chat.postMessage, so the card says "sent" only when it
// was. The message is deleted when the secret expires (see
// deleteDueSecrets); the store keeps where it is, never the secret. The
// card, the audit record and the logs get only its expiry and a fingerprint
// that lets the team match a link a user shows them.
func (b *Bot) recoveryStep(req *store.Request, rec Recoveries) step {
	return step{name: "create " + req.Verb, do: func(ctx context.Context) (string, error) {
		var (
			link, code, secret string
			expires            time.Time
			err                error
		)
		if req.Verb == string(commands.RecoveryCode) {
			link, code, expires, err = rec.RecoveryCode(ctx, req.IdentityID, b.cfg.RecoveryTTL)
			// A six-digit code alone could be found from its fingerprint by
			// trying all of them; with the flow's link it cannot.
			secret = link + "\n" + code
		} else {
			link, expires, err = rec.RecoveryLink(ctx, req.IdentityID, b.cfg.RecoveryTTL)
			secret = link
		}
		if err != nil {
			return "", err
		}
		text := fmt.Sprintf("Recovery link for identity `%s` (request `%s`), valid until %s. Send it to the user over a channel you trust:\n%s",
			req.IdentityID, req.ID, slackDate(expires), esc(link))
		kind := "link"
		if code != "" {
			kind = "code"
			text = fmt.Sprintf("Recovery code for identity `%s` (request `%s`), valid until %s: `%s`\nThe user enters it at %s",
				req.IdentityID, req.ID, slackDate(expires), esc(code), esc(link))
		}
		channel, ts, err := b.api.PostMessageContext(ctx, req.Requester, slack.MsgOptionText(text, false))
		if err != nil {
			return "", &deliveryError{err: err}
		}
		if err := b.deps.Secrets.AddSecretMessage(ctx, store.SecretMessage{ChannelID: channel, TS: ts, DeleteAt: expires}); err != nil {
			// Unrecorded, the message would never be deleted: take it back.
			b.deleteSecret(ctx, store.SecretMessage{ChannelID: channel, TS: ts})
			return "", &deliveryError{err: err, unrecorded: true}
		}
		return fmt.Sprintf("recovery %s sent to <@%s> only, by direct message, which is deleted when it expires %s; fingerprint `%s`",
			kind, req.Requester, slackDate(expires), Fingerprint(secret)), nil
	}}
}

// Fingerprint is the short hash of a recovery link or code that the audit
// trail keeps instead of the secret.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}

// Secrets keeps track of the direct messages that carry recovery secrets,
// so that they are deleted when the secret expires, also after a restart.
type Secrets interface {
	AddSecretMessage(ctx context.Context, m store.SecretMessage) error
	DueSecretMessages(ctx context.Context, now time.Time, limit int) ([]store.SecretMessage, error)
	RemoveSecretMessage(ctx context.Context, channelID, ts string) error
}

// deleteDueSecrets deletes the direct messages whose secret has expired. The
// sweeper calls it; a message that fails to delete is tried again next time.
func (b *Bot) deleteDueSecrets(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, endTimeout)
	due, err := b.deps.Secrets.DueSecretMessages(lctx, b.cfg.Now(), 50)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("list expired recovery messages", "err", err)
		}
		return
	}
	for _, m := range due {
		// One hung call must not hold up the rest, as in endExpired.
		ictx, cancel := context.WithTimeout(ctx, endTimeout)
		if b.deleteSecret(ictx, m) {
			if err := b.deps.Secrets.RemoveSecretMessage(ictx, m.ChannelID, m.TS); err != nil {
				b.log.Error("forget deleted recovery message", "err", err, "channel", m.ChannelID, "ts", m.TS)
			}
		}
		cancel()
	}
}

// deleteSecret deletes a message that carried a secret and reports whether
// it is gone.
func (b *Bot) deleteSecret(ctx context.Context, m store.SecretMessage) bool {
	_, _, err := b.api.DeleteMessageContext(ctx, m.ChannelID, m.TS)
	var se slack.SlackErrorResponse
	if err != nil && !(errors.As(err, &se) && se.Err == "message_not_found") {
		b.log.Error("delete expired recovery message", "err", err, "channel", m.ChannelID, "ts", m.TS)
		return false
	}
	b.log.Info("deleted expired recovery message", "channel", m.ChannelID, "ts", m.TS)
	return true
}
