package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wharfhq/wharf/internal/diskio"
)

// RunErrorKind says how a Push or a Pull ended short of success; the
// command line turns it into the exit status.
type RunErrorKind int

const (
	// RunIncomplete: the run went through, but some files were rejected or
	// failed (exit status 1).
	RunIncomplete RunErrorKind = iota + 1
	// RunPrecheck: nothing was sent or fetched, because of the login, the
	// space, the local files or another problem found first (exit status 2).
	RunPrecheck
	// RunInterrupted: the context was cancelled; running the same command
	// again resumes (exit status 130).
	RunInterrupted
)

// RunError is the error Push and Pull return when they did not do it all.
// Other errors they return (saving the state, for one) are plain.
type RunError struct {
	Kind RunErrorKind
	Msg  string
}

func (e *RunError) Error() string { return e.Msg }

func runErrorf(kind RunErrorKind, format string, a ...any) error {
	return &RunError{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// maxAttempts is how often a push or a pull tries one file before it gives
// up on it.
const maxAttempts = 12

// backoff waits before retry attempt n (0.5 s doubling to 30 s), or the
// server's Retry-After when it gave one.
func backoff(ctx context.Context, n int, retryAfter time.Duration) error {
	d := retryAfter
	if d <= 0 {
		d = min(500*time.Millisecond<<min(n, 6), 30*time.Second)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileAtomic replaces p, owner-only, with data (diskio.WriteFile),
// making its directory first with dirMode.
func writeFileAtomic(p string, data []byte, dirMode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
		return err
	}
	return diskio.WriteFile(p, data)
}
