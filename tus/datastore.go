package tus

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/internal/diskio"
	"github.com/wharfhq/wharf/store"
)

// checksumAlgorithms is the Tus-Checksum-Algorithm Wharf advertises.
const checksumAlgorithms = "sha1,md5,sha256"

var digestSizes = map[string]int{"sha1": sha1.Size, "md5": md5.Size, "sha256": sha256.Size}

func newDigest(algo string) hash.Hash {
	switch algo {
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	case "sha256":
		return sha256.New()
	}
	panic("tus: unknown digest " + algo)
}

// chunkSum is an Upload-Checksum: the digest of one request's body.
type chunkSum struct {
	algo string
	sum  []byte
}

// parseChunkSum parses an Upload-Checksum header ("" gives nil).
func parseChunkSum(v string) (*chunkSum, error) {
	if v == "" {
		return nil, nil
	}
	algo, val, ok := strings.Cut(strings.TrimSpace(v), " ")
	algo = strings.ToLower(algo)
	n, known := digestSizes[algo]
	if !ok || !known {
		return nil, fmt.Errorf("Upload-Checksum %q: the algorithm must be one of %s", v, checksumAlgorithms)
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
	if err != nil || len(sum) != n {
		return nil, fmt.Errorf("Upload-Checksum %q: not a base64 %s", v, algo)
	}
	return &chunkSum{algo: algo, sum: sum}, nil
}

// errChecksumMismatch is the checksum extension's 460.
var errChecksumMismatch = handler.NewError("ERR_CHECKSUM_MISMATCH", "the body does not match its Upload-Checksum", 460)

// dataStore is tusd's filestore with Wharf's WriteChunk: digests, checksum
// verification, fsync and progress in SQLite. The other abilities are the
// filestore's, on the unwrapped uploads.
type dataStore struct {
	fs filestore.FileStore
	h  *Handler
}

var (
	_ handler.DataStore               = (*dataStore)(nil)
	_ handler.TerminaterDataStore     = (*dataStore)(nil)
	_ handler.ConcaterDataStore       = (*dataStore)(nil)
	_ handler.LengthDeferrerDataStore = (*dataStore)(nil)
)

func (s *dataStore) wrap(ctx context.Context, up handler.Upload) (handler.Upload, error) {
	info, err := up.GetInfo(ctx)
	if err != nil {
		return nil, err
	}
	return &upload{Upload: up, h: s.h, id: info.ID, offset: info.Offset}, nil
}

func (s *dataStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	up, err := s.fs.NewUpload(ctx, info)
	if err != nil {
		return nil, diskFull(err) // the .info file could not be written
	}
	return s.wrap(ctx, up)
}

func (s *dataStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	up, err := s.fs.GetUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.wrap(ctx, up)
}

func (s *dataStore) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return terminator{up.(*upload)}
}

func (s *dataStore) AsConcatableUpload(up handler.Upload) handler.ConcatableUpload {
	return concater{s, up.(*upload)}
}

func (s *dataStore) AsLengthDeclarableUpload(up handler.Upload) handler.LengthDeclarableUpload {
	return declarer{s, up.(*upload)}
}

// upload is one filestore upload with Wharf's WriteChunk.
type upload struct {
	handler.Upload
	h  *Handler
	id string

	mu     sync.Mutex
	offset int64 // the file's length as this upload knows it
}

func (u *upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	info, err := u.Upload.GetInfo(ctx)
	u.mu.Lock()
	info.Offset = u.offset
	u.mu.Unlock()
	return info, err
}

