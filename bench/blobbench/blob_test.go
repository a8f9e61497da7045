// Package blobbench measures the blob stores side by side, for
// docs/scale-out.md: put and get of one 64 MiB object and of 1,000 objects
// of 4 KiB, on blob/local (a directory) and blob/s3 (SeaweedFS on
// loopback, started by the benchmark). Run with
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/blobbench
package blobbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/blob/local"
	"github.com/wharfhq/wharf/blob/s3"
	"github.com/wharfhq/wharf/internal/testservers"
)

func stores(b *testing.B) map[string]blob.Backend {
	l, err := local.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv := testservers.StartS3(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := s3.New(ctx, s3.Config{
		Bucket: srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: "true",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, TempDir: b.TempDir(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return map[string]blob.Backend{"local": l, "seaweedfs": r}
}

func BenchmarkBlob(b *testing.B) {
	ss := stores(b)
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	small := bytes.Repeat([]byte("wharf!!!"), 512)         // 4 KiB
	ctx := context.Background()
	for _, name := range []string{"local", "seaweedfs"} {
		s := ss[name]
		b.Run(name+"/put-64MiB", func(b *testing.B) {
			b.SetBytes(int64(len(big)))
			for i := 0; b.Loop(); i++ {
				if _, err := s.Put(ctx, fmt.Sprintf("big/%d", i), bytes.NewReader(big), int64(len(big))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/get-64MiB", func(b *testing.B) {
			if _, err := s.Put(ctx, "big/get", bytes.NewReader(big), int64(len(big))); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(big)))
			for b.Loop() {
				r, err := s.Open(ctx, "big/get")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(big)) {
					b.Fatal(n, err)
				}
				r.Close()
			}
		})
		b.Run(name+"/put-1000x4KiB", func(b *testing.B) {
			b.SetBytes(1000 * int64(len(small)))
			for i := 0; b.Loop(); i++ {
				for j := range 1000 {
					if _, err := s.Put(ctx, fmt.Sprintf("small/%d/%d", i, j), bytes.NewReader(small), int64(len(small))); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "objects/s")
		})
		b.Run(name+"/get-1000x4KiB", func(b *testing.B) {
			b.SetBytes(1000 * int64(len(small)))
			for b.Loop() {
				for j := range 1000 {
					r, err := s.Open(ctx, fmt.Sprintf("small/0/%d", j))
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(small)) {
						b.Fatal(n, err)
					}
					r.Close()
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
