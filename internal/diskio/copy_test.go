package diskio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// choppy returns at most a few odd-sized bytes per Read, as a socket does,
// and then err (io.EOF if nil).
type choppy struct {
	b   []byte
	rnd *rand.Rand
	err error
}

func (c *choppy) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rnd.IntN(70000))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestCopy appends bodies of many lengths to files of many lengths:
// aligned and not, shorter than a block, longer than a buffer. The file must
// hold exactly the old bytes then the new ones, and the digest must be the
// new ones'.
func TestCopy(t *testing.T) {
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if d := openDirect(probe); d == nil {
		t.Logf("%s: this file system does not open files with O_DIRECT; only the cached path is tested", dir)
	} else {
		d.Close()
	}
	starts := []int{0, 1, 1000, align, align + 5000, bufSize - 1, bufSize}
	lengths := []int{0, 1, align - 1, align, align + 1, headSize, headSize + 1, bufSize, headSize + bufSize + 1, 2*bufSize + 12345}
	for _, start := range starts {
		for _, length := range lengths {
			t.Run(fmt.Sprintf("%d+%d", start, length), func(t *testing.T) {
				path := filepath.Join(dir, fmt.Sprintf("%d-%d", start, length))
				old := randomBytes(start, uint64(start))
				body := randomBytes(length, uint64(length)+7)
				if err := os.WriteFile(path, old, 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				h := sha256.New()
				src := &choppy{b: body, rnd: rand.New(rand.NewPCG(1, uint64(start)))}
				n, err := Copy(f, int64(start), src, h)
				if err != nil || n != int64(length) {
					t.Fatalf("Copy = %d, %v; want %d, nil", n, err, length)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if want := append(old, body...); !bytes.Equal(got, want) {
					t.Fatalf("file has %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
				}
				if want := sha256.Sum256(body); !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatal("the digest is not the body's")
				}
			})
		}
	}
}

// TestCopyCut: a body that breaks off keeps what arrived, and the
// digest covers exactly that.
func TestCopyCut(t *testing.T) {
	f, path := emptyFile(t)
	body := randomBytes(3*bufSize+777, 3)
	gone := errors.New("connection reset")
	h := sha256.New()
	n, err := Copy(f, 0, &choppy{b: body, rnd: rand.New(rand.NewPCG(2, 2)), err: gone}, h)
	if !errors.Is(err, gone) || n != int64(len(body)) {
		t.Fatalf("Copy = %d, %v; want %d, %v", n, err, len(body), gone)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, body) {
		t.Fatalf("file has %d bytes, want %d", len(got), len(body))
	}
	if want := sha256.Sum256(body); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the digest is not of the bytes kept")
	}
}

// refusing fills every read and fails it: what a reader enforcing a size
// limit does with the read that crosses it.
type refusing struct{ n int64 }

var errRefused = errors.New("over the limit")

func (r *refusing) Read(p []byte) (int, error) {
	r.n += int64(len(p))
	return len(p), errRefused
}

// TestCopyRefused: an error that comes with the bytes filling a buffer
// stops the copy (io.ReadFull would drop it, and read on forever).
func TestCopyRefused(t *testing.T) {
	f, _ := emptyFile(t)
	src := &refusing{}
	n, err := Copy(f, 0, src)
	if !errors.Is(err, errRefused) || n != src.n || n > bufSize {
		t.Fatalf("Copy = %d, %v after reading %d bytes; want at most one buffer (%d) and %v", n, err, src.n, bufSize, errRefused)
	}
}

// TestWriterRefused: when the file system refuses a write around its
// cache (here: memory out of alignment), the bytes go through the cache,
// and so do the next ones.
func TestWriterRefused(t *testing.T) {
	f, path := emptyFile(t)
	if d := openDirect(path); d == nil {
		t.Logf("%s: this file system does not open files with O_DIRECT; only the cached path is tested", path)
	} else {
		d.Close()
	}
	w := newWriter(f, 0)
	defer w.close()
	body := randomBytes(2*directMin+1, 4)
	buf := make([]byte, len(body)+align+1)
	p := buf[int(-uintptr(unsafe.Pointer(&buf[0]))&(align-1))+1:][:len(body)] // one byte past an aligned address
	copy(p, body)
	for _, part := range [][]byte{p[:directMin], p[directMin:]} {
		if n, err := w.write(part); err != nil || n != len(part) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(part))
		}
	}
	if w.direct != nil {
		t.Logf("O_DIRECT accepted memory one byte out of alignment: the fallback was not exercised")
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, body) {
		t.Fatalf("file has %d bytes, want %d; first difference at %d", len(got), len(body), firstDiff(got, body))
	}
}

// emptyFile creates an empty file in a temporary directory, closed at the
// end of the test, and returns it with its path.
func emptyFile(tb testing.TB) (*os.File, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "bin")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f, path
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkCopy writes 256 MiB from memory to a file with its
// SHA-256, as one PATCH does, and fsyncs it.
func BenchmarkCopy(b *testing.B) {
	src := bytes.Repeat([]byte("wharf-copy-bench"), 16<<20)
	path := filepath.Join(b.TempDir(), "bin")
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := Copy(f, 0, bytes.NewReader(src), h); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkCopySmall writes 4 KiB bodies, the common WebDAV PUT, to one
// file, without fsync: the cost of Copy itself.
func BenchmarkCopySmall(b *testing.B) {
	src := randomBytes(4<<10, 5)
	f, _ := emptyFile(b)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Copy(f, 0, bytes.NewReader(src), sha256.New()); err != nil {
			b.Fatal(err)
		}
	}
}
