//go:build linux || darwin || freebsd

package dav

import "syscall"

// diskFree returns the bytes available to an unprivileged user on the file
// system holding dir: quota-available-bytes of a space without quota.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}
