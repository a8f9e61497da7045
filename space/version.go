package space

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wharfhq/wharf/store"
)

// keepVersion records the content prev (the node as it was before an
// overwrite already indexed in tx) as a version of its file, and purges
// the file's versions beyond the space's count. It returns the version's
// id ("" if the space keeps none, or if the quota has no room for it even
// with every other trash item and version purged) and the files purged;
// the caller links prev's file to its path.
func (t *Tree) keepVersion(ctx context.Context, tx *store.Tx, spaceID string, prev Node, now time.Time) (string, []string, error) {
	r, err := tx.SpaceRetention(ctx, spaceID)
	if err != nil || r.KeepVersions == 0 || (!t.objects() && diskLow(t.versionsDir)) {
		return "", nil, err
	}
	s, err := tx.Space(ctx, spaceID)
	if err != nil {
		return "", nil, err
	}
	if s.QuotaBytes > 0 && s.UsedBytes+prev.Size > s.QuotaBytes {
		return "", nil, nil
	}
	id := retainedID(prev.ID)
	err = tx.InsertVersion(ctx, store.Version{ID: id, SpaceID: spaceID, NodeID: prev.ID, Size: prev.Size, MTime: prev.MTime,
		SHA256: prev.SHA256, SHA1: prev.SHA1, MIME: prev.MIME, CreatedBy: actor(ctx), CreatedAt: now, Blob: prev.Blob})
	if err != nil {
		return "", nil, err
	}
	vs, err := tx.Versions(ctx, prev.ID)
	if err != nil {
		return "", nil, err
	}
	var gone []string
	for i, v := range vs {
		if i < r.KeepVersions || v.TrashID != "" {
			continue
		}
		ps, err := t.purgeEntry(ctx, tx, spaceID, store.RetainedEntry{ID: v.ID})
		if err != nil {
			return "", nil, err
		}
		gone = append(gone, ps...)
	}
	return id, gone, nil
}

// Versions returns the versions of the file at p, newest first. Errors:
// ErrBadPath, ErrNotFound, ErrIsDir.
func (t *Tree) Versions(ctx context.Context, spaceID, p string) ([]Version, error) {
	n, err := t.Stat(ctx, spaceID, p)
	if err != nil {
		return nil, err
	}
	if n.IsDir {
		return nil, fail(op("list versions of", spaceID, n.Path), ErrIsDir)
	}
	vs, err := t.db.Versions(ctx, n.ID)
	if err != nil {
		return nil, fail(op("list versions of", spaceID, n.Path), err)
	}
	return vs, nil
}

// version returns the version id of the file at p, checking it belongs to
// that file.
func (t *Tree) version(ctx context.Context, r store.Reader, spaceID string, n Node, id string) (Version, error) {
	if !validRetainedID(id) {
		return Version{}, fmt.Errorf("%w: version %q", ErrNotFound, id)
	}
	v, err := r.Version(ctx, spaceID, id)
	if err != nil {
		return Version{}, err
	}
	if v.NodeID != n.ID {
		return Version{}, fmt.Errorf("%w: version %s is not one of %q", ErrNotFound, id, n.Path)
	}
	return v, nil
}

// OpenVersion opens the content of a version of the file at p for
// reading; the caller closes it. Errors: Versions', and ErrNotFound for an
// id that is not one of the file's versions.
func (t *Tree) OpenVersion(ctx context.Context, spaceID, p, id string) (File, Version, error) {
	n, err := t.Stat(ctx, spaceID, p)
	if err != nil {
		return nil, Version{}, err
	}
	what := op("open version "+id+" of", spaceID, n.Path)
	v, err := t.version(ctx, t.db.Reader, spaceID, n, id)
	if err != nil {
		return nil, Version{}, fail(what, err)
	}
	if t.objects() {
		f, err := t.openObject(ctx, Node{SpaceID: spaceID, Path: n.Path, Blob: v.Blob})
		if err != nil {
			return nil, Version{}, fail(what, err)
		}
		return f, v, nil
	}
	f, err := os.Open(t.versionPath(spaceID, v.ID))
	if err != nil {
		return nil, Version{}, fail(what, err)
	}
	return f, v, nil
}

