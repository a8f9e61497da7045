package tus

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/fakeclock"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/internal/teststores"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// forEachBackend runs test on each object store. The S3 server is started
// once for all of them (in the first subtest that needs it).
func forEachBackend(t *testing.T, test func(t *testing.T, bs blob.Backend)) {
	teststores.Each(t, test)
}

// newReplicas is newFixture in object-store mode: n Handlers (replicas) on
// one database and one object store, each with its own data directory,
// tree and HTTP server. They share the pipeline, the clock and the users.
func newReplicas(t *testing.T, bs blob.Backend, n int, tweak func(*Config)) []*fixture {
	t.Helper()
	ctx := t.Context()
	clock := fakeclock.New(time.Unix(1_700_000_000, 0).UTC())
	env := testenv.New(t, testenv.Options{Now: clock.Now})
	pipe := newFakePipe()
	pipe.db = env.DB
	users := map[string]*auth.Principal{}
	var out []*fixture
	for i := range n {
		dir := t.TempDir()
		tree, err := space.New(space.Config{DB: env.DB, Dir: dir, Blobs: bs, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tree.Close() })
		f := &fixture{dir: dir, clock: clock, db: env.DB, tree: tree, auth: env.Auth, pipe: pipe, users: users}
		if i == 0 {
			for _, id := range []string{"s", "t"} {
				if _, err := tree.CreateSpaceWithID(ctx, id, "Space "+id, 0); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tree.Mkdir(ctx, "s", "dir"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := tree.Put(ctx, "s", "dir/existing", strings.NewReader("old"), space.PutOptions{ExpectedSize: 3}); err != nil {
				t.Fatal(err)
			}
			for _, m := range []struct {
				name, space string
				role        auth.Role
			}{{"alice", "s", auth.Editor}, {"bob", "s", auth.Editor}, {"bob", "t", auth.Editor}} {
				if users[m.name] == nil {
					users[m.name] = &auth.Principal{User: env.User(t, m.name, "correct horse battery staple", false)}
				}
				env.Grant(t, m.space, m.name, m.role)
			}
		}
		f.cfg = Config{Tree: tree, Auth: env.Auth, DB: env.DB, Pipeline: pipe, UploadsDir: filepath.Join(dir, "uploads"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.Now, ProcessingWait: 5 * time.Second,
			Blobs: bs}
		if tweak != nil {
			tweak(&f.cfg)
		}
		f.start(t)
		out = append(out, f)
	}
	return out
}

// objectOf reads the object upload id's row names.
func objectOf(t *testing.T, f *fixture, bs blob.Backend, id string) []byte {
	t.Helper()
	rec, err := f.db.Upload(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Blob == "" {
		t.Fatalf("upload %s names no object", id)
	}
	r, err := bs.Open(t.Context(), rec.Blob)
	if err != nil {
		t.Fatalf("object of upload %s: %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stagedOffset is the store's offset of upload id's staged upload, or -1
// when the store has no such staged upload.
func stagedOffset(t *testing.T, f *fixture, bs blob.Backend, id string) int64 {
	t.Helper()
	rec, err := f.db.Upload(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	off, err := bs.UploadOffset(t.Context(), staged(rec))
	if errors.Is(err, blob.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// noChunkFiles fails if a replica kept a chunk file or any upload file.
func noChunkFiles(t *testing.T, fs ...*fixture) {
	t.Helper()
	for i, f := range fs {
		if got := f.tusFiles(t); len(got) != 0 {
			t.Errorf("replica %d: files left in uploads/tus: %v", i, got)
		}
	}
}

// patchStream PATCHes body (of unannounced length unless n >= 0) to url.
func (f *fixture) patchStream(t *testing.T, ctx context.Context, user, url string, offset int, body io.Reader, n int64, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, f.srv.URL+url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("X-Test-User", user)
	req.Header.Set("Upload-Offset", itoa(offset))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func headOffset(t *testing.T, f *fixture, url string) int {
	t.Helper()
	resp, body := f.do(t, "alice", http.MethodHead, url, nil)
	expectStatus(t, "HEAD", resp, body, http.StatusOK)
	var n int
	if _, err := fmt.Sscan(resp.Header.Get("Upload-Offset"), &n); err != nil {
		t.Fatalf("HEAD: Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return n
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

const mib = 1 << 20

// TestObjectAcrossReplicas: PATCHes alternate between two replicas (one
// with an Upload-Checksum, one of unannounced length, so spooled; the
// others streamed); the upload completes byte-identical, is submitted
// once with its key and no staged file, and nothing is left on disk.
func TestObjectAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 2, nil)
		a, b := rs[0], rs[1]
		content := testData(7*mib + 123)
		url := a.create(t, "alice", "dir/big.bin", len(content))
		id := idOf(url)

		resp, body := b.patch(t, "alice", url, 0, content[:3*mib])
		expectStatus(t, "PATCH 1 on B", resp, body, http.StatusNoContent)
		sum := sha1.Sum(content[3*mib : 5*mib])
		resp, body = a.patch(t, "alice", url, 3*mib, content[3*mib:5*mib], "Upload-Checksum: sha1 "+b64(sum[:]))
		expectStatus(t, "PATCH 2 on A (checksum)", resp, body, http.StatusNoContent)
		if got := headOffset(t, b, url); got != 5*mib {
			t.Fatalf("HEAD on B: offset %d, want %d", got, 5*mib)
		}
		resp, err := b.patchStream(t, t.Context(), "alice", url, 5*mib, struct{ io.Reader }{bytes.NewReader(content[5*mib : 6*mib])}, -1)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH 3 on B (unannounced length): %v %v", resp, err)
		}
		resp, body = a.patch(t, "alice", url, 6*mib, content[6*mib:])
		expectStatus(t, "final PATCH on A", resp, body, http.StatusNoContent)
		if resp.Header.Get("OC-FileId") != "4242" {
			t.Errorf("final PATCH headers: %v", resp.Header)
		}

		job := a.pipe.job(t, id)
		if job.Staged != "" || job.Size != int64(len(content)) || job.SHA256 != sha256Hex(content) || job.Path != "dir/big.bin" {
			t.Errorf("job = %+v", job)
		}
		if got := objectOf(t, a, bs, id); !bytes.Equal(got, content) {
			t.Errorf("object: %d bytes, not the upload's %d", len(got), len(content))
		}
		if off := stagedOffset(t, a, bs, id); off != -1 {
			t.Errorf("staged upload still there after completion (offset %d)", off)
		}
		resp, body = b.patch(t, "alice", url, 6*mib, content[6*mib:])
		expectStatus(t, "repeated final PATCH on B", resp, body, http.StatusNoContent)
		if a.pipe.submits != 1 {
			t.Errorf("%d jobs submitted, want 1", a.pipe.submits)
		}
		noChunkFiles(t, a, b)
	})
}

// TestObjectLockAcrossReplicas: while a PATCH runs on A, a PATCH (and a
// HEAD) on B gets 423; once A's ends, B goes on. A holder that died
// without letting go (its lease left in the database) blocks B until the
// lease runs out.
func TestObjectLockAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 2, nil)
		a, b := rs[0], rs[1]
		content := testData(64 << 10)
		url := a.create(t, "alice", "locked.bin", len(content))
		id := idOf(url)

		pr, pw := io.Pipe()
		done := make(chan *http.Response, 1)
		go func() {
			resp, err := a.patchStream(t, context.Background(), "alice", url, 0, pr, 1000)
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		if _, err := pw.Write(content[:500]); err != nil {
			t.Fatal(err)
		}
		// A takes the lock when its request arrives: until then, B's
		// probe (at a wrong offset, so that it writes nothing if it wins)
		// gets 409.
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, body := b.patch(t, "alice", url, 1, content[1:2])
			if resp.StatusCode == http.StatusLocked {
				break
			}
			if resp.StatusCode != http.StatusConflict || time.Now().After(deadline) {
				t.Fatalf("PATCH on B while A's runs: %d %s", resp.StatusCode, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		resp, body := b.patch(t, "alice", url, 0, content[:1000])
		expectStatus(t, "PATCH on B while A's runs", resp, body, http.StatusLocked)
		resp, body = b.do(t, "alice", http.MethodHead, url, nil)
		expectStatus(t, "HEAD on B while A's PATCH runs", resp, body, http.StatusLocked)
		pw.Write(content[500:1000])
		pw.Close()
		if resp := <-done; resp == nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH on A: %v", resp)
		}
		resp, body = b.patch(t, "alice", url, 1000, content[1000:2000])
		expectStatus(t, "PATCH on B once A's ended", resp, body, http.StatusNoContent)

		// A replica killed while it held the lock: its lease stays until
		// it runs out.
		ttl := 2 * time.Second
		err := a.db.Update(t.Context(), func(tx *store.Tx) error {
			_, err := tx.TakeLease(t.Context(), "tus:"+id, "dead-replica", time.Now(), time.Now().Add(ttl))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, body = b.patch(t, "alice", url, 2000, content[2000:])
		expectStatus(t, "PATCH on B while a dead replica's lease lasts", resp, body, http.StatusLocked)
		for {
			resp, body = b.patch(t, "alice", url, 2000, content[2000:])
			if resp.StatusCode != http.StatusLocked {
				break
			}
			if time.Since(start) > ttl+10*time.Second {
				t.Fatal("the dead replica's lock was never freed")
			}
			time.Sleep(200 * time.Millisecond)
		}
		expectStatus(t, "PATCH on B after the lease ran out", resp, body, http.StatusNoContent)
		if waited := time.Since(start); waited < ttl-100*time.Millisecond {
			t.Errorf("the lease was taken after %v, before it ran out (%v)", waited, ttl)
		}
		if got := objectOf(t, a, bs, id); !bytes.Equal(got, content) {
			t.Errorf("object differs from the upload")
		}
	})
}

// TestObjectResumeOnAnotherReplica: a PATCH on A is cut off mid-body (the
// client's connection dropped); the client asks B for the offset and
// resumes there. Then a replica that wrote bytes to the store and died
// before recording them: HEAD takes the store's offset, and the upload
// completes identical, its digests left to processing.
func TestObjectResumeOnAnotherReplica(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 2, nil)
		a, b := rs[0], rs[1]
		content := testData(3*mib + 77)
		url := a.create(t, "alice", "resumed.bin", len(content))
		id := idOf(url)

		ctx, cancel := context.WithCancel(t.Context())
		pr, pw := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, err := a.patchStream(t, ctx, "alice", url, 0, pr, int64(len(content)))
			errc <- err
		}()
		if _, err := pw.Write(content[:mib]); err != nil {
			t.Fatal(err)
		}
		cancel()
		pw.CloseWithError(errors.New("client gone"))
		<-errc
		// A lets go of the lock once its handler has recorded what it kept.
		var off int
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, _ := b.do(t, "alice", http.MethodHead, url, nil)
			if resp.StatusCode == http.StatusOK {
				fmt.Sscan(resp.Header.Get("Upload-Offset"), &off)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("HEAD on B: %d", resp.StatusCode)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if off > mib {
			t.Fatalf("offset %d after a cut PATCH that sent %d bytes", off, mib)
		}
		if so := stagedOffset(t, b, bs, id); so != int64(off) {
			t.Fatalf("HEAD says %d, the store holds %d", off, so)
		}
		resp, body := b.patch(t, "alice", url, off, content[off:2*mib])
		expectStatus(t, "resume on B", resp, body, http.StatusNoContent)

		// A replica wrote 100 KiB to the store and died before its row
		// said so.
		rec, err := b.db.Upload(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs.WriteUpload(t.Context(), staged(rec), 2*mib, bytes.NewReader(content[2*mib:2*mib+100<<10])); err != nil {
			t.Fatal(err)
		}
		resp, body = a.patch(t, "alice", url, 2*mib, content[2*mib:])
		expectStatus(t, "PATCH at the row's stale offset", resp, body, http.StatusConflict)
		if got := headOffset(t, a, url); got != 2*mib+100<<10 {
			t.Fatalf("HEAD after a write that outlived its record: %d, want %d", got, 2*mib+100<<10)
		}
		resp, body = a.patch(t, "alice", url, 2*mib+100<<10, content[2*mib+100<<10:])
		expectStatus(t, "final PATCH on A", resp, body, http.StatusNoContent)
		if got := objectOf(t, a, bs, id); !bytes.Equal(got, content) {
			t.Errorf("object differs from the upload (%d bytes, want %d)", len(got), len(content))
		}
		if j := a.pipe.job(t, id); j.SHA256 != "" && j.SHA256 != sha256Hex(content) {
			t.Errorf("job SHA-256 %s is neither the content's nor left to processing", j.SHA256)
		}
		if a.pipe.submits != 1 {
			t.Errorf("%d jobs submitted, want 1", a.pipe.submits)
		}
		noChunkFiles(t, a, b)
	})
}

// TestObjectDeferLength: a deferred length declared on the other replica;
// the staged upload keeps the size it was created with.
func TestObjectDeferLength(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 2, nil)
		a, b := rs[0], rs[1]
		content := testData(6*mib + 5)
		resp, body := a.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Defer-Length: 1", meta("space", "s", "path", "deferred"))
		expectStatus(t, "create", resp, body, http.StatusCreated)
		url := locationPath(t, resp)
		id := idOf(url)
		resp, body = a.patch(t, "alice", url, 0, content[:mib])
		expectStatus(t, "PATCH", resp, body, http.StatusNoContent)
		resp, body = b.patch(t, "alice", url, mib, content[mib:], "Upload-Length: "+itoa(len(content)))
		expectStatus(t, "final PATCH declaring the length", resp, body, http.StatusNoContent)
		if j := a.pipe.job(t, id); j.Size != int64(len(content)) || j.SHA256 != sha256Hex(content) {
			t.Errorf("job = %+v", j)
		}
		rec, err := a.db.Upload(t.Context(), id)
		if err != nil || rec.BlobSize != -1 || rec.Size != int64(len(content)) {
			t.Errorf("row: size %d, staged with %d, %v", rec.Size, rec.BlobSize, err)
		}
		if got := objectOf(t, a, bs, id); !bytes.Equal(got, content) {
			t.Errorf("object differs from the upload")
		}
	})
}

// TestObjectChecksumMismatch: a chunk that fails its Upload-Checksum is not
// written to the store: the offset (row and store) stays.
func TestObjectChecksumMismatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 1, nil)
		f := rs[0]
		content := testData(300 << 10)
		url := f.create(t, "alice", "sum.bin", len(content))
		id := idOf(url)
		resp, body := f.patch(t, "alice", url, 0, content[:100<<10])
		expectStatus(t, "PATCH", resp, body, http.StatusNoContent)
		bad := sha1.Sum([]byte("something else"))
		resp, body = f.patch(t, "alice", url, 100<<10, content[100<<10:], "Upload-Checksum: sha1 "+b64(bad[:]))
		expectStatus(t, "PATCH with a wrong checksum", resp, body, 460)
		if got := headOffset(t, f, url); got != 100<<10 {
			t.Fatalf("offset moved after 460: %d", got)
		}
		if so := stagedOffset(t, f, bs, id); so != 100<<10 {
			t.Fatalf("the store holds %d bytes after 460, want %d", so, 100<<10)
		}
		noChunkFiles(t, f)
		good := sha1.Sum(content[100<<10:])
		resp, body = f.patch(t, "alice", url, 100<<10, content[100<<10:], "Upload-Checksum: sha1 "+b64(good[:]))
		expectStatus(t, "PATCH with the right checksum", resp, body, http.StatusNoContent)
		if j := f.pipe.job(t, id); j.SHA256 != sha256Hex(content) {
			t.Errorf("job = %+v", j)
		}
	})
}

