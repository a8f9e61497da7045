package postproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// pngBomb is a small PNG whose header declares a w x h 16-bit RGBA image:
// a 1x1 image's encoding with the size in IHDR changed (and its CRC
// fixed). Decoding it allocates the whole declared image before finding
// the pixel data short.
func pngBomb(t *testing.T, w, h uint32) []byte {
	t.Helper()
	img := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	img.SetNRGBA64(0, 0, color.NRGBA64{1, 2, 3, 4}) // translucent: stays RGBA, 16-bit
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	// signature (8), IHDR length (4), "IHDR" (4), width, height, ...
	if string(p[12:16]) != "IHDR" || p[24] != 16 || p[25] != 6 {
		t.Fatalf("unexpected encoding: IHDR %q, depth %d, color type %d", p[12:16], p[24], p[25])
	}
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	cfg, err := png.DecodeConfig(bytes.NewReader(p))
	if err != nil || cfg.Width != int(w) || cfg.Height != int(h) || cfg.ColorModel != color.NRGBA64Model {
		t.Fatalf("crafted PNG reads as %+v, %v", cfg, err)
	}
	return p
}

// TestThumbnailDecodeBudget: a 78-byte PNG declaring 6000x6000 16-bit
// pixels (288 MB decoded) is accepted without a thumbnail, without the
// decoder allocating it; a normal image still gets its thumbnail.
func TestThumbnailDecodeBudget(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, nil) // the default budget, 256 MiB
	bomb := pngBomb(t, 6000, 6000)
	job := f.stage(t, "bomb", "bomb.png", bomb)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	st, err := wait(t, r, "bomb")
	runtime.ReadMemStats(&after)
	if err != nil || st.State != Done {
		t.Fatalf("the file was not accepted: %+v, %v", st, err)
	}
	if _, ok := st.Metadata["thumbnail"]; ok {
		t.Errorf("a thumbnail was made: %v", st.Metadata)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("processing a %d-byte PNG allocated %d MiB", len(bomb), n>>20)
	}

	ok := f.stage(t, "ok", "ok.png", pngBytes(t, 600, 300))
	if err := r.Submit(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if st, err := wait(t, r, "ok"); err != nil || st.Metadata["thumbnail"] != ok.SHA256+".jpg" {
		t.Errorf("a normal image: %+v, %v; want a thumbnail", st, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "thumbs", ok.SHA256+".jpg")); err != nil {
		t.Error(err)
	}
}

// TestThumbnailBudgetIsConfigured: with a budget smaller than what an
// image needs, it gets no thumbnail and is accepted; a negative budget is
// refused.
func TestThumbnailBudgetIsConfigured(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, func(c *Config) { c.DecodeMemory = 1 << 20 }) // 600x300 NRGBA: 720 KB, and 1 MiB for the decoder
	job := f.stage(t, "big", "big.png", pngBytes(t, 600, 300))
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if st, err := wait(t, r, "big"); err != nil || st.State != Done || st.Metadata["thumbnail"] != nil {
		t.Errorf("%+v, %v; want accepted without a thumbnail", st, err)
	}
	if _, err := New(f.config(func(c *Config) { c.DecodeMemory = -1 })); err == nil {
		t.Error("DecodeMemory -1 accepted")
	}
}

