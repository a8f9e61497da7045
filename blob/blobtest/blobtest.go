// Package blobtest is the conformance suite of blob.Backend: the same
// assertions against every implementation (blob/local always, blob/s3
// against a real S3 server). It imports blob only.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/blob"
)

// Factory makes an empty store for one subtest, and reopen makes a second
// client on the same storage (a new process after a restart).
type Factory func(t *testing.T) (store blob.Backend, reopen func() blob.Backend)

const mib = 1 << 20

// data is n pseudo-random bytes, different for each seed.
func data(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s blob.Store, key string, b []byte) blob.Info {
	t.Helper()
	in, err := s.Put(ctxT(t), key, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	if in.Key != key || in.Size != int64(len(b)) || in.ETag == "" {
		t.Fatalf("put %q: info %+v, want size %d and an etag", key, in, len(b))
	}
	return in
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	r, err := s.Open(ctxT(t), key)
	if err != nil {
		t.Fatalf("open %q: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

func same(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}

func notFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("%s: got %v, want blob.ErrNotFound", what, err)
	}
}

// Run runs every case, each on a fresh store from f.
func Run(t *testing.T, f Factory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s blob.Backend, reopen func() blob.Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"Ranges", testRanges},
		{"OverwriteAtomic", testOverwriteAtomic},
		{"OpenReaderKeepsItsVersion", testOpenReaderVersion},
		{"Copy", testCopy},
		{"Delete", testDelete},
		{"List", testList},
		{"OddKey", testOddKey},
		{"InvalidKeys", testInvalidKeys},
		{"CancelMidPut", testCancelMidPut},
		{"WrongSize", testWrongSize},
		{"UploadSmallWrites", testUploadSmallWrites},
		{"UploadLargeWrites", testUploadLargeWrites},
		{"UploadDeferredSize", testUploadDeferredSize},
		{"UploadEmpty", testUploadEmpty},
		{"UploadResumeAfterRestart", testUploadResume},
		{"UploadReaderFails", testUploadReaderFails},
		{"UploadOffsetMismatch", testUploadOffsetMismatch},
		{"UploadTooLarge", testUploadTooLarge},
		{"UploadCompleteTwice", testUploadCompleteTwice},
		{"UploadAbort", testUploadAbort},
		{"UploadExpiry", testUploadExpiry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, reopen := f(t)
			c.fn(t, s, reopen)
		})
	}
}

func testRoundTrip(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	for i, n := range []int{0, 1, 4096, 3*mib + 17} {
		want := data(uint64(i), n)
		key := fmt.Sprintf("rt/%d", n)
		put(t, s, key, want)
		same(t, key, get(t, s, key), want)
		in, err := s.Stat(ctx, key)
		if err != nil || in.Size != int64(n) {
			t.Fatalf("stat %q: %+v %v", key, in, err)
		}
		if in.ModTime.IsZero() || time.Since(in.ModTime) > time.Hour {
			t.Fatalf("stat %q: modtime %v", key, in.ModTime)
		}
		// Unknown size.
		key2 := key + "-unsized"
		in, err = s.Put(ctx, key2, io.MultiReader(bytes.NewReader(want)), -1)
		if err != nil || in.Size != int64(n) {
			t.Fatalf("put %q unsized: %+v %v", key2, in, err)
		}
		same(t, key2, get(t, s, key2), want)
	}
	_, err := s.Stat(ctx, "rt/missing")
	notFound(t, "stat missing", err)
	_, err = s.Open(ctx, "rt/missing")
	notFound(t, "open missing", err)
}

