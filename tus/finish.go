package tus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/store"
)

// retryAfter is what a 423 asks clients to wait, in seconds.
const retryAfter = "2"

// preFinish runs when an upload's last byte is in, with tusd's lock held:
// it only records the upload as processing and submits its job. The answer
// is decided by dispatch once the lock is released. It never fails the
// request: a failed submission is answered 423 and retried by HEAD.
func (h *Handler) preFinish(ev handler.HookEvent) (handler.HTTPResponse, error) {
	if ev.Upload.IsPartial {
		return handler.HTTPResponse{}, nil
	}
	rq := requestFrom(ev.Context)
	ctx := context.WithoutCancel(ev.Context)
	if rq != nil && rq.rec.ID != "" {
		// A PATCH: the caller may have lost the right to write while its
		// body arrived. (A creation was checked a moment ago.)
		if err := h.authorize(ctx, rq.p, rq.rec); err != nil {
			return handler.HTTPResponse{}, err
		}
	}
	u, err := h.submit(ctx, ev.Upload.ID, ev.Upload.PartialUploads)
	if rq != nil {
		if err != nil {
			rq.submitErr = err
		} else {
			rq.done = &u
		}
	}
	if err != nil {
		h.log.Error("cannot submit finished upload", "upload_id", ev.Upload.ID, "err", err)
	}
	return handler.HTTPResponse{}, nil
}

// submit moves a receiving upload whose bytes are all in to processing and
// submits its job; the caller holds the upload's lock (or is tusd's
// callback, which does). If the job cannot be submitted the upload goes
// back to receiving, so that the next HEAD or PATCH tries again. partials
// are the uploads concatenated into it, removed once the job is submitted.
func (h *Handler) submit(ctx context.Context, id string, partials []string) (store.Upload, error) {
	u, err := h.db.Upload(ctx, id)
	if err != nil {
		return store.Upload{}, fmt.Errorf("tus: submit %s: %w", id, err)
	}
	if u.State != store.UploadReceiving {
		return u, nil
	}
	bin := h.binPath(id)
	var size int64
	var objSHA256, objSHA1 string
	if h.blobs != nil {
		// Object-store mode: the staged upload becomes the object the
		// job installs; the job has no staged file.
		if size, objSHA256, objSHA1, err = h.completeStaged(ctx, u); err != nil {
			return store.Upload{}, fmt.Errorf("tus: submit %s: %w", id, err)
		}
		bin = ""
	} else {
		fi, err := os.Stat(bin)
		if err != nil {
			return store.Upload{}, fmt.Errorf("tus: submit %s: %w", id, err)
		}
		size = fi.Size()
	}
	job := postproc.Job{
		ID: id, Space: u.SpaceID, Path: u.Path, Staged: bin, Size: size,
		UserID: u.UserID, MTime: u.MTime, Expect: parseExpect(u.Expect),
	}
	if h.blobs != nil {
		job.Blob = u.Blob
	}
	if user, err := h.db.UserByID(ctx, u.UserID); err == nil {
		job.User = user.Name
	}
	if u.LinkID != "" {
		// Made through a drop link: the link is the author (its row
		// names the creator, who is job.UserID).
		job.User = "link:" + u.LinkID
		// A drop link only adds files: a file of the name that arrived
		// since the creation is not replaced (the job fails instead).
		job.Put.IfNoneMatch = "*"
	}
	if h.blobs != nil {
		job.SHA256, job.SHA1 = objSHA256, objSHA1
	} else if len(partials) == 0 {
		// The digests cover what WriteChunk saw; only a tail written
		// before a crash is read again. A concatenated upload had no
		// WriteChunk: the pipeline's checksum step reads it once.
		d, err := resumeDigests(u, bin, size)
		if err != nil {
			return store.Upload{}, fmt.Errorf("tus: submit %s: %w", id, err)
		}
		job.SHA256, job.SHA1 = d.sums()
	}
	u.State, u.Received = store.UploadProcessing, size
	if u.Size < 0 {
		u.Size = size
	}
	now := h.now()
	// The upload is processing exactly when its job is recorded.
	job.Record = func(tx *store.Tx) error { return tx.SetUploadState(ctx, u, now) }
	if err := h.pipe.Submit(ctx, job); err != nil {
		return store.Upload{}, fmt.Errorf("tus: submit %s: %w", id, err)
	}
	h.publish(events.Event{Type: events.UploadCompleted, Space: u.SpaceID, Path: u.Path, Upload: id, User: job.User, Size: size})
	for _, p := range partials {
		h.removeUpload(ctx, p)
	}
	return u, nil
}

