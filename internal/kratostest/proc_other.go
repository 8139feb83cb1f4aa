//go:build !linux

package kratostest

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
