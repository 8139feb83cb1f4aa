package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orybot/orybot/bot"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/orybot/orybot/store"
)

// The end-to-end tests of every verb but deactivate (main_test.go): each
// request is made by the requester and approved by an approver through the
// fake Slack, and the outcome is checked against Kratos's own state.

// approve has approver1 approve a request and waits until its card shows
// want ("*Done*" or "*Failed*").
func (h *harness) approve(t *testing.T, id string, card slacktest.Message, want string) slacktest.Message {
	t.Helper()
	h.click(t, approver1, card, "approve", id)
	card = h.waitCard(t, id, want)
	h.settled(t, id)
	return card
}

// posts counts the messages the bot posted, leaving out those that an
// earlier request may still be sending when a test counts: its audit
// records and the message telling its requester how it ended.
func (h *harness) posts() int {
	n := 0
	for _, m := range h.slack.Messages("") {
		if m.Channel != auditChan && !strings.HasPrefix(m.Text, "Your request `") {
			n++
		}
	}
	return n
}

// settled waits until the bot has told everyone how request id ended: the
// outcome is in the audit channel and the requester has their message. A
// later check that counts posts then sees none of them.
func (h *harness) settled(t *testing.T, id string) {
	t.Helper()
	h.waitAudit(t, id)
	err := h.slack.WaitFor(ctxT(t), func() bool {
		return slices.ContainsFunc(h.slack.Messages(requester), func(m slacktest.Message) bool { return strings.Contains(m.Text, id) })
	})
	if err != nil {
		t.Fatalf("the requester was not told how %s ended", id)
	}
}

// mutations counts the Ory calls that could change something.
func (h *harness) mutations() int {
	n := 0
	for _, c := range h.proxy.Calls() {
		if !strings.HasPrefix(c, http.MethodGet+" ") {
			n++
		}
	}
	return n
}

// refused types text as the requester, expects it to be turned down in the
// ack or the ephemeral reply, and returns that answer. It fails the test if
// a message was posted or Ory was asked to change anything.
func (h *harness) refused(t *testing.T, text string) string {
	t.Helper()
	posts, muts := h.posts(), h.mutations()
	env, ack := h.command(t, requester, opsChan, text)
	reply := ack
	if ack == "" {
		// On success the card is posted before this reply, so once it is
		// here a wrong card would be too.
		reply = h.response(t, env, 1)
	}
	if requestIDRE.MatchString(reply) {
		t.Errorf("%q was accepted: %s", text, reply)
	}
	if n := h.posts() - posts; n != 0 {
		t.Errorf("%q posted %d messages, want none", text, n)
	}
	if n := h.mutations() - muts; n != 0 {
		t.Errorf("%q made %d changing Ory calls, want none", text, n)
	}
	return reply
}

// lookup types a read-only command and returns the ephemeral answer, after
// checking that it posted nothing and changed nothing.
func (h *harness) lookup(t *testing.T, text string) string {
	t.Helper()
	posts, muts := h.posts(), h.mutations()
	env, ack := h.command(t, requester, opsChan, text)
	if ack != "" {
		t.Fatalf("ack to %q = %q, want an empty ack", text, ack)
	}
	reply := h.response(t, env, 1)
	if n := h.posts() - posts; n != 0 {
		t.Errorf("%q posted %d messages, want none", text, n)
	}
	if n := h.mutations() - muts; n != 0 {
		t.Errorf("%q made %d changing Ory calls, want none", text, n)
	}
	return unescape.Replace(reply)
}

func blocks(m slacktest.Message) string { return unescape.Replace(string(m.Blocks)) }

// credentialTypes returns the credential types Kratos has for identity id.
func (h *harness) credentialTypes(t *testing.T, id string) []string {
	t.Helper()
	var types []string
	for typ := range h.kratos.Identity(t, id).GetCredentials() {
		types = append(types, typ)
	}
	slices.Sort(types)
	return types
}

