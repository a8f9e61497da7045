package web

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
)

// Thumbnails are files of Config.ThumbsDir, or, when the tree keeps its
// contents in an object store (space.Tree.Objects), objects of that store
// (postproc.ThumbKey), which every replica serves. In object-store mode a
// listing does not ask the store about each image: the content's metadata,
// read for the listing anyway (withMeta), says whether the pipeline made a
// thumbnail, and it records that only after storing it.

// objectThumbs reports whether thumbnails are in the object store.
func (h *Handler) objectThumbs() bool { return h.tree.Objects() != nil }

// thumbable reports whether n may have a thumbnail: a file of an image
// type with a well-formed SHA-256.
func thumbable(n space.Node) bool {
	return !n.IsDir && strings.HasPrefix(n.MIME, "image/") && isHex(n.SHA256)
}

// openThumb opens the thumbnail of n; a 404 error when there is none.
func (h *Handler) openThumb(ctx context.Context, n space.Node) (io.ReadSeekCloser, error) {
	none := api.NotFound("no thumbnail")
	if bs := h.tree.Objects(); bs != nil {
		if !thumbable(n) {
			return nil, none
		}
		r, err := bs.Open(ctx, postproc.ThumbKey(n.SHA256))
		if errors.Is(err, blob.ErrNotFound) {
			return nil, none
		}
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	name := h.thumbFile(n)
	if name == "" {
		return nil, none
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, none
	}
	return f, nil
}
