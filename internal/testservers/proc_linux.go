package testservers

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the server when the test binary dies
// without running its cleanups (a -timeout panic, a SIGKILL).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// procAttr runs a PostgreSQL program as r (nil: the current user) and,
// with dieWithParent, has the kernel stop it (SIGQUIT, PostgreSQL's
// immediate shutdown) when the test binary dies without its cleanups.
func procAttr(r *runAs, dieWithParent bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if r != nil {
		a.Credential = &syscall.Credential{Uid: r.uid, Gid: r.gid}
	}
	if dieWithParent {
		a.Pdeathsig = syscall.SIGQUIT
	}
	return a
}
