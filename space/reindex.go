package space

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// diskEntry is one file or directory found on disk by Reindex.
type diskEntry struct {
	isDir bool
	size  int64
	mtime time.Time
	sum   string
}

// Reindex brings a space's index in line with its directory on disk: for a
// directory filled by hand, and for wharf check --repair. It adds nodes for
// what is on disk but not indexed (hashing the files), re-hashes files whose
// size or mtime differ from the index, drops nodes whose file or directory
// is gone (or changed kind), and recomputes the space's used bytes. It
// never follows symbolic links: they are skipped and logged, as are special
// files and names Clean would change (not NFC, control characters…), with
// everything below such a directory.
//
// The hashing runs first without the space's lock; then, under it, the
// disk is walked again (stat only, re-hashing just what changed meanwhile)
// and the index updated in one transaction. It returns ErrNotFound for an
// unknown space.
func (t *Tree) Reindex(ctx context.Context, spaceID string) error {
	what := fmt.Sprintf("reindex space %q", spaceID)
	if t.objects() {
		return fail(what, errObjectMode)
	}
	if _, err := t.db.Space(ctx, spaceID); err != nil {
		return fail(what, err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return fail(what, err)
	}
	known, err := indexMap(ctx, t.db.Reader, spaceID)
	if err != nil {
		return fail(what, err)
	}
	pre, _, err := t.scan(ctx, st, known, nil)
	if err != nil {
		return fail(what, err)
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	now := t.clock()
	var added, updated, removed int
	err = t.db.Update(ctx, func(tx *store.Tx) error {
		added, updated, removed = 0, 0, 0
		known, err := indexMap(ctx, tx.Reader, spaceID)
		if err != nil {
			return err
		}
		disk, order, err := t.scan(ctx, st, known, pre)
		if err != nil {
			return err
		}
		touched := map[string]bool{}
		if _, ok := known[""]; !ok {
			root, err := tx.InsertNode(ctx, Node{SpaceID: spaceID, IsDir: true, MTime: now, CTime: now, ETag: dirETag(now)})
			if err != nil {
				return err
			}
			known[""] = root
		}
		// Drop what is gone, whole subtrees at a time.
		gone := map[string]bool{}
		for _, n := range sortedNodes(known) {
			if n.Path == "" || goneAbove(n.Path, gone) {
				continue
			}
			if d, ok := disk[n.Path]; ok && d.isDir == n.IsDir {
				continue
			}
			if _, err := tx.DeleteSubtree(ctx, spaceID, n.Path); err != nil {
				return err
			}
			gone[n.Path] = true
			dir, _ := split(n.Path)
			touched[dir] = true
			removed++
		}
		for p := range known {
			if p != "" && goneAbove(p, gone) || gone[p] {
				delete(known, p)
			}
		}
		// Add and update, parents first (walk order).
		for _, p := range order {
			d := disk[p]
			n, ok := known[p]
			if ok {
				if !d.isDir && (n.Size != d.size || !n.MTime.Equal(d.mtime) || n.SHA256 != d.sum) {
					n.Size, n.MTime, n.SHA256, n.SHA1 = d.size, d.mtime, d.sum, ""
					n.ETag = fileETag(d.sum, d.size, d.mtime)
					if err := tx.UpdateNode(ctx, n); err != nil {
						return err
					}
					updated++
				}
				continue
			}
			dir, name := split(p)
			parent, ok := known[dir]
			if !ok || !parent.IsDir {
				continue // below something skipped
			}
			n = Node{SpaceID: spaceID, ParentID: parent.ID, Path: p, Name: name, IsDir: d.isDir, CTime: now}
			if d.isDir {
				n.MTime, n.ETag = d.mtime, dirETag(now)
			} else {
				n.Size, n.MTime, n.SHA256, n.MIME = d.size, d.mtime, d.sum, mimeFor(name)
				n.ETag = fileETag(d.sum, d.size, d.mtime)
			}
			if known[p], err = tx.InsertNode(ctx, n); err != nil {
				return err
			}
			touched[dir] = true
			added++
		}
		for dir := range touched {
			if n, ok := known[dir]; ok {
				if err := touchPath(ctx, tx, spaceID, n.Path, now); err != nil {
					return err
				}
			}
		}
		used, err := tx.FileBytes(ctx, spaceID)
		if err != nil {
			return err
		}
		return tx.SetUsed(ctx, spaceID, used)
	})
	if err != nil {
		return fail(what, err)
	}
	if added+updated+removed > 0 {
		t.log.Info("reindexed space", "space", spaceID, "added", added, "updated", updated, "removed", removed)
	}
	return nil
}

func indexMap(ctx context.Context, r store.Reader, spaceID string) (map[string]Node, error) {
	ns, err := r.Descendants(ctx, spaceID, "")
	if err != nil {
		return nil, err
	}
	m := make(map[string]Node, len(ns)+1)
	for _, n := range ns {
		m[n.Path] = n
	}
	if root, err := r.Node(ctx, spaceID, ""); err == nil {
		m[""] = root
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return m, nil
}

func sortedNodes(m map[string]Node) []Node {
	ns := make([]Node, 0, len(m))
	for _, n := range m {
		ns = append(ns, n)
	}
	// Parents before children: a prefix sorts first.
	slices.SortFunc(ns, func(a, b Node) int { return strings.Compare(a.Path, b.Path) })
	return ns
}

// goneAbove reports whether an ancestor of p is in gone.
func goneAbove(p string, gone map[string]bool) bool {
	for p != "" {
		p, _ = split(p)
		if gone[p] && p != "" {
			return true
		}
	}
	return false
}

// scan walks a space's directory through its root, without following
// symbolic links, and returns what it found by path and in walk order
// (parents before children). A file's SHA-256 comes from known (the index)
// or cache (an earlier scan) when its size and mtime match, else it is
// hashed.
func (t *Tree) scan(ctx context.Context, st *spaceState, known map[string]Node, cache map[string]diskEntry) (map[string]diskEntry, []string, error) {
	out := map[string]diskEntry{}
	var order []string
	err := fs.WalkDir(st.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == "." {
				return err
			}
			t.log.Warn("reindex: cannot read; skipped", "space", st.id, "path", name, "err", err)
			return nil
		}
		if name == "." {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		skip := func(why string) error {
			t.log.Warn("reindex: skipped "+why, "space", st.id, "path", name)
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p, err := Clean(name); err != nil || p != name {
			return skip("a name that is not clean NFC")
		}
		var e diskEntry
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return skip("a symbolic link")
		case d.IsDir():
			e.isDir = true
			if fi, err := d.Info(); err == nil {
				e.mtime = stamp(fi.ModTime())
			}
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return skip("an unreadable file")
			}
			e.size, e.mtime = fi.Size(), stamp(fi.ModTime())
			if n, ok := known[name]; ok && !n.IsDir && n.Size == e.size && n.MTime.Equal(e.mtime) {
				e.sum = n.SHA256
			} else if c, ok := cache[name]; ok && !c.isDir && c.size == e.size && c.mtime.Equal(e.mtime) {
				e.sum = c.sum
			} else {
				f, err := st.root.Open(diskPath(name))
				if err != nil {
					return skip("an unreadable file")
				}
				e.sum, err = hashReader(ctx, f)
				f.Close()
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return skip("an unreadable file")
				}
			}
		default:
			return skip("a special file")
		}
		out[name] = e
		order = append(order, name)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, order, nil
}