// TestDecodeCostCoversDecoding: for each kind of image the standard
// decoders read, the estimate is at least what decoding allocates.
func TestDecodeCostCoversDecoding(t *testing.T) {
	const w, h = 1000, 700
	rect := image.Rect(0, 0, w, h)
	fill := func(m interface{ Set(int, int, color.Color) }) {
		for y := range h {
			for x := range w {
				m.Set(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x ^ y), uint8(128 + x%128)})
			}
		}
	}
	enc := func(kind string, m image.Image) []byte {
		var b bytes.Buffer
		var err error
		switch kind {
		case "image/png":
			err = png.Encode(&b, m)
		case "image/jpeg":
			err = jpeg.Encode(&b, m, nil)
		case "image/gif":
			err = gif.Encode(&b, m, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	rgba, nrgba64, gray, gray16, pal := image.NewRGBA(rect), image.NewNRGBA64(rect), image.NewGray(rect), image.NewGray16(rect), image.NewPaletted(rect, palette.Plan9)
	for _, m := range []interface{ Set(int, int, color.Color) }{rgba, nrgba64, gray, gray16, pal} {
		fill(m)
	}
	for _, tc := range []struct {
		name, kind string
		img        image.Image
	}{
		{"png rgba", "image/png", rgba},
		{"png 16-bit", "image/png", nrgba64},
		{"png gray", "image/png", gray},
		{"png gray16", "image/png", gray16},
		{"png paletted", "image/png", pal},
		{"jpeg 4:2:0", "image/jpeg", rgba},
		{"jpeg gray", "image/jpeg", gray},
		{"gif", "image/gif", pal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := enc(tc.kind, tc.img)
			decode, config, _ := decoderFor(tc.kind)
			cfg, err := config(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			cost, err := decodeCost(tc.kind, cfg, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := decode(bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if used := int64(after.TotalAlloc - before.TotalAlloc); used > cost {
				t.Errorf("decoding allocated %d bytes, the estimate is %d", used, cost)
			}
		})
	}
}

func TestJPEGFrame(t *testing.T) {
	b := jpegBytes(t, 100, 50)
	progressive, comps, err := jpegFrame(bufioReader(b))
	if err != nil || progressive || len(comps) != 3 || comps[0] != [2]int{2, 2} || comps[1] != [2]int{1, 1} {
		t.Errorf("jpegFrame = %v, %v, %v; want baseline 4:2:0", progressive, comps, err)
	}
	// A progressive frame header (SOF2) costs its coefficients too.
	p := bytes.Replace(b, []byte{0xff, 0xc0}, []byte{0xff, 0xc2}, 1)
	cfg := image.Config{Width: 100, Height: 50}
	base, _ := jpegCost(cfg, bytes.NewReader(b))
	prog, err := jpegCost(cfg, bytes.NewReader(p))
	if err != nil || prog != 5*base {
		t.Errorf("progressive cost %d, %v; baseline %d", prog, err, base)
	}
	for _, bad := range [][]byte{nil, []byte("GIF89a"), {0xff, 0xd8, 0xff, 0xda, 0, 2}, {0xff, 0xd8, 0xff, 0xe0, 0, 1}} {
		if _, _, err := jpegFrame(bufioReader(bad)); err == nil {
			t.Errorf("jpegFrame(%x): no error", bad)
		}
	}
}

func TestPNGInterlacedCost(t *testing.T) {
	p := pngBomb(t, 100, 100)
	cfg, _ := png.DecodeConfig(bytes.NewReader(p))
	plain, _ := decodeCost("image/png", cfg, bytes.NewReader(p))
	p[28] = 1 // Adam7
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	interlaced, _ := decodeCost("image/png", cfg, bytes.NewReader(p))
	if want := int64(decoderOverhead + 100*100*8); plain != want || interlaced != decoderOverhead+100*100*8*3/2 {
		t.Errorf("cost %d, interlaced %d; want %d and half as many pixel bytes again", plain, interlaced, want)
	}
}

func TestBudget(t *testing.T) {
	b := &budget{size: 10}
	ctx := context.Background()
	if err := b.acquire(ctx, 6); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 2)
	go func() { b.acquire(ctx, 6); got <- 6 }()
	time.Sleep(20 * time.Millisecond)
	go func() { b.acquire(ctx, 2); got <- 2 }() // fits, but waits behind the 6
	select {
	case n := <-got:
		t.Fatalf("%d granted while 6 of 10 are taken and a 6 waits first", n)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(6) // both fit now
	for range 2 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("not granted after a release")
		}
	}
	// A waiter whose context ends leaves the budget as it was.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(cctx, 5); err == nil {
		t.Fatal("acquired 5 with 8 of 10 taken")
	}
	b.release(8)
	if err := b.acquire(ctx, 10); err != nil {
		t.Fatal(err)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
