package postproc

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/testenv"
)

// TestThumbnailInObjectStore: in object-store mode a job's thumbnail is
// an object of the tree's store, ThumbKey, and not a file of ThumbsDir.
func TestThumbnailInObjectStore(t *testing.T) {
	for name, newStore := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bs := newStore(t)
			env := testenv.New(t, testenv.Options{Blobs: bs})
			env.Space(t, "s", "Space s", 0)
			if err := os.MkdirAll(filepath.Join(env.Dir, "uploads"), 0o700); err != nil {
				t.Fatal(err)
			}
			bus := events.New()
			sub := bus.Subscribe(nil, 10000)
			t.Cleanup(sub.Close)
			f := &fixture{dir: env.Dir, db: env.DB, tree: env.Tree, bus: bus, sub: sub}
			r := f.runner(t, nil)
			job := f.stage(t, "up1", "photo.png", pngBytes(t, 600, 300))
			if err := r.Submit(ctx, job); err != nil {
				t.Fatal(err)
			}
			if st, err := wait(t, r, "up1"); err != nil || st.State != Done {
				t.Fatalf("job: %+v, %v", st, err)
			}
			o, err := bs.Open(ctx, ThumbKey(job.SHA256))
			if err != nil {
				t.Fatalf("thumbnail object: %v", err)
			}
			thumb, err := io.ReadAll(o)
			o.Close()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
			if err != nil || cfg.Width != 256 || cfg.Height != 128 {
				t.Errorf("thumbnail %dx%d, %v; want 256x128", cfg.Width, cfg.Height, err)
			}
			if _, err := os.Stat(filepath.Join(env.Dir, "thumbs", job.SHA256+".jpg")); err == nil {
				t.Error("the thumbnail was also written to ThumbsDir")
			}
		})
	}
}
