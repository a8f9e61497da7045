package local

import (
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