// TestObjectExpiryAndTermination: an expired upload's staged bytes are
// aborted and its key let go, and nothing else of the store is touched; a
// DELETE does the same at once. Concatenation is refused with a 400.
func TestObjectExpiryAndTermination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 2, nil)
		a, b := rs[0], rs[1]
		ctx := t.Context()
		objects := func() []string {
			var keys []string
			if err := bs.List(ctx, "c/", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			return keys
		}
		before := objects()
		if len(before) != 1 {
			t.Fatalf("objects before: %v", before)
		}

		url := a.create(t, "alice", "expiring.bin", 1000)
		id := idOf(url)
		resp, body := a.patch(t, "alice", url, 0, testData(400))
		expectStatus(t, "PATCH", resp, body, http.StatusNoContent)
		if so := stagedOffset(t, a, bs, id); so != 400 {
			t.Fatalf("staged offset %d", so)
		}
		rec, _ := a.db.Upload(ctx, id)
		a.clock.Advance(25 * time.Hour)
		b.h.Sweep(ctx)
		if _, err := a.db.Upload(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired upload's row: %v", err)
		}
		if _, err := bs.UploadOffset(ctx, staged(rec)); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("expired upload's staged bytes: %v", err)
		}
		if after := objects(); !slices.Equal(after, before) {
			t.Errorf("objects after expiry: %v, before %v", after, before)
		}
		orphans, err := a.db.BlobOrphans(ctx, a.clock.Now().Add(time.Hour), "", 10)
		if err != nil || len(orphans) != 0 {
			t.Errorf("orphans recorded after expiry: %v %v", orphans, err)
		}

		url = b.create(t, "alice", "deleted.bin", 1000)
		id = idOf(url)
		b.patch(t, "alice", url, 0, testData(10))
		rec, _ = a.db.Upload(ctx, id)
		resp, body = a.do(t, "alice", http.MethodDelete, url, nil)
		expectStatus(t, "DELETE on the other replica", resp, body, http.StatusNoContent)
		if _, err := bs.UploadOffset(ctx, staged(rec)); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("deleted upload's staged bytes: %v", err)
		}
		if after := objects(); !slices.Equal(after, before) {
			t.Errorf("objects after DELETE: %v, before %v", after, before)
		}

		resp, body = a.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 5", "Upload-Concat: partial")
		expectStatus(t, "a partial upload", resp, body, http.StatusBadRequest)
		if !strings.Contains(body, "concatenation") {
			t.Errorf("refusal: %q", body)
		}
		resp, _ = a.do(t, "", http.MethodOptions, "/tus/", nil)
		if ext := resp.Header.Get("Tus-Extension"); strings.Contains(ext, "concatenation") || !strings.Contains(ext, "creation-defer-length") {
			t.Errorf("Tus-Extension %q", ext)
		}
		noChunkFiles(t, a, b)
	})
}