// RestoreVersion makes a version of the file at p its current content; the
// current content becomes a version in its place (whatever the space's
// count), so a restore can be undone the same way. The bytes are not
// copied: the version's file is linked into place and the current one
// linked into versions/. It returns the file's node as it now is. Errors:
// ErrBadPath, ErrNotFound, ErrIsDir, ErrQuota.
//
// The version's file is removed only after the commit; a crash before it
// leaves the current content's new version file without a row, which
// Recover puts back.
func (t *Tree) RestoreVersion(ctx context.Context, spaceID, p, id string) (Node, error) {
	p, err := Clean(p)
	what := op("restore version "+id+" of", spaceID, p)
	if err != nil {
		return Node{}, fail(what, err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return Node{}, fail(what, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := t.clock()
	var n Node
	var old Version
	var purged []string
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		cur, err := tx.Node(ctx, spaceID, p)
		if err != nil {
			return nil, err
		}
		if cur.IsDir {
			return nil, ErrIsDir
		}
		if old, err = t.version(ctx, tx.Reader, spaceID, cur, id); err != nil {
			return nil, err
		}
		// The file's bytes become the version's: the space's visible bytes
		// change by the difference, its retained bytes by its opposite.
		if err := checkQuota(ctx, tx.Reader, spaceID, old.Size-cur.Size); err != nil {
			return nil, err
		}
		nid := retainedID(cur.ID)
		err = tx.InsertVersion(ctx, store.Version{ID: nid, SpaceID: spaceID, NodeID: cur.ID, Size: cur.Size, MTime: cur.MTime,
			SHA256: cur.SHA256, SHA1: cur.SHA1, MIME: cur.MIME, CreatedBy: actor(ctx), CreatedAt: now, Blob: cur.Blob})
		if err == nil {
			err = tx.DeleteVersion(ctx, spaceID, old.ID)
		}
		n = cur
		n.Size, n.MTime, n.SHA256, n.SHA1, n.MIME, n.Blob = old.Size, old.MTime, old.SHA256, old.SHA1, old.MIME, old.Blob
		n.ETag = fileETag(n.SHA256, n.Size, n.MTime)
		if err == nil {
			err = tx.UpdateNode(ctx, n)
		}
		if err == nil && n.Size != cur.Size {
			err = tx.AddUsed(ctx, spaceID, n.Size-cur.Size)
		}
		if err == nil {
			purged, err = t.makeRoom(ctx, tx, spaceID)
		}
		if err != nil {
			return nil, err
		}
		if t.objects() {
			return func() {}, nil // the two rows swapped their keys
		}
		// Disk: the version's file to a staging link, the current file to
		// its new version, the staging link over the current file.
		src, keep := t.versionPath(spaceID, old.ID), t.versionPath(spaceID, nid)
		abs := st.abs(p)
		staging := filepath.Join(t.uploads, stagingPfx+randomHex())
		if err := os.Link(src, staging); err != nil {
			return nil, err
		}
		if err := os.Link(abs, keep); err != nil {
			os.Remove(staging)
			return nil, err
		}
		if err := os.Rename(staging, abs); err != nil {
			os.Remove(staging)
			os.Remove(keep)
			return nil, err
		}
		undo := func() { t.undo("put back the content a version restore replaced", os.Rename(keep, abs)) }
		dir, _ := split(p)
		if err := syncDir(st.root, dir); err != nil {
			return undo, err
		}
		return undo, syncPath(filepath.Join(t.versionsDir, spaceID))
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) && old.ID == "" {
			err = fmt.Errorf("%w (%v)", ErrNotFound, err)
		}
		return Node{}, fail(what, err)
	}
	if !t.objects() {
		purged = append(purged, t.versionPath(spaceID, old.ID))
	}
	t.removeRetained(purged)
	return n, nil
}