func testRanges(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	want := data(7, 2*mib+333)
	put(t, s, "ranges/x", want)
	serve := func(rng string) (int, []byte) {
		r, err := s.Open(ctxT(t), "ranges/x")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		req := httptest.NewRequest("GET", "/x", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		w := httptest.NewRecorder()
		in := r.Info()
		http.ServeContent(w, req, "x", in.ModTime, r)
		return w.Code, w.Body.Bytes()
	}
	n := len(want)
	for _, c := range []struct {
		rng    string
		status int
		body   []byte
	}{
		{"", 200, want},
		{"bytes=0-9", 206, want[:10]},
		{"bytes=1000000-1000999", 206, want[1000000:1001000]},
		{"bytes=-100", 206, want[n-100:]},
		{fmt.Sprintf("bytes=%d-", n-5), 206, want[n-5:]},
		{fmt.Sprintf("bytes=%d-", n+10), http.StatusRequestedRangeNotSatisfiable, nil},
	} {
		status, body := serve(c.rng)
		if status != c.status {
			t.Fatalf("range %q: status %d, want %d", c.rng, status, c.status)
		}
		if c.body != nil {
			same(t, "range "+c.rng, body, c.body)
		}
	}
	// Two ranges: multipart/byteranges, both parts present.
	status, body := serve("bytes=0-4,100-104")
	if status != 206 || !bytes.Contains(body, want[:5]) || !bytes.Contains(body, want[100:105]) {
		t.Fatalf("two ranges: status %d, body lacks a part", status)
	}
	// ReadAt, in the middle and across the end.
	r, err := s.Open(ctxT(t), "ranges/x")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 4096)
	if k, err := r.ReadAt(p, 123456); k != len(p) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt middle: %d, %v", k, err)
	}
	same(t, "ReadAt middle", p, want[123456:123456+4096])
	k, err := r.ReadAt(p, int64(n-10))
	if k != 10 || err != io.EOF {
		t.Fatalf("ReadAt across the end: %d, %v; want 10, EOF", k, err)
	}
	same(t, "ReadAt across the end", p[:k], want[n-10:])
	if k, err := r.ReadAt(p, int64(n+1)); k != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end: %d, %v", k, err)
	}
}

