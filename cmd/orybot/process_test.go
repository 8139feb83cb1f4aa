package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runAsBot, set in a process's environment, makes the test binary run as
// orybot itself (see TestMain), so that a test can kill a real bot process
// with SIGKILL, without shutdown.
const runAsBot = "ORYBOT_TEST_RUN_AS_BOT"

func TestMain(m *testing.M) {
	if os.Getenv(runAsBot) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// botProcess is a bot running as a process of its own.
type botProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer   // this process's logs; they also go to the harness's
	done chan struct{} // closed once the process has exited
}

// startProcess runs the bot as a process with the harness's environment and
// waits until it has connected to the fake Slack. The test's end kills it.
func (h *harness) startProcess(t *testing.T) *botProcess {
	t.Helper()
	before := h.slack.Connections()
	p := &botProcess{cmd: exec.Command(os.Args[0]), logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), runAsBot+"=1")
	h.envMu.Lock()
	for k, v := range h.env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	h.envMu.Unlock()
	p.cmd.Stderr = io.MultiWriter(p.logs, h.logs)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		_ = p.cmd.Wait() // killed: the error says so
	}()
	t.Cleanup(func() { p.kill(t) })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := h.slack.WaitFor(ctx, func() bool { return h.slack.Connections() > before }); err != nil {
		p.kill(t)
		t.Fatalf("bot process did not connect to the fake Slack: %v; its logs:\n%s", err, p.logs)
	}
	return p
}

// kill ends the process with SIGKILL, as the OOM killer or a forced pod
// deletion do, and waits for it.
func (p *botProcess) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("bot process %d did not die", p.cmd.Process.Pid)
	}
}

// delivers reports whether the process took the audit delivery lock.
func (p *botProcess) delivers() bool {
	return strings.Contains(p.logs.String(), "this replica delivers the audit trail")
}
