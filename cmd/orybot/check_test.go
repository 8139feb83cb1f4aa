package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// check runs "orybot check" with the harness's environment and returns
// what it printed and its error.
func (h *harness) check(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, append([]string{"check"}, args...), h.getenv, &out, &bytes.Buffer{})
	return out.String(), err
}

func TestCheck(t *testing.T) {
	h := newHarness(t)
	h.proxy.requireKey.Store(true)
	// Nothing check does may post to Slack or write to Ory.
	t.Cleanup(func() {
		if n := len(h.slack.Calls("chat.postMessage")) + len(h.slack.Calls("chat.postEphemeral")) + len(h.slack.Calls("chat.update")); n != 0 {
			t.Errorf("check made %d posts to Slack", n)
		}
		if n := h.mutations(); n != 0 {
			t.Errorf("check made %d changing calls to Ory", n)
		}
	})

	t.Run("good configuration", func(t *testing.T) {
		out, err := h.check(t)
		if err != nil {
			t.Fatalf("check = %v, want success; it printed:\n%s", err, out)
		}
		if n := strings.Count(out, "✓ "); n != 5 || strings.Contains(out, "✗") {
			t.Errorf("check printed %d ✓ lines, want 5 and no ✗:\n%s", n, out)
		}
		contains(t, "output", out, "no database yet", "every scope the bot needs")
	})

	t.Run("existing database", func(t *testing.T) {
		stop := h.startBot(t) // creates and migrates it
		stop()
		out, err := h.check(t)
		if err != nil {
			t.Fatalf("check = %v; it printed:\n%s", err, out)
		}
		contains(t, "output", out, "✓ database (ORYBOT_DATABASE_URL): reachable, schema version")
	})

	for _, tt := range []struct {
		name, key, value string
		want             []string
	}{
		{"wrong Ory key", "ORY_API_KEY", "ory_pat_wrong", []string{"✗ ory (ORY_ADMIN_URL, ORY_API_KEY): ory refused ORY_API_KEY"}},
		{"revoked bot token", "SLACK_BOT_TOKEN", "xoxb-revoked", []string{"✗ slack bot token (SLACK_BOT_TOKEN): slack refused the token (invalid_auth)"}},
		{"revoked app token", "SLACK_APP_TOKEN", "xapp-revoked", []string{"✗ slack app token (SLACK_APP_TOKEN): slack refused the token (invalid_auth)"}},
		{"Kratos public port", "ORY_ADMIN_URL", "", []string{"✗ ory (ORY_ADMIN_URL, ORY_API_KEY): ORY_ADMIN_URL answers with a redirect"}},
		{"bad configuration", "ORYBOT_AUDIT_CHANNEL", "#security", []string{"✗ configuration:", "ORYBOT_AUDIT_CHANNEL"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			value := tt.value
			if tt.key == "ORY_ADMIN_URL" {
				value = h.kratos.PublicURL
			}
			h.setenv(t, tt.key, value)
			out, err := h.check(t)
			if err == nil {
				t.Fatalf("check succeeded; it printed:\n%s", out)
			}
			contains(t, "output", out, tt.want...)
			if strings.Contains(out, tt.value) && strings.Contains(tt.value, "_") {
				t.Errorf("check printed the secret %q:\n%s", tt.value, out)
			}
		})
	}

	t.Run("missing scope", func(t *testing.T) {
		h.slack.SetScopes("commands,chat:write")
		defer h.slack.SetScopes("commands,chat:write,usergroups:read,users:read,users:read.email")
		out, err := h.check(t)
		if err == nil {
			t.Fatalf("check succeeded without scopes; it printed:\n%s", out)
		}
		contains(t, "output", out, "lacks the scopes usergroups:read, users:read, users:read.email")
	})
}

// The liveness check asks the running bot's /healthz.
func TestCheckLiveness(t *testing.T) {
	h := newHarness(t)
	stop := h.startBot(t)
	h.setenv(t, "ORYBOT_LISTEN_ADDR", strings.TrimPrefix(h.opsURL(t), "http://"))
	if out, err := h.check(t, "--liveness"); err != nil || !strings.Contains(out, "alive") {
		t.Errorf("check --liveness = %q, %v; want alive", out, err)
	}
	stop()
	if _, err := h.check(t, "--liveness"); err == nil {
		t.Error("check --liveness succeeded with the bot stopped")
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"help"}, {"--help"}, {"-h"}} {
		var out bytes.Buffer
		if err := run(t.Context(), args, func(string) string { return "" }, &out, &bytes.Buffer{}); err != nil {
			t.Errorf("orybot %s = %v, want success", args[0], err)
		}
		want := []string{"check", "audit verify", "audit export", "version"}
		if strings.Contains(args[0], "version") {
			want = []string{"orybot "}
		}
		contains(t, "orybot "+args[0], out.String(), want...)
	}
	if err := run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown command succeeded")
	}
}
