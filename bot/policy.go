package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
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

// addressDigests returns the digests (see emailDigest) of every address of
// the identity, sorted and without repeats: the email trait, every
// credential identifier (password, code, webauthn…; an oidc identifier such
// as "google:1234" never matches an email, which does no harm), and the
// verifiable and recovery addresses, wherever the schema keeps them.
func addressDigests(requestID string, id ory.Identity) []string {
	all := []string{id.Email}
	for _, ids := range id.Identifiers {
		all = append(all, ids...)
	}
	all = append(all, id.VerifiableAddresses...)
	all = append(all, id.RecoveryAddresses...)
	var out []string
	for _, a := range all {
		if d := emailDigest(requestID, a); d != "" {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// owns reports whether email, a Slack user's, is one of the addresses of
// the identity a request is about.
func owns(req *store.Request, email string) bool {
	d := emailDigest(req.ID, email)
	return d != "" && (d == req.Snapshot.EmailDigest || slices.Contains(req.Snapshot.AddressDigests, d))
}

// selfCheck is what the bot knows about a Slack user and the identity a
// request is about.
type selfCheck int

const (
	notSelf selfCheck = iota
	// noSlackEmail: Slack has no email for the user, so the bot cannot
	// tell, and refuses: the check fails closed.
	noSlackEmail
	// ownIdentity: one of the identity's addresses is the user's email.
	ownIdentity
)

// self compares user's Slack email with every address of the identity of
// req, case-insensitively.
func (b *Bot) self(ctx context.Context, user string, req *store.Request) (selfCheck, error) {
	email, err := b.slackEmail(ctx, user)
	switch {
	case err != nil:
		return notSelf, err
	case email == "":
		return noSlackEmail, nil
	case owns(req, email):
		return ownIdentity, nil
	}
	return notSelf, nil
}

// noEmailWords tells a user without a Slack email why they may not take
// part in a changing request.
const noEmailWords = "Your Slack profile has no email address, so I can't check that the identity is not your own, and changing requests need that check. Ask a Slack admin to add your email."
