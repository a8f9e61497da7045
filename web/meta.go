package web

import (
	"context"

	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
)

// withMeta adds to each file of out (the JSON of nodes, in the same order)
// what is known of its content: type, checksums, the virus scan's verdict
// and what processing extracted (postproc.FileMeta).
func (h *Handler) withMeta(ctx context.Context, out []nodeJSON, nodes []space.Node) error {
	known, err := h.tree.Contents(ctx, nodes...)
	if err != nil {
		return err
	}
	for i, n := range nodes {
		if !n.IsDir {
			m := postproc.Describe(n, known[n.SHA256])
			out[i].Meta = &m
			if m.Thumbnail && h.objectThumbs() && thumbable(n) {
				out[i].Thumb = apiURL(n.SpaceID, "thumbs", n.Path)
			}
		}
	}
	return nil
}
