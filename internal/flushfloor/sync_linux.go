package flushfloor

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data as SQLite's WAL commit does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