// answerFinal answers the request that delivered an upload's last byte,
// after tusd has released the lock: 204 once processed, 422 if rejected,
// 202 at once with Prefer: respond-async or after ProcessingWait.
func (h *Handler) answerFinal(w http.ResponseWriter, r *http.Request, u store.Upload) {
	// tusd set a write deadline of 2×NetworkTimeout; processing may take
	// longer than that.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.log.WarnContext(r.Context(), "cannot clear the write deadline", "upload_id", u.ID, "err", err)
	}
	if prefersAsync(r) {
		h.writeAccepted(w, r, u.ID, true)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.wait)
	defer cancel()
	st, err := h.pipe.Wait(ctx, u.ID)
	var rej *postproc.RejectedError
	switch {
	case err == nil:
		u = h.record(r.Context(), u, st, nil)
		h.writeRecord(w, r, http.MethodPatch, u)
	case errors.As(err, &rej):
		u = h.record(r.Context(), u, st, rej)
		h.writeRejected(w, u)
	default:
		if ctx.Err() == nil {
			h.log.ErrorContext(r.Context(), "cannot wait for processing", "upload_id", u.ID, "err", err)
		}
		h.writeAccepted(w, r, u.ID, false)
	}
}

// prefersAsync reports whether r carries Prefer: respond-async.
func prefersAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			p, _, _ = strings.Cut(p, ";")
			if strings.EqualFold(strings.TrimSpace(p), "respond-async") {
				return true
			}
		}
	}
	return false
}

func (h *Handler) writeAccepted(w http.ResponseWriter, r *http.Request, id string, applied bool) {
	hdr := w.Header()
	hdr.Set("Tus-Resumable", "1.0.0")
	hdr.Set("Progress-Location", postproc.ProgressURL(id))
	if applied {
		hdr.Set("Preference-Applied", "respond-async")
	}
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"id": id, "state": "processing", "progress": postproc.ProgressURL(id)})
}

// writeRejected answers the final PATCH of a rejected upload: 422, with the
// Upload-Offset of every tus answer (all the bytes were received).
func (h *Handler) writeRejected(w http.ResponseWriter, u store.Upload) {
	hdr := w.Header()
	hdr.Set("Tus-Resumable", "1.0.0")
	hdr.Set("Upload-Offset", strconv.FormatInt(u.Size, 10))
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnprocessableEntity)
	json.NewEncoder(w).Encode(map[string]string{"error": u.Error, "step": u.Step})
}

func (h *Handler) writeLocked(w http.ResponseWriter, r *http.Request, id, msg string) {
	w.Header().Set("Retry-After", retryAfter)
	if id != "" {
		w.Header().Set("Progress-Location", postproc.ProgressURL(id))
	}
	h.writeError(w, r, http.StatusLocked, msg)
}

// record keeps the final state of a job in the upload's row.
func (h *Handler) record(ctx context.Context, u store.Upload, st postproc.Status, rej *postproc.RejectedError) store.Upload {
	switch {
	case rej != nil:
		u.State, u.Step, u.Error = store.UploadRejected, rej.Step, rej.Reason
	case st.State == postproc.Rejected:
		u.State, u.Step, u.Error = store.UploadRejected, st.Step, st.Error
	default:
		u.State, u.NodeID, u.ETag = store.UploadDone, st.FileID, st.ETag
	}
	ctx = context.WithoutCancel(ctx)
	if err := h.db.Update(ctx, func(tx *store.Tx) error { return tx.SetUploadState(ctx, u, h.now()) }); err != nil {
		h.log.ErrorContext(ctx, "cannot record processing result", "upload_id", u.ID, "err", err)
	}
	h.removeFiles(u.ID, false)
	return u
}

// refresh brings a processing upload's row up to date with its job: final
// states are recorded, and a job the pipeline does not know (lost between
// the row and the submission) is submitted again.
func (h *Handler) refresh(ctx context.Context, u store.Upload) store.Upload {
	if u.State != store.UploadProcessing {
		return u
	}
	st, err := h.pipe.Status(ctx, u.ID)
	switch {
	case errors.Is(err, postproc.ErrUnknownJob):
		if h.bytesGone(u) {
			// Nothing left to process: the job and its bytes are gone.
			u = h.record(ctx, u, postproc.Status{}, &postproc.RejectedError{Step: "upload", Reason: "the upload's processing job was lost; upload the file again"})
			break
		}
		if err := h.withLock(ctx, u.ID, func() error {
			back := u
			back.State = store.UploadReceiving
			if err := h.db.Update(ctx, func(tx *store.Tx) error { return tx.SetUploadState(ctx, back, h.now()) }); err != nil {
				return err
			}
			var err error
			u, err = h.submit(ctx, u.ID, nil)
			return err
		}); errors.Is(err, errStagedLost) {
			u = h.record(ctx, u, postproc.Status{}, &postproc.RejectedError{Step: "upload", Reason: "the upload's processing job was lost; upload the file again"})
		} else if err != nil {
			h.log.ErrorContext(ctx, "cannot resubmit upload", "upload_id", u.ID, "err", err)
		}
	case err != nil:
		h.log.ErrorContext(ctx, "cannot get processing status", "upload_id", u.ID, "err", err)
	case st.State.Final():
		u = h.record(ctx, u, st, nil)
	}
	return u
}

