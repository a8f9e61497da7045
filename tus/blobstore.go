package tus

// Object-store mode (Config.Blobs; docs/scale-out.md, "tus in object-store
// mode"). Replicas share the database and the object store, not a
// directory: an upload's state is its row (no .info file) and its bytes
// are a staged upload of the store (an S3 multipart upload), which any
// replica may append to. Its key is made by space.Tree.NewObject at the
// creation and named by the row; the completion (CompleteUpload) puts the
// object there and the processing job installs it (Job.Blob).
//
// What S3 cannot take back is never handed to it unchecked: a chunk that
// carries an Upload-Checksum, or whose length is not announced (so that
// the quota may cut it), is first received into a temporary file of this
// replica's UploadsDir/tus and written to the store only once accepted.
// Other chunks stream to the store as they arrive.
//
// The row's offset and the store's may differ after a crash between a
// write to the store and the row's update: the store may then be ahead
// (never behind, unless it lost acknowledged bytes). The store is right:
// its bytes are a prefix of what the client sent. HEAD asks the store and
// brings the row to its offset; a PATCH at the row's stale offset is
// answered 409 once the row is corrected, so the client asks HEAD again.
// Bytes the row's digests do not cover cannot be read back from a staged
// upload, so the digests are then dropped and the processing's checksum
// step hashes the finished object once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/store"
)

// blobStore is tusd's data store in object-store mode. It offers the core,
// termination and deferred length; not concatenation (see route).
type blobStore struct{ h *Handler }

var (
	_ handler.DataStore               = (*blobStore)(nil)
	_ handler.TerminaterDataStore     = (*blobStore)(nil)
	_ handler.LengthDeferrerDataStore = (*blobStore)(nil)
)

// staged is the store's handle of upload rec's bytes.
func staged(rec store.Upload) blob.Upload {
	return blob.Upload{Key: rec.Blob, ID: rec.BlobUpload, Size: rec.BlobSize}
}

// NewUpload starts the staged upload of the row preCreate recorded: a new
// object key of the destination space, the store's upload, both named by
// the row before the client gets its 201.
func (s *blobStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	h := s.h
	ctx = context.WithoutCancel(ctx)
	rec, err := h.db.Upload(ctx, info.ID)
	if err != nil {
		return nil, fmt.Errorf("tus: new upload %s: %w", info.ID, err)
	}
	if rec.SpaceID == "" {
		return nil, errNoConcat
	}
	key, err := h.tree.NewObject(ctx, rec.SpaceID)
	if err != nil {
		return nil, fmt.Errorf("tus: new upload %s: %w", rec.ID, err)
	}
	up, err := h.blobs.CreateUpload(ctx, key, rec.Size)
	if err != nil {
		h.discard(ctx, key)
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, tusError(http.StatusRequestEntityTooLarge, "the object store does not take uploads of %d bytes", rec.Size)
		}
		return nil, fmt.Errorf("tus: new upload %s: %w", rec.ID, err)
	}
	err = h.db.Update(ctx, func(tx *store.Tx) error {
		return tx.SetUploadBlob(ctx, rec.ID, key, up.ID, up.Size, h.now())
	})
	if err != nil {
		if aerr := h.blobs.AbortUpload(ctx, up); aerr != nil {
			h.log.WarnContext(ctx, "cannot abort a staged upload; the janitor does", "upload_id", rec.ID, "err", aerr)
		}
		h.discard(ctx, key)
		return nil, fmt.Errorf("tus: new upload %s: %w", rec.ID, err)
	}
	rec.Blob, rec.BlobUpload, rec.BlobSize = key, up.ID, up.Size
	return &blobUpload{h: h, rec: rec}, nil
}

// GetUpload reads the upload's row. For HEAD, the offset is the store's
// (reconcile): the client resumes from what the store holds.
func (s *blobStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	h := s.h
	rec, err := h.db.Upload(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, handler.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("tus: get upload %s: %w", id, err)
	}
	if rec.Blob == "" {
		return nil, tusError(http.StatusGone, "the upload's storage could not be created; start the upload again")
	}
	if rq := requestFrom(ctx); rq != nil && rq.r.Method == http.MethodHead && rec.State == store.UploadReceiving {
		if rec, err = h.reconcile(ctx, rec); err != nil {
			return nil, err
		}
	}
	return &blobUpload{h: h, rec: rec}, nil
}

func (s *blobStore) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return blobTerminator{up.(*blobUpload)}
}

