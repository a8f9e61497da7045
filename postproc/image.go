package postproc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
)

// Thumbnails fit in thumbSize x thumbSize. How large an image may be
// decoded is up to the Runner's decoding budget (Config.DecodeMemory).
const thumbSize = 256

// decodeConfig returns the format and size of a JPEG, PNG or GIF file by
// its sniffed type, without decoding the pixels. ok is false for other
// types.
func decoderFor(mimeType string) (decode func(io.Reader) (image.Image, error), config func(io.Reader) (image.Config, error), ok bool) {
	switch mediaType(mimeType) {
	case "image/jpeg":
		return jpeg.Decode, jpeg.DecodeConfig, true
	case "image/png":
		return png.Decode, png.DecodeConfig, true
	case "image/gif":
		return gif.Decode, gif.DecodeConfig, true
	}
	return nil, nil, false
}

// thumbnailStep writes a JPEG thumbnail of JPEG, PNG and GIF images to
// ThumbsDir/<sha256>.jpg. An image it cannot decode, or one too large, just
// gets no thumbnail: that is no reason to refuse the file.
//
// Decoding holds the whole image in memory, whatever the size of the file
// (a 280 KB PNG may declare 6000x6000 16-bit pixels: 288 MB). So before
// decoding, the cost is estimated from the header (decodeCost) and taken
// from the Runner's budget, shared by all workers: an image costing more
// than the whole budget gets no thumbnail, one that fits waits for its
// share.
type thumbnailStep struct{}

func (thumbnailStep) name() string { return "thumbnail" }
func (thumbnailStep) quick() bool  { return false }

