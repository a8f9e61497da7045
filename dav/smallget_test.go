package dav

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestGetBodies: a GET answers the same whether the file is served from
// memory (up to smallBody, no Range) or from the file: the whole body,
// HEAD without it, a range, several ranges, a conditional request; and a
// buffer given back and reused never leaks one file's bytes into
// another's answer.
func TestGetBodies(t *testing.T) {
	f := newPropFixture(t, Config{})
	sizes := []int{0, 1, 4096, smallBody - 1, smallBody, smallBody + 1, 3 * smallBody}
	bodies := map[int]string{}
	for i, size := range sizes {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte('a' + (i+j)%26)
		}
		bodies[size] = string(b)
		f.put(t, fmt.Sprintf("f%d.bin", size), string(b))
	}
	for _, size := range sizes {
		body := bodies[size]
		target := fmt.Sprintf("/dav/spaces/files/f%d.bin", size)
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			w := f.do(f.admin, http.MethodGet, target, "")
			if w.Code != http.StatusOK || w.Body.String() != body {
				t.Fatalf("GET = %d, %d bytes; want 200, %d bytes", w.Code, w.Body.Len(), size)
			}
			if got := w.Header().Get("Content-Length"); got != strconv.Itoa(size) {
				t.Errorf("Content-Length = %q, want %d", got, size)
			}
			etag := w.Header().Get("ETag")
			if etag == "" || w.Header().Get("Last-Modified") == "" || w.Header().Get("Accept-Ranges") != "bytes" {
				t.Errorf("headers = %v", w.Header())
			}

			w = f.do(f.admin, http.MethodHead, target, "")
			if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") != strconv.Itoa(size) {
				t.Errorf("HEAD = %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
			}

			w = f.do(f.admin, http.MethodGet, target, "", "If-None-Match", etag)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
				t.Errorf("If-None-Match = %d, %d bytes; want 304", w.Code, w.Body.Len())
			}

			if size < 10 {
				return
			}
			w = f.do(f.admin, http.MethodGet, target, "", "Range", "bytes=3-7")
			if w.Code != http.StatusPartialContent || w.Body.String() != body[3:8] {
				t.Errorf("Range = %d, %q; want 206, %q", w.Code, w.Body.String(), body[3:8])
			}
			w = f.do(f.admin, http.MethodGet, target, "", "Range", fmt.Sprintf("bytes=0-1,%d-", size-2))
			if w.Code != http.StatusPartialContent {
				t.Fatalf("two ranges = %d", w.Code)
			}
			_, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			mr := multipart.NewReader(w.Body, params["boundary"])
			var parts []string
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(p)
				parts = append(parts, string(b))
			}
			if want := []string{body[:2], body[size-2:]}; strings.Join(parts, "|") != strings.Join(want, "|") {
				t.Errorf("two ranges = %q, want %q", parts, want)
			}
		})
	}
	// Served one after the other (buffers reused), each answer is its
	// own file's.
	for range 3 {
		for _, size := range sizes {
			w := f.do(f.admin, http.MethodGet, fmt.Sprintf("/dav/spaces/files/f%d.bin", size), "")
			if !bytes.Equal(w.Body.Bytes(), []byte(bodies[size])) {
				t.Fatalf("GET of the %d-byte file answered other bytes", size)
			}
		}
	}
}
