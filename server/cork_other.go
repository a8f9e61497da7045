//go:build !linux

package server

import "syscall"

// setCork does nothing where TCP_CORK does not exist (BSD's TCP_NOPUSH
// differs: clearing it does not send what it held); answers are written
// as net/http writes them.
func setCork(syscall.RawConn, bool) bool { return false }
