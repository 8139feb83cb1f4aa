package bot

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/internal/slacktest"
	"github.com/slack-go/slack"
)

func TestGuardRecoversPanics(t *testing.T) {
	b := New(testLogger(t), nil, testDeps(&fakeOry{}, nil), testConfig())
	ran := false
	b.guard("", func(context.Context) {
		ran = true
		var items []string
		_ = items[len(items)] // out of range: panics
	})(t.Context())
	if !ran {
		t.Fatal("guard did not run the work")
	}
}

func TestCheckApprovalsReachable(t *testing.T) {
	cfg := testConfig()
	cfg.Approvers = []string{"UAPP", "UAPP2", "UAPP"}
	cfg.ApprovalsRequired = map[string]int{"lockout": 3, "recovery": 2}
	err := New(testLogger(t), nil, testDeps(&fakeOry{}, nil), cfg).checkApprovals(t.Context())
	if err == nil {
		t.Fatal("checkApprovals accepted 3 approvals from 2 distinct approvers")
	}
	if msg := err.Error(); !strings.Contains(msg, "ORYBOT_APPROVALS_REQUIRED") || !strings.Contains(msg, "lockout") || strings.Contains(msg, "recovery") {
		t.Errorf("error = %q, want it to name ORYBOT_APPROVALS_REQUIRED and lockout only", msg)
	}
}

// A panic while the ack is built still acknowledges the envelope, with the
// reference of the log line, so that Slack does not deliver it again.
func TestCommandAckRecoversPanics(t *testing.T) {
	b := New(testLogger(t), nil, testDeps(&fakeOry{}, nil), testConfig())
	b.verbs[commands.Help] = verb{access: anyone, ack: func(commands.Command) string { panic("boom") }}
	ack, work := b.commandAck(slack.SlashCommand{TeamID: slacktest.TeamID, UserID: "UREQ", ChannelID: "COPS", Text: "help"})
	if work != nil {
		t.Error("a panicking command returned work")
	}
	m, ok := ack.(map[string]any)
	if !ok || !strings.Contains(fmt.Sprint(m["text"]), "reference `") || m["response_type"] != slack.ResponseTypeEphemeral {
		t.Errorf("ack = %#v, want an ephemeral answer with a reference", ack)
	}
}
