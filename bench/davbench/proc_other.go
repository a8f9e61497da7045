//go:build !linux

package main

import "syscall"

// sysProcAttr is the default elsewhere: servers share davbench's process
// group and are stopped by its deferred cleanup.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// flushDisks does nothing here; see proc_linux.go.
func flushDisks() {}
