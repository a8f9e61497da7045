package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/blob/blobtest"
	"github.com/wharfhq/wharf/internal/testservers"
)

// server starts SeaweedFS's S3 gateway and returns a Config on its bucket
// under a prefix of its own for each call of next.
func server(t *testing.T) (srv *testservers.S3, next func() Config) {
	srv = testservers.StartS3(t)
	var n atomic.Int64
	return srv, func() Config {
		return Config{
			Bucket:    srv.Bucket,
			Prefix:    fmt.Sprintf("t%d/", n.Add(1)),
			Endpoint:  srv.Endpoint,
			Region:    srv.Region,
			PathStyle: "true",
			AccessKey: srv.AccessKey,
			SecretKey: srv.SecretKey,
			TempDir:   t.TempDir(),
		}
	}
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance runs the blob suite against a real S3 server. The
// upload cases prove tusd's s3store traps handled: writes below the 5 MiB
// part minimum parked as an incomplete part, the offset after a restart
// read from ListParts plus that part, an empty upload completed with one
// empty part, a second Complete answered from the object, abandoned uploads
// aborted by age.
func TestConformance(t *testing.T) {
	srv, next := server(t)
	_ = srv
	blobtest.Run(t, func(t *testing.T) (blob.Backend, func() blob.Backend) {
		cfg := next()
		return open(t, cfg), func() blob.Backend { return open(t, cfg) }
	})
}

// TestS3Specific covers what only S3 has: paginated ListParts, a stale
// incomplete part left by a crash, and a server-side copy.
func TestS3Specific(t *testing.T) {
	srv, next := server(t)
	raw := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("ListPartsPaginated", func(t *testing.T) {
		cfg := next()
		cfg.ListPartsPage = 2
		s := open(t, cfg)
		b := bytes.Repeat([]byte("0123456789abcdef"), 5*(MinPartSize/16)+1) // 5 parts of 5 MiB and 16 bytes
		u, err := s.CreateUpload(ctx, "pages", int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(b); off += MinPartSize {
			end := min(off+MinPartSize, len(b))
			if _, err := s.WriteUpload(ctx, u, int64(off), bytes.NewReader(b[off:end])); err != nil {
				t.Fatal(err)
			}
		}
		// Behind the store's back: S3 holds 6 parts, more than a page.
		res, err := minio.Core{Client: raw}.ListObjectParts(ctx, srv.Bucket, cfg.Prefix+"pages", u.ID, 0, 1000)
		if err != nil || len(res.ObjectParts) != 6 {
			t.Fatalf("parts on the server: %d, %v; want 6", len(res.ObjectParts), err)
		}
		if off, err := s.UploadOffset(ctx, u); err != nil || off != int64(len(b)) {
			t.Fatalf("offset over 3 pages of parts: %d, %v; want %d", off, err, len(b))
		}
		if _, err := s.CompleteUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ctx, "pages")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, b) {
			t.Fatalf("read back %d bytes, want %d", len(got), len(b))
		}
	})

	t.Run("StaleIncompletePart", func(t *testing.T) {
		cfg := next()
		s := open(t, cfg)
		b := bytes.Repeat([]byte{'z'}, 8<<20)
		u, err := s.CreateUpload(ctx, "stale", int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteUpload(ctx, u, 0, bytes.NewReader(b[:1<<20])); err != nil {
			t.Fatal(err)
		}
		// Keep the incomplete part #1, let a write absorb it into part 1,
		// then put it back: a crash between the part and the delete.
		name := s.incompleteName(u, 1)
		o, err := raw.GetObject(ctx, srv.Bucket, name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kept, err := io.ReadAll(o)
		o.Close()
		if err != nil || len(kept) != 1<<20 {
			t.Fatalf("incomplete part on the server: %d bytes, %v", len(kept), err)
		}
		if _, err := s.WriteUpload(ctx, u, 1<<20, bytes.NewReader(b[1<<20:6<<20])); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.PutObject(ctx, srv.Bucket, name, bytes.NewReader(kept), int64(len(kept)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if off, err := s.UploadOffset(ctx, u); err != nil || off != 6<<20 {
			t.Fatalf("offset with a stale incomplete part: %d, %v; want %d (counted once)", off, err, 6<<20)
		}
		if _, err := s.WriteUpload(ctx, u, 6<<20, bytes.NewReader(b[6<<20:])); err != nil {
			t.Fatal(err)
		}
		in, err := s.CompleteUpload(ctx, u)
		if err != nil || in.Size != int64(len(b)) {
			t.Fatalf("complete: %+v %v", in, err)
		}
		// Nothing of the upload is left in the staging area.
		for oi := range raw.ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix + blob.StagingPrefix, Recursive: true}) {
			t.Errorf("left in staging: %s (%v)", oi.Key, oi.Err)
		}
		// An incomplete part a crash left after the completion is swept
		// with the abandoned uploads.
		if _, err := raw.PutObject(ctx, srv.Bucket, name, bytes.NewReader(kept), int64(len(kept)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AbortUploadsBefore(ctx, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.StatObject(ctx, srv.Bucket, name, minio.StatObjectOptions{}); err != nil {
			t.Fatalf("a young staging object was swept: %v", err)
		}
		if _, err := s.AbortUploadsBefore(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.StatObject(ctx, srv.Bucket, name, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("an old staging object after the sweep: %v", err)
		}
	})

	t.Run("ReadsPinnedToTheVersionOpened", func(t *testing.T) {
		s := open(t, next())
		if _, err := s.Put(ctx, "pinned", strings.NewReader("old old old"), 11); err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ctx, "pinned")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := s.Put(ctx, "pinned", strings.NewReader("new new new"), 11); err != nil {
			t.Fatal(err)
		}
		// The server honours If-Match: the old version is gone, and the
		// reader says so instead of reading the new bytes.
		p := make([]byte, 3)
		if n, err := r.ReadAt(p, 4); !errors.Is(err, blob.ErrChanged) {
			t.Fatalf("ReadAt after an overwrite: %q, %v; want ErrChanged", p[:n], err)
		}
		if _, err := r.Seek(8, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(p); !errors.Is(err, blob.ErrChanged) {
			t.Fatalf("Read after a Seek and an overwrite: %q, %v; want ErrChanged", p[:n], err)
		}
	})

	t.Run("MissingBucket", func(t *testing.T) {
		cfg := next()
		cfg.Bucket = "no-such-bucket"
		_, err := New(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("a missing bucket: %v", err)
		}
		if strings.Contains(err.Error(), cfg.SecretKey) {
			t.Fatal("the error holds the secret key")
		}
	})

	t.Run("WrongSecret", func(t *testing.T) {
		cfg := next()
		cfg.SecretKey = "not-" + cfg.SecretKey
		_, err := New(ctx, cfg)
		if err == nil {
			t.Fatal("a wrong secret key was accepted")
		}
		if strings.Contains(err.Error(), cfg.SecretKey) {
			t.Fatal("the error holds the secret key")
		}
	})

	t.Run("NotFoundMapping", func(t *testing.T) {
		s := open(t, next())
		_, err := s.UploadOffset(ctx, blob.Upload{Key: "k", ID: "no-such-upload", Size: 1})
		if !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("offset of an unknown upload id: %v", err)
		}
	})
}

func TestPartSize(t *testing.T) {
	for _, size := range []int64{0, 1, MinPartSize, PreferredPartSize * MaxParts, PreferredPartSize*MaxParts + 1, 1 << 40, MaxObjectSize} {
		ps := PartSize(size, MaxObjectSize)
		if ps < MinPartSize || ps > MaxPartSize {
			t.Errorf("PartSize(%d) = %d, outside S3's limits", size, ps)
		}
		if (size+ps-1)/ps > MaxParts {
			t.Errorf("PartSize(%d) = %d needs %d parts, more than %d", size, ps, (size+ps-1)/ps, MaxParts)
		}
	}
	if ps := PartSize(-1, MaxObjectSize); ps*MaxParts < MaxObjectSize {
		t.Errorf("PartSize of an unknown size = %d: %d parts do not hold the largest upload", ps, MaxParts)
	}
	if ps := PartSize(-1, 1<<30); ps != PreferredPartSize {
		t.Errorf("PartSize of an unknown size up to 1 GiB = %d, want the preferred %d", ps, PreferredPartSize)
	}
}

// TestShortPartFits: tails sent as short parts never make an upload need
// more than MaxParts parts. Simulated: writes of 6 MiB into uploads whose
// part size leaves little slack must park tails once the budget is tight,
// and the total never passes MaxParts.
func TestShortPartFits(t *testing.T) {
	for _, size := range []int64{100 << 30, 160 << 30, 1 << 40} {
		ps := PartSize(size, size)
		const write = 6 << 20
		var sent, pending int64
		parts := 0
		for sent+pending < size {
			pending += min(write, size-sent-pending)
			for pending >= ps {
				parts++
				sent += ps
				pending -= ps
			}
			total := sent + pending
			switch {
			case total == size && pending > 0:
				parts++
				sent, pending = size, 0
			case pending >= MinPartSize && shortPartFits(size-total, ps, parts+1):
				parts++
				sent += pending
				pending = 0
			}
		}
		if parts > MaxParts {
			t.Errorf("an upload of %d bytes in 6 MiB writes took %d parts (part size %d), more than %d", size, parts, ps, MaxParts)
		}
	}
}

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want Config
	}{
		{"s3://bucket", Config{Bucket: "bucket", Secure: true}},
		{"s3://my.bucket-1/wharf/prod?endpoint=http://127.0.0.1:8333&region=eu-west-3&path-style=true",
			Config{Bucket: "my.bucket-1", Prefix: "wharf/prod/", Endpoint: "127.0.0.1:8333", Region: "eu-west-3", PathStyle: "true"}},
		{"s3://bucket?endpoint=https://s3.example.net", Config{Bucket: "bucket", Endpoint: "s3.example.net", Secure: true}},
		{"s3://bucket?endpoint=minio:9000&path-style=0", Config{Bucket: "bucket", Endpoint: "minio:9000", Secure: true, PathStyle: "false"}},
	}
	for _, c := range good {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, says string }{
		{"http://bucket", "scheme"},
		{"s3://", "bucket"},
		{"s3://Bucket", "lowercase"},
		{"s3://ab", "3 to 63"},
		{"s3://-bucket", "start and end"},
		{"s3://key:secret@bucket", "AWS_ACCESS_KEY_ID"},
		{"s3://bucket?endpoint=http://key:secret@host", "AWS_ACCESS_KEY_ID"},
		{"s3://bucket?endpoint=ftp://host", "http or https"},
		{"s3://bucket?endpoint=http://host/path", "no path"},
		{"s3://bucket?region=", "empty region"},
		{"s3://bucket?path-style=maybe", "path-style"},
		{"s3://bucket?secret=x", "unknown parameter"},
		{"s3://bucket?region=a&region=b", "2 times"},
	}
	for _, c := range bad {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%q) = %v; want an error saying %q", c.in, err, c.says)
		}
		if err != nil && strings.Contains(err.Error(), "secret@") {
			t.Errorf("Parse(%q): the error repeats the credentials: %v", c.in, err)
		}
	}
	cfg := Config{Bucket: "b", AccessKey: "AKID", SecretKey: "very-secret-value"}
	for _, s := range []string{cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "very-secret-value") {
			t.Errorf("the configuration printed shows the secret: %s", s)
		}
	}
}