// testOverwriteAtomic: readers running while the key is overwritten again
// and again see one version or the other, whole, never a mix or a part.
func testOverwriteAtomic(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	a := bytes.Repeat([]byte{'a'}, 2*mib)
	b := bytes.Repeat([]byte{'b'}, 2*mib+4096)
	put(t, s, "atomic/k", a)
	ctx := ctxT(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var reads atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, err := s.Open(ctx, "atomic/k")
				if err != nil {
					errs <- fmt.Errorf("open: %w", err)
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if errors.Is(err, blob.ErrChanged) {
					continue // refused rather than mixed: allowed
				}
				if err != nil {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
					errs <- fmt.Errorf("read %d bytes that are neither version (first %q, last %q)", len(got), got[:1], got[len(got)-1:])
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := range 12 {
		v := a
		if i%2 == 0 {
			v = b
		}
		if _, err := s.Put(ctx, "atomic/k", bytes.NewReader(v), int64(len(v))); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no read completed during the overwrites")
	}
}

// testOpenReaderVersion: a reader opened before an overwrite goes on with
// the version it opened, or fails with ErrChanged; never the new bytes.
func testOpenReaderVersion(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	old := data(1, mib)
	put(t, s, "ver/k", old)
	r, err := s.Open(ctxT(t), "ver/k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	put(t, s, "ver/k", data(2, mib))
	if _, err := r.Seek(500000, io.SeekStart); err != nil && !errors.Is(err, blob.ErrChanged) {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if errors.Is(err, blob.ErrChanged) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	same(t, "the opened version after an overwrite", rest, old[500000:])
}

func testCopy(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	v1 := data(3, mib+5)
	put(t, s, "copy/src", v1)
	in, err := s.Copy(ctx, "copy/src", "copy/dst")
	if err != nil || in.Size != int64(len(v1)) || in.Key != "copy/dst" {
		t.Fatalf("copy: %+v %v", in, err)
	}
	same(t, "copy", get(t, s, "copy/dst"), v1)
	// The copy is independent of later changes to the source.
	put(t, s, "copy/src", []byte("changed"))
	same(t, "copy after its source changed", get(t, s, "copy/dst"), v1)
	if err := s.Delete(ctx, "copy/src"); err != nil {
		t.Fatal(err)
	}
	same(t, "copy after its source was deleted", get(t, s, "copy/dst"), v1)
	// Over an existing object.
	put(t, s, "copy/other", []byte("other"))
	if _, err := s.Copy(ctx, "copy/other", "copy/dst"); err != nil {
		t.Fatal(err)
	}
	same(t, "copy over", get(t, s, "copy/dst"), []byte("other"))
	_, err = s.Copy(ctx, "copy/missing", "copy/x")
	notFound(t, "copy of a missing key", err)
	_, err = s.Stat(ctx, "copy/x")
	notFound(t, "destination of a failed copy", err)
}

func testDelete(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	put(t, s, "del/k", []byte("x"))
	for i := range 2 {
		if err := s.Delete(ctx, "del/k"); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	_, err := s.Stat(ctx, "del/k")
	notFound(t, "stat after delete", err)
	_, err = s.Open(ctx, "del/k")
	notFound(t, "open after delete", err)
	if err := s.Delete(ctx, "del/never/was"); err != nil {
		t.Fatalf("delete of a key never stored: %v", err)
	}
	// A key whose "parent" is an object is just another key.
	put(t, s, "del/k", []byte("x"))
	if _, err := s.Stat(ctx, "del/k/child"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat under an object's key: %v", err)
	}
}

func listAll(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(ctxT(t), prefix, func(in blob.Info) error {
		keys = append(keys, in.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys
}

func testList(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	for _, k := range []string{"l/b/1", "l/a/2", "l/a/1", "l/a/b/3", "l/ab", "l/a"} {
		put(t, s, k, []byte(k))
	}
	// An upload in flight with bytes parked (an incomplete part on S3)
	// is never listed.
	u, err := s.CreateUpload(ctx, "l/up", 10*mib)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, u, 0, bytes.NewReader(data(1, 1000))); err != nil {
		t.Fatal(err)
	}
	defer s.AbortUpload(ctx, u)
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"l/a/", []string{"l/a/1", "l/a/2", "l/a/b/3"}},
		{"l/a", []string{"l/a", "l/a/1", "l/a/2", "l/a/b/3", "l/ab"}},
		{"l/", []string{"l/a", "l/a/1", "l/a/2", "l/a/b/3", "l/ab", "l/b/1"}},
		{"l/c", nil},
		{"", []string{"l/a", "l/a/1", "l/a/2", "l/a/b/3", "l/ab", "l/b/1"}},
	} {
		if got := listAll(t, s, c.prefix); !slices.Equal(got, c.want) {
			t.Fatalf("list %q: %q, want %q", c.prefix, got, c.want)
		}
	}
	// fn's error stops the listing and comes back.
	stop := errors.New("stop")
	n := 0
	err = s.List(ctx, "l/", func(blob.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("list stopped by fn: %v after %d calls", err, n)
	}
}

func testOddKey(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	keys := []string{
		"odd/space 1/ünïcødé 名前/100% #?&=+;,'\"<>|*:~x",
		"odd/%41", // must not alias "odd/A"
		"odd/A",
		"odd/-._~", // the local suffix character inside a key
		"odd/x~",
		"odd/" + strings.Repeat("é", 40),
	}
	for i, k := range keys {
		want := []byte(fmt.Sprintf("value %d", i))
		put(t, s, k, want)
	}
	for i, k := range keys {
		same(t, k, get(t, s, k), []byte(fmt.Sprintf("value %d", i)))
	}
	got := listAll(t, s, "odd/")
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list of odd keys: %q, want %q", got, want)
	}
}

func testInvalidKeys(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	for _, k := range []string{"", "/a", "a/", "a//b", "a/./b", "../a", "a/..", ".staging/x", "a\x00b", "a\nb", "a\\b", "\xff", strings.Repeat("a", 1025)} {
		_, err := s.Put(ctx, k, strings.NewReader("x"), 1)
		if !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("stat %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.CreateUpload(ctx, k, 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("create upload %q: %v, want ErrInvalidKey", k, err)
		}
	}
}

// stallReader yields n bytes, then cancels the context and fails with its
// error, like a request whose client went away.
type stallReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
	ctx    context.Context
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		s.cancel()
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	if len(p) > s.n {
		p = p[:s.n]
	}
	k, err := s.r.Read(p)
	s.n -= k
	return k, err
}

func testCancelMidPut(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	for _, size := range []int64{6 * mib, -1} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			key := fmt.Sprintf("cancel/%d", size)
			old := []byte("the old version")
			put(t, s, key+"-old", old)
			full := data(9, 6*mib)
			for _, k := range []string{key, key + "-old"} {
				ctx, cancel := context.WithCancel(context.Background())
				r := &stallReader{r: bytes.NewReader(full), n: 2 * mib, cancel: cancel, ctx: ctx}
				_, err := s.Put(ctx, k, r, size)
				cancel()
				if err == nil {
					t.Fatalf("put %q cancelled midway succeeded", k)
				}
			}
			_, err := s.Stat(ctxT(t), key)
			notFound(t, "a new key after a cancelled put", err)
			same(t, "an old key after a cancelled put", get(t, s, key+"-old"), old)
		})
	}
}

func testWrongSize(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	// A seekable reader (a buffer, a file) and a stream (a request body).
	for name, wrap := range map[string]func(string) io.Reader{
		"seeker": func(s string) io.Reader { return strings.NewReader(s) },
		"stream": func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) },
	} {
		for _, c := range []struct{ key, body string }{{"short", "12345"}, {"long", "0123456789abcdef"}} {
			key := "size/" + name + "/" + c.key
			if _, err := s.Put(ctx, key, wrap(c.body), 10); err == nil {
				t.Fatalf("%s: a put of %d bytes declared 10 succeeded", key, len(c.body))
			}
			_, err := s.Stat(ctx, key)
			notFound(t, key+" after a put of the wrong size", err)
		}
	}
	// Streams larger than a part (a multipart put on S3).
	big := data(5, 20*mib)
	for _, c := range []struct {
		key      string
		body     []byte
		declared int64
	}{{"size/big/short", big[:18*mib], 20 * mib}, {"size/big/long", big, 18 * mib}} {
		if _, err := s.Put(ctx, c.key, io.MultiReader(bytes.NewReader(c.body)), c.declared); err == nil {
			t.Fatalf("%s: a put of %d bytes declared %d succeeded", c.key, len(c.body), c.declared)
		}
		_, err := s.Stat(ctx, c.key)
		notFound(t, c.key+" after a put of the wrong size", err)
	}
}

