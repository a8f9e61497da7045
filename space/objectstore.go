package space

import "github.com/wharfhq/wharf/blob"

// Objects returns the object store of a tree in object-store mode
// (Config.Blobs), nil otherwise. Packages that keep data derived from the
// contents (postproc's thumbnails) keep it there too, where every replica
// reads it, under keys of their own: never under c/, which is the
// contents' (wharf check reports an object there that no row names).
func (t *Tree) Objects() blob.Store { return t.blobs }