// activeSessions returns the ids of identity id's sessions that Kratos
// still counts as active.
func (h *harness) activeSessions(t *testing.T, id string) []string {
	t.Helper()
	var ids []string
	for _, s := range h.kratos.Sessions(t, id) {
		if s.GetActive() {
			ids = append(ids, s.Id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) checkAPIKey(t *testing.T) {
	t.Helper()
	if len(h.proxy.Calls()) == 0 {
		t.Errorf("the proxy saw no Ory calls")
	}
	if n := h.proxy.authBad.Load(); n != 0 {
		t.Errorf("%d Ory calls lacked Authorization: Bearer ORY_API_KEY", n)
	}
}

func TestIdentityVerbsEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.startBot(t)
	t.Cleanup(func() { h.checkAPIKey(t) })
	n := 0
	newIdentity := func(t *testing.T) (id, email string) {
		n++
		name := t.Name()[strings.LastIndex(t.Name(), "/")+1:] // the subtest's name
		email = strings.ToLower(name) + strconv.Itoa(n) + "@customer.example"
		return h.kratos.CreateIdentity(t, email), email
	}

	t.Run("activate", func(t *testing.T) {
		id, email := newIdentity(t)
		h.kratos.SetState(t, id, "inactive")
		reqID, card := h.request(t, "activate "+email+" -- laptop recovered")
		contains(t, "pending card", blocks(card), id, "inactive", "Set the state to *active*")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "✓ identity is now active")
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "activate", "done", "identity is now active")
		if got := h.status(t, reqID); got != store.StatusDone {
			t.Errorf("status = %s, want done", got)
		}
	})

	t.Run("revoke-session", func(t *testing.T) {
		id, email := newIdentity(t)
		s1, tok1 := h.kratos.Login(t, email)
		s2, tok2 := h.kratos.Login(t, email)
		reqID, card := h.request(t, "revoke-session "+s1+" -- unknown device")
		contains(t, "pending card", blocks(card), id, "Revoke session `"+s1+"`", "aal1")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "✓ revoked session "+s1+" of identity "+id)
		if h.kratos.SessionActive(t, tok1) {
			t.Errorf("the revoked session's token still works")
		}
		if !h.kratos.SessionActive(t, tok2) {
			t.Errorf("the other session's token stopped working")
		}
		if got := h.activeSessions(t, id); !slices.Equal(got, []string{s2}) {
			t.Errorf("active sessions = %v, want only %s", got, s2)
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "revoke-session", id, "done", s1)

		contains(t, "reply to a revoked session", h.refused(t, "revoke-session "+s1+" -- again"), "already inactive")
		contains(t, "ack to a malformed id", h.refused(t, "revoke-session 5f1c0d9e-2b7a -- typo"), "is not a session id")
		const unknown = "5f1c0d9e-2b7a-4c3d-8e9f-0a1b2c3d4e5f"
		contains(t, "reply to an unknown id", h.refused(t, "revoke-session "+unknown+" -- typo"), "no session with id `"+unknown+"`", "Nothing was requested")
	})

	t.Run("revoke-session of a deactivated identity", func(t *testing.T) {
		id, email := newIdentity(t)
		s1, tok1 := h.kratos.Login(t, email)
		h.kratos.SetState(t, id, "inactive")
		reqID, card := h.request(t, "revoke-session "+s1+" -- dormant session")
		h.approve(t, reqID, card, "*Done*")
		h.kratos.SetState(t, id, "active")
		if h.kratos.SessionActive(t, tok1) {
			t.Errorf("the session works again after reactivation")
		}
	})

	t.Run("revoke-sessions", func(t *testing.T) {
		id, email := newIdentity(t)
		_, tok1 := h.kratos.Login(t, email)
		_, tok2 := h.kratos.Login(t, email)
		reqID, card := h.request(t, "revoke-sessions "+email+" -- password leaked")
		contains(t, "pending card", blocks(card), id, "2 are active now")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "✓ revoked all sessions; 2 were active")
		for i, tok := range []string{tok1, tok2} {
			if h.kratos.SessionActive(t, tok) {
				t.Errorf("session token %d still works", i+1)
			}
		}
		if got := h.kratos.Sessions(t, id); len(got) != 0 {
			t.Errorf("Kratos still has %d sessions", len(got))
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "revoke-sessions", "done", "2 were active")

		// Now there are none: that is a success, not an error.
		reqID, card = h.request(t, "revoke-sessions "+id+" -- belt and braces")
		contains(t, "pending card", blocks(card), "none are active now")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "none were active")
		if got := h.status(t, reqID); got != store.StatusDone {
			t.Errorf("status = %s, want done", got)
		}
	})

	t.Run("lockout", func(t *testing.T) {
		id, email := newIdentity(t)
		_, tok1 := h.kratos.Login(t, email)
		_, tok2 := h.kratos.Login(t, email)
		reqID, card := h.request(t, "lockout "+email+" -- account takeover")
		contains(t, "pending card", blocks(card), "1. Set the state to *inactive*. 2. Revoke all sessions (2 are active now).")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "✓ identity is now inactive", "✓ revoked all sessions; 2 were active")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
		// Deactivation alone leaves sessions that work again after
		// reactivation, so they must be gone, not just refused.
		if got := h.kratos.Sessions(t, id); len(got) != 0 {
			t.Errorf("Kratos still has %d sessions", len(got))
		}
		h.kratos.SetState(t, id, "active")
		for i, tok := range []string{tok1, tok2} {
			if h.kratos.SessionActive(t, tok) {
				t.Errorf("session token %d works again after reactivation", i+1)
			}
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "lockout", "done", "identity is now inactive", "2 were active")
	})

	t.Run("lockout stops at a failed second step", func(t *testing.T) {
		id, email := newIdentity(t)
		_, tok1 := h.kratos.Login(t, email)
		_, tok2 := h.kratos.Login(t, email)
		reqID, card := h.request(t, "lockout "+email+" -- account takeover")
		// 400 is not retried, so the step fails at once.
		h.proxy.inject(t, proxyFault{method: http.MethodDelete, path: regexp.MustCompile(`^/admin/identities/` + id + `/sessions$`), status: http.StatusBadRequest, n: 1})
		card = h.approve(t, reqID, card, "*Failed*")
		contains(t, "failed card", blocks(card), "✓ identity is now inactive", "✗ revoke all sessions failed", "injected by the test")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive (step 1 ran)", got)
		}
		// Kratos lists an inactive identity's sessions as inactive; they
		// are still there, and work again once the identity is active.
		if got := h.kratos.Sessions(t, id); len(got) != 2 {
			t.Errorf("Kratos has %d sessions, want both (step 2 failed)", len(got))
		}
		h.kratos.SetState(t, id, "active")
		for i, tok := range []string{tok1, tok2} {
			if !h.kratos.SessionActive(t, tok) {
				t.Errorf("session token %d does not work after reactivation; step 2 should not have revoked it", i+1)
			}
		}
		if got := h.status(t, reqID); got != store.StatusFailed {
			t.Errorf("status = %s, want failed", got)
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "failed", "identity is now inactive", "revoke all sessions failed")
	})

	t.Run("lockout refused credentials at the first step", func(t *testing.T) {
		id, email := newIdentity(t)
		s1, _ := h.kratos.Login(t, email)
		reqID, card := h.request(t, "lockout "+email+" -- account takeover")
		h.proxy.inject(t, proxyFault{method: http.MethodPatch, path: regexp.MustCompile(`^/admin/identities/` + id + `$`), status: http.StatusForbidden, n: 10})
		calls := len(h.proxy.Calls())
		card = h.approve(t, reqID, card, "*Failed*")
		contains(t, "failed card", blocks(card), "✗ set state to inactive failed", "Ory refused the bot's credentials", "ORY_API_KEY",
			"– revoke all sessions: not attempted")
		if got := h.state(t, id); got != "active" {
			t.Errorf("Kratos state = %q, want active", got)
		}
		if got := h.activeSessions(t, id); !slices.Equal(got, []string{s1}) {
			t.Errorf("active sessions = %v, want %s", got, s1)
		}
		var patches int
		for _, c := range h.proxy.Calls()[calls:] {
			if strings.HasPrefix(c, "PATCH ") {
				patches++
			}
		}
		if patches != 1 {
			t.Errorf("%d PATCH calls, want 1: a 403 is not retried", patches)
		}
		if got := h.status(t, reqID); got != store.StatusFailed {
			t.Errorf("status = %s, want failed", got)
		}
	})

	t.Run("rate limit is retried and shown on the card", func(t *testing.T) {
		id, email := newIdentity(t)
		reqID, card := h.request(t, "deactivate "+email+" -- rate limit test")
		h.proxy.inject(t, proxyFault{method: http.MethodPatch, path: regexp.MustCompile(`^/admin/identities/` + id + `$`), status: http.StatusTooManyRequests, retryAfter: "1", n: 1})
		calls := len(h.proxy.Calls())
		card = h.approve(t, reqID, card, "*Done*")
		if got := h.state(t, id); got != "inactive" {
			t.Errorf("Kratos state = %q, want inactive", got)
		}
		retrying := slices.ContainsFunc(card.Versions, func(v slacktest.MessageVersion) bool {
			return strings.Contains(string(v.Blocks), "retrying") && strings.Contains(string(v.Blocks), "rate limit")
		})
		if !retrying {
			t.Errorf("no version of the card said it was retrying after a rate limit; versions:\n%s", versions(card))
		}
		var patches int
		for _, c := range h.proxy.Calls()[calls:] {
			if strings.HasPrefix(c, "PATCH ") {
				patches++
			}
		}
		if patches != 2 {
			t.Errorf("%d PATCH calls, want 2 (429, then the retry)", patches)
		}
	})

	t.Run("delete-credential", func(t *testing.T) {
		id, email := newIdentity(t)
		h.kratos.AddTOTP(t, email)
		contains(t, "reply to password", h.refused(t, "delete-credential "+email+" password -- no"), "first factor")
		contains(t, "reply to a missing type", h.refused(t, "delete-credential "+email+" webauthn -- lost key"),
			"has no `webauthn` credential", "It has: `password`, `totp`")
		contains(t, "reply to oidc", h.refused(t, "delete-credential "+email+" oidc -- unlink"), "has no `oidc`")
		contains(t, "ack without a type", h.refused(t, "delete-credential "+email+" -- lost phone"), "arguments are missing")

		reqID, card := h.request(t, "delete-credential "+email+" totp -- lost phone")
		contains(t, "pending card", blocks(card), id, "Remove the `totp` credential (the identity has it)")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "✓ removed the totp credential")
		if got := h.credentialTypes(t, id); !slices.Equal(got, []string{"password"}) {
			t.Errorf("Kratos credential types = %v, want [password]", got)
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "delete-credential", "done", "removed the totp credential")
	})

	t.Run("reset-2fa", func(t *testing.T) {
		id, email := newIdentity(t)
		contains(t, "reply without second factors", h.refused(t, "reset-2fa "+email+" -- lost phone"), "has no second factor")

		h.kratos.AddTOTP(t, email)
		h.kratos.AddLookupSecret(t, email)
		if got := h.credentialTypes(t, id); !slices.Equal(got, []string{"lookup_secret", "password", "totp"}) {
			t.Fatalf("credential types before reset = %v", got)
		}
		reqID, card := h.request(t, "reset-2fa "+email+" -- lost phone and backup codes")
		contains(t, "pending card", blocks(card), "`totp`", "`lookup_secret`")
		card = h.approve(t, reqID, card, "*Done*")
		contains(t, "done card", blocks(card), "✓ removed the totp credential", "✓ removed the lookup_secret credential")
		if got := h.credentialTypes(t, id); !slices.Equal(got, []string{"password"}) {
			t.Errorf("Kratos credential types = %v, want [password]", got)
		}
	})

	t.Run("show and sessions", func(t *testing.T) {
		id, email := newIdentity(t)
		h.kratos.AddTOTP(t, email) // logs in once
		s2, _ := h.kratos.Login(t, email)
		s3, _ := h.kratos.Login(t, email)
		h.kratos.DisableSession(t, s3)
		active := h.activeSessions(t, id)
		if len(active) != 2 || !slices.Contains(active, s2) {
			t.Fatalf("active sessions = %v, want 2 including %s", active, s2)
		}

		for _, target := range []string{email, id} {
			got := h.lookup(t, "show "+target)
			contains(t, "show", got, id, email[:1]+"***@customer.example", "State: active", "Schema: default",
				"Created: <!date^", "`password`, `totp`", "Active sessions: 2")
			if strings.Contains(got, email) {
				t.Errorf("show reveals the full email: %s", got)
			}
		}

		got := h.lookup(t, "sessions "+email)
		contains(t, "sessions", got, id, "(2)", "aal1", "authenticated <!date^", "expires <!date^")
		for _, s := range active {
			contains(t, "sessions", got, "`"+s+"`")
		}
		if strings.Contains(got, s3) {
			t.Errorf("sessions lists the revoked session %s", s3)
		}
		if strings.Contains(got, email) {
			t.Errorf("sessions reveals the full email: %s", got)
		}

		other, _ := newIdentity(t)
		contains(t, "sessions of an identity without any", h.lookup(t, "sessions "+other), "has no active sessions")
		contains(t, "show of an unknown email", h.lookup(t, "show nobody@customer.example"), "No identity in Ory has the email")
	})
}

