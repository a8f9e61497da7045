package postproc

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/wharfhq/wharf/space"
)

// TestEnrich: the steps a quick job skips run on its file after the
// install, and at start on files that got into a space without them (here
// written past the pipeline); what they find is recorded for the content
// and described by Describe.
func TestEnrich(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := exifJPEG(t, "MM", "Nikon", "Z6", "2020:01:02 03:04:05")
	if _, _, err := f.tree.Put(ctx, "s", "old.jpg", bytes.NewReader(old), space.PutOptions{ExpectedSize: int64(len(old))}); err != nil {
		t.Fatal(err)
	}
	r := f.runner(t, nil)
	job := f.stage(t, "put-1", "new.jpg", exifJPEG(t, "II", "Canon", "EOS R5", "2024:05:06 07:08:09"))
	job.Quick = true
	if _, _, err := r.Process(ctx, job); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, make_, captured string }{
		{"old.jpg", "Nikon", "2020-01-02T03:04:05"},
		{"new.jpg", "Canon", "2024-05-06T07:08:09"},
	} {
		var m FileMeta
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			n, err := f.tree.Stat(ctx, "s", c.path)
			if err != nil {
				t.Fatal(err)
			}
			known, err := f.tree.Contents(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if m = Describe(n, known[n.SHA256]); m.Extracted || time.Now().After(deadline) {
				break
			}
		}
		if !m.Extracted || m.Make != c.make_ || m.Captured != c.captured || m.Width != 40 || m.Height != 30 || !m.Thumbnail || m.Scanned {
			t.Errorf("%s: %+v", c.path, m)
		}
	}
}
