package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// requester alone, as an ephemeral message in the channel where they asked.
// The card, the audit record and the logs get only its expiry and a
// fingerprint that lets the team match a link a user shows them.
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
		if _, err := b.api.PostEphemeralContext(ctx, req.ChannelID, req.Requester, slack.MsgOptionText(text, false)); err != nil {
			return "", &deliveryError{err: err}
		}
		return fmt.Sprintf("recovery %s sent to <@%s> only; expires %s; fingerprint `%s`", kind, req.Requester, slackDate(expires), Fingerprint(secret)), nil
	}}
}

// Fingerprint is the short hash of a recovery link or code that the audit
// trail keeps instead of the secret.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}
