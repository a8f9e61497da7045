package dav

import (
	"bytes"
	"io"
	"net/http"
	"os"
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
func (h *Handler) content(r *http.Request, f *os.File, size int64) (rs io.ReadSeeker, done func()) {
	if size > smallBody || r.Method != http.MethodGet || r.Header.Get("Range") != "" {
		return f, func() {}
	}
	bp, _ := h.smallBufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, smallBody)
		bp = &b
	}
	buf := (*bp)[:size]
	n, err := f.ReadAt(buf, 0)
	if n < len(buf) || (err != nil && err != io.EOF) {
		// Shorter than it was a moment ago, or unreadable: the file
		// gives the answer it gives.
		h.smallBufs.Put(bp)
		return f, func() {}
	}
	return bytes.NewReader(buf), func() { h.smallBufs.Put(bp) }
}
