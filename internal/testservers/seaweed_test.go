package testservers

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestStartS3 starts the real gateway and round-trips one object through
// it with a plain client: the helper every S3 test stands on works.
func TestStartS3(t *testing.T) {
	s := StartS3(t)
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := bytes.Repeat([]byte("wharf"), 1000)
	if _, err := c.PutObject(ctx, s.Bucket, "a/b", bytes.NewReader(want), int64(len(want)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := c.GetObject(ctx, s.Bucket, "a/b", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, err %v; want %d", len(got), err, len(want))
	}
	// A wrong secret is refused: the server checks credentials.
	bad := *s
	bad.SecretKey = "wrong" + s.SecretKey
	if _, err := bad.Client(t).StatObject(ctx, s.Bucket, "a/b", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a wrong secret key was accepted")
	}
}
