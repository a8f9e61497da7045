package space

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Stat returns the node at p from the index, without touching the disk. It
// returns ErrBadPath for a bad path and ErrNotFound if nothing is there (or
// the space does not exist).
func (t *Tree) Stat(ctx context.Context, spaceID, p string) (Node, error) {
	p, err := Clean(p)
	if err != nil {
		return Node{}, fail(op("stat", spaceID, p), err)
	}
	n, err := t.db.Node(ctx, spaceID, p)
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
// children in batches as they are read (see store.Reader.ChildrenBatches).
func (t *Tree) ListBatches(ctx context.Context, dir Node, size int, fn func([]Node) error) error {
	if !dir.IsDir {
		return fail(op("list", dir.SpaceID, dir.Path), ErrNotDir)
	}
	if err := t.db.ChildrenBatches(ctx, dir.ID, size, fn); err != nil {
		return fail(op("list", dir.SpaceID, dir.Path), err)
	}
	return nil
}

// Open opens the file at p for reading and returns it with its node. The
// file is the real *os.File, so http.ServeContent can use sendfile; the
// caller closes it. It returns ErrNotFound if the index has nothing at p
// (a file on disk that is not indexed is not served) and ErrIsDir for a
// directory. The file is opened through the space's root: a symbolic link
// leading outside the space fails.
func (t *Tree) Open(ctx context.Context, spaceID, p string) (*os.File, Node, error) {
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
		n, err := t.db.Node(ctx, spaceID, p)
		if err != nil {
			return nil, Node{}, fail(op("open", spaceID, p), err)
		}
		if n.IsDir {
			return nil, Node{}, fail(op("open", spaceID, p), ErrIsDir)
		}
		f, err := st.root.Open(filepath.FromSlash(p))
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
