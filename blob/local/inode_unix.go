//go:build unix

package local

import (
	"io/fs"
	"syscall"
)

// inode returns the file's inode number, where the system has one.
func inode(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Ino), true
}