func (s *blobStore) AsLengthDeclarableUpload(up handler.Upload) handler.LengthDeclarableUpload {
	return blobDeclarer{up.(*blobUpload)}
}

// reconcile brings the row's offset to the store's (see the top of this
// file) and returns the row as it now is. A staged upload the store no
// longer has (completed, its job not yet submitted) leaves the row as is.
func (h *Handler) reconcile(ctx context.Context, rec store.Upload) (store.Upload, error) {
	ctx = context.WithoutCancel(ctx)
	off, err := h.blobs.UploadOffset(ctx, staged(rec))
	if errors.Is(err, blob.ErrNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("tus: offset of %s in the object store: %w", rec.ID, err)
	}
	if off == rec.Received {
		return rec, nil
	}
	if off < rec.Received {
		h.log.ErrorContext(ctx, "the object store holds fewer bytes of an upload than were acknowledged; the client resends them",
			"upload_id", rec.ID, "store", off, "recorded", rec.Received)
	} else {
		h.log.InfoContext(ctx, "upload offset taken from the object store (a write outlived its record)",
			"upload_id", rec.ID, "store", off, "recorded", rec.Received)
	}
	// The digests cover rec.Hashed bytes; the others cannot be read back:
	// the checksum step hashes the object instead.
	rec.Received, rec.Hashed, rec.SHA256State, rec.SHA1State = off, off, nil, nil
	err = h.db.Update(ctx, func(tx *store.Tx) error {
		return tx.SaveUploadProgress(ctx, rec.ID, off, off, nil, nil, rec.ExpiresAt, h.now())
	})
	if err != nil {
		return rec, fmt.Errorf("tus: record the offset of %s: %w", rec.ID, err)
	}
	return rec, nil
}

// blobUpload is one upload in object-store mode: its row.
type blobUpload struct {
	h  *Handler
	mu sync.Mutex
	// rec is the row as this request knows it; Received is its offset.
	rec store.Upload
}

func (u *blobUpload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	info := handler.FileInfo{ID: u.rec.ID, Size: u.rec.Size, Offset: u.rec.Received,
		Storage: map[string]string{"Type": "wharf-object", "Key": u.rec.Blob}}
	if u.rec.Size < 0 {
		info.Size, info.SizeIsDeferred = 0, true
	}
	return info, nil
}

