package dav

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestChunksBounded: the chunks of transfers that are never assembled
// cannot fill the disk. A user's transfers hold at most MaxChunkBytes in
// all (a chunk past it is refused and nothing of it kept), and a user who
// may write to no space cannot store chunks at all.
func TestChunksBounded(t *testing.T) {
	f := newPropFixture(t, Config{ChunkDir: t.TempDir(), MaxChunkBytes: 10})
	do := func(method, target, body string) int {
		return f.serve(f.h.serveChunks, f.admin, method, target, body).Code
	}
	up := "/remote.php/dav/uploads/admin/"
	for _, tr := range []string{"a", "b"} {
		if st := do("MKCOL", up+tr, ""); st != http.StatusCreated {
			t.Fatalf("MKCOL %s: %d", tr, st)
		}
	}
	if st := do("PUT", up+"a/1", "123456"); st != http.StatusCreated {
		t.Fatalf("PUT a/1: %d", st)
	}
	// 6 + 6 > 10, across transfers.
	if st := do("PUT", up+"b/1", "abcdef"); st != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT past the bound: %d, want 413", st)
	}
	if _, err := os.Stat(filepath.Join(f.h.cfg.ChunkDir, "1", "b", "1")); err == nil {
		t.Errorf("the refused chunk was kept")
	}
	if st := do("PUT", up+"b/1", "abcd"); st != http.StatusCreated {
		t.Errorf("PUT within the bound: %d", st)
	}
	// Replacing a chunk counts its new size only.
	if st := do("PUT", up+"b/1", "wxyz"); st != http.StatusCreated {
		t.Errorf("PUT replacing a chunk within the bound: %d", st)
	}

	// vic only views: no transfers.
	vup := "/remote.php/dav/uploads/vic/t"
	if w := f.serve(f.h.serveChunks, f.viewer, "MKCOL", vup, ""); w.Code != http.StatusForbidden {
		t.Errorf("a viewer's MKCOL of a transfer: %d, want 403", w.Code)
	}
	if w := f.serve(f.h.serveChunks, f.viewer, "PUT", vup+"/1", strings.Repeat("x", 4)); w.Code < 400 {
		t.Errorf("a viewer's chunk: %d, want a refusal", w.Code)
	}

	// Empty transfers are bounded too.
	for i := 0; ; i++ {
		st := do("MKCOL", up+"many-"+strconv.Itoa(i), "")
		if st == http.StatusInsufficientStorage {
			break
		}
		if st != http.StatusCreated || i > maxTransfers {
			t.Fatalf("MKCOL of transfer %d: %d", i, st)
		}
	}
}
