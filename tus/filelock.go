package tus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
)

// fileLocker is tusd's locker for uploads that several server processes
// (replicas sharing the data directory and the database) may be asked
// about. Inside one process it is tusd's memorylocker, unchanged: a second
// request for an upload asks the holder to let go and waits for it. Across
// processes it adds an OS lock (flock) on a file per upload in
// UploadsDir/tus-locks, on the shared directory where the upload's bytes
// are: a process cannot ask another one to let go, so a request that finds
// the upload locked by another process is answered 423 (tusd's
// ErrFileLocked) after a short wait, and the client retries. The kernel
// drops a killed process's locks at once, so an upload whose replica died
// resumes on another at the next request.
type fileLocker struct {
	mem *memorylocker.MemoryLocker
	dir string
	// wait is how long Lock polls a lock held by another process before it
	// gives up with ErrFileLocked.
	wait time.Duration
}

func newFileLocker(dir string) (*fileLocker, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tus: create %s: %w", dir, err)
	}
	return &fileLocker{mem: memorylocker.New(), dir: dir, wait: 500 * time.Millisecond}, nil
}

func (l *fileLocker) UseIn(composer *handler.StoreComposer) { composer.UseLocker(l) }

func (l *fileLocker) NewLock(id string) (handler.Lock, error) {
	mem, err := l.mem.NewLock(id)
	if err != nil || !validID(id) {
		// Not an id Wharf makes (so no upload): no file named after it.
		return mem, err
	}
	return &fileLock{l: l, mem: mem, path: filepath.Join(l.dir, id)}, nil
}

type fileLock struct {
	l    *fileLocker
	mem  handler.Lock
	path string
	f    *os.File // held while locked
}

// Lock takes the in-process lock, then the file lock.
func (k *fileLock) Lock(ctx context.Context, requestRelease func()) error {
	if err := k.mem.Lock(ctx, requestRelease); err != nil {
		return err
	}
	deadline := time.Now().Add(k.l.wait)
	for {
		f, err := lockFile(k.path)
		if err == nil {
			k.f = f
			return nil
		}
		if !errors.Is(err, errHeld) || time.Now().After(deadline) || ctx.Err() != nil {
			k.mem.Unlock()
			if errors.Is(err, errHeld) {
				return handler.ErrFileLocked
			}
			return diskFull(err) // no room for the lock file: 507, not 500
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Unlock removes the lock file while still holding it (lockFile checks
// that the file it locked is still the one at the path), then lets go of
// both locks.
func (k *fileLock) Unlock() error {
	var err error
	if k.f != nil {
		if rerr := os.Remove(k.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
		if cerr := k.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
		k.f = nil
	}
	if merr := k.mem.Unlock(); merr != nil && err == nil {
		err = merr
	}
	return err
}

// errHeld: another process holds the file lock.
var errHeld = errors.New("upload locked by another process")