// TestObjectCreationWithUploadAndEmpty: the creation carries the whole
// file, or the upload is empty: both complete at once.
func TestObjectCreationWithUploadAndEmpty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		f := newReplicas(t, bs, 1, nil)[0]
		content := []byte("all at once")
		resp, body := f.do(t, "alice", http.MethodPost, "/tus/", content, "Upload-Length: "+itoa(len(content)),
			meta("space", "s", "path", "whole.txt"), "Content-Type: application/offset+octet-stream")
		expectStatus(t, "creation-with-upload", resp, body, http.StatusCreated)
		id := idOf(locationPath(t, resp))
		if j := f.pipe.job(t, id); j.SHA256 != sha256Hex(content) || j.Staged != "" {
			t.Errorf("job = %+v", j)
		}
		if got := objectOf(t, f, bs, id); !bytes.Equal(got, content) {
			t.Errorf("object %q", got)
		}
		resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 0", meta("space", "s", "path", "empty"))
		expectStatus(t, "empty upload", resp, body, http.StatusCreated)
		id = idOf(locationPath(t, resp))
		if j := f.pipe.job(t, id); j.SHA256 != sha256Hex(nil) || j.Size != 0 {
			t.Errorf("empty job = %+v", j)
		}
		if got := objectOf(t, f, bs, id); len(got) != 0 {
			t.Errorf("empty object holds %d bytes", len(got))
		}
		noChunkFiles(t, f)
	})
}

