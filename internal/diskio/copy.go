// Package diskio writes what a client sends to a file, hashing it on the
// way: the one copy loop behind tus PATCHes and WebDAV PUTs; and writes the
// server's own small files (secrets, manifests) atomically, owner-only
// (WriteFile). It imports nothing of Wharf.
package diskio

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	// bufSize is the size of Copy's buffers: large enough that a write
	// around the page cache keeps the disk busy; a multiple of align.
	bufSize = 1 << 20
	// bufCount is how many buffers one Copy uses: being read, written and
	// hashed. A fourth measured no faster, and eight uploads at once would
	// hold 8 MiB more.
	bufCount = 3
	// align is the alignment of writes around the page cache: of their
	// offset, length and memory. It suits every disk whose logical block is
	// at most 4096 bytes; a file system that wants more refuses the write
	// (EINVAL), and the copy goes on through the page cache.
	align = 4096
	// writebackEvery is how many bytes go through the page cache before
	// the kernel is asked to start putting them on disk (startWriteback).
	writebackEvery = 16 << 20
)

// Copy writes src to dst from offset start on, and feeds the same bytes,
// in order, to hashers. It returns the bytes written; on an error, the
// bytes hashed are exactly those written. The caller fsyncs dst.
//
// A small body (the first headSize bytes) is copied in the caller's
// goroutine. The rest is read, written and hashed by three stages, each on
// its own goroutine, that pass buffers along (read, then written, then
// hashed, then free again), so that none waits for the others' system
// calls or for the hash: SHA-256 alone runs at about the speed of a disk.
// Buffers are filled whole, and a whole buffer at an aligned offset is
// written around the page cache where the system allows it (see
// openDirect); the rest (a first piece up to an aligned offset, a short
// last one) goes through the cache.
func Copy(dst *os.File, start int64, src io.Reader, hashers ...io.Writer) (int64, error) {
	w := newWriter(dst, start)
	defer w.close()
	h := io.MultiWriter(hashers...)
	hp := headPool.Get().(*[]byte)
	defer headPool.Put(hp)
	m, rerr := fill(src, *hp)
	n, err := w.write((*hp)[:m])
	h.Write((*hp)[:n]) // hashes never fail
	switch {
	case err != nil:
		return int64(n), err
	case rerr == io.EOF:
		return int64(n), nil
	case rerr != nil:
		return int64(n), rerr
	}
	rest, err := w.pipe(src, h)
	return int64(n) + rest, err
}

// headSize is how much of a body Copy copies before it starts its stages:
// most files sent to a file server are smaller.
const headSize = 64 << 10

var headPool = sync.Pool{New: func() any { b := make([]byte, headSize); return &b }}

// pipe is Copy's three stages: it copies src to w and h until src ends or
// fails, or a write fails.
func (w *writer) pipe(src io.Reader, h io.Writer) (n int64, err error) {
	type chunk struct {
		bp *[]byte
		n  int
	}
	free := make(chan *[]byte, bufCount)
	toWrite := make(chan chunk, bufCount)
	toHash := make(chan chunk, bufCount)
	var werr error         // the first write error; read by the reader only after written is closed
	var failed atomic.Bool // werr is set: the reader stops
	written := make(chan struct{})
	go func() {
		defer close(written)
		defer close(toHash)
		for c := range toWrite {
			if werr != nil {
				free <- c.bp // after a failed write, nothing more is written or hashed
				continue
			}
			m, err := w.write((*c.bp)[:c.n])
			n += int64(m)
			if err != nil {
				werr = err
				failed.Store(true)
			}
			if m > 0 {
				toHash <- chunk{c.bp, m}
			} else {
				free <- c.bp
			}
		}
	}()
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range toHash {
			h.Write((*c.bp)[:c.n])
			free <- c.bp
		}
	}()
	// Buffers are taken from the pool only as the stages need them: a body
	// a little over headSize holds one.
	held := 0
	next := func() *[]byte {
		if held < bufCount {
			select {
			case bp := <-free:
				return bp
			default:
				held++
				return bufPool.Get().(*[]byte)
			}
		}
		return <-free
	}
	// When the offset is not aligned, the first buffer is filled only so
	// far that it ends at an aligned one.
	first := bufSize - int(w.off%align)
	var rerr error
	for !failed.Load() {
		bp := next()
		size := bufSize
		if first > 0 {
			size, first = first, 0
		}
		m, err := fill(src, (*bp)[:size])
		if m > 0 {
			toWrite <- chunk{bp, m}
		} else {
			free <- bp
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	close(toWrite)
	<-written
	<-hashed
	for range held {
		bufPool.Put(<-free)
	}
	if werr != nil {
		return n, werr
	}
	return n, rerr
}

// fill reads from src into p until p is full or a read fails. Unlike
// io.ReadFull, it keeps an error that comes with the bytes filling p: a
// reader that refuses a body past its limit says so with the bytes over it.
func fill(src io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := src.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// bufPool holds Copy's buffers, their memory aligned to align.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, bufSize+align)
	skip := int(-uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	b = b[skip : skip+bufSize : skip+bufSize]
	return &b
}}

// writer writes to a file at increasing offsets: the aligned part of a
// write of at least directMin bytes around the page cache, where the
// system allows it, the rest through it. It is what Copy's writing stage
// uses.
type writer struct {
	f      *os.File // the file, written through the page cache
	direct *os.File // the same file opened with O_DIRECT, once needed
	tried  bool     // direct was opened, or could not be, or was refused
	off    int64    // where the next byte goes
	cached int64    // bytes written through the page cache since the last writeback hint
}

// directMin is the smallest write that goes around the page cache: below
// it, the extra open and the synchronous write cost more than the copy
// into the cache saves.
const directMin = 256 << 10

// newWriter returns a writer whose first byte goes to offset off of f.
func newWriter(f *os.File, off int64) *writer {
	return &writer{f: f, off: off}
}

// write writes p at the writer's offset, moves the offset past it, and
// returns how many bytes it wrote. Memory of p to go around the page cache
// must be aligned as Copy's buffers are; any other is refused by the
// system, and from then on the writer goes through the cache.
func (w *writer) write(p []byte) (int, error) {
	done := 0
	if k := len(p) &^ (align - 1); k >= directMin && w.off%align == 0 && w.openDirect() {
		m, err := w.direct.WriteAt(p[:k], w.off)
		w.off += int64(m)
		done = m
		if errors.Is(err, syscall.EINVAL) {
			// This file system wants another alignment, or will not
			// write around its cache at all.
			w.direct.Close()
			w.direct = nil
		} else if err != nil {
			return done, err
		}
	}
	if done == len(p) {
		return done, nil
	}
	m, err := w.f.WriteAt(p[done:], w.off)
	w.off += int64(m)
	done += m
	if w.cached += int64(m); w.cached >= writebackEvery {
		startWriteback(w.f, w.off-w.cached, w.cached)
		w.cached = 0
	}
	return done, err
}

// openDirect reports whether w.direct is open, opening it the first time.
func (w *writer) openDirect() bool {
	if !w.tried {
		w.tried = true
		w.direct = openDirect(w.f.Name())
	}
	return w.direct != nil
}

// close closes what the writer opened; the file itself stays open.
func (w *writer) close() error {
	if w.direct == nil {
		return nil
	}
	return w.direct.Close()
}