// WriteChunk appends src at offset (the file's length), feeding the bytes
// to the upload's digests and, if the request has an Upload-Checksum, to
// that digest; fsyncs; and records the new offset and digest states. A body
// that does not match its Upload-Checksum, or that ends early when one was
// given, is cut off again (460 for a mismatch).
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	rq := requestFrom(ctx)
	// The request may be gone (the client paused): what was received is
	// kept and recorded all the same.
	ctx = context.WithoutCancel(ctx)
	rec, err := u.h.db.Upload(ctx, u.id)
	if err != nil {
		return 0, fmt.Errorf("tus: write to %s: %w", u.id, err)
	}
	// The bytes count against the user's pending cap and the space's quota
	// as they arrive: a body announced too large is refused before it is
	// read, one of unknown length is read up to what fits.
	want := int64(-1)
	if rq != nil && rq.r.ContentLength >= 0 {
		want = rq.r.ContentLength
	}
	limit, tooMuch, err := u.h.reserve(ctx, rec, offset, want)
	if err != nil {
		return 0, err
	}
	defer u.h.release(u.id)
	bin := u.h.binPath(u.id)
	d, err := resumeDigests(rec, bin, offset)
	if err != nil {
		return 0, fmt.Errorf("tus: write to %s: %w", u.id, err)
	}
	f, err := os.OpenFile(bin, os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("tus: write to %s: %w", u.id, err)
	}
	hashers := d.writers()
	var chunk hash.Hash
	if rq != nil && rq.sum != nil {
		if offset == 0 {
			// A chunk from byte 0 is the same stream as the whole file:
			// its digest, if the file's is computed, is the chunk's.
			chunk = d.digest(rq.sum.algo)
		}
		if chunk == nil {
			chunk = newDigest(rq.sum.algo)
			hashers = append(hashers, chunk)
		}
	}
	progress := u.h.progressOf(rq, rec, offset)
	if progress != nil {
		hashers = append(hashers, progress)
	}
	body := &io.LimitedReader{R: src, N: limit}
	n, err := diskio.Copy(f, offset, body, hashers...)
	// More than fits: nothing of this body is kept.
	over := err == nil && body.N == 0 && moreIn(src)
	cut, mismatch := over, false
	if chunk != nil && !over {
		// tusd's body reader hides a body cut short: compare with the
		// announced length.
		short := rq.r.ContentLength >= 0 && n < rq.r.ContentLength
		mismatch = !short && err == nil && !bytes.Equal(chunk.Sum(nil), rq.sum.sum)
		cut = short || err != nil || mismatch
	}
	if cut {
		progress.End(offset, false)
		terr := f.Truncate(offset)
		if terr == nil {
			terr = f.Sync()
		}
		f.Close()
		switch {
		case terr != nil:
			return n, fmt.Errorf("tus: cut %s back to %d: %w", u.id, offset, terr)
		case mismatch:
			return 0, errChecksumMismatch
		case over:
			return 0, tooMuch
		}
		return 0, err
	}
	// Durable before it is acknowledged, and before the digests say they
	// cover it.
	serr := f.Sync()
	if cerr := f.Close(); serr == nil {
		serr = cerr
	}
	if serr != nil {
		return n, fmt.Errorf("tus: write to %s: %w", u.id, serr)
	}
	u.mu.Lock()
	u.offset = offset + n
	u.mu.Unlock()
	progress.End(offset+n, rec.Size >= 0 && offset+n == rec.Size)
	d.covered = offset + n
	now := u.h.now()
	s256, s1, merr := d.states()
	if merr == nil {
		merr = u.h.db.Update(ctx, func(tx *store.Tx) error {
			return tx.SaveUploadProgress(ctx, u.id, offset+n, d.covered, s256, s1, now.Add(u.h.expiry), now)
		})
	}
	if merr != nil {
		// The bytes are safe; the next chunk or the end hashes the tail
		// again.
		u.h.log.ErrorContext(ctx, "cannot record upload progress", "upload_id", u.id, "err", merr)
	}
	return n, diskFull(err)
}

// moreIn reports whether r has at least one more byte.
func moreIn(r io.Reader) bool {
	var b [1]byte
	n, _ := io.ReadFull(r, b[:])
	return n > 0
}

// digests are an upload's running whole-file digests.
type digests struct {
	sha256, sha1 hash.Hash // nil: not computed
	covered      int64     // bytes fed
}

// digest is the whole-file digest for algo, or nil if it is not computed.
func (d *digests) digest(algo string) hash.Hash {
	switch algo {
	case "sha256":
		return d.sha256
	case "sha1":
		return d.sha1
	}
	return nil
}

func (d *digests) writers() []io.Writer {
	var ws []io.Writer
	for _, h := range []hash.Hash{d.sha256, d.sha1} {
		if h != nil {
			ws = append(ws, h)
		}
	}
	return ws
}

func (d *digests) states() (s256, s1 []byte, err error) {
	if d.sha256 != nil {
		if s256, err = d.sha256.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return nil, nil, err
		}
	}
	if d.sha1 != nil {
		if s1, err = d.sha1.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return nil, nil, err
		}
	}
	return s256, s1, nil
}

func (d *digests) sums() (s256, s1 string) {
	if d.sha256 != nil {
		s256 = hex.EncodeToString(d.sha256.Sum(nil))
	}
	if d.sha1 != nil {
		s1 = hex.EncodeToString(d.sha1.Sum(nil))
	}
	return s256, s1
}

