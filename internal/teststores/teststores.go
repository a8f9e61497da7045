// Package teststores gives tests the object stores that Wharf's
// object-store mode runs on: blob/local in a temporary directory, and
// blob/s3 on SeaweedFS's S3 gateway (internal/testservers: skipped loudly
// without its binary, failed under CI=true). It is test support; it
// imports blob, blob/local, blob/s3 and internal/testservers only.
package teststores

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

// Names are the stores of Stores, in the order tests run them.
var Names = []string{"local", "s3"}

// Stores returns the stores by name. Each call of a function returns a
// new, empty store (on S3, under a prefix of its own). The S3 server
// starts at the first call, on that call's test, and stops with it: call
// "s3" from one (sub)test.
func Stores() map[string]func(t *testing.T) blob.Backend {
	var (
		mu  sync.Mutex
		srv *testservers.S3
	)
	return map[string]func(t *testing.T) blob.Backend{
		"local": func(t *testing.T) blob.Backend {
			s, err := local.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) blob.Backend {
			mu.Lock()
			if srv == nil {
				srv = testservers.StartS3(t)
			}
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := s3.New(ctx, s3.Config{Bucket: srv.Bucket, Prefix: fmt.Sprintf("t%d/", prefix.Add(1)),
				Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: "true",
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

var prefix atomic.Int64

// Each runs test as a subtest on each store, in the order of Names.
func Each(t *testing.T, test func(t *testing.T, s blob.Backend)) {
	stores := Stores()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) { test(t, stores[name](t)) })
	}
}
