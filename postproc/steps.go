package postproc

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/wharfhq/wharf/space"
)

// step is one stage of the pipeline. run returns nil to pass the job on;
// any error rejects it with the error's text as the reason, unless ctx is
// done (then the job is abandoned and resumes at this step). run may change
// t.job's checksums and MIME and t.meta: they are recorded when it passes.
// progress reports a percent and a short message; it is cheap to call.
//
// A step that can be switched off implements off() bool.
type step interface {
	name() string
	quick() bool // runs for quick jobs too
	run(ctx context.Context, r *Runner, t *task, progress func(pct int, msg string)) error
}

var (
	_ step = checksumStep{}
	_ step = sniffStep{}
	_ step = policyStep{}
	_ step = (*scanStep)(nil)
	_ step = thumbnailStep{}
	_ step = metadataStep{}
)

// readFile streams the staged file to w, reporting progress by bytes.
func readFile(ctx context.Context, name string, size int64, w io.Writer, progress func(int, string), what string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			done += int64(n)
			if size > 0 {
				progress(int(done*100/size), what)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("cannot read the uploaded file: %w", rerr)
		}
	}
}

// checksumStep verifies the client's checksums. It reads the file only if
// one of them (or the SHA-256, when unknown) has not been computed while
// the bytes streamed in.
type checksumStep struct{}

func (checksumStep) name() string { return "checksum" }
func (checksumStep) quick() bool  { return true }

func (checksumStep) run(ctx context.Context, _ *Runner, t *task, progress func(int, string)) error {
	j := &t.job
	fi, err := os.Stat(t.file())
	if err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	if fi.Size() != j.Size {
		return fmt.Errorf("the uploaded file has %d bytes, %d were announced", fi.Size(), j.Size)
	}
	known := map[string]string{"sha256": j.SHA256, "sha1": j.SHA1}
	need := map[string]hash.Hash{}
	if j.SHA256 == "" {
		need["sha256"] = sha256.New()
	}
	var expect []Checksum
	for _, f := range strings.Fields(j.Expect) {
		algo, hexsum, _ := strings.Cut(f, ":")
		expect = append(expect, Checksum{Algo: algo, Hex: hexsum})
		switch algo {
		case "sha256", "sha1":
			if known[algo] != "" {
				continue
			}
			if algo == "sha256" {
				need[algo] = sha256.New()
			} else {
				need[algo] = sha1.New()
			}
		case "md5":
			need[algo] = md5.New()
		default:
			return fmt.Errorf("unsupported checksum algorithm %q", algo)
		}
	}
	if len(need) > 0 {
		ws := make([]io.Writer, 0, len(need))
		for _, h := range need {
			ws = append(ws, h)
		}
		if err := readFile(ctx, t.file(), j.Size, io.MultiWriter(ws...), progress, "hashing"); err != nil {
			return err
		}
		for algo, h := range need {
			known[algo] = hex.EncodeToString(h.Sum(nil))
		}
		j.SHA256 = known["sha256"]
		if h, ok := need["sha1"]; ok {
			j.SHA1 = hex.EncodeToString(h.Sum(nil))
		}
	}
	var verified []string
	for _, c := range expect {
		if known[c.Algo] != c.Hex {
			return fmt.Errorf("%s checksum mismatch: expected %s, the file has %s", c.Algo, c.Hex, known[c.Algo])
		}
		verified = append(verified, c.Algo)
	}
	if len(verified) > 0 {
		progress(100, "verified "+strings.Join(verified, ", "))
	}
	return nil
}

// sniffStep finds the media type from the first bytes of the file, not
// its name.
type sniffStep struct{}

func (sniffStep) name() string { return "sniff" }
func (sniffStep) quick() bool  { return true }

func (sniffStep) run(ctx context.Context, _ *Runner, t *task, progress func(int, string)) error {
	head, err := t.readHead()
	if err != nil {
		return err
	}
	t.job.MIME = sniff(head, path.Base(t.job.Path))
	progress(100, t.job.MIME)
	return nil
}

