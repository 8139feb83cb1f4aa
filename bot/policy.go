package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// mayRequest says why user may not use /ory, or "" if they may.
func (b *Bot) mayRequest(ctx context.Context, user string) (string, error) {
	if b.requesters.empty() {
		return "", nil
	}
	ok, err := b.requesters.contains(ctx, user)
	if err != nil || ok {
		return "", err
	}
	return "You are not allowed to use `/ory`: only the users and groups in ORYBOT_REQUESTERS are. Ask an admin if you need access.", nil
}

// channelRefusal says why /ory is not accepted in channel, or "".
func (b *Bot) channelRefusal(channel string) string {
	if len(b.cfg.Channels) == 0 || slices.Contains(b.cfg.Channels, channel) {
		return ""
	}
	links := make([]string, len(b.cfg.Channels))
	for i, c := range b.cfg.Channels {
		links[i] = "<#" + c + ">"
	}
	return "`/ory` is not accepted in this channel. Use it in " + strings.Join(links, ", ") + "."
}

// slackEmail returns the email Slack has for user, lower-cased, or "" if
// Slack has none (bots, some guests). It is cached like group members.
func (b *Bot) slackEmail(ctx context.Context, user string) (string, error) {
	return b.emails.get(ctx, user)
}

// fetchEmail asks Slack for user's email (users.info).
func (b *Bot) fetchEmail(ctx context.Context, user string) (string, error) {
	u, err := b.api.GetUserInfoContext(ctx, user)
	if err != nil {
		return "", fmt.Errorf("look up slack user %s: %w", user, err)
	}
	return strings.ToLower(strings.TrimSpace(u.Profile.Email)), nil
}

// emailDigest lets the bot compare an approver's email with the identity's
// later without storing the identity's email: a SHA-256 salted with the
// request id, so that equal emails on two requests do not look alike.
func emailDigest(requestID, email string) string {
	if email == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(requestID + "\x00" + strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// ownIdentity reports whether the Slack user's email is the identity's,
// given the identity's digest for this request.
func (b *Bot) ownIdentity(ctx context.Context, user, requestID, digest string) (bool, error) {
	if digest == "" {
		return false, nil
	}
	email, err := b.slackEmail(ctx, user)
	if err != nil {
		return false, err
	}
	return email != "" && emailDigest(requestID, email) == digest, nil
}