// TestObjectModeSuite runs the package's tests that make sense in
// object-store mode (all but those of the data directory's files, of the
// flock and of partial uploads, which object-store mode refuses) with
// newFixture's Handler on each store.
func TestObjectModeSuite(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"CreationWithUploadAndEmpty", TestCreationWithUploadAndEmpty},
		{"DeferLength", TestDeferLength},
		{"Termination", TestTermination},
		{"WholeFileChecksum", TestWholeFileChecksum},
		{"CreateRefusals", TestCreateRefusals},
		{"OwnerOnly", TestOwnerOnly},
		{"ProcessingThenRejected", TestProcessingThenRejected},
		{"Accepted", TestAccepted},
		{"OCISCreation", TestOCISCreation},
		{"DefaultMaxSize", TestDefaultMaxSize},
		{"QuotaChargedOnPatch", TestQuotaChargedOnPatch},
		{"DeferredLengthQuota", TestDeferredLengthQuota},
		{"PendingCapParallel", TestPendingCapParallel},
		{"UploadTokenOwnsItsUploads", TestUploadTokenOwnsItsUploads},
	}
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		fixtureBlobs = bs
		defer func() { fixtureBlobs = nil }()
		for _, tc := range tests {
			t.Run(tc.name, tc.fn)
		}
	})
}

