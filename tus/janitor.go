package tus

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// Run sweeps until ctx is done, once at once and then every
// SweepInterval: it removes expired unfinished uploads (files and record),
// files in uploads/tus that no record claims, and the records of uploads
// finished more than Expiry ago; and it records the outcome of jobs that
// finished without anyone waiting. It returns ctx's error.
func (h *Handler) Run(ctx context.Context) error {
	t := time.NewTicker(h.sweep)
	defer t.Stop()
	for {
		h.Sweep(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sweep does one round of Run's work. Failures are logged.
func (h *Handler) Sweep(ctx context.Context) {
	now := h.now()
	expired, err := h.db.ExpiredUploads(ctx, now)
	if err != nil {
		h.log.ErrorContext(ctx, "cannot list expired uploads", "err", err)
	}
	for _, u := range expired {
		// An upload being written to is not expired, whatever its row says.
		err := h.withLock(ctx, u.ID, func() error {
			cur, err := h.db.Upload(ctx, u.ID)
			if err != nil || cur.State != store.UploadReceiving || cur.ExpiresAt.After(now) {
				return err
			}
			h.removeUpload(ctx, u.ID)
			h.log.InfoContext(ctx, "expired upload removed", "upload_id", u.ID, "space", u.SpaceID, "path", u.Path)
			return nil
		})
		if err != nil {
			h.log.WarnContext(ctx, "cannot expire upload", "upload_id", u.ID, "err", err)
		}
	}
	processing, err := h.db.UploadsIn(ctx, store.UploadProcessing)
	if err != nil {
		h.log.ErrorContext(ctx, "cannot list processing uploads", "err", err)
	}
	for _, u := range processing {
		h.refresh(ctx, u)
	}
	var old []string
	err = h.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		old, err = tx.DeleteFinishedUploads(ctx, now.Add(-h.expiry))
		return err
	})
	if err != nil {
		h.log.ErrorContext(ctx, "cannot delete old upload records", "err", err)
	}
	for _, id := range old {
		h.removeFiles(id, false)
	}
	h.removeOrphans(ctx)
	if h.blobs != nil {
		h.abortAbandoned(ctx, now)
	}
}

// removeOrphans deletes the files of uploads/tus that no record claims: an
// upload whose record was removed by a crash half-way, or whose space or
// user was deleted.
func (h *Handler) removeOrphans(ctx context.Context) {
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		h.log.ErrorContext(ctx, "cannot list uploads", "err", err)
		return
	}
	if h.blobs != nil {
		// Nothing of an upload is a file here, but a chunk being received.
		h.removeSpools(ctx, entries)
		return
	}
	for _, e := range entries {
		id := strings.TrimSuffix(e.Name(), ".info")
		if e.IsDir() || !validID(id) {
			continue
		}
		u, err := h.db.Upload(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			h.log.ErrorContext(ctx, "cannot look up upload", "upload_id", id, "err", err)
			continue
		case u.State == store.UploadDone || u.State == store.UploadRejected:
			// The bytes are the pipeline's business now; the .info is
			// left over.
			if strings.HasSuffix(e.Name(), ".info") {
				break
			}
			continue
		default:
			continue
		}
		// The create hook writes the record before tusd creates the
		// files, so a file without one is an orphan.
		if err := os.Remove(h.binPath(e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			h.log.WarnContext(ctx, "cannot remove orphaned upload file", "path", e.Name(), "err", err)
		}
	}
}

// validID reports whether name could be an upload id (newID's form), so
// that nothing else in the directory is touched.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
