//go:build linux || darwin || freebsd

package space

import "syscall"

// diskLow reports whether the file system of dir is short of room: less
// free than lowDiskBytes or than 1/lowDiskPart of its size, whichever is
// smaller. Then deletes are final and overwrites keep no version, so that
// deleting still makes room (see docs/trash-versions.md).
func diskLow(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	total := uint64(st.Blocks) * uint64(st.Bsize)
	return free < min(lowDiskBytes, total/lowDiskPart)
}
