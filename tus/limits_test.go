package tus

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfhq/wharf/space"
)

// patchChunked is patch with a body of unknown length (chunked), as a
// client streaming from a pipe sends.
func (f *fixture) patchChunked(t *testing.T, user, url string, offset int, data []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, f.srv.URL+url, io.NopCloser(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("X-Test-User", user)
	req.Header.Set("Upload-Offset", itoa(offset))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// stored checks what HEAD says of the upload at url and how long its file
// is: both must be want.
func (f *fixture) stored(t *testing.T, user, url string, want int) {
	t.Helper()
	resp, _ := f.do(t, user, http.MethodHead, url, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != itoa(want) {
		t.Errorf("HEAD %s: %d, offset %q; want 200, offset %d", url, resp.StatusCode, resp.Header.Get("Upload-Offset"), want)
	}
	if fixtureBlobs != nil {
		// The staged upload's bytes, or, once completed, the object's.
		off := stagedOffset(t, f, fixtureBlobs, idOf(url))
		if off == -1 {
			off = int64(len(objectOf(t, f, fixtureBlobs, idOf(url))))
		}
		if off != int64(want) {
			t.Errorf("bytes of %s in the object store: %d; want %d", url, off, want)
		}
		return
	}
	fi, err := os.Stat(filepath.Join(f.cfg.UploadsDir, "tus", idOf(url)))
	if err != nil || fi.Size() != int64(want) {
		t.Errorf("file of %s: %v, %v; want %d bytes", url, fi, err, want)
	}
}

// TestDefaultMaxSize: without a configured maximum, uploads are limited to
// 64 GiB, and OPTIONS says so.
func TestDefaultMaxSize(t *testing.T) {
	f := newFixture(t, nil)
	resp, _ := f.do(t, "", http.MethodOptions, "/tus/", nil)
	if got := resp.Header.Get("Tus-Max-Size"); got != "68719476736" {
		t.Errorf("Tus-Max-Size = %q, want 68719476736 (64 GiB)", got)
	}
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 68719476737", meta("space", "s", "path", "huge"))
	expectStatus(t, "POST of 64 GiB + 1", resp, body, http.StatusRequestEntityTooLarge)
}

// TestPendingCap: what one user has received in uploads not yet complete,
// partial and deferred ones included, is capped: the PATCH that would go
// past the cap is refused with 413 and nothing of it is stored, whether its
// length is announced or not.
func TestPendingCap(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxPendingBytes = 100 })
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 101", meta("space", "s", "path", "big"))
	expectStatus(t, "creating an upload larger than the cap", resp, body, http.StatusRequestEntityTooLarge)

	resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Defer-Length: 1", "Upload-Concat: partial")
	expectStatus(t, "create a partial upload", resp, body, http.StatusCreated)
	part := locationPath(t, resp)
	resp, body = f.patch(t, "alice", part, 0, bytes.Repeat([]byte("p"), 80))
	expectStatus(t, "80 bytes to the partial upload", resp, body, http.StatusNoContent)

	other := f.create(t, "alice", "other.bin", 50)
	resp, body = f.patch(t, "alice", other, 0, bytes.Repeat([]byte("o"), 30))
	expectStatus(t, "80+30 bytes of 100", resp, body, http.StatusRequestEntityTooLarge)
	f.stored(t, "alice", other, 0)
	resp, body = f.patchChunked(t, "alice", other, 0, bytes.Repeat([]byte("o"), 30))
	expectStatus(t, "80+30 bytes of 100, chunked", resp, body, http.StatusRequestEntityTooLarge)
	f.stored(t, "alice", other, 0)
	resp, body = f.patch(t, "alice", other, 0, bytes.Repeat([]byte("o"), 20))
	expectStatus(t, "80+20 bytes of 100", resp, body, http.StatusNoContent)
	resp, body = f.patchChunked(t, "alice", part, 80, []byte("x"))
	expectStatus(t, "one byte more", resp, body, http.StatusRequestEntityTooLarge)
	f.stored(t, "alice", part, 80)

	// The cap is per user: bob is not held back by alice's uploads.
	url := f.create(t, "bob", "bob.bin", 60)
	resp, body = f.patch(t, "bob", url, 0, bytes.Repeat([]byte("b"), 60))
	expectStatus(t, "bob's upload", resp, body, http.StatusNoContent)

	// A deleted upload's bytes no longer count.
	resp, body = f.patch(t, "alice", other, 20, bytes.Repeat([]byte("o"), 30))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("80+50 bytes of 100: %d %s, want 413", resp.StatusCode, body)
	}
	resp, body = f.do(t, "alice", http.MethodDelete, part, nil)
	expectStatus(t, "DELETE the partial upload", resp, body, http.StatusNoContent)
	resp, body = f.patch(t, "alice", other, 20, bytes.Repeat([]byte("o"), 30))
	expectStatus(t, "the rest once the partial upload is gone", resp, body, http.StatusNoContent)
}