// upload writes b to a new upload in writes of the given sizes, checking
// the offset after each, completes it and checks the object.
func upload(t *testing.T, s blob.Backend, key string, b []byte, declared int64, writes []int) {
	t.Helper()
	ctx := ctxT(t)
	u, err := s.CreateUpload(ctx, key, declared)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for _, w := range writes {
		end := min(off+w, len(b))
		n, err := s.WriteUpload(ctx, u, int64(off), bytes.NewReader(b[off:end]))
		if err != nil || n != int64(end-off) {
			t.Fatalf("write %d bytes at %d: %d, %v", end-off, off, n, err)
		}
		off = end
		got, err := s.UploadOffset(ctx, u)
		if err != nil || got != int64(off) {
			t.Fatalf("offset after a write: %d, %v; want %d", got, err, off)
		}
	}
	if off != len(b) {
		t.Fatalf("test bug: writes cover %d of %d bytes", off, len(b))
	}
	in, err := s.CompleteUpload(ctx, u)
	if err != nil || in.Size != int64(len(b)) || in.Key != key {
		t.Fatalf("complete: %+v, %v", in, err)
	}
	same(t, "completed upload", get(t, s, key), b)
	_, err = s.UploadOffset(ctx, u)
	notFound(t, "offset of a completed upload", err)
}

