package dav

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/wharfhq/wharf/space"
)

// smallBody is the size up to which a GET without a Range is served from
// memory: the file is read whole with one pread and http.ServeContent
// gets a bytes.Reader. Served from the *os.File, ServeContent seeks to the
// end and back to learn the size and net/http reads the first 512 bytes
// before handing the rest to sendfile: four system calls where one read
// does for a small file. Above this size, sendfile's saved copy wins.
const smallBody = 32 << 10

// content is what handleGet gives to http.ServeContent for f, whose size
// (size bytes, checked against the index by space.Tree.Open) is known:
// the file itself, or for a small file without a Range its bytes, read
// into a buffer that done gives back. A Range request keeps the file: a
// request for several ranges is written by a goroutine of ServeContent's
// that may outlive the call, and must not read a buffer given back.
//
// An object of the object store (space's object-store mode) is served as
// it is: the GET that opened it streams its bytes already.
func (h *Handler) content(r *http.Request, f space.File, size int64) (rs io.ReadSeeker, done func()) {
	if r.Method != http.MethodGet || r.Header.Get("Range") != "" {
		return f, func() {}
	}
	buf, done := h.readSmall(f, size)
	if buf == nil {
		return f, func() {}
	}
	return bytes.NewReader(buf), done
}

// readSmall reads a small file (up to smallBody) whole into a pooled
// buffer that done gives back, or returns nil: f is larger, not a file of
// the disk, or shorter or unreadable now.
func (h *Handler) readSmall(f space.File, size int64) (buf []byte, done func()) {
	if _, file := f.(*os.File); !file || size > smallBody {
		return nil, nil
	}
	// Buffers come in four sizes, 4 KiB to smallBody, so that a small
	// file neither takes nor clears a large buffer.
	class, capacity := 0, smallBody>>(len(h.smallBufs)-1)
	for int64(capacity) < size {
		class, capacity = class+1, capacity*2
	}
	pool := &h.smallBufs[class]
	bp, _ := pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, capacity)
		bp = &b
	}
	buf = (*bp)[:size]
	n, err := f.ReadAt(buf, 0)
	if n < len(buf) || (err != nil && err != io.EOF) {
		// Shorter than it was a moment ago, or unreadable: the file
		// gives the answer it gives.
		pool.Put(bp)
		return nil, nil
	}
	return buf, func() { pool.Put(bp) }
}

// servePlain answers a plain GET of a small file, the request a client
// fetching files sends most: no Range, no condition, its type known. The
// answer is http.ServeContent's to the same request, header for header
// (Last-Modified, Accept-Ranges, Content-Length; TestGetBodies compares
// them), written without what ServeContent does for the requests it
// serves and this one is not: the precondition checks, the type sniffing,
// a copy through a LimitReader, a slice per header value. It reports
// false, having written nothing, for any other request: ServeContent
// answers it.
func (h *Handler) servePlain(w http.ResponseWriter, r *http.Request, f space.File, n space.Node) bool {
	if r.Method != http.MethodGet || n.MIME == "" {
		return false
	}
	for _, k := range plainGetRefuses {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	hd := w.Header()
	if _, ok := hd["Content-Encoding"]; ok {
		return false // ServeContent leaves Content-Length out then
	}
	buf, done := h.readSmall(f, n.Size)
	if buf == nil {
		return false
	}
	defer done()
	if !n.MTime.IsZero() && !n.MTime.Equal(time.Unix(0, 0)) {
		hd["Last-Modified"] = []string{n.MTime.UTC().Format(http.TimeFormat)}
	}
	hd["Accept-Ranges"] = fileHeaders.ranges
	hd["Content-Length"] = []string{strconv.Itoa(len(buf))}
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
	return true
}

// plainGetRefuses are the request headers that make a GET ServeContent's:
// a condition (RFC 9110 section 13) or a range (If-Range only counts with
// one).
var plainGetRefuses = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// fileHeaders are the constant header values of a GET of a file, made
// once. A header's value slice is replaced (Set) or appended to (Add,
// which copies a full slice) by whoever changes it, never written in
// place, so one slice can serve every response.
var fileHeaders = struct{ nosniff, sandbox, ranges []string }{
	nosniff: []string{"nosniff"},
	sandbox: []string{"sandbox"},
	ranges:  []string{"bytes"},
}
