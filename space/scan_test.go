package space

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// virusScanner is a Scanner that finds "VIRUS" in files, fails while down,
// counts its scans and keeps what it quarantines in dir.
type virusScanner struct {
	mu    sync.Mutex
	scans int
	down  bool
	dir   string
}

func (s *virusScanner) Scan(_ context.Context, r io.Reader, _ int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errors.New("connection refused")
	}
	s.scans++
	if bytes.Contains(b, []byte("VIRUS")) {
		return &ScanError{Reason: "virus found: Test"}
	}
	return nil
}

func (s *virusScanner) Quarantine(_ Node, name, id, _ string) error {
	return os.Rename(name, filepath.Join(s.dir, id))
}

func (s *virusScanner) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scans
}

// TestVet: files put without being scanned are scanned on their first
// read, copy or move to another space, once per content; an infected one
// is refused with a *ScanError, leaves its space (index, disk, used bytes)
// and lands in the quarantine; a scanner that cannot tell refuses with
// ErrScanFailed and changes nothing. A rename within the space of a
// directory asks nothing.
func TestVet(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sc := &virusScanner{dir: t.TempDir()}
	f.space(t, "a", 0)
	f.space(t, "b", 0)
	f.put(t, "a", "clean.txt", "hello")
	f.put(t, "a", "twin.txt", "hello") // same content
	f.mkdir(t, "a", "dir")
	f.put(t, "a", "dir/bad.bin", "a VIRUS inside")
	f.put(t, "a", "bad2.bin", "another VIRUS")
	f.put(t, "a", "empty", "")
	f.tree.scanner = sc

	// Down: nothing is served unscanned, nothing changes.
	sc.down = true
	if _, _, err := f.tree.Open(ctx, "a", "clean.txt"); !errors.Is(err, ErrScanFailed) {
		t.Fatalf("Open with the scanner down: %v, want ErrScanFailed", err)
	}
	sc.down = false

	fh, _, err := f.tree.Open(ctx, "a", "clean.txt")
	if err != nil {
		t.Fatal(err)
	}
	fh.Close()
	for _, p := range []string{"clean.txt", "twin.txt", "empty"} {
		fh, _, err := f.tree.Open(ctx, "a", p)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		fh.Close()
	}
	if got := sc.count(); got != 1 {
		t.Errorf("%d scans for three reads of one content (and an empty file), want 1", got)
	}

	// Renaming the folder within its space shows nothing new.
	if _, err := f.tree.Move(ctx, "a", "dir", "a", "folder", false); err != nil {
		t.Fatalf("rename the folder: %v", err)
	}
	if got := sc.count(); got != 1 {
		t.Errorf("a rename of a folder scanned: %d scans", got)
	}
	used, _, _ := f.tree.Usage(ctx, "a")
	_, err = f.tree.Move(ctx, "a", "folder", "b", "folder", false)
	var se *ScanError
	if !errors.As(err, &se) || !errors.Is(err, ErrInfected) || se.Path != "folder/bad.bin" {
		t.Fatalf("move of a folder holding an infected file: %v, want a ScanError naming it", err)
	}
	if _, err := f.tree.Stat(ctx, "a", "folder/bad.bin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the infected file is still indexed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "spaces", "a", "folder", "bad.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the infected file is still on disk: %v", err)
	}
	if after, _, _ := f.tree.Usage(ctx, "a"); after != used-int64(len("a VIRUS inside")) {
		t.Errorf("used bytes %d after quarantine, want %d", after, used-int64(len("a VIRUS inside")))
	}
	if q, _ := os.ReadDir(sc.dir); len(q) != 1 {
		t.Errorf("%d files quarantined, want 1", len(q))
	}
	// What is left is clean: the move goes through now.
	if _, err := f.tree.Move(ctx, "a", "folder", "b", "folder", false); err != nil {
		t.Errorf("move of the folder once cleaned: %v", err)
	}

	_, err = f.tree.Copy(ctx, "a", "bad2.bin", "b", "bad2.bin", false, 0)
	if !errors.Is(err, ErrInfected) {
		t.Errorf("copy of an infected file: %v", err)
	}
	if _, err := f.tree.Stat(ctx, "b", "bad2.bin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the copy of an infected file exists: %v", err)
	}
	if err := f.tree.Vet(ctx); err != nil {
		t.Errorf("Vet of nothing: %v", err)
	}
}
