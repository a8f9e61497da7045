package dav

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfhq/wharf/auth"
)

// BenchmarkGet4K is the handler's share of a 4 KiB WebDAV GET (no
// network, no authentication): the index lookup, the open and the copy.
func BenchmarkGet4K(b *testing.B) {
	f := newPropFixture(b, Config{})
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(f.dir, "spaces", "files", "small.bin"), bytes.Repeat([]byte{'x'}, 4096), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := f.tree.Reindex(ctx, "files"); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/dav/spaces/files/small.bin", nil)
	r = r.WithContext(auth.NewContext(r.Context(), f.admin))
	b.ReportAllocs()
	for b.Loop() {
		w := &countingWriter{h: http.Header{}}
		f.h.ServeHTTP(w, r)
		if w.n != 4096 {
			b.Fatalf("status %d, %d bytes", w.code, w.n)
		}
	}
}

// BenchmarkPut4K is the handler's share of a 4 KiB WebDAV PUT overwriting
// one file, with everything that makes it durable (fsync of the file and
// its folder, the index committed).
func BenchmarkPut4K(b *testing.B) {
	f := newPropFixture(b, Config{})
	body := bytes.Repeat([]byte{'y'}, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPut, "/dav/spaces/files/small.bin", bytes.NewReader(body))
		r = r.WithContext(auth.NewContext(r.Context(), f.admin))
		w := &countingWriter{h: http.Header{}}
		f.h.ServeHTTP(w, r)
		if w.code != http.StatusCreated && w.code != http.StatusNoContent {
			b.Fatalf("status %d", w.code)
		}
	}
}