func (u *blobUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload does nothing: submit completes the staged upload, under the
// upload's lock, when it hands the upload to processing.
func (u *blobUpload) FinishUpload(ctx context.Context) error { return nil }

// WriteChunk appends src at offset to the staged upload, counting the
// bytes against the quota and the user's cap, feeding the digests and the
// progress events, and records the new offset and digest states. A chunk
// with an Upload-Checksum, or of unannounced length, is received into a
// temporary file first (spool) and written only once accepted: a mismatch
// (460), a body cut short, or one past what fits (413/507) leaves the
// upload unchanged.
func (u *blobUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	h := u.h
	rq := requestFrom(ctx)
	ctx = context.WithoutCancel(ctx)
	u.mu.Lock()
	id := u.rec.ID
	u.mu.Unlock()
	rec, err := h.db.Upload(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("tus: write to %s: %w", id, err)
	}
	want := int64(-1)
	if rq != nil && rq.r.ContentLength >= 0 {
		want = rq.r.ContentLength
	}
	limit, tooMuch, err := h.reserve(ctx, rec, offset, want)
	if err != nil {
		return 0, err
	}
	defer h.release(id)
	progress := h.progressOf(rq, rec, offset)

	var body io.Reader
	var received error // a spooled body's error, reported once its bytes are kept
	if (rq != nil && rq.sum != nil) || want < 0 {
		f, n, err := h.spool(rq, src, limit, want, tooMuch, progress)
		if f != nil {
			defer func() { f.Close(); os.Remove(f.Name()) }()
		}
		if n == 0 {
			progress.End(offset, false)
			return 0, err
		}
		body, received = io.LimitReader(f, n), err
	} else {
		// Announced and within the limits: straight to the store.
		body = io.TeeReader(&io.LimitedReader{R: src, N: limit}, progress)
	}
	n, err := u.write(ctx, rec, offset, body, progress)
	if err == nil {
		err = received
	}
	return n, err
}

// spool receives up to limit bytes of src into a temporary file and
// checks them: it returns the file (positioned at its start) and how many
// of its bytes may be kept, with the error to report. n == 0 with an error:
// nothing is kept.
func (h *Handler) spool(rq *request, src io.Reader, limit, want int64, tooMuch error, progress *events.Progress) (*os.File, int64, error) {
	f, err := os.CreateTemp(h.dir, "chunk-")
	if err != nil {
		return nil, 0, diskFull(fmt.Errorf("tus: receive a chunk: %w", err))
	}
	ws := []io.Writer{f, progress}
	var chunk hash.Hash
	if rq != nil && rq.sum != nil {
		chunk = newDigest(rq.sum.algo)
		ws = append(ws, chunk)
	}
	body := &io.LimitedReader{R: src, N: limit}
	n, err := io.Copy(io.MultiWriter(ws...), body)
	over := err == nil && body.N == 0 && moreIn(src)
	switch {
	case over:
		return f, 0, tooMuch
	case chunk != nil:
		// tusd's body reader hides a body cut short: compare with the
		// announced length.
		if want >= 0 && n < want || err != nil {
			return f, 0, err
		}
		if !bytes.Equal(chunk.Sum(nil), rq.sum.sum) {
			return f, 0, errChecksumMismatch
		}
	}
	if _, serr := f.Seek(0, io.SeekStart); serr != nil {
		return f, 0, serr
	}
	return f, n, diskFull(err)
}

// write appends body at offset to rec's staged upload and records the
// result.
func (u *blobUpload) write(ctx context.Context, rec store.Upload, offset int64, body io.Reader, progress *events.Progress) (int64, error) {
	h := u.h
	d, err := resumeDigests(rec, "", offset)
	if err != nil {
		d = nil // the row's digests do not cover offset: see the top of this file
	}
	tee := &countingReader{r: body}
	if d != nil {
		if ws := d.writers(); len(ws) > 0 {
			tee.w = io.MultiWriter(ws...)
		}
	}
	n, werr := h.blobs.WriteUpload(ctx, staged(rec), offset, tee)
	if errors.Is(werr, blob.ErrOffset) {
		// The row is behind the store (a write outlived its record):
		// correct it and let the client ask HEAD.
		if _, err := h.reconcile(ctx, rec); err != nil {
			h.log.ErrorContext(ctx, "cannot reconcile the upload offset", "upload_id", rec.ID, "err", err)
		}
		progress.End(offset, false)
		return 0, handler.ErrMismatchOffset
	}
	if errors.Is(werr, blob.ErrTooLarge) {
		werr = tusError(http.StatusRequestEntityTooLarge, "more bytes than the upload's length")
	}
	end := offset + n
	progress.End(end, rec.Size >= 0 && end == rec.Size)
	if n == 0 {
		return 0, werr
	}
	var s256, s1 []byte
	if d != nil && tee.n == n {
		d.covered = end
		if s256, s1, err = d.states(); err != nil {
			s256, s1 = nil, nil
		}
	} else if d != nil && len(d.writers()) > 0 {
		// The store kept other bytes than those hashed (it read ahead
		// of a failure): the checksum step hashes the object instead.
		h.log.InfoContext(ctx, "upload digests dropped; processing hashes the object", "upload_id", rec.ID)
	}
	now := h.now()
	merr := h.db.Update(ctx, func(tx *store.Tx) error {
		return tx.SaveUploadProgress(ctx, rec.ID, end, end, s256, s1, now.Add(h.expiry), now)
	})
	if merr != nil {
		// The bytes are in the store; HEAD takes the store's offset.
		h.log.ErrorContext(ctx, "cannot record upload progress", "upload_id", rec.ID, "err", merr)
	}
	u.mu.Lock()
	u.rec.Received = end
	u.mu.Unlock()
	return n, werr
}

// countingReader counts what it reads and copies it to w, if set.
type countingReader struct {
	r io.Reader
	w io.Writer
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.w != nil {
			c.w.Write(p[:n])
		}
	}
	return n, err
}

// blobTerminator ends the upload: its staged bytes, its object key and its
// row.
type blobTerminator struct{ u *blobUpload }

func (t blobTerminator) Terminate(ctx context.Context) error {
	t.u.h.removeUpload(context.WithoutCancel(ctx), t.u.rec.ID)
	return nil
}

// blobDeclarer records a deferred length. The staged upload keeps the
// size it was created with (BlobSize).
type blobDeclarer struct{ u *blobUpload }

