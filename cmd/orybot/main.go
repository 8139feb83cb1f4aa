// Command orybot is a Slack bot that changes Ory identities (deactivate and
// more) only after a second person approves, and records every outcome in
// an audit channel.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/bot"
	"github.com/orybot/orybot/config"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orybot:", err)
		os.Exit(1)
	}
}

// run builds every part of the bot from the environment and runs it until
// ctx is cancelled. It is the one place that reads the environment, and it
// does so only through getenv, which is os.Getenv outside tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "audit" {
		// The audit subcommands read only the database, so they work without
		// the Slack and Ory settings, for example on an auditor's laptop.
		return auditCommand(ctx, args[1:], func() string {
			return config.DatabaseURL(getenv)
		}, stdout, stderr)
	}
	if len(args) > 0 {
		fmt.Fprintln(stdout, "usage: orybot                 run the bot (configured by environment variables; see README.md)")
		fmt.Fprintln(stdout, "       orybot audit verify   check the audit trail's hash chain")
		fmt.Fprintln(stdout, "       orybot audit export [--since <time>]   write the audit trail as JSON lines")
		return fmt.Errorf("unexpected arguments: %s", strings.Join(args, " "))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open ORYBOT_DATABASE_URL: %w", err)
	}
	defer st.Close()

	oc, err := ory.New(ory.Config{
		AdminURL: cfg.OryAdminURL,
		APIKey:   cfg.OryAPIKey,
		Logger:   logger,
	})
	if err != nil {
		return fmt.Errorf("ORY_ADMIN_URL: %w", err)
	}
	if err := oc.Ping(ctx); err != nil {
		return fmt.Errorf("check ORY_ADMIN_URL and ORY_API_KEY: %w", err)
	}

	opts := []slack.Option{slack.OptionAppLevelToken(cfg.SlackAppToken)}
	if cfg.SlackAPIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.SlackAPIURL))
	}
	api := slack.New(cfg.SlackBotToken, opts...)
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("check SLACK_BOT_TOKEN: slack auth.test: %w", err)
	}
	logger.Info("starting", "bot_user", auth.UserID, "team", auth.TeamID)

	b := bot.New(logger, api, deps(oc, st), bot.Config{
		AuditChannel: string(cfg.AuditChannel),
		TeamID:       auth.TeamID,
		AllowedTeams: cfg.AllowedTeams,
		Approvers:    cfg.Approvers,
		RequestTTL:   time.Duration(cfg.RequestTTL),
		RecoveryTTL:  time.Duration(cfg.RecoveryTTL),

		Requesters:        cfg.Requesters,
		Channels:          cfg.Channels,
		ApprovalsRequired: cfg.ApprovalsRequired,
		GroupCacheTTL:     time.Duration(cfg.GroupCacheTTL),
		SweepInterval:     time.Duration(cfg.SweepInterval),
		WorkTimeout:       cfg.WorkTimeout,
		AuditMaxLag:       time.Duration(cfg.AuditMaxLag),
	})
	err = b.Run(ctx)
	logger.Info("stopped")
	return err
}

// deps gives the bot each role it needs from the Ory client and the store.
func deps(oc *ory.Client, st *store.Store) bot.Deps {
	return bot.Deps{
		Identities: oc,
		Actions:    func(notice func(ory.Retry)) bot.Actions { return oc.WithRetryNotice(notice) },
		Recoveries: func(notice func(ory.Retry)) bot.Recoveries { return oc.WithRetryNotice(notice) },
		Intake:     st,
		Decisions:  st,
		Outcomes:   st,
		Sweeps:     st,
		Listings:   st,
		Outbox:     st,
		Backlog:    st,
		Secrets:    st,
	}
}
