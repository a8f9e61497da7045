package space

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	canReuse  = true
	oNoFollow = syscall.O_NOFOLLOW
)

func linkCount(fi fs.FileInfo) uint64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return uint64(st.Nlink)
}

// exclusive reports whether f, open for reading and writing, is a regular
// file with no other name and open nowhere else, and its size. The kernel
// grants a write lease only to the one open file of an inode (any
// process's opens count, readers included); it is given back at once.
func exclusive(f *os.File) (int64, bool) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || linkCount(fi) != 1 {
		return 0, false
	}
	fd := f.Fd()
	if _, err := unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		return 0, false
	}
	_, err = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
	return fi.Size(), err == nil
}
