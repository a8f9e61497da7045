package space

import (
	"context"
	"time"

	"github.com/wharfhq/wharf/store"
)

// The node cache spares a GET, a HEAD or a Stat the index lookup of the
// same path again and again (a sync client checking thousands of files, a
// page loading its thumbnails). An entry is served only while the database
// is exactly as it was when the entry was read (store.Epoch: any commit,
// by this process or another one, drops every entry) and for at most
// nodeMaxAge; what is not found is not cached.
const (
	nodeMaxAge      = 30 * time.Second
	maxCachedByPath = 16_384
)

type nodeKey struct{ space, path string }

// node returns the index row of clean path p in space spaceID, from the
// node cache when the database has not changed since it was read.
func (t *Tree) node(ctx context.Context, spaceID, p string) (Node, error) {
	v, err := t.db.Epoch(ctx)
	if err != nil {
		v = store.Epoch{} // matches no entry: read the index
	}
	k := nodeKey{spaceID, p}
	now := t.now()
	if n, ok := t.nodes.Get(k, v, now); ok {
		return n, nil
	}
	n, err := t.db.Node(ctx, spaceID, p)
	if err != nil {
		return Node{}, err
	}
	t.nodes.Put(k, v, now, n)
	return n, nil
}
