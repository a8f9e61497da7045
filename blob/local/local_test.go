package local

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/blob/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) (blob.Backend, func() blob.Backend) {
		dir := t.TempDir()
		open := func() blob.Backend {
			s, err := New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return open(), open
	})
}

// TestOSFile: the reader gives its *os.File to a server that wants
// sendfile.
func TestOSFile(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, ok := r.(interface{ OSFile() *os.File })
	if !ok {
		t.Fatal("the local reader does not expose its file")
	}
	if fi, err := f.OSFile().Stat(); err != nil || fi.Size() != 3 {
		t.Fatalf("its file: %v %v", fi, err)
	}
}
