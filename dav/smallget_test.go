package dav

import (
	"bytes"
	"context"
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
// HEAD without it, a range, several ranges, a conditional request, with
// the same header (a plain GET, servePlain's, against ServeContent's); and a
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
		f.put(t, fmt.Sprintf("f%d.txt", size), string(b))
	}
	for _, size := range sizes {
		body := bodies[size]
		target := fmt.Sprintf("/dav/spaces/files/f%d.txt", size)
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

			// A plain GET up to smallBody is servePlain's, a HEAD and a
			// GET with a condition that holds are ServeContent's: the
			// same header, and the same body.
			plain := w
			if n, err := f.tree.Stat(context.Background(), "files", fmt.Sprintf("f%d.txt", size)); err != nil || n.MIME == "" {
				t.Fatalf("the index has no type for the file (%v): the plain GET would not be tried", err)
			}
			w = f.do(f.admin, http.MethodHead, target, "")
			if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") != strconv.Itoa(size) {
				t.Errorf("HEAD = %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
			}
			sameHeader(t, "HEAD", w.Header(), plain.Header())
			w = f.do(f.admin, http.MethodGet, target, "", "If-None-Match", `"other"`, "If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT")
			if w.Code != http.StatusOK || w.Body.String() != body {
				t.Errorf("GET with conditions that hold = %d, %d bytes; want 200, %d bytes", w.Code, w.Body.Len(), size)
			}
			sameHeader(t, "GET with conditions that hold", w.Header(), plain.Header())

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
			w := f.do(f.admin, http.MethodGet, fmt.Sprintf("/dav/spaces/files/f%d.txt", size), "")
			if !bytes.Equal(w.Body.Bytes(), []byte(bodies[size])) {
				t.Fatalf("GET of the %d-byte file answered other bytes", size)
			}
		}
	}
}

// sameHeader fails t unless got and want hold the same fields with the
// same values, Date and the request id aside.
func sameHeader(t *testing.T, what string, got, want http.Header) {
	t.Helper()
	for _, h := range []http.Header{got, want} {
		for k := range h {
			if k == "Date" || k == "X-Request-Id" {
				continue
			}
			if g, w := strings.Join(got.Values(k), "|"), strings.Join(want.Values(k), "|"); g != w {
				t.Errorf("%s: %s = %q, the plain GET's %q", what, k, g, w)
			}
		}
	}
}
