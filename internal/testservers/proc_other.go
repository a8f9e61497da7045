//go:build !linux

package testservers

import (
	"os/exec"
	"syscall"
)

// dieWithParent: only Linux can tie a child's life to its parent's; the
// cleanup kills the server everywhere else.
func dieWithParent(*exec.Cmd) {}

// procAttr: the tests run PostgreSQL as another user (needed as root) and
// tie its life to theirs on Linux only; elsewhere it runs as the current
// user and is stopped by the cleanup.
func procAttr(*runAs, bool) *syscall.SysProcAttr { return nil }