func (thumbnailStep) run(ctx context.Context, r *Runner, t *task, progress func(int, string)) error {
	decode, config, ok := decoderFor(t.job.MIME)
	if !ok {
		progress(100, "not an image")
		return nil
	}
	f, err := os.Open(t.file())
	if err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	defer f.Close()
	cfg, err := config(bufio.NewReader(f))
	if err != nil {
		progress(100, "no thumbnail: "+err.Error())
		return nil
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		progress(100, fmt.Sprintf("no thumbnail: %dx%d", cfg.Width, cfg.Height))
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	cost, err := decodeCost(mediaType(t.job.MIME), cfg, f)
	if err != nil {
		progress(100, "no thumbnail: "+err.Error())
		return nil
	}
	if cost > r.decodeMem.size {
		progress(100, fmt.Sprintf("no thumbnail: decoding %dx%d takes about %d MiB, more than the %d MiB allowed",
			cfg.Width, cfg.Height, cost>>20, r.decodeMem.size>>20))
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	progress(5, "waiting for decoding memory")
	if err := r.decodeMem.acquire(ctx, cost); err != nil {
		return err
	}
	thumb, err := func() (*image.RGBA, error) {
		defer r.decodeMem.release(cost)
		progress(10, "decoding")
		img, err := decode(bufio.NewReader(f))
		if err != nil {
			return nil, err
		}
		progress(60, "scaling")
		return scale(img, thumbSize, thumbSize), nil
	}()
	if err != nil {
		progress(100, "no thumbnail: "+err.Error())
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := t.job.SHA256 + ".jpg"
	if err := r.saveThumb(ctx, t.job.SHA256, thumb); err != nil {
		return fmt.Errorf("cannot write the thumbnail: %w", err)
	}
	t.meta["thumbnail"] = name
	progress(100, name)
	return nil
}

// writeJPEG writes img atomically: a temporary file, fsynced, renamed.
func writeJPEG(name string, img image.Image) (err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := name + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriter(f)
	if err = jpeg.Encode(w, img, &jpeg.Options{Quality: thumbQuality}); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// scale shrinks img to fit w x h, keeping its aspect ratio, by averaging
// the source pixels that fall in each destination pixel (a box filter: no
// aliasing when shrinking a lot). Images already small enough are copied.
// Transparent pixels are laid on white, as JPEG has no alpha.
func scale(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := sw, sh
	if sw > w || sh > h {
		if sw*h > sh*w { // wider than the box
			dw, dh = w, max(1, sh*w/sw)
		} else {
			dw, dh = max(1, sw*h/sh), h
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	if sw == 0 || sh == 0 {
		return dst
	}
	at := pixelReader(img)
	// Sums for one destination row at a time, in 16-bit premultiplied
	// channels.
	type acc struct{ r, g, b, a, n uint64 }
	row := make([]acc, dw)
	for dy := range dh {
		y0, y1 := b.Min.Y+dy*sh/dh, b.Min.Y+(dy+1)*sh/dh
		y1 = max(y1, y0+1)
		clear(row)
		for y := y0; y < y1; y++ {
			for dx := range dw {
				x0, x1 := b.Min.X+dx*sw/dw, b.Min.X+(dx+1)*sw/dw
				x1 = max(x1, x0+1)
				a := &row[dx]
				for x := x0; x < x1; x++ {
					r, g, bl, al := at(x, y)
					a.r += uint64(r)
					a.g += uint64(g)
					a.b += uint64(bl)
					a.a += uint64(al)
					a.n++
				}
			}
		}
		for dx := range dw {
			a := row[dx]
			// Over white: c + (1 - alpha), in premultiplied 16-bit terms.
			white := a.n*0xffff - a.a
			off := dst.PixOffset(dx, dy)
			dst.Pix[off+0] = uint8((a.r + white) / a.n >> 8)
			dst.Pix[off+1] = uint8((a.g + white) / a.n >> 8)
			dst.Pix[off+2] = uint8((a.b + white) / a.n >> 8)
			dst.Pix[off+3] = 0xff
		}
	}
	return dst
}

// pixelReader returns a fast reader of premultiplied 16-bit RGBA for the
// image types the standard decoders return, and img.At otherwise.
func pixelReader(img image.Image) func(x, y int) (r, g, b, a uint32) {
	switch m := img.(type) {
	case *image.YCbCr:
		return func(x, y int) (uint32, uint32, uint32, uint32) {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			return uint32(r) * 0x101, uint32(g) * 0x101, uint32(b) * 0x101, 0xffff
		}
	case *image.Gray:
		return func(x, y int) (uint32, uint32, uint32, uint32) {
			v := uint32(m.Pix[m.PixOffset(x, y)]) * 0x101
			return v, v, v, 0xffff
		}
	case *image.RGBA:
		return func(x, y int) (uint32, uint32, uint32, uint32) {
			p := m.Pix[m.PixOffset(x, y):]
			return uint32(p[0]) * 0x101, uint32(p[1]) * 0x101, uint32(p[2]) * 0x101, uint32(p[3]) * 0x101
		}
	case *image.NRGBA:
		return func(x, y int) (uint32, uint32, uint32, uint32) {
			p := m.Pix[m.PixOffset(x, y):]
			a := uint32(p[3]) * 0x101
			return uint32(p[0]) * a / 0xff, uint32(p[1]) * a / 0xff, uint32(p[2]) * a / 0xff, a
		}
	case *image.Paletted:
		pal := make([][4]uint32, len(m.Palette))
		for i, c := range m.Palette {
			r, g, b, a := c.RGBA()
			pal[i] = [4]uint32{r, g, b, a}
		}
		return func(x, y int) (uint32, uint32, uint32, uint32) {
			i := int(m.Pix[m.PixOffset(x, y)])
			if i >= len(pal) {
				return 0, 0, 0, 0
			}
			p := pal[i]
			return p[0], p[1], p[2], p[3]
		}
	}
	return func(x, y int) (uint32, uint32, uint32, uint32) { return img.At(x, y).RGBA() }
}

// metadataStep records image dimensions and, for JPEG, the EXIF date and
// camera. What it cannot read it leaves out; it never refuses a file.
type metadataStep struct{}

func (metadataStep) name() string { return "metadata" }
func (metadataStep) quick() bool  { return false }

func (metadataStep) run(ctx context.Context, r *Runner, t *task, progress func(int, string)) error {
	_, config, ok := decoderFor(t.job.MIME)
	if !ok {
		progress(100, "nothing to read")
		return nil
	}
	f, err := os.Open(t.file())
	if err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	defer f.Close()
	if cfg, err := config(bufio.NewReader(f)); err == nil {
		t.meta["width"], t.meta["height"] = cfg.Width, cfg.Height
	}
	if mediaType(t.job.MIME) == "image/jpeg" {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("cannot read the uploaded file: %w", err)
		}
		// EXIF lives in an APP1 segment near the start: 256 KiB is plenty.
		head, err := io.ReadAll(io.LimitReader(f, 256<<10))
		if err != nil {
			return fmt.Errorf("cannot read the uploaded file: %w", err)
		}
		if x := readEXIF(head); x != (exifInfo{}) {
			m := map[string]any{}
			if x.DateTimeOriginal != "" {
				m["dateTimeOriginal"] = x.DateTimeOriginal
			}
			if x.Make != "" {
				m["make"] = x.Make
			}
			if x.Model != "" {
				m["model"] = x.Model
			}
			if x.Orientation != 0 {
				m["orientation"] = x.Orientation
			}
			t.meta["exif"] = m
		}
	}
	progress(100, "")
	return nil
}