// TestObjectRealPipeline: two replicas, each with its own processing
// Runner on the shared database, no shared directory. An upload whose
// PATCHes land on both, one of them after a write that outlived its record
// (so the digests are left to the checksum step), is processed once and
// installed byte-identical from the store.
func TestObjectRealPipeline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs blob.Backend) {
		rs := newReplicas(t, bs, 2, nil)
		for _, f := range rs {
			r, err := postproc.New(postproc.Config{DB: f.db, Tree: f.tree, Workers: 1,
				QuarantineDir: filepath.Join(f.dir, "quarantine"), ThumbsDir: filepath.Join(f.dir, "thumbs")})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			f.cfg.Pipeline = r
			f.cfg.ProcessingWait = time.Minute
			f.start(t)
		}
		a, b := rs[0], rs[1]
		ctx := t.Context()
		content := testData(2*mib + 4321)
		url := a.create(t, "alice", "dir/processed.bin", len(content))
		id := idOf(url)
		resp, body := b.patch(t, "alice", url, 0, content[:mib])
		expectStatus(t, "PATCH on B", resp, body, http.StatusNoContent)
		rec, err := a.db.Upload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs.WriteUpload(ctx, staged(rec), mib, bytes.NewReader(content[mib:mib+1000])); err != nil {
			t.Fatal(err)
		}
		if got := headOffset(t, a, url); got != mib+1000 {
			t.Fatalf("HEAD on A: %d", got)
		}
		resp, body = a.patch(t, "alice", url, mib+1000, content[mib+1000:])
		expectStatus(t, "final PATCH on A", resp, body, http.StatusNoContent)
		if resp.Header.Get("OC-FileId") == "" || resp.Header.Get("ETag") == "" {
			t.Errorf("final PATCH headers: %v", resp.Header)
		}
		n, err := b.tree.Stat(ctx, "s", "dir/processed.bin")
		if err != nil || n.Blob != rec.Blob || n.SHA256 != sha256Hex(content) || n.Size != int64(len(content)) {
			t.Fatalf("node %+v (upload's key %s), %v", n, rec.Blob, err)
		}
		file, _, err := b.tree.Open(ctx, "s", "dir/processed.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(file)
		file.Close()
		if !bytes.Equal(got, content) {
			t.Errorf("installed file: %d bytes, differs from the upload", len(got))
		}
		if v, err := a.tree.Versions(ctx, "s", "dir/processed.bin"); err != nil || len(v) != 0 {
			t.Errorf("versions %v, %v: installed more than once", v, err)
		}
		resp, _ = b.do(t, "alice", http.MethodHead, url, nil)
		expectStatus(t, "HEAD on B after done", resp, "", http.StatusOK)
		if resp.Header.Get("Upload-Offset") != itoa(len(content)) {
			t.Errorf("HEAD after done: %v", resp.Header)
		}
		noChunkFiles(t, a, b)
	})
}
