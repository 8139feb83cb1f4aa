package kratostest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill Kratos if the test binary dies without
// running its cleanups (a panic or a -timeout), so no server is left behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