// answerFromRecord answers HEAD and PATCH for an upload whose bytes are all
// in: 423 while processing, 410 once rejected, offset = length once done.
func (h *Handler) answerFromRecord(w http.ResponseWriter, r *http.Request, method string, u store.Upload) {
	u = h.refresh(r.Context(), u)
	h.writeRecord(w, r, method, u)
}

func (h *Handler) writeRecord(w http.ResponseWriter, r *http.Request, method string, u store.Upload) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	switch u.State {
	case store.UploadDone:
		hdr.Set("Tus-Resumable", "1.0.0")
		hdr.Set("Upload-Offset", strconv.FormatInt(u.Size, 10))
		if u.ETag != "" {
			hdr.Set("ETag", u.ETag)
			hdr.Set("OC-ETag", u.ETag)
		}
		if u.NodeID != 0 {
			hdr.Set("OC-FileId", strconv.FormatInt(u.NodeID, 10))
		}
		if method == http.MethodHead {
			hdr.Set("Upload-Length", strconv.FormatInt(u.Size, 10))
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case store.UploadRejected:
		h.writeError(w, r, http.StatusGone, fmt.Sprintf("the upload was rejected by the %s step: %s", u.Step, u.Error))
	default:
		h.writeLocked(w, r, u.ID, "the upload is being processed")
	}
}

// recover handles a receiving upload whose bytes are all in: it submits
// the job (under the upload's lock) and answers from the record.
func (h *Handler) recover(w http.ResponseWriter, r *http.Request, method string, rec store.Upload) {
	id := rec.ID
	// Submitting is writing: the caller must still be allowed to.
	if err := h.authorize(r.Context(), auth.FromContext(r.Context()), rec); err != nil {
		h.refuse(w, r, err)
		return
	}
	var u store.Upload
	err := h.withLock(r.Context(), id, func() error {
		var err error
		u, err = h.submit(r.Context(), id, nil)
		return err
	})
	if err != nil {
		h.log.ErrorContext(r.Context(), "cannot submit finished upload", "upload_id", id, "err", err)
		h.writeLocked(w, r, id, "the upload is complete but could not be queued for processing yet")
		return
	}
	h.writeRecord(w, r, method, h.refresh(r.Context(), u))
}

// withLock runs fn holding tusd's lock on upload id, waiting for it at most
// a second.
func (h *Handler) withLock(ctx context.Context, id string, fn func() error) error {
	lock, err := h.locker.NewLock(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := lock.Lock(ctx, func() {}); err != nil {
		return fmt.Errorf("lock upload %s: %w", id, err)
	}
	defer lock.Unlock()
	return fn()
}

// deleteFinished answers DELETE for an upload whose bytes are all in: 423
// while processing; once done or rejected the record is forgotten.
func (h *Handler) deleteFinished(w http.ResponseWriter, r *http.Request, u store.Upload) {
	if u = h.refresh(r.Context(), u); u.State == store.UploadProcessing {
		h.writeLocked(w, r, u.ID, "the upload is being processed")
		return
	}
	h.removeUpload(r.Context(), u.ID)
	w.Header().Set("Tus-Resumable", "1.0.0")
	w.WriteHeader(http.StatusNoContent)
}

// removeUpload deletes an upload's files and row (in object-store mode,
// its staged bytes and unused object key).
func (h *Handler) removeUpload(ctx context.Context, id string) {
	if h.blobs != nil {
		h.removeStaged(ctx, id)
		return
	}
	h.removeFiles(id, true)
	err := h.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteUpload(ctx, id) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.ErrorContext(ctx, "cannot delete upload record", "upload_id", id, "err", err)
	}
}

// removeFiles deletes an upload's .info file and, if bin, its bytes.
func (h *Handler) removeFiles(id string, bin bool) {
	names := []string{h.binPath(id) + ".info"}
	if bin {
		names = append(names, h.binPath(id))
	}
	for _, n := range names {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			h.log.Warn("cannot remove upload file", "upload_id", id, "path", n, "err", err)
		}
	}
}

func (h *Handler) binPath(id string) string { return h.dir + "/" + id }

// bytesGone reports whether nothing is left of a processing upload's bytes
// for a new submission: no file (no object key in object-store mode; a
// key whose object is gone too is found by the submission).
func (h *Handler) bytesGone(u store.Upload) bool {
	if h.blobs != nil {
		return u.Blob == ""
	}
	_, err := os.Stat(h.binPath(u.ID))
	return err != nil
}