func (d blobDeclarer) DeclareLength(ctx context.Context, length int64) error {
	if err := d.u.h.declareLength(ctx, d.u.rec.ID, length); err != nil {
		return err
	}
	d.u.mu.Lock()
	d.u.rec.Size = length
	d.u.mu.Unlock()
	return nil
}

// errNoConcat refuses concatenation in object-store mode: the parts would
// be separate staged uploads, and the store's contract has no way to join
// them without copying their bytes.
var errNoConcat = tusError(http.StatusBadRequest,
	"this server keeps uploads in an object store and does not offer the concatenation extension (Upload-Concat)")

// errStagedLost: the staged upload and the object are both gone.
var errStagedLost = errors.New("the upload's bytes are no longer in the object store")

// completeStaged completes rec's staged upload (again, after a crash: the
// store then returns the object it made) and returns the object's size
// and the digests, "" where they do not cover it.
func (h *Handler) completeStaged(ctx context.Context, rec store.Upload) (size int64, sha256, sha1 string, err error) {
	info, err := h.blobs.CompleteUpload(ctx, staged(rec))
	if errors.Is(err, blob.ErrNotFound) {
		return 0, "", "", errStagedLost
	}
	if err != nil {
		return 0, "", "", err
	}
	if rec.Size >= 0 && info.Size != rec.Size {
		return 0, "", "", fmt.Errorf("the object holds %d bytes, the upload %d", info.Size, rec.Size)
	}
	if rec.Hashed == info.Size {
		if d, err := resumeDigests(rec, "", info.Size); err == nil {
			sha256, sha1 = d.sums()
		}
	}
	return info.Size, sha256, sha1, nil
}

// removeStaged deletes an upload's row and, while it is receiving (its
// object not yet handed to processing), its staged bytes and object.
func (h *Handler) removeStaged(ctx context.Context, id string) {
	rec, err := h.db.Upload(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		h.log.ErrorContext(ctx, "cannot read upload record", "upload_id", id, "err", err)
		return
	}
	owned := rec.Blob != "" && rec.State == store.UploadReceiving
	if owned {
		if err := h.blobs.AbortUpload(ctx, staged(rec)); err != nil {
			// The janitor's AbortUploadsBefore takes it later.
			h.log.WarnContext(ctx, "cannot abort a staged upload", "upload_id", id, "err", err)
		}
	}
	err = h.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteUpload(ctx, id) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.ErrorContext(ctx, "cannot delete upload record", "upload_id", id, "err", err)
		return
	}
	if owned {
		h.discard(ctx, rec.Blob)
	}
}

// discard lets go of an object key made for an upload (and of the object,
// if a completion made it). What fails is the collector's.
func (h *Handler) discard(ctx context.Context, key string) {
	if err := h.tree.DiscardObject(ctx, key); err != nil {
		h.log.WarnContext(ctx, "cannot discard an upload's object; the collector does", "key", key, "err", err)
	}
}

// stagedMargin is how much older than every upload still receiving a
// staged upload must be before the janitor aborts it as abandoned: the
// store's clock and the replicas' may differ.
const stagedMargin = time.Hour

// abortAbandoned aborts the store's staged uploads that no upload still
// receiving can own: started before the oldest such upload's creation and
// before the expiry (less a margin for clocks). A crash between
// CreateUpload and the row naming it leaves these.
func (h *Handler) abortAbandoned(ctx context.Context, now time.Time) {
	before := now.Add(-h.expiry)
	receiving, err := h.db.UploadsIn(ctx, store.UploadReceiving)
	if err != nil {
		h.log.ErrorContext(ctx, "cannot list receiving uploads", "err", err)
		return
	}
	for _, u := range receiving {
		if u.CreatedAt.Before(before) {
			before = u.CreatedAt
		}
	}
	n, err := h.blobs.AbortUploadsBefore(ctx, before.Add(-stagedMargin))
	if err != nil {
		h.log.ErrorContext(ctx, "cannot abort abandoned staged uploads", "err", err)
	}
	if n > 0 {
		h.log.InfoContext(ctx, "abandoned staged uploads aborted", "count", n)
	}
}

// removeSpools deletes chunk files of this replica that no request has
// written to for a while (a crash during a spool).
func (h *Handler) removeSpools(ctx context.Context, entries []os.DirEntry) {
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "chunk-") {
			continue
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < 10*time.Minute {
			continue
		}
		if err := os.Remove(h.binPath(e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			h.log.WarnContext(ctx, "cannot remove a chunk file", "path", e.Name(), "err", err)
		}
	}
}
