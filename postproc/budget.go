package postproc

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"sync"
)

// DefaultDecodeMemory is the memory budget of the thumbnail decoders when
// Config.DecodeMemory is 0: an RGBA PNG of about 8000x8000 (5600x5600 at
// 16 bits, a third fewer pixels interlaced), a baseline 4:2:0 JPEG of 170 MP.
const DefaultDecodeMemory = 256 << 20

// budget is a weighted semaphore of bytes: the memory the thumbnail
// decoders of one Runner may hold at once. Waiters are served in order, so
// a large image is not starved by small ones.
type budget struct {
	size int64

	mu      sync.Mutex
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once n is granted
}

// acquire waits for n bytes of the budget, or for ctx to end. n must not
// exceed the size.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.used -= n
	default:
		b.waiters.Remove(e)
	}
	b.grant() // those behind it may fit now
	return ctx.Err()
}

// release gives back n bytes acquired before.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.grant()
	b.mu.Unlock()
}

// grant serves the waiters in order while the first one fits. b.mu is held.
func (b *budget) grant() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// decodeCost estimates, from an image's header, the bytes its decoding
// holds at its peak: the decoded pixels, and what the decoder keeps beside
// them. It errs on the high side. mediaType is the sniffed type; r reads
// the file from its start (for JPEG the frame header is read again, for
// its sampling and whether it is progressive).
func decodeCost(mediaType string, cfg image.Config, r io.Reader) (int64, error) {
	pixels := int64(cfg.Width) * int64(cfg.Height)
	switch mediaType {
	case "image/jpeg":
		c, err := jpegCost(cfg, r)
		return decoderOverhead + c, err
	case "image/png":
		c := pixels * bytesPerPixel(cfg.ColorModel)
		if pngInterlaced(r) {
			// Decoded a pass at a time beside the whole image: the
			// largest pass is half of it.
			c = c * 3 / 2
		}
		return decoderOverhead + c, nil
	}
	return decoderOverhead + pixels*bytesPerPixel(cfg.ColorModel), nil
}

// pngInterlaced reads the interlace method in a PNG's header (which
// DecodeConfig has checked is there); unreadable counts as interlaced.
func pngInterlaced(r io.Reader) bool {
	var head [29]byte // signature, IHDR length and type, 13 bytes of IHDR
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return true
	}
	return head[28] != 0
}

// decoderOverhead is what a decoder holds besides the pixels (tables,
// buffers, the LZW dictionary, a row or two): tens of KiB, rounded up.
const decoderOverhead = 1 << 20

// bytesPerPixel is what a decoded pixel of the color model takes.
// Unknown models count as 16-bit RGBA, the largest.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4; subsampled chroma takes less
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

var errNoFrame = errors.New("no JPEG frame header")

// jpegCost is decodeCost for a JPEG, from its frame header: the planes of
// each component at its sampling (rounded up to whole MCUs, as the
// decoder allocates them), a progressive JPEG's coefficients (4 bytes per
// sample), and the CMYK image a 4-component JPEG is converted to.
func jpegCost(cfg image.Config, r io.Reader) (int64, error) {
	progressive, comps, err := jpegFrame(bufio.NewReader(r))
	if err != nil {
		return 0, err
	}
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c[0]), max(vmax, c[1])
	}
	mcuW, mcuH := 8*int64(hmax), 8*int64(vmax)
	w := (int64(cfg.Width) + mcuW - 1) / mcuW * mcuW
	h := (int64(cfg.Height) + mcuH - 1) / mcuH * mcuH
	var samples int64
	for _, c := range comps {
		samples += w * int64(c[0]) / int64(hmax) * (h * int64(c[1]) / int64(vmax))
	}
	cost := samples
	if progressive {
		cost += 4 * samples
	}
	if len(comps) == 4 {
		cost += 4 * w * h
	}
	return cost, nil
}

// jpegFrame reads a JPEG's markers up to its frame header (SOFn) and
// returns whether the frame is progressive and each component's
// horizontal and vertical sampling factors.
func jpegFrame(r *bufio.Reader) (progressive bool, comps [][2]int, err error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil || b != [2]byte{0xff, 0xd8} {
		return false, nil, errNoFrame
	}
	for {
		c, err := r.ReadByte()
		if err != nil {
			return false, nil, errNoFrame
		}
		if c != 0xff {
			continue // not at a marker: skip (padding, or a damaged file)
		}
		m, err := r.ReadByte()
		for err == nil && m == 0xff { // fill bytes
			m, err = r.ReadByte()
		}
		if err != nil {
			return false, nil, errNoFrame
		}
		if m == 0x01 || (m >= 0xd0 && m <= 0xd7) || m == 0x00 {
			continue // no length
		}
		if m == 0xd9 || m == 0xda { // end of image, start of scan: no frame before
			return false, nil, errNoFrame
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return false, nil, errNoFrame
		}
		n := int(b[0])<<8 | int(b[1]) - 2
		if n < 0 {
			return false, nil, errNoFrame
		}
		isSOF := m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc
		if !isSOF {
			if _, err := r.Discard(n); err != nil {
				return false, nil, errNoFrame
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(r, seg); err != nil || n < 6 {
			return false, nil, errNoFrame
		}
		nf := int(seg[5])
		if nf < 1 || nf > 4 || n < 6+3*nf {
			return false, nil, errNoFrame
		}
		for i := range nf {
			hv := seg[6+3*i+1]
			comps = append(comps, [2]int{max(1, int(hv>>4)), max(1, int(hv&0x0f))})
		}
		progressive = m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
		return progressive, comps, nil
	}
}