// TestQuotaChargedOnPatch: bytes count against the space's quota as they
// arrive: once the space has filled up since the upload was created, a
// PATCH is refused with 507 and the offset stays where it was.
func TestQuotaChargedOnPatch(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	if err := f.tree.SetQuota(ctx, "s", 1000); err != nil {
		t.Fatal(err)
	}
	url := f.create(t, "alice", "q.bin", 500)
	resp, body := f.patch(t, "alice", url, 0, bytes.Repeat([]byte("q"), 100))
	expectStatus(t, "first 100 bytes", resp, body, http.StatusNoContent)
	// Meanwhile the space fills up (a WebDAV PUT, say).
	if _, _, err := f.tree.Put(ctx, "s", "filler", bytes.NewReader(make([]byte, 600)), space.PutOptions{ExpectedSize: 600}); err != nil {
		t.Fatal(err)
	}
	resp, body = f.patch(t, "alice", url, 100, bytes.Repeat([]byte("q"), 100))
	expectStatus(t, "PATCH once the space is full", resp, body, http.StatusInsufficientStorage)
	f.stored(t, "alice", url, 100)
	resp, body = f.patchChunked(t, "alice", url, 100, bytes.Repeat([]byte("q"), 100))
	expectStatus(t, "chunked PATCH once the space is full", resp, body, http.StatusInsufficientStorage)
	f.stored(t, "alice", url, 100)
	if f.pipe.submits != 0 {
		t.Errorf("%d jobs submitted", f.pipe.submits)
	}
}

// TestDeferredLengthQuota: an upload whose length is deferred is refused
// (507) once its received bytes would pass what its space has free,
// counting what other deferred uploads to the space have received, without
// waiting for the length to be declared.
func TestDeferredLengthQuota(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tree.SetQuota(t.Context(), "s", 100); err != nil {
		t.Fatal(err) // 3 bytes used by dir/existing: 97 free
	}
	deferred := func(p string) string {
		resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Defer-Length: 1", meta("space", "s", "path", p))
		expectStatus(t, "create "+p, resp, body, http.StatusCreated)
		return locationPath(t, resp)
	}
	d1, d2 := deferred("d1.bin"), deferred("d2.bin")
	resp, body := f.patch(t, "alice", d1, 0, bytes.Repeat([]byte("1"), 50))
	expectStatus(t, "50 bytes to d1", resp, body, http.StatusNoContent)
	resp, body = f.patch(t, "alice", d1, 50, bytes.Repeat([]byte("1"), 60))
	expectStatus(t, "110 bytes of 97 free", resp, body, http.StatusInsufficientStorage)
	f.stored(t, "alice", d1, 50)
	resp, body = f.patchChunked(t, "alice", d1, 50, bytes.Repeat([]byte("1"), 60))
	expectStatus(t, "110 bytes of 97 free, chunked", resp, body, http.StatusInsufficientStorage)
	f.stored(t, "alice", d1, 50)

	resp, body = f.patch(t, "alice", d2, 0, bytes.Repeat([]byte("2"), 40))
	expectStatus(t, "40 bytes to d2", resp, body, http.StatusNoContent)
	resp, body = f.patch(t, "alice", d1, 50, bytes.Repeat([]byte("1"), 10))
	expectStatus(t, "d1 past what d2 leaves", resp, body, http.StatusInsufficientStorage)
	f.stored(t, "alice", d1, 50)
	resp, body = f.patch(t, "alice", d1, 50, bytes.Repeat([]byte("1"), 7), "Upload-Length: 57")
	expectStatus(t, "d1 to exactly what is free, declaring its length", resp, body, http.StatusNoContent)
	if j := f.pipe.job(t, idOf(d1)); j.Size != 57 {
		t.Errorf("job = %+v", j)
	}
}

// TestPendingCapParallel: a chunk being written holds what it announces, so
// that a chunk to another of the user's uploads, written at the same time,
// cannot together with it go past the cap.
func TestPendingCapParallel(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxPendingBytes = 100 })
	a, b := f.create(t, "alice", "a.bin", 60), f.create(t, "alice", "b.bin", 60)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPatch, f.srv.URL+a, pr)
	req.ContentLength = 60
	for k, v := range map[string]string{"Tus-Resumable": "1.0.0", "X-Test-User": "alice", "Upload-Offset": "0",
		"Content-Type": "application/offset+octet-stream"} {
		req.Header.Set(k, v)
	}
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write(bytes.Repeat([]byte("a"), 30))
	for deadline := time.Now().Add(5 * time.Second); ; {
		f.h.charging.Lock()
		_, writing := f.h.charges[idOf(a)]
		f.h.charging.Unlock()
		if writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first PATCH never reached the data store")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, body := f.patch(t, "alice", b, 0, bytes.Repeat([]byte("b"), 60))
	expectStatus(t, "60 bytes while 60 others arrive, of 100", resp, body, http.StatusRequestEntityTooLarge)
	resp, body = f.patch(t, "alice", b, 0, bytes.Repeat([]byte("b"), 40))
	expectStatus(t, "40 bytes while 60 others arrive, of 100", resp, body, http.StatusNoContent)
	pw.Write(bytes.Repeat([]byte("a"), 30))
	pw.Close()
	if st := <-done; st != http.StatusNoContent {
		t.Errorf("the first PATCH: %d, want 204", st)
	}
	f.stored(t, "alice", a, 60)
	f.stored(t, "alice", b, 40)
}
