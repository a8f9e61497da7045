//go:build !linux

package main

import "syscall"

// sysProcAttr is the default elsewhere: servers share tusbench's process
// group and are stopped by its deferred cleanup.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// flushDisks does nothing here; see proc_linux.go.
func flushDisks() {}

// freeBytes is unknown here; see proc_linux.go.
func freeBytes(string) (int64, bool) { return 0, false }