var (
	slackDateRE = regexp.MustCompile(`<!date\^(\d+)\^`)
	urlRE       = regexp.MustCompile(`https?://[^\s>|]+`)
	codeRE      = regexp.MustCompile("valid until [^`]*: `([0-9]+)`")
)

func TestRecoveryEndToEnd(t *testing.T) {
	h := newHarness(t)
	stop := h.startBot(t)
	t.Cleanup(func() { h.checkAPIKey(t) })

	// issue requests text for identity id, has it approved, checks that
	// the secret expires ttl later, and returns the request id, the one
	// direct message that carries the secret (unescaped), and the card.
	issue := func(t *testing.T, text, id string, ttl time.Duration) (string, string, slacktest.Message) {
		t.Helper()
		posts := len(h.slack.Calls("chat.postMessage"))
		reqID, card := h.request(t, text)
		contains(t, "pending card", blocks(card), id, "Only the requester receives it", "direct message")
		approved := time.Now()
		card = h.approve(t, reqID, card, "*Done*")
		calls := secretDMs(h.slack.Calls("chat.postMessage")[posts:])
		if len(calls) != 1 {
			t.Fatalf("%d direct messages with a secret to the requester, want exactly 1", len(calls))
		}
		if n := len(h.slack.Calls("chat.postEphemeral")); n != 0 {
			t.Errorf("%d chat.postEphemeral calls, want none: Slack drops them for inactive users", n)
		}
		msg := slackUnescape.Replace(calls[0].Params.Get("text"))
		contains(t, "direct message", msg, id, reqID)
		m := slackDateRE.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("ephemeral %q has no expiry", msg)
		}
		unix, _ := strconv.ParseInt(m[1], 10, 64)
		expires := time.Unix(unix, 0)
		if d := expires.Sub(approved.Add(ttl)); d < -time.Minute || d > time.Minute {
			t.Errorf("secret expires %v, want about %v after approval", expires, ttl)
		}
		contains(t, "done card", blocks(card), "sent to <@"+requester+"> only, by direct message", "expires <!date^"+m[1]+"^")
		contains(t, "audit record", h.waitAudit(t, reqID), "done", "fingerprint", "expires <!date^"+m[1]+"^")
		if got := h.status(t, reqID); got != store.StatusDone {
			t.Errorf("status = %s, want done", got)
		}
		return reqID, msg, card
	}

	t.Run("link", func(t *testing.T) {
		email := "linked@customer.example"
		id := h.kratos.CreateIdentity(t, email)
		reqID, msg, card := issue(t, "recovery "+email+" -- locked out, verified by video call", id, time.Hour) // the default
		links := urlRE.FindAllString(msg, -1)
		if len(links) != 1 {
			t.Fatalf("ephemeral %q has %d links, want 1", msg, len(links))
		}
		link := links[0]
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		token := u.Query().Get("token")
		if len(token) < 16 {
			t.Fatalf("link %q has no recovery token", link)
		}
		fp := "`" + bot.Fingerprint(link) + "`"
		contains(t, "done card", blocks(card), "recovery link", fp)
		contains(t, "audit record", h.waitAudit(t, reqID), fp)

		h.assertNowhere(t, link, token)
		// The fingerprint is stored with the outcome: the raw search does
		// see what the store writes.
		if !strings.Contains(h.dbBytes(t), bot.Fingerprint(link)) {
			t.Errorf("the database files lack the fingerprint, so a search for the secret there proves nothing")
		}

		// The link logs the user in once, through Kratos's public API.
		if got := h.kratos.RecoverWithLink(t, link); got != id {
			t.Errorf("recovery link logged in %q, want %s", got, id)
		}
		if got := h.kratos.RecoverWithLink(t, link); got != "" {
			t.Errorf("recovery link worked twice (logged in %q)", got)
		}
	})

	t.Run("a refused direct message is not sent", func(t *testing.T) {
		email := "undelivered@customer.example"
		h.kratos.CreateIdentity(t, email)
		reqID, card := h.request(t, "recovery "+email+" -- slack is flaky")
		// Slack refuses every post to the requester, the secret's too.
		h.slack.SetMember(requester, false)
		defer h.slack.SetMember(requester, true)
		h.click(t, approver1, card, "approve", reqID)
		card = h.waitCard(t, reqID, "*Failed*")
		contains(t, "failed card", blocks(card), "*not sent*", "not_in_channel")
		if strings.Contains(blocks(card), "sent to <@") {
			t.Errorf("failed card says the secret was sent:\n%s", blocks(card))
		}
		contains(t, "audit record", h.waitAudit(t, reqID), "not sent")
		if got := h.status(t, reqID); got != store.StatusFailed {
			t.Errorf("status = %s, want failed", got)
		}
		// The refused call was recorded with the link; it must not have
		// reached anything else.
		calls := secretDMs(h.slack.Calls("chat.postMessage"))
		link := urlRE.FindString(slackUnescape.Replace(calls[len(calls)-1].Params.Get("text")))
		if link == "" {
			t.Fatalf("refused direct message carried no link")
		}
		h.assertNowhere(t, link)
	})

	stop()
	h.setenv(t, "ORYBOT_RECOVERY_TTL", "30m")
	stop = h.startBot(t)

	t.Run("code", func(t *testing.T) {
		email := "coded@customer.example"
		id := h.kratos.CreateIdentity(t, email)
		reqID, msg, card := issue(t, "recovery-code "+email+" -- locked out, verified by video call", id, 30*time.Minute)
		m := codeRE.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("ephemeral %q has no recovery code", msg)
		}
		code := m[1]
		if len(code) != 6 {
			t.Errorf("recovery code %q, want 6 digits", code)
		}
		link := urlRE.FindString(msg)
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("flow") == "" {
			t.Fatalf("ephemeral %q has no recovery flow link", msg)
		}
		// The code alone is six digits; the fingerprint covers the flow's
		// link too, so it cannot be reversed by trying every code.
		fp := "`" + bot.Fingerprint(link+"\n"+code) + "`"
		contains(t, "done card", blocks(card), "recovery code", fp)
		contains(t, "audit record", h.waitAudit(t, reqID), fp)

		h.assertNowhere(t, code, link, u.Query().Get("flow"))

		// The code works once, in the flow the link names.
		if got := h.kratos.RecoverWithCode(t, link, code); got != id {
			t.Errorf("recovery code logged in %q, want %s", got, id)
		}
		if got := h.kratos.RecoverWithCode(t, link, code); got != "" {
			t.Errorf("recovery code worked twice (logged in %q)", got)
		}
	})

	t.Run("unknown identity", func(t *testing.T) {
		contains(t, "reply", h.refused(t, "recovery nobody@customer.example -- test"), "No identity in Ory has the email")
	})

	stop()
	h.setenv(t, "ORYBOT_RECOVERY_TTL", "10s")
	h.setenv(t, "ORYBOT_SWEEP_INTERVAL", "1s")
	stop = h.startBot(t)

	t.Run("deleted when it expires, also after a restart", func(t *testing.T) {
		email := "fleeting@customer.example"
		id := h.kratos.CreateIdentity(t, email)
		reqID, msg, _ := issue(t, "recovery "+email+" -- short-lived", id, 10*time.Second)
		dm := func() []slacktest.Message {
			var out []slacktest.Message
			for _, m := range h.slack.Messages(requester) {
				if strings.HasPrefix(m.Text, "Recovery ") && strings.Contains(m.Text, reqID) {
					out = append(out, m)
				}
			}
			return out
		}
		if len(dm()) != 1 {
			t.Fatalf("the requester has %d direct messages with a secret, want 1", len(dm()))
		}
		// The bot that sent it stops before it expires; the next one
		// deletes it.
		stop()
		h.startBot(t)
		if err := h.slack.WaitFor(ctxT(t), func() bool { return len(dm()) == 0 }); err != nil {
			t.Fatalf("the direct message with the secret was not deleted after it expired")
		}
		deleted := h.slack.Deleted()
		if len(deleted) == 0 || !strings.Contains(slackUnescape.Replace(deleted[len(deleted)-1].Text), urlRE.FindString(msg)) {
			t.Errorf("chat.delete did not remove the message with the secret")
		}
	})
}