func testUploadSmallWrites(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	// Writes shorter than S3's 5 MiB part minimum: parked, then joined.
	b := data(11, 12*mib+123)
	writes := []int{}
	for n := 0; n < len(b); n += mib + 7 {
		writes = append(writes, mib+7)
	}
	upload(t, s, "up/small", b, int64(len(b)), writes)
}

func testUploadLargeWrites(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	// Writes of 6 MiB, one crossing the 16 MiB part size, a short tail.
	b := data(12, 20*mib+5)
	upload(t, s, "up/large", b, int64(len(b)), []int{6 * mib, 11 * mib, 3 * mib, 5})
}

func testUploadDeferredSize(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	b := data(13, 7*mib+1)
	upload(t, s, "up/deferred", b, -1, []int{3 * mib, 3 * mib, mib + 1})
}

func testUploadEmpty(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	upload(t, s, "up/empty", nil, 0, nil)
	upload(t, s, "up/empty-deferred", nil, -1, []int{0})
}

// testUploadResume: a process writes part of an upload and is gone; a new
// client (another replica, or the same after a restart) learns the offset
// from the store and finishes it.
func testUploadResume(t *testing.T, s blob.Backend, reopen func() blob.Backend) {
	ctx := ctxT(t)
	b := data(14, 9*mib+99)
	u, err := s.CreateUpload(ctx, "up/resume", int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// 6 MiB (a part on S3) then 1 MiB (parked as an incomplete part).
	if _, err := s.WriteUpload(ctx, u, 0, bytes.NewReader(b[:6*mib])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, u, 6*mib, bytes.NewReader(b[6*mib:7*mib])); err != nil {
		t.Fatal(err)
	}
	s2 := reopen()
	// The caller kept only the Upload's fields, in its database.
	u2 := blob.Upload{Key: u.Key, ID: u.ID, Size: u.Size}
	off, err := s2.UploadOffset(ctx, u2)
	if err != nil || off != 7*mib {
		t.Fatalf("offset seen by a new client: %d, %v; want %d", off, err, 7*mib)
	}
	if _, err := s2.WriteUpload(ctx, u2, off, bytes.NewReader(b[off:])); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.CompleteUpload(ctx, u2); err != nil {
		t.Fatal(err)
	}
	same(t, "resumed upload", get(t, s, "up/resume"), b)
}

// failingReader yields n bytes then fails, like a client that disconnects.
type failingReader struct {
	r io.Reader
	n int
}

var errClientGone = errors.New("client gone")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errClientGone
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}