// readHead returns the file's first space.HeadSize bytes (all of it if
// shorter): the ones the job came with when they are all there, else
// read from the file.
func (t *task) readHead() ([]byte, error) {
	if len(t.head) == space.HeadSize || int64(len(t.head)) == t.job.Size {
		return t.head, nil
	}
	f, err := os.Open(t.file())
	if err != nil {
		return nil, fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, space.HeadSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	return buf[:n], nil
}

// sniff returns the media type of content starting with head: what
// http.DetectContentType finds, refined by a table of what it misses
// (ISO base media files, TIFF, zip-based documents). name is used only to
// name a plain text file better (text/csv rather than text/plain).
func sniff(head []byte, name string) string {
	if m := sniffFtyp(head); m != "" {
		return m
	}
	if bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*")) {
		return "image/tiff"
	}
	m := http.DetectContentType(head)
	switch mediaType(m) {
	case "application/zip":
		if z := sniffZip(head); z != "" {
			return z
		}
	case "text/plain":
		if byExt := mime.TypeByExtension(path.Ext(name)); strings.HasPrefix(byExt, "text/") {
			base := mediaType(byExt)
			if _, params, ok := strings.Cut(m, ";"); ok {
				return base + ";" + params
			}
			return base
		}
	}
	return m
}

// sniffFtyp recognises ISO base media files by their major brand.
func sniffFtyp(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	switch brand := string(head[8:12]); brand {
	case "heic", "heix", "heim", "heis", "hevc", "hevx":
		return "image/heic"
	case "mif1", "msf1":
		return "image/heif"
	case "avif", "avis":
		return "image/avif"
	case "qt  ":
		return "video/quicktime"
	case "M4A ", "M4B ":
		return "audio/mp4"
	case "3gp4", "3gp5", "3gp6", "3g2a":
		return "video/3gpp"
	case "crx ":
		return "image/x-canon-cr3"
	default:
		if strings.HasPrefix(brand, "iso") || strings.HasPrefix(brand, "mp4") || strings.HasPrefix(brand, "avc") ||
			brand == "M4V " || brand == "dash" || brand == "MSNV" {
			return "video/mp4"
		}
	}
	return ""
}

// sniffZip tells OpenDocument, EPUB and Office Open XML files from other
// zip files by their first entries.
func sniffZip(head []byte) string {
	// An ODF or EPUB file starts with an uncompressed entry "mimetype"
	// holding the type.
	if len(head) > 38 && string(head[30:38]) == "mimetype" {
		size := int(binary.LittleEndian.Uint32(head[18:22]))
		start := 38 + int(binary.LittleEndian.Uint16(head[28:30]))
		if size > 0 && size < 128 && start+size <= len(head) {
			if m := string(head[start : start+size]); strings.HasPrefix(m, "application/") && !strings.ContainsAny(m, " \x00\n") {
				return m
			}
		}
	}
	if bytes.Contains(head, []byte("[Content_Types].xml")) || bytes.Contains(head, []byte("_rels/.rels")) {
		switch {
		case bytes.Contains(head, []byte("word/")):
			return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
		case bytes.Contains(head, []byte("xl/")):
			return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		case bytes.Contains(head, []byte("ppt/")):
			return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
		}
	}
	return ""
}

// mediaType is a media type without its parameters, lowercase.
func mediaType(m string) string {
	m, _, _ = strings.Cut(m, ";")
	return strings.ToLower(strings.TrimSpace(m))
}

// typeMatches reports whether media type m matches pattern: "type/sub",
// "type/*" or "*/*".
func typeMatches(pattern, m string) bool {
	pattern = mediaType(pattern)
	if pattern == "*/*" || pattern == "*" || pattern == m {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(m, prefix+"/")
	}
	return false
}

// policyStep applies the space's Policy and checks the quota early (the
// install checks it again).
type policyStep struct{}

func (policyStep) name() string { return "policy" }
func (policyStep) quick() bool  { return true }

func (policyStep) run(ctx context.Context, r *Runner, t *task, progress func(int, string)) error {
	j := &t.job
	if err := t.policy.admit(path.Base(j.Path), j.MIME, j.Size); err != nil {
		return err
	}
	// The quota first: the used bytes (a fresh read) only when there is
	// one.
	quota, err := r.tree.Quota(ctx, j.SpaceID)
	var used int64
	if err == nil && quota > 0 {
		used, quota, err = r.tree.Usage(ctx, j.SpaceID)
	}
	if errors.Is(err, space.ErrNotFound) {
		return errors.New("the space does not exist")
	}
	if err != nil {
		return fmt.Errorf("cannot read the space's usage: %w", err)
	}
	if quota > 0 {
		var replaced int64
		if n, err := r.tree.Stat(ctx, j.SpaceID, j.Path); err == nil && !n.IsDir {
			replaced = n.Size
		}
		if used-replaced+j.Size > quota {
			return fmt.Errorf("the space's quota would be exceeded (%d of %d bytes used, the file has %d)", used, quota, j.Size)
		}
	}
	progress(100, "accepted")
	return nil
}