func (h *Handler) publish(e events.Event) {
	if h.bus != nil {
		h.bus.Publish(e)
	}
}

// holdWriter keeps tusd's answer (status, headers, body) until dispatch
// decides what to send. tusd's http.ResponseController finds its deadline
// methods, which pass through to the connection until detach.
type holdWriter struct {
	w      http.ResponseWriter
	header http.Header
	status int
	body   bytes.Buffer

	mu       sync.Mutex
	detached bool // tusd has returned: its deadlines no longer reach the connection
}

// SetReadDeadline and SetWriteDeadline pass tusd's deadlines on to the
// connection while tusd serves the request, and ignore them afterwards:
// tusd sets one from a goroutine of its own when an upload's lock is
// asked for (to cut the body short), which may run once the request is
// over. On a kept-alive connection such a deadline would fall on a later
// request.
func (hw *holdWriter) SetReadDeadline(t time.Time) error {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.detached {
		return nil
	}
	return http.NewResponseController(hw.w).SetReadDeadline(t)
}

func (hw *holdWriter) SetWriteDeadline(t time.Time) error {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.detached {
		return nil
	}
	return http.NewResponseController(hw.w).SetWriteDeadline(t)
}

// detach ends tusd's hold on the connection's deadlines and clears those
// it set: what follows (the wait for processing, the next request on the
// connection) is not bounded by a body's pace.
func (hw *holdWriter) detach() {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	hw.detached = true
	rc := http.NewResponseController(hw.w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}

func newHoldWriter(w http.ResponseWriter) *holdWriter {
	return &holdWriter{w: w, header: w.Header().Clone()}
}

func (hw *holdWriter) Header() http.Header { return hw.header }

func (hw *holdWriter) WriteHeader(code int) {
	if hw.status == 0 {
		hw.status = code
	}
}

func (hw *holdWriter) Write(b []byte) (int, error) {
	if hw.status == 0 {
		hw.status = http.StatusOK
	}
	return hw.body.Write(b)
}

func (hw *holdWriter) Unwrap() http.ResponseWriter { return hw.w }

// flush sends what tusd answered.
func (hw *holdWriter) flush() {
	dst := hw.w.Header()
	for k, v := range hw.header {
		dst[k] = v
	}
	if hw.status == 0 {
		hw.status = http.StatusOK
	}
	hw.w.WriteHeader(hw.status)
	hw.w.Write(hw.body.Bytes())
}

// keepBase copies the headers tusd's middleware set for every answer
// (CORS, Tus-Resumable, nosniff) to the real response, for an answer
// dispatch writes itself.
func (hw *holdWriter) keepBase() {
	dst := hw.w.Header()
	for k, v := range hw.header {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" || k == "Tus-Resumable" || k == "X-Content-Type-Options" {
			dst[k] = v
		}
	}
}

// complete reports whether tusd answered that all of u's bytes are in.
func (hw *holdWriter) complete(u store.Upload) bool {
	if hw.status < 200 || hw.status > 299 {
		return false
	}
	off, err := strconv.ParseInt(hw.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return false
	}
	size := u.Size
	if l, err := strconv.ParseInt(hw.header.Get("Upload-Length"), 10, 64); err == nil {
		size = l
	}
	return size >= 0 && off == size
}

// uploadID is the id in tusd's Location.
func (hw *holdWriter) uploadID() string { return path.Base(hw.header.Get("Location")) }

// answerDAVCreation answers an oCIS-style creation that completed its
// upload: 201 (tusd's answer, held in hw) once processed, with the file's
// OC-FileId and ETag; 422 if refused; 201 with a Progress-Location if
// processing outlasts the wait.
func (h *Handler) answerDAVCreation(w http.ResponseWriter, r *http.Request, hw *holdWriter, u store.Upload) {
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.log.WarnContext(r.Context(), "cannot clear the write deadline", "upload_id", u.ID, "err", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.wait)
	defer cancel()
	st, err := h.pipe.Wait(ctx, u.ID)
	var rej *postproc.RejectedError
	switch {
	case err == nil:
		u = h.record(r.Context(), u, st, nil)
		if u.ETag != "" {
			hw.header.Set("ETag", u.ETag)
			hw.header.Set("OC-ETag", u.ETag)
		}
		if u.NodeID != 0 {
			hw.header.Set("OC-FileId", strconv.FormatInt(u.NodeID, 10))
		}
	case errors.As(err, &rej):
		u = h.record(r.Context(), u, st, rej)
		hw.keepBase()
		h.writeRejected(w, u)
		return
	default:
		if ctx.Err() == nil {
			h.log.ErrorContext(r.Context(), "cannot wait for processing", "upload_id", u.ID, "err", err)
		}
		hw.header.Set("Progress-Location", postproc.ProgressURL(u.ID))
	}
	hw.flush()
}
