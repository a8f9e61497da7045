package main

import "syscall"

// sysProcAttr puts a server in its own process group, so a Ctrl-C on the
// terminal reaches only tusbench (which then stops the servers in order),
// and has the kernel kill it if tusbench dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// flushDisks writes dirty pages out, so that what one measurement left
// unwritten (tusd does not fsync) does not slow the next one.
func flushDisks() { syscall.Sync() }

// freeBytes is the space an unprivileged user may still write in dir's
// file system.
func freeBytes(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
