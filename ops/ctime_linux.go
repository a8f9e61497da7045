package ops

import (
	"io/fs"
	"syscall"
	"time"
)

// changedSince reports whether fi's inode changed (content, metadata or
// name) at or after t. known is false where the system does not say.
func changedSince(fi fs.FileInfo, t time.Time) (changed, known bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false, false
	}
	return !time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)).Before(t), true
}
