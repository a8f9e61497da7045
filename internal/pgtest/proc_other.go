//go:build !linux

package pgtest

import "syscall"

// procAttr: the tests run PostgreSQL as another user (needed as root) and
// tie its life to theirs on Linux only; elsewhere it runs as the current
// user and is stopped by the cleanup.
func procAttr(*runAs, bool) *syscall.SysProcAttr { return nil }
