package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/config"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// neededScopes are the bot scopes the code uses; manifest.yml asks for
// exactly these.
var neededScopes = []string{"commands", "chat:write", "usergroups:read", "users:read", "users:read.email"}

// checkCommand runs "orybot check": it reads the configuration and tries
// each end with it, changing nothing: no post to Slack, no write to Ory,
// no migration. It prints one line per check, ✓ or ✗ with what to do, and
// fails unless every check passes.
func checkCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orybot check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	liveness := fs.Bool("liveness", false, "only ask the running bot's /healthz, as a container health check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected arguments %q", fs.Args())
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if *liveness {
		return checkLiveness(ctx, config.ListenAddress(getenv), stdout)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintln(stdout, "✗ configuration:")
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintln(stdout, "    "+line)
		}
		return errors.New("check: the configuration is not valid; fix the variables above")
	}
	fmt.Fprintln(stdout, "✓ configuration: every variable is valid")
	checks := []struct {
		name string
		run  func(context.Context, config.Config) (string, error)
	}{
		{"slack bot token (SLACK_BOT_TOKEN)", checkSlackBot},
		{"slack app token (SLACK_APP_TOKEN)", checkSlackApp},
		{"ory (ORY_ADMIN_URL, ORY_API_KEY)", checkOry},
		{"database (ORYBOT_DATABASE_URL)", checkDatabase},
	}
	failed := 0
	for _, c := range checks {
		ok, err := c.run(ctx, cfg)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "✗ %s: %v\n", c.name, err)
			continue
		}
		fmt.Fprintf(stdout, "✓ %s: %s\n", c.name, ok)
	}
	if failed > 0 {
		return fmt.Errorf("check: %d of %d checks failed", failed, len(checks)+1)
	}
	return nil
}

// checkSlackBot calls auth.test with the bot token and compares the scopes
// Slack reports (X-OAuth-Scopes) with those the bot needs.
func checkSlackBot(ctx context.Context, cfg config.Config) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cmp.Or(cfg.SlackAPIURL, slack.APIURL)+"auth.test", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.SlackBotToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("slack could not be reached (%v); check the network path to slack.com (or SLACK_API_URL)", err)
	}
	defer resp.Body.Close()
	var auth struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		User  string `json:"user"`
		Team  string `json:"team"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&auth); err != nil {
		return "", fmt.Errorf("slack answered auth.test with HTTP %d and no JSON; check SLACK_API_URL", resp.StatusCode)
	}
	if !auth.OK {
		return "", fmt.Errorf("slack refused the token (%s); copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page", auth.Error)
	}
	who := fmt.Sprintf("authenticated as @%s in %s", auth.User, auth.Team)
	header := resp.Header.Get("X-OAuth-Scopes")
	if header == "" {
		return who + " (Slack did not report the token's scopes)", nil
	}
	granted := strings.Split(header, ",")
	for i := range granted {
		granted[i] = strings.TrimSpace(granted[i])
	}
	var missing []string
	for _, s := range neededScopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s, but the token lacks the scopes %s; add them from manifest.yml and reinstall the app", who, strings.Join(missing, ", "))
	}
	return who + ", with every scope the bot needs", nil
}

// checkSlackApp asks for a socket-mode connection URL with the app token
// (apps.connections.open), without connecting to it.
func checkSlackApp(ctx context.Context, cfg config.Config) (string, error) {
	opts := []slack.Option{slack.OptionAppLevelToken(cfg.SlackAppToken), slack.OptionHTTPClient(&http.Client{Timeout: 10 * time.Second})}
	if cfg.SlackAPIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.SlackAPIURL))
	}
	_, _, err := slack.New(cfg.SlackBotToken, opts...).StartSocketModeContext(ctx)
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &se):
		return "", fmt.Errorf("slack refused the token (%s); create an app-level token with connections:write (Basic Information → App-Level Tokens) and turn socket mode on", se.Err)
	case err != nil:
		return "", fmt.Errorf("slack could not be reached (%v)", err)
	}
	return "socket mode can connect", nil
}

// checkOry makes one admin read (a page of one identity).
func checkOry(ctx context.Context, cfg config.Config) (string, error) {
	oc, err := ory.New(ory.Config{AdminURL: cfg.OryAdminURL, APIKey: cfg.OryAPIKey, MaxRetries: -1})
	if err != nil {
		return "", err
	}
	err = oc.Ping(ctx)
	switch {
	case errors.Is(err, ory.ErrWrongURL):
		return "", errors.New("ORY_ADMIN_URL answers with a redirect: it is Kratos's public port; use the admin port (4434 by default), which must stay private")
	case errors.Is(err, ory.ErrUnauthorized):
		return "", errors.New("ory refused ORY_API_KEY (HTTP 401/403); create an API key in the Ory Console for this project")
	case errors.Is(err, ory.ErrNotFound):
		return "", errors.New("ORY_ADMIN_URL has no identity admin API (HTTP 404); check the URL")
	case err != nil:
		return "", fmt.Errorf("the admin API could not be read (%v); check ORY_ADMIN_URL", err)
	}
	return "the admin API answers and accepts the key", nil
}

// checkDatabase opens the database read-only and compares its schema with
// the one this build needs.
func checkDatabase(ctx context.Context, cfg config.Config) (string, error) {
	have, want, err := store.CheckSchema(ctx, cfg.DatabaseURL)
	switch {
	case errors.Is(err, store.ErrNoSchema):
		return "", fmt.Errorf("%v; point ORYBOT_DATABASE_URL at orybot's database", err)
	case errors.Is(err, store.ErrNoDatabase):
		return "no database yet; the bot creates it at its first start", nil
	case err != nil:
		return "", fmt.Errorf("%v; check ORYBOT_DATABASE_URL and that the database is reachable", err)
	case have > want:
		return "", fmt.Errorf("the schema is at version %d, newer than this build's %d: a newer orybot wrote it; run that version", have, want)
	case have < want:
		return fmt.Sprintf("reachable; the bot will migrate the schema from version %d to %d at its start", have, want), nil
	}
	return fmt.Sprintf("reachable, schema version %d is current", have), nil
}

// checkLiveness asks the running bot's /healthz on addr, the way a
// container health check does, without a shell or curl in the image.
func checkLiveness(ctx context.Context, addr string, stdout io.Writer) error {
	if addr == "" {
		return errors.New("check --liveness: ORYBOT_LISTEN_ADDR is off, so there is no /healthz to ask")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("check --liveness: ORYBOT_LISTEN_ADDR: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("check --liveness: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("check --liveness: /healthz answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(stdout, "✓ alive")
	return nil
}
