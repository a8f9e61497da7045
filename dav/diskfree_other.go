//go:build !(linux || darwin || freebsd)

package dav

import (
	"errors"
	"runtime"
)

// diskFree is not implemented on this system: quota-available-bytes is
// left out for spaces without quota.
func diskFree(dir string) (int64, error) {
	return 0, errors.New("free disk space is not known on " + runtime.GOOS)
}
