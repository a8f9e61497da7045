package postproc

import (
	"encoding/binary"
	"strings"
	"unicode"
)

// exifInfo is the little the metadata step reads from EXIF.
type exifInfo struct {
	DateTimeOriginal string // "2006:01:02 15:04:05", as the camera wrote it
	Make, Model      string
	Orientation      int // 1..8, 0 if absent
}

// EXIF tags read.
const (
	tagMake             = 0x010f
	tagModel            = 0x0110
	tagOrientation      = 0x0112
	tagExifIFD          = 0x8769
	tagDateTimeOriginal = 0x9003
)

// readEXIF finds the EXIF APP1 segment of a JPEG file's first bytes and
// reads it. It never panics: whatever is malformed or out of range is
// left out.
func readEXIF(jpg []byte) exifInfo {
	if len(jpg) < 4 || jpg[0] != 0xff || jpg[1] != 0xd8 {
		return exifInfo{}
	}
	i := 2
	for i+4 <= len(jpg) {
		if jpg[i] != 0xff {
			return exifInfo{}
		}
		m := jpg[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		if m == 0xd9 || m == 0xda { // end of image, start of scan: no EXIF after
			return exifInfo{}
		}
		if m == 0x01 || (m >= 0xd0 && m <= 0xd7) { // markers without a length
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if n < 2 || i+2+n > len(jpg) {
			return exifInfo{}
		}
		seg := jpg[i+4 : i+2+n]
		if m == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return readTIFF(seg[6:])
		}
		i += 2 + n
	}
	return exifInfo{}
}

// tiff reads a TIFF structure (EXIF's container) with bounds checks.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

func (t tiff) u16(off int) (int, bool) {
	if off < 0 || off+2 > len(t.b) {
		return 0, false
	}
	return int(t.bo.Uint16(t.b[off:])), true
}

func (t tiff) u32(off int) (int, bool) {
	if off < 0 || off+4 > len(t.b) {
		return 0, false
	}
	v := t.bo.Uint32(t.b[off:])
	if v > 1<<30 { // no offset into a 256 KiB segment is this large
		return 0, false
	}
	return int(v), true
}

func readTIFF(b []byte) exifInfo {
	var t tiff
	switch {
	case len(b) < 8:
		return exifInfo{}
	case string(b[:2]) == "II":
		t = tiff{b, binary.LittleEndian}
	case string(b[:2]) == "MM":
		t = tiff{b, binary.BigEndian}
	default:
		return exifInfo{}
	}
	if magic, _ := t.u16(2); magic != 42 {
		return exifInfo{}
	}
	var x exifInfo
	ifd0, ok := t.u32(4)
	if !ok {
		return exifInfo{}
	}
	exifIFD := 0
	t.entries(ifd0, func(tag, typ, count, valOff int) {
		switch tag {
		case tagMake:
			x.Make = t.ascii(typ, count, valOff)
		case tagModel:
			x.Model = t.ascii(typ, count, valOff)
		case tagOrientation:
			if typ == 3 && count == 1 {
				if v, ok := t.u16(valOff); ok && v >= 1 && v <= 8 {
					x.Orientation = v
				}
			}
		case tagExifIFD:
			if (typ == 4 || typ == 13) && count == 1 {
				exifIFD, _ = t.u32(valOff)
			}
		}
	})
	if exifIFD > 0 && exifIFD != ifd0 {
		t.entries(exifIFD, func(tag, typ, count, valOff int) {
			if tag == tagDateTimeOriginal {
				x.DateTimeOriginal = t.ascii(typ, count, valOff)
			}
		})
	}
	return x
}

// entries calls fn for each entry of the IFD at off, with the offset of
// its value field (the value itself if it fits in 4 bytes, else its
// offset).
func (t tiff) entries(off int, fn func(tag, typ, count, valOff int)) {
	n, ok := t.u16(off)
	if !ok || n > 1000 {
		return
	}
	for k := range n {
		e := off + 2 + 12*k
		if e+12 > len(t.b) {
			return
		}
		tag, _ := t.u16(e)
		typ, _ := t.u16(e + 2)
		count, ok := t.u32(e + 4)
		if !ok {
			continue
		}
		fn(tag, typ, count, e+8)
	}
}

// ascii reads an ASCII value (type 2), trimmed, printable, at most 256
// bytes; "" if it is anything else.
func (t tiff) ascii(typ, count, valOff int) string {
	if typ != 2 || count <= 0 || count > 1<<16 {
		return ""
	}
	start := valOff
	if count > 4 {
		var ok bool
		if start, ok = t.u32(valOff); !ok {
			return ""
		}
	}
	if start < 0 || start+count > len(t.b) {
		return ""
	}
	s := string(t.b[start : start+count])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
}
