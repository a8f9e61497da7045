package space

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Stat returns the node at p from the index, without touching the disk. It
// returns ErrBadPath for a bad path and ErrNotFound if nothing is there (or
// the space does not exist).
func (t *Tree) Stat(ctx context.Context, spaceID, p string) (Node, error) {
	p, err := Clean(p)
	if err != nil {
		return Node{}, fail(op("stat", spaceID, p), err)
	}
	n, err := t.node(ctx, spaceID, p)
	if err != nil {
		return Node{}, fail(op("stat", spaceID, p), err)
	}
	return n, nil
}

// List returns the children of the directory at p from the index, ordered
// by name (bytewise), in one query. It returns ErrNotFound if nothing is at
// p and ErrNotDir if p is a file.
func (t *Tree) List(ctx context.Context, spaceID, p string) ([]Node, error) {
	dir, err := t.Stat(ctx, spaceID, p)
	if err != nil {
		return nil, err
	}
	if !dir.IsDir {
		return nil, fail(op("list", spaceID, dir.Path), ErrNotDir)
	}
	ns, err := t.db.Children(ctx, dir.ID)
	if err != nil {
		return nil, fail(op("list", spaceID, dir.Path), err)
	}
	return ns, nil
}

// ListBatches is List for a directory already at hand, delivering the
// children in batches as they are read (see store.Reader.ChildrenBatches),
// or from a cache of recent listings while nothing in the space has
// changed since (a repeated listing of a large folder costs one small
// query). fn must not modify the batches, which may be shared.
func (t *Tree) ListBatches(ctx context.Context, dir Node, size int, fn func([]Node) error) error {
	what := op("list", dir.SpaceID, dir.Path)
	if !dir.IsDir {
		return fail(what, ErrNotDir)
	}
	size = max(size, 1)
	// The generation is read before the listing: a change in between
	// labels the listing older than it is, which only costs a miss.
	gen, err := t.db.SpaceGeneration(ctx, dir.SpaceID)
	if err != nil {
		return fail(what, err)
	}
	if nodes, ok := t.listings.get(dir.ID, gen); ok {
		for i := 0; i < len(nodes); i += size {
			if err := fn(nodes[i:min(i+size, len(nodes)):min(i+size, len(nodes))]); err != nil {
				return err
			}
		}
		return nil
	}
	var all []Node
	err = t.db.ChildrenBatches(ctx, dir.ID, size, func(b []Node) error {
		all = append(all, b...)
		return fn(b)
	})
	if err != nil {
		return fail(what, err)
	}
	t.listings.put(dir.ID, gen, all)
	return nil
}

// Open opens the file at p for reading and returns it with its node. In
// the data directory's layout the File is the real *os.File, so
// http.ServeContent can use sendfile; in object-store mode it reads the
// node's object. The caller closes it. It returns ErrNotFound if the index has nothing at p
// (a file on disk that is not indexed is not served) and ErrIsDir for a
// directory. The file is opened through the space's root: a symbolic link
// leading outside the space fails. With a Scanner, a file whose content
// was never found clean is scanned first (see Vet and its errors).
func (t *Tree) Open(ctx context.Context, spaceID, p string) (File, Node, error) {
	p, err := Clean(p)
	if err != nil {
		return nil, Node{}, fail(op("open", spaceID, p), err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return nil, Node{}, fail(op("open", spaceID, p), err)
	}
	// A writer may replace the file between the index read and the open;
	// retry until the two agree (a writer renames, then commits at once).
	for attempt := 0; ; attempt++ {
		var n Node
		if attempt == 0 {
			n, err = t.node(ctx, spaceID, p)
		} else {
			n, err = t.db.Node(ctx, spaceID, p)
		}
		if err != nil {
			return nil, Node{}, fail(op("open", spaceID, p), err)
		}
		if n.IsDir {
			return nil, Node{}, fail(op("open", spaceID, p), ErrIsDir)
		}
		// A read is an exposure: a file not found clean yet is scanned.
		if err := t.Vet(ctx, n); err != nil {
			return nil, Node{}, err
		}
		if t.objects() {
			// The key names one content, never replaced: no race.
			f, err := t.openObject(ctx, n)
			if err != nil {
				return nil, Node{}, fail(op("open", spaceID, p), err)
			}
			return f, n, nil
		}
		f, err := st.openRead(p)
		if errors.Is(err, fs.ErrNotExist) {
			t.log.Warn("indexed file missing on disk; run wharf check --repair", "space", spaceID, "path", p)
			return nil, Node{}, fail(op("open", spaceID, p), fmt.Errorf("%w on disk", ErrNotFound))
		}
		if err != nil {
			return nil, Node{}, fail(op("open", spaceID, p), err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, Node{}, fail(op("open", spaceID, p), err)
		}
		if !fi.Mode().IsRegular() {
			f.Close()
			return nil, Node{}, fail(op("open", spaceID, p), fmt.Errorf("not a regular file on disk (%v)", fi.Mode().Type()))
		}
		if (fi.Size() == n.Size && fi.ModTime().Equal(n.MTime)) || attempt == 3 {
			return f, n, nil
		}
		f.Close()
	}
}

// Descendants returns every node below the directory at p (the whole space
// for ""), ordered by path, from the index: for Depth: infinity listings
// and walks. It returns ErrNotFound if nothing is at p.
func (t *Tree) Descendants(ctx context.Context, spaceID, p string) ([]Node, error) {
	n, err := t.Stat(ctx, spaceID, p)
	if err != nil {
		return nil, err
	}
	ns, err := t.db.Descendants(ctx, spaceID, n.Path)
	if err != nil {
		return nil, fail(op("walk", spaceID, n.Path), err)
	}
	return ns, nil
}
