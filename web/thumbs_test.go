package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
)

// TestThumbnailsInObjectStore: in object-store mode the pipeline makes the
// thumbnail of an image as an object of the store (nothing in the data
// directory, which is one replica's), and the API offers and serves it
// from there; a file without one gets no thumbnail URL and a 404.
func TestThumbnailsInObjectStore(t *testing.T) {
	for name, newStore := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bs := newStore(t)
			f := newFixtureWith(t, testenv.Options{Blobs: bs})
			bob := f.login("bob")
			var pic bytes.Buffer
			img := image.NewNRGBA(image.Rect(0, 0, 600, 300))
			for y := range 300 {
				for x := range 600 {
					img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
				}
			}
			if err := png.Encode(&pic, img); err != nil {
				t.Fatal(err)
			}
			n, _, err := f.tree.Put(ctx, "files", "pic.png", bytes.NewReader(pic.Bytes()), space.PutOptions{ExpectedSize: int64(pic.Len())})
			if err != nil {
				t.Fatal(err)
			}
			f.put("files", "fake.png", "not an image: no thumbnail")

			// The pipeline's enrichment pass, at its start, takes the files
			// that came in without it.
			r, err := postproc.New(postproc.Config{DB: f.db, Tree: f.tree, Workers: 1,
				QuarantineDir: filepath.Join(t.TempDir(), "quarantine"), ThumbsDir: f.thumbs})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				known, err := f.tree.Contents(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if postproc.Describe(n, known[n.SHA256]).Thumbnail {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no thumbnail recorded after 60 s")
				}
			}
			if _, err := bs.Stat(ctx, postproc.ThumbKey(n.SHA256)); err != nil {
				t.Errorf("thumbnail object: %v", err)
			}
			if _, err := os.Stat(filepath.Join(f.thumbs, n.SHA256+".jpg")); err == nil {
				t.Error("the thumbnail was written to the data directory in object-store mode")
			}

			code, body := f.call(bob, "GET", SpacesPath+"/files/nodes/", "")
			var dir struct{ Children []nodeJSON }
			json.Unmarshal([]byte(body), &dir)
			if code != 200 || len(dir.Children) != 2 {
				t.Fatalf("list = %d %s", code, body)
			}
			fake, p := dir.Children[0], dir.Children[1]
			if p.Thumb != "/api/v1/spaces/files/thumbs/pic.png" {
				t.Errorf("pic.png: thumb %q", p.Thumb)
			}
			if fake.Thumb != "" {
				t.Errorf("fake.png: thumb %q, want none", fake.Thumb)
			}
			code, body = f.call(bob, "GET", p.Thumb, "")
			cfg, err := jpeg.DecodeConfig(bytes.NewReader([]byte(body)))
			if code != 200 || err != nil || cfg.Width != 256 || cfg.Height != 128 {
				t.Errorf("GET thumbnail = %d, %dx%d, %v; want a 256x128 JPEG", code, cfg.Width, cfg.Height, err)
			}
			if code, _ := f.call(bob, "GET", SpacesPath+"/files/thumbs/fake.png", ""); code != 404 {
				t.Errorf("GET thumbnail of fake.png = %d, want 404", code)
			}
		})
	}
}
