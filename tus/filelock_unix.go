//go:build unix

package tus

import (
	"errors"
	"os"
	"syscall"
)

// lockFile opens (creating) path and takes an exclusive flock on it without
// waiting: errHeld if another process has it. The lock is tied to the open
// file, so closing it (or the process dying) lets go. A file removed by
// its previous holder between our open and our lock is not the one at
// path any more: lockFile then starts again.
func lockFile(path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errHeld
			}
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
		if err1 != nil {
			return nil, err1
		}
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			return nil, err2
		}
	}
}