// slackUnescape undoes Slack's escaping of &, < and > in message text.
var slackUnescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// secretDMs returns the chat.postMessage calls among calls that are direct
// messages to the requester carrying a recovery secret.
func secretDMs(calls []slacktest.Call) []slacktest.Call {
	var out []slacktest.Call
	for _, c := range calls {
		if c.Params.Get("channel") == requester && strings.HasPrefix(c.Params.Get("text"), "Recovery ") {
			out = append(out, c)
		}
	}
	return out
}

// assertNowhere fails the test if a secret appears anywhere the bot wrote
// except the direct message to the requester that carries it: in any
// version of any other Slack message, any other Web API call, any
// response_url post, the bot's log, or the database files.
func (h *harness) assertNowhere(t *testing.T, secrets ...string) {
	t.Helper()
	places := map[string]string{"bot logs": h.logs.String()}
	var sb strings.Builder
	for _, m := range append(h.slack.Messages(""), h.slack.Deleted()...) {
		if m.Channel == requester && strings.HasPrefix(m.Text, "Recovery ") {
			continue
		}
		for _, v := range m.Versions {
			sb.WriteString(v.Text + "\n" + string(v.Blocks) + "\n")
		}
	}
	places["Slack messages (every version)"] = sb.String()
	sb.Reset()
	for _, c := range h.slack.Calls("") {
		if len(secretDMs([]slacktest.Call{c})) == 1 && c.Method == "chat.postMessage" {
			continue
		}
		for k, vs := range c.Params {
			sb.WriteString(k + "=" + strings.Join(vs, ",") + "\n")
		}
		sb.Write(c.Body)
	}
	places["other Web API calls"] = sb.String()
	sb.Reset()
	for _, p := range h.slack.ResponsePosts("") {
		sb.Write(p.Body)
	}
	places["response_url posts"] = sb.String()
	places["database files"] = h.dbBytes(t)
	for where, text := range places {
		text = unescape.Replace(text)
		for _, s := range secrets {
			if leaked(text, s) {
				t.Errorf("%s contain the secret %q", where, s)
			}
		}
	}
}

// dbBytes returns the raw bytes of the SQLite database and its -wal and
// -shm files, where a secret written to the store would be, checkpointed
// or not.
func (h *harness) dbBytes(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(h.dbPath + "*")
	if len(files) == 0 {
		t.Fatalf("no database file at %s", h.dbPath)
	}
	var sb strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(data)
	}
	return sb.String()
}

// leaked reports whether secret appears in text. A code made of digits
// counts only as a whole number, not inside a longer one such as a
// timestamp.
func leaked(text, secret string) bool {
	if strings.Trim(secret, "0123456789") != "" {
		return strings.Contains(text, secret)
	}
	return regexp.MustCompile(`(^|[^0-9])` + secret + `($|[^0-9])`).MatchString(text)
}

func versions(m slacktest.Message) string {
	var sb strings.Builder
	for i, v := range m.Versions {
		sb.WriteString(strconv.Itoa(i) + ": " + string(v.Blocks) + "\n")
	}
	return sb.String()
}
