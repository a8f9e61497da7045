package testenv

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/blob/local"
	"github.com/wharfhq/wharf/blob/s3"
	"github.com/wharfhq/wharf/internal/testservers"
)

// Stores are the object stores object-store mode is tested on, by name:
// "local" (blob/local in a temporary directory) and "s3" (blob/s3 on
// SeaweedFS's S3 gateway; skipped loudly without its binary, failed under
// CI=true, by testservers). Each call of a function returns a new, empty
// store (on S3, under a prefix of its own). The S3 server starts at the
// first call, on that call's test, and stops with it: call "s3" from one
// (sub)test.
func Stores() map[string]func(t *testing.T) blob.Store {
	var (
		mu  sync.Mutex
		srv *testservers.S3
	)
	return map[string]func(t *testing.T) blob.Store{
		"local": func(t *testing.T) blob.Store {
			s, err := local.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) blob.Store {
			mu.Lock()
			if srv == nil {
				srv = testservers.StartS3(t)
			}
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := s3.New(ctx, s3.Config{Bucket: srv.Bucket, Prefix: fmt.Sprintf("t%d/", s3Prefix.Add(1)),
				Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: "true",
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

var s3Prefix atomic.Int64