// resumeDigests restores an upload's digests from its row and brings them
// to offset: the bytes between what the row covers and offset (written
// before a crash, after the last recorded chunk) are read from the file;
// nothing else is. If the row covers more than offset (the file lost bytes
// it had acknowledged: the disk lied), it starts over from byte 0.
func resumeDigests(rec store.Upload, bin string, offset int64) (*digests, error) {
	d := &digests{covered: rec.Hashed}
	restore := func(state []byte, algo string) (hash.Hash, error) {
		if state == nil {
			return nil, nil
		}
		h := newDigest(algo)
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("restore %s state: %w", algo, err)
		}
		return h, nil
	}
	var err error
	if d.sha256, err = restore(rec.SHA256State, "sha256"); err != nil {
		return nil, err
	}
	if d.sha1, err = restore(rec.SHA1State, "sha1"); err != nil {
		return nil, err
	}
	ws := d.writers()
	if len(ws) == 0 || d.covered == offset {
		d.covered = offset
		return d, nil
	}
	if d.covered > offset {
		for _, h := range []hash.Hash{d.sha256, d.sha1} {
			if h != nil {
				h.Reset()
			}
		}
		d.covered = 0
	}
	f, err := os.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(d.covered, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.MultiWriter(ws...), f, offset-d.covered); err != nil {
		return nil, fmt.Errorf("hash the tail of %s: %w", bin, err)
	}
	d.covered = offset
	return d, nil
}

// terminator removes the upload's row with its files.
type terminator struct{ u *upload }

func (t terminator) Terminate(ctx context.Context) error {
	t.u.h.removeUpload(context.WithoutCancel(ctx), t.u.id)
	return nil
}

// concater unwraps the partial uploads for the filestore.
type concater struct {
	s *dataStore
	u *upload
}

func (c concater) ConcatUploads(ctx context.Context, partials []handler.Upload) error {
	inner := make([]handler.Upload, len(partials))
	for i, p := range partials {
		inner[i] = p.(*upload).Upload
	}
	if err := c.s.fs.AsConcatableUpload(c.u.Upload).ConcatUploads(ctx, inner); err != nil {
		return err
	}
	f, err := os.OpenFile(c.u.h.binPath(c.u.id), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	serr := f.Sync()
	if cerr := f.Close(); serr == nil {
		serr = cerr
	}
	return serr
}

// declarer records a deferred length, refusing one over the quota.
type declarer struct {
	s *dataStore
	u *upload
}

func (d declarer) DeclareLength(ctx context.Context, length int64) error {
	if err := d.u.h.declareLength(ctx, d.u.id, length); err != nil {
		return err
	}
	return d.s.fs.AsLengthDeclarableUpload(d.u.Upload).DeclareLength(ctx, length)
}

// declareLength records the deferred length of upload id, refusing one
// over the user's cap or the space's quota.
func (h *Handler) declareLength(ctx context.Context, id string, length int64) error {
	ctx = context.WithoutCancel(ctx)
	rec, err := h.db.Upload(ctx, id)
	if err != nil {
		return fmt.Errorf("tus: declare length of %s: %w", id, err)
	}
	if length > h.maxPending {
		return tusError(http.StatusRequestEntityTooLarge, "the upload is larger than your unfinished uploads may hold, %d bytes", h.maxPending)
	}
	if rec.SpaceID != "" {
		sp, err := h.tree.Space(ctx, rec.SpaceID)
		if err != nil {
			return fmt.Errorf("tus: declare length of %s: %w", id, err)
		}
		if sp.QuotaBytes > 0 {
			pending, err := h.db.PendingUploadBytes(ctx, rec.SpaceID, rec.ID)
			if err != nil {
				return fmt.Errorf("tus: declare length of %s: %w", id, err)
			}
			if free := sp.QuotaBytes - sp.UsedBytes - pending; length > free {
				return tusError(http.StatusInsufficientStorage, "not enough room in space %q: %d bytes needed, %d free",
					rec.SpaceID, length, max(free, 0))
			}
		}
	}
	if err := h.db.Update(ctx, func(tx *store.Tx) error { return tx.SetUploadSize(ctx, id, length, h.now()) }); err != nil {
		return fmt.Errorf("tus: declare length of %s: %w", id, err)
	}
	return nil
}
