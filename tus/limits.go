package tus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// charge is what a chunk being written may still add to an upload, beyond
// the offset its row records.
type charge struct {
	user     int64
	space    string // "" for a partial upload
	deferred bool   // the upload's length is not known yet
	bytes    int64
}

// reserve decides how many bytes a chunk of upload u starting at offset may
// bring, and holds them for u until release, so that chunks written at
// the same time to the user's other uploads, or to the same space, count
// them. want is the length the request announces (-1: unknown).
//
// The user may have at most maxPending bytes received in uploads still
// receiving (413 past it). If u has a destination with a quota, u must fit
// in what the space has free, counting the files there, the other uploads
// to it (announced sizes, or bytes received while a length is deferred),
// and the file u replaces: all of u's announced size, or, deferred, its
// bytes as they arrive (507 past it).
//
// A chunk announced larger than what fits is refused before it is read:
// the error is returned. Otherwise limit is the most that may be read, and
// tooMuch the refusal for a body (of unknown length) that goes past it.
func (h *Handler) reserve(ctx context.Context, u store.Upload, offset, want int64) (limit int64, tooMuch, err error) {
	h.charging.Lock()
	defer h.charging.Unlock()
	var mine, inSpace int64
	for id, c := range h.charges {
		if id == u.ID {
			continue
		}
		if c.user == u.UserID {
			mine += c.bytes
		}
		if c.deferred && u.SpaceID != "" && c.space == u.SpaceID {
			inSpace += c.bytes
		}
	}
	received, err := h.db.ReceivingUserBytes(ctx, u.UserID, u.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("tus: pending bytes of user %d: %w", u.UserID, err)
	}
	taken := received + mine + offset
	room := h.maxPending - taken
	tooMuch = tusError(http.StatusRequestEntityTooLarge,
		"your unfinished uploads may hold %d bytes in all; %d are taken, this chunk would need more", h.maxPending, taken)
	if u.SpaceID != "" {
		free, err := h.spaceFree(ctx, u)
		if err != nil {
			return 0, nil, err
		}
		free -= inSpace
		full := func(need int64) error {
			return tusError(http.StatusInsufficientStorage, "not enough room in space %q: %d bytes needed, %d free",
				u.SpaceID, need, max(free, 0))
		}
		if u.Size >= 0 && u.Size > free {
			return 0, nil, full(u.Size)
		}
		if free-offset < room {
			room = free - offset
			tooMuch = full(offset + max(want, room+1))
		}
	}
	room = max(room, 0)
	if want > room {
		return 0, nil, tooMuch
	}
	limit = room
	if want >= 0 {
		limit = want
	} else if u.Size >= 0 {
		// tusd reads no more than the rest of the upload: hold no more.
		limit = min(room, u.Size-offset)
	} else {
		limit = min(room, h.maxSize-offset)
	}
	h.charges[u.ID] = charge{user: u.UserID, space: u.SpaceID, deferred: u.Size < 0, bytes: limit}
	return limit, tooMuch, nil
}

// release drops what reserve held for upload id, once the chunk's offset is
// recorded (or the chunk refused).
func (h *Handler) release(id string) {
	h.charging.Lock()
	delete(h.charges, id)
	h.charging.Unlock()
}

// spaceFree is how many bytes upload u may occupy in its space: the quota,
// less the files there and the other uploads to it, plus the file u
// replaces. Without a quota, math.MaxInt64.
func (h *Handler) spaceFree(ctx context.Context, u store.Upload) (int64, error) {
	sp, err := h.tree.Space(ctx, u.SpaceID)
	if errors.Is(err, space.ErrNotFound) {
		return 0, tusError(http.StatusNotFound, "no such space %q", u.SpaceID)
	}
	if err != nil {
		return 0, fmt.Errorf("tus: space %q: %w", u.SpaceID, err)
	}
	if sp.QuotaBytes == 0 {
		return math.MaxInt64, nil
	}
	pending, err := h.db.PendingUploadBytes(ctx, u.SpaceID, u.ID)
	if err != nil {
		return 0, fmt.Errorf("tus: quota of %q: %w", u.SpaceID, err)
	}
	var replaced int64
	cur, err := h.tree.Stat(ctx, u.SpaceID, u.Path)
	switch {
	case err == nil && !cur.IsDir:
		replaced = cur.Size
	case err != nil && !errors.Is(err, space.ErrNotFound):
		return 0, fmt.Errorf("tus: stat %s/%q: %w", u.SpaceID, u.Path, err)
	}
	return sp.QuotaBytes - sp.UsedBytes - pending + replaced, nil
}
