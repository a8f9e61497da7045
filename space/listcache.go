package space

import (
	"container/list"
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
