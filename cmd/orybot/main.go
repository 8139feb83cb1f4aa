// Command orybot is a Slack bot that changes Ory identities (deactivate and
// more) only after a second person approves, and records every outcome in
// an audit channel.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/bot"
	"github.com/orybot/orybot/config"
	"github.com/orybot/orybot/metrics"
	"github.com/orybot/orybot/ops"
	"github.com/orybot/orybot/ory"
	"github.com/orybot/orybot/store"
)

// slackTimeout bounds each Slack Web API call, response body included.
const slackTimeout = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orybot:", err)
		os.Exit(1)
	}
}

// usage is the help of the orybot command.
const usage = `usage:
  orybot                              run the bot (configured by environment variables; see README.md)
  orybot check                        check the configuration, Slack, Ory and the database, changing nothing
  orybot check --liveness             ask the running bot's /healthz (for container health checks)
  orybot audit verify                 check the audit trail's hash chain
  orybot audit export [--since TIME]  write the audit trail as JSON lines
  orybot version                      print the version
  orybot help                         print this help
`

// run builds every part of the bot from the environment and runs it until
// ctx is cancelled, or runs the subcommand args name. It is the one place
// that reads the environment, and it does so only through getenv, which is
// os.Getenv outside tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return serve(ctx, getenv, stderr)
	}
	switch args[0] {
	case "audit":
		// The audit subcommands read only the database, so they work without
		// the Slack and Ory settings, for example on an auditor's laptop.
		return auditCommand(ctx, args[1:], func() string {
			return config.DatabaseURL(getenv)
		}, stdout, stderr)
	case "check":
		return checkCommand(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "orybot", buildVersion())
		return nil
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q; orybot help lists the commands", args[0])
}

// serve runs the bot.
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := newLogger(stderr, cfg.LogLevel)
	logger.Info("starting", "version", buildVersion())

	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open ORYBOT_DATABASE_URL: %w", err)
	}
	defer st.Close()
	if err := st.LockProcess(); errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("ORYBOT_DATABASE_URL: another process holds this SQLite database (is another orybot running on it?); "+
			"run one bot per SQLite file, and PostgreSQL for several replicas: %w", err)
	} else if err != nil {
		return fmt.Errorf("ORYBOT_DATABASE_URL: %w", err)
	}
	m := metrics.New(buildVersion(), backlog(st), logger)
	// The port is taken before anything slow, so that a port in use stops
	// the bot at once.
	var ln net.Listener
	if cfg.ListenAddr != "" {
		if ln, err = ops.Listen(string(cfg.ListenAddr)); err != nil {
			return fmt.Errorf("ORYBOT_LISTEN_ADDR: %w (another process may be using the port; set another address, or off)", err)
		}
		defer ln.Close()
	}

	oc, err := ory.New(ory.Config{
		AdminURL: cfg.OryAdminURL,
		APIKey:   cfg.OryAPIKey,
		Logger:   logger,
		Metrics:  m,
	})
	if err != nil {
		return fmt.Errorf("ORY_ADMIN_URL: %w", err)
	}
	// slack-go's default HTTP client never gives up; every Web API call,
	// from the sweeper's as much as from a click's work, needs a deadline.
	opts := []slack.Option{
		slack.OptionAppLevelToken(cfg.SlackAppToken),
		slack.OptionHTTPClient(&http.Client{Timeout: slackTimeout}),
	}
	if cfg.SlackAPIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.SlackAPIURL))
	}
	api := slack.New(cfg.SlackBotToken, opts...)
	if err := oc.Ping(ctx); err != nil {
		return fmt.Errorf("check ORY_ADMIN_URL and ORY_API_KEY: %w", err)
	}
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("check SLACK_BOT_TOKEN: slack auth.test: %w", err)
	}
	logger.Info("connecting to slack", "bot_user", auth.UserID, "team", auth.TeamID)

	b := bot.New(logger, api, deps(oc, st, m), bot.Config{
		AuditChannel:      string(cfg.AuditChannel),
		TeamID:            auth.TeamID,
		AllowedTeams:      cfg.AllowedTeams,
		Approvers:         cfg.Approvers,
		Requesters:        cfg.Requesters,
		Channels:          cfg.Channels,
		ApprovalsRequired: cfg.ApprovalsRequired,
		RequestTTL:        time.Duration(cfg.RequestTTL),
		RecoveryTTL:       time.Duration(cfg.RecoveryTTL),
		GroupCacheTTL:     time.Duration(cfg.GroupCacheTTL),
		SweepInterval:     time.Duration(cfg.SweepInterval),
		WorkTimeout:       cfg.WorkTimeout,
		ActionTimeout:     time.Duration(cfg.ActionTimeout),
		AuditMaxLag:       time.Duration(cfg.AuditMaxLag),
	})
	// The port was taken at start; the probes answer once the bot exists.
	served := make(chan error, 1)
	if ln != nil {
		sctx, stop := context.WithCancel(ctx)
		defer func() { stop(); <-served }()
		go func() { served <- ops.Serve(sctx, ln, probes(b, st, m), logger) }()
		logger.Info("serving /healthz, /readyz and /metrics", "addr", ln.Addr().String())
	} else {
		close(served)
	}
	err = b.Run(ctx)
	logger.Info("stopped")
	return err
}

// deps gives the bot each role it needs from the Ory client and the store.
func deps(oc *ory.Client, st *store.Store, m *metrics.Metrics) bot.Deps {
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
		Metrics:    m,
	}
}

// probes are the HTTP endpoints for machines: the bot is alive while its
// loops go round, and ready while Slack is connected and the database
// answers.
func probes(b *bot.Bot, st *store.Store, m *metrics.Metrics) http.Handler {
	return ops.Handler(
		[]ops.Check{{Name: "loops", Test: func(context.Context) error { return b.Alive() }}},
		[]ops.Check{
			{Name: "slack", Test: func(context.Context) error { return b.Ready() }},
			{Name: "database", Test: st.Ping},
		},
		m.Handler())
}

// backlog reads the store's backlog for the metrics.
func backlog(st *store.Store) func(context.Context) (metrics.Backlog, error) {
	return func(ctx context.Context) (metrics.Backlog, error) {
		b, err := st.Backlog(ctx)
		return metrics.Backlog(b), err
	}
}

// newLogger logs JSON at level, with durations as text ("1.5s") that a
// person can read.
func newLogger(w io.Writer, level config.LogLevel) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: l,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				return slog.String(a.Key, a.Value.Duration().String())
			}
			return a
		},
	}))
}
