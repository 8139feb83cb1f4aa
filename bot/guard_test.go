package bot

import (
	"context"
	"strings"
	"testing"
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
