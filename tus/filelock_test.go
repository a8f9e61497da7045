//go:build unix

package tus

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

const lockTestID = "0123456789abcdef0123456789abcdef"

// TestFileLockAcrossLockers: two lockers on one directory stand for two
// replicas: while one holds an upload the other gets ErrFileLocked (423),
// then has it once the first lets go; other uploads are not affected.
func TestFileLockAcrossLockers(t *testing.T) {
	dir := t.TempDir()
	a, err := newFileLocker(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newFileLocker(dir)
	la, _ := a.NewLock(lockTestID)
	if err := la.Lock(t.Context(), func() { t.Error("release requested across processes") }); err != nil {
		t.Fatal(err)
	}
	lb, _ := b.NewLock(lockTestID)
	start := time.Now()
	if err := lb.Lock(t.Context(), func() {}); !errors.Is(err, handler.ErrFileLocked) {
		t.Fatalf("second replica's Lock: %v, want ErrFileLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	other, _ := b.NewLock("fedcba9876543210fedcba9876543210")
	if err := other.Lock(t.Context(), func() {}); err != nil {
		t.Fatalf("another upload: %v", err)
	}
	other.Unlock()
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Lock(t.Context(), func() {}); err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	// The in-process lock of b is taken too: a second request in b asks it
	// to let go, as tusd's memorylocker does.
	released := make(chan struct{})
	go func() {
		lb2, _ := b.NewLock(lockTestID)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := lb2.Lock(ctx, func() {}); err != nil {
			t.Errorf("in-process waiter: %v", err)
		} else {
			lb2.Unlock()
		}
		close(released)
	}()
	lb.Unlock()
	<-released
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("lock files left behind: %v", entries)
	}
}

// TestFileLockKilledHolder: a lock held by a process that is killed is
// free at once for another.
func TestFileLockKilledHolder(t *testing.T) {
	if os.Getenv("WHARF_TUS_LOCK_HOLDER") != "" {
		l, _ := newFileLocker(os.Getenv("WHARF_TUS_LOCK_HOLDER"))
		k, _ := l.NewLock(lockTestID)
		if err := k.Lock(context.Background(), func() {}); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLockKilledHolder$")
	cmd.Env = append(os.Environ(), "WHARF_TUS_LOCK_HOLDER="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("holder: %q %v", line, err)
	}
	l, _ := newFileLocker(dir)
	k, _ := l.NewLock(lockTestID)
	if err := k.Lock(t.Context(), func() {}); !errors.Is(err, handler.ErrFileLocked) {
		t.Fatalf("while the other process holds it: %v, want ErrFileLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := k.Lock(t.Context(), func() {}); err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	k.Unlock()
	if _, err := os.Stat(filepath.Join(dir, lockTestID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left: %v", err)
	}
}
