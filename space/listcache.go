package space

import (
	"container/list"
	"slices"
	"strings"
	"sync"
)

// maxCachedNodes bounds the listing cache: about 250 bytes a node, a few
// megabytes in all.
const maxCachedNodes = 50_000

// listingCache keeps recent directory listings, each labelled with the
// generation of its space when it was read (store.Reader.SpaceGeneration).
// A listing is served again only while its space's generation is
// unchanged, that is while no node of the space has changed, whoever
// changed it. The least recently used listings go first.
type listingCache struct {
	mu    sync.Mutex
	max   int // nodes
	total int
	lru   list.List // of *listing, most recent first
	byDir map[int64]*list.Element
}

type listing struct {
	dir, gen int64
	nodes    []Node // shared by every reader: never modified
}

func newListingCache(max int) *listingCache {
	return &listingCache{max: max, byDir: map[int64]*list.Element{}}
}

// get returns the children of dir as read at generation gen, if cached.
func (c *listingCache) get(dir, gen int64) ([]Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byDir[dir]
	if !ok {
		return nil, false
	}
	l := e.Value.(*listing)
	if l.gen != gen {
		c.remove(e)
		return nil, false
	}
	c.lru.MoveToFront(e)
	return l.nodes, true
}

// put caches the children of dir read at generation gen (or later).
func (c *listingCache) put(dir, gen int64, nodes []Node) {
	if len(nodes) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byDir[dir]; ok {
		c.remove(e)
	}
	c.byDir[dir] = c.lru.PushFront(&listing{dir: dir, gen: gen, nodes: nodes})
	c.total += len(nodes)
	for c.total > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *listingCache) remove(e *list.Element) {
	l := c.lru.Remove(e).(*listing)
	delete(c.byDir, l.dir)
	c.total -= len(l.nodes)
}

// patchListings keeps the cached listings of the folders a committed
// install batch wrote into, rather than let the first listing after the
// change read a large folder again. Inside the batch's transaction the
// space's generation went from before to after, with nothing else
// committing in between (the transaction holds the write lock): the
// changes are exactly the batch's. In a folder D that received files, they
// are its files' rows (D's own row and those of its ancestors changed too,
// but they are listed in other folders, whose listings are left to go
// stale). So a listing of D cached at before, patched with the files,
// is D's listing at after, unless a file of the batch went deeper below
// D (then a subfolder of D listed in D changed its ETag): such a D is
// left alone.
func (t *Tree) patchListings(batch []*installReq, before, after int64) {
	byDir := map[int64][]Node{}
	var dirs []string
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		byDir[r.n.ParentID] = append(byDir[r.n.ParentID], r.n)
		dir, _ := split(r.n.Path)
		dirs = append(dirs, dir)
	}
	for id, nodes := range byDir {
		dir, _ := split(nodes[0].Path)
		deeper := slices.ContainsFunc(dirs, func(d string) bool {
			return d != dir && (dir == "" || strings.HasPrefix(d, dir+"/"))
		})
		if deeper {
			continue
		}
		t.listings.patch(id, before, after, nodes)
	}
}

// patch replaces the listing of dir cached at generation before, if any,
// by the same listing with nodes put in (replacing the entries of the same
// name) labelled after. The old slice is not modified: readers may hold
// it.
func (c *listingCache) patch(dir, before, after int64, nodes []Node) {
	c.mu.Lock()
	e, ok := c.byDir[dir]
	if !ok || e.Value.(*listing).gen != before {
		c.mu.Unlock()
		return
	}
	old := e.Value.(*listing).nodes
	c.mu.Unlock()
	patched := make([]Node, len(old), len(old)+len(nodes))
	copy(patched, old)
	for _, n := range nodes {
		i, found := slices.BinarySearchFunc(patched, n.Name, func(m Node, name string) int {
			return strings.Compare(m.Name, name)
		})
		if found {
			patched[i] = n
		} else {
			patched = slices.Insert(patched, i, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Still the same listing: put the patched one in its place.
	if e2, ok := c.byDir[dir]; ok && e2 == e && e.Value.(*listing).gen == before {
		c.remove(e)
		c.byDir[dir] = c.lru.PushFront(&listing{dir: dir, gen: after, nodes: patched})
		c.total += len(patched)
		for c.total > c.max {
			c.remove(c.lru.Back())
		}
	}
}
