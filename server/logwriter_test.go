package server

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLogWriterReadFrom: a body copied into the access log's writer
// arrives whole and is counted, whether it is a file (net/http's own
// ReadFrom, for sendfile) or bytes in memory (a pooled buffer, reused
// from one response to the next).
func TestLogWriterReadFrom(t *testing.T) {
	var bufs sync.Pool
	path := filepath.Join(t.TempDir(), "f")
	fileBody := strings.Repeat("file.", 2000)
	if err := os.WriteFile(path, []byte(fileBody), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name string
		src  func() (io.Reader, func())
		want string
	}{
		{"memory", func() (io.Reader, func()) {
			return io.LimitReader(bytes.NewReader([]byte(strings.Repeat("a", 5000))), 4096), func() {}
		}, strings.Repeat("a", 4096)},
		{"memory again", func() (io.Reader, func()) {
			return bytes.NewReader([]byte("short")), func() {}
		}, "short"},
		{"file", func() (io.Reader, func()) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return io.LimitReader(f, int64(len(fileBody))), func() { f.Close() }
		}, fileBody},
	} {
		rec := httptest.NewRecorder()
		w := &logWriter{ResponseWriter: rec, bufs: &bufs}
		src, done := c.src()
		n, err := w.ReadFrom(src)
		done()
		if err != nil || n != int64(len(c.want)) || rec.Body.String() != c.want {
			t.Errorf("%d %s: ReadFrom = %d, %v; body %d bytes, want %d", i, c.name, n, err, rec.Body.Len(), len(c.want))
		}
		if w.bytes != n || w.status != 200 {
			t.Errorf("%s: logged %d bytes, status %d", c.name, w.bytes, w.status)
		}
	}
}
