package main

import "syscall"

// sysProcAttr puts a server in its own process group, so a Ctrl-C on the
// terminal reaches only davbench (which then stops the servers in order),
// and has the kernel kill it if davbench dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// flushDisks writes dirty pages out, so that what one server left unwritten
// (the peers do not fsync) does not slow the next measurement.
func flushDisks() { syscall.Sync() }
