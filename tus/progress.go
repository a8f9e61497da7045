package tus

import (
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/store"
)

// progressOf returns what publishes upload.progress while the body of a
// PATCH to upload rec arrives from offset on (events.Progress: rate
// limited, across the PATCHes of the upload), or nil: no bus, or a
// partial upload (it has no space nor path yet; the final upload of a
// concatenation is not sent bytes).
func (h *Handler) progressOf(rq *request, rec store.Upload, offset int64) *events.Progress {
	if h.bus == nil || rec.Partial || rec.SpaceID == "" {
		return nil
	}
	var user string
	if rq != nil && rq.p != nil {
		user = rq.p.Name() // "link:<id>" through a drop link, as the other events
	}
	return h.bus.Progress(events.Event{Space: rec.SpaceID, Path: rec.Path, Upload: rec.ID, User: user,
		Size: max(rec.Size, 0)}, offset)
}