func testUploadReaderFails(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	b := data(15, 8*mib)
	u, err := s.CreateUpload(ctx, "up/fails", int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{2 * mib, 6*mib + 3} { // a short tail kept, then a part-sized one
		off, err := s.UploadOffset(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.WriteUpload(ctx, u, off, &failingReader{r: bytes.NewReader(b[off:]), n: cut - int(off)})
		if !errors.Is(err, errClientGone) {
			t.Fatalf("write from a failing reader: %v, want its error", err)
		}
		if off+n != int64(cut) {
			t.Fatalf("write from a failing reader kept %d bytes, want %d", n, int64(cut)-off)
		}
		if got, _ := s.UploadOffset(ctx, u); got != int64(cut) {
			t.Fatalf("offset after a failed write: %d, want %d", got, cut)
		}
	}
	if _, err := s.WriteUpload(ctx, u, 6*mib+3, bytes.NewReader(b[6*mib+3:])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	same(t, "upload after failed writes", get(t, s, "up/fails"), b)
}

func testUploadOffsetMismatch(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	u, err := s.CreateUpload(ctx, "up/mismatch", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortUpload(ctx, u)
	if _, err := s.WriteUpload(ctx, u, 0, strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 5, 11} {
		if _, err := s.WriteUpload(ctx, u, off, strings.NewReader("x")); !errors.Is(err, blob.ErrOffset) {
			t.Fatalf("write at %d of an upload at 10: %v, want ErrOffset", off, err)
		}
	}
	if got, _ := s.UploadOffset(ctx, u); got != 10 {
		t.Fatalf("offset after refused writes: %d", got)
	}
	if _, err := s.CompleteUpload(ctx, u); !errors.Is(err, blob.ErrIncomplete) {
		t.Fatalf("complete at 10 of 100: %v, want ErrIncomplete", err)
	}
	_, err = s.Stat(ctx, "up/mismatch")
	notFound(t, "object of an incomplete upload", err)
}

func testUploadTooLarge(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	u, err := s.CreateUpload(ctx, "up/toolarge", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortUpload(ctx, u)
	n, err := s.WriteUpload(ctx, u, 0, strings.NewReader("0123456789X"))
	if !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("11 bytes into an upload of 10: %d, %v; want ErrTooLarge", n, err)
	}
	if got, _ := s.UploadOffset(ctx, u); got > 10 {
		t.Fatalf("offset past the declared size: %d", got)
	}
}

func testUploadCompleteTwice(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	b := data(16, 3*mib)
	u, err := s.CreateUpload(ctx, "up/twice", int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, u, 0, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	in1, err := s.CompleteUpload(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	// The retry after a crash between the store's completion and the
	// caller's commit.
	in2, err := s.CompleteUpload(ctx, u)
	if err != nil || in2.Size != in1.Size || in2.ETag != in1.ETag {
		t.Fatalf("second complete: %+v, %v; first %+v", in2, err, in1)
	}
	same(t, "after two completes", get(t, s, "up/twice"), b)
	// An id that never existed is not found.
	_, err = s.CompleteUpload(ctx, blob.Upload{Key: "up/never", ID: "bm9uZQ", Size: 1})
	notFound(t, "complete of an unknown upload", err)
}

func testUploadAbort(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	u, err := s.CreateUpload(ctx, "up/abort", 7*mib)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload(ctx, u, 0, bytes.NewReader(data(17, 6*mib+1))); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.AbortUpload(ctx, u); err != nil {
			t.Fatalf("abort #%d: %v", i+1, err)
		}
	}
	_, err = s.UploadOffset(ctx, u)
	notFound(t, "offset of an aborted upload", err)
	_, err = s.WriteUpload(ctx, u, 0, strings.NewReader("x"))
	notFound(t, "write to an aborted upload", err)
	_, err = s.CompleteUpload(ctx, u)
	notFound(t, "complete of an aborted upload", err)
	if got := listAll(t, s, ""); len(got) != 0 {
		t.Fatalf("objects left by an aborted upload: %q", got)
	}
}

func testUploadExpiry(t *testing.T, s blob.Backend, _ func() blob.Backend) {
	ctx := ctxT(t)
	var ups []blob.Upload
	for i := range 2 {
		u, err := s.CreateUpload(ctx, fmt.Sprintf("up/expire/%d", i), 100)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteUpload(ctx, u, 0, strings.NewReader("abc")); err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	n, err := s.AbortUploadsBefore(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("abort uploads older than an hour: %d, %v; want none", n, err)
	}
	if off, err := s.UploadOffset(ctx, ups[0]); err != nil || off != 3 {
		t.Fatalf("a young upload after the expiry: %d, %v", off, err)
	}
	n, err = s.AbortUploadsBefore(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("abort every upload: %d, %v; want 2", n, err)
	}
	for _, u := range ups {
		_, err := s.UploadOffset(ctx, u)
		notFound(t, "an expired upload", err)
	}
}
