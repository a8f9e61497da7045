package space

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// checkPair cleans a source and destination and refuses what no MOVE or
// COPY may do: a root on either side, a destination equal to, inside or
// above the source.
func checkPair(srcSpace, src, dstSpace, dst string) (string, string, error) {
	src, err := Clean(src)
	if err != nil {
		return "", "", err
	}
	if dst, err = Clean(dst); err != nil {
		return "", "", err
	}
	switch {
	case src == "" || dst == "":
		return "", "", fmt.Errorf("%w: cannot move or copy a space's root", ErrBadPath)
	case srcSpace != dstSpace:
	case src == dst:
		return "", "", fmt.Errorf("%w: source and destination are the same", ErrBadPath)
	case within(dst, src):
		return "", "", fmt.Errorf("%w: destination is inside the source", ErrBadPath)
	case within(src, dst):
		return "", "", fmt.Errorf("%w: destination contains the source", ErrBadPath)
	}
	return src, dst, nil
}

// Move moves the file or tree at src to dst, possibly in another space
// (whose quota is then checked), and reports whether dst was created
// (rather than replaced). Node ids are kept. With overwrite, whatever is at
// dst (a whole tree included) is deleted first; without, ErrExists.
// Errors also: ErrBadPath (roots, dst equal to, inside or above src),
// ErrNotFound, ErrParentMissing / ErrNotDir for dst's parent, ErrQuota.
func (t *Tree) Move(ctx context.Context, srcSpace, src, dstSpace, dst string, overwrite bool) (created bool, err error) {
	src, dst, err = checkPair(srcSpace, src, dstSpace, dst)
	what := fmt.Sprintf("move %s/%q to %s/%q", srcSpace, src, dstSpace, dst)
	if err != nil {
		return false, fail(what, err)
	}
	ss, err := t.open(srcSpace)
	if err != nil {
		return false, fail(what, err)
	}
	ds, err := t.open(dstSpace)
	if err != nil {
		return false, fail(what, err)
	}
	if err := t.vetMove(ctx, srcSpace, src, dstSpace, dst); err != nil {
		return false, fail(what, err)
	}
	unlock := lock2(ss, ds)
	defer unlock()
	now := t.clock()
	trash := t.trashName()
	trashed := false
	var replaced []string // object-store mode: contents overwritten at dst
	sdir, _ := split(src)
	ddir, dname := split(dst)
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		sn, err := tx.Node(ctx, srcSpace, src)
		if err != nil {
			return nil, err
		}
		dparent, err := parentDir(ctx, tx.Reader, dstSpace, ddir)
		if err != nil {
			return nil, err
		}
		// What lands under a new name or in another space meets the
		// destination's policy, as an upload would.
		if srcSpace != dstSpace {
			var desc []store.Node
			if sn.IsDir {
				if desc, err = tx.Descendants(ctx, srcSpace, src); err != nil {
					return nil, err
				}
			}
			err = t.admit(ctx, dstSpace, sn, desc, src, dst)
		} else if !sn.IsDir && sn.Name != dname {
			err = t.admit(ctx, dstSpace, sn, nil, src, dst)
		}
		if err != nil {
			return nil, err
		}
		if t.objects() && overwrite {
			if replaced, err = dstObjects(ctx, tx, dstSpace, dst, now); err != nil {
				return nil, err
			}
		}
		removed, exists, err := clearDst(ctx, tx, dstSpace, dst, overwrite)
		if err != nil {
			return nil, err
		}
		created = !exists
		if srcSpace != dstSpace {
			var moved int64
			moved, err = tx.SubtreeBytes(ctx, srcSpace, src)
			if err == nil {
				err = checkQuota(ctx, tx.Reader, dstSpace, moved-removed)
			}
			if err == nil && moved != 0 {
				err = tx.AddUsed(ctx, srcSpace, -moved)
			}
			removed -= moved
		}
		if err == nil && removed != 0 {
			err = tx.AddUsed(ctx, dstSpace, -removed)
		}
		if err == nil {
			err = tx.MoveSubtree(ctx, srcSpace, src, dstSpace, dst, dparent.ID, dname)
		}
		if err == nil {
			err = renamedMIME(ctx, tx, sn, dname)
		}
		if err == nil {
			err = touchPath(ctx, tx, srcSpace, sdir, now)
		}
		if err == nil && (srcSpace != dstSpace || sdir != ddir) {
			err = touchPath(ctx, tx, dstSpace, ddir, now)
		}
		if err != nil {
			return nil, err
		}
		if t.objects() {
			return func() {}, nil // the keys went with the rows
		}
		// Disk, last: clear the destination, then rename.
		var undos []func()
		undoAll := func() {
			for i := len(undos) - 1; i >= 0; i-- {
				undos[i]()
			}
		}
		if exists {
			undo, err := t.moveOut(ds, dst, trash)
			if undo != nil {
				trashed = true
				undos = append(undos, undo)
			}
			if err != nil {
				return undoAll, err
			}
		}
		undo, err := t.rename(ss, src, ds, dst)
		if undo != nil {
			undos = append(undos, undo)
		}
		return undoAll, err
	})
	if trashed && err == nil {
		t.removeTrash(trash)
	}
	if err != nil {
		return false, fail(what, err)
	}
	if t.objects() {
		t.dropObjects(replaced...)
	}
	return created, nil
}

// dstObjects returns, recorded as orphans in tx, the keys of the contents
// at dst that a move or copy with overwrite replaces (none if dst is
// free): in object-store mode they are deleted after the commit.
func dstObjects(ctx context.Context, tx *store.Tx, spaceID, dst string, now time.Time) ([]string, error) {
	keys, err := subtreeObjects(ctx, tx, spaceID, dst)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return keys, letGo(ctx, tx, now, keys...)
}

// clearDst deletes what is at dst before a move or copy onto it, if
// overwrite allows, and returns the file bytes it held.
func clearDst(ctx context.Context, tx *store.Tx, spaceID, dst string, overwrite bool) (removed int64, exists bool, err error) {
	_, err = tx.Node(ctx, spaceID, dst)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !overwrite {
		return 0, true, fmt.Errorf("%w: destination %q", ErrExists, dst)
	}
	removed, err = tx.DeleteSubtree(ctx, spaceID, dst)
	return removed, true, err
}

// renamedMIME re-guesses the media type of a file given a new name, unless
// its type was not the guess from its old name (set by the uploader or
// sniffed).
func renamedMIME(ctx context.Context, tx *store.Tx, old Node, newName string) error {
	if old.IsDir || old.Name == newName || old.MIME != mimeFor(old.Name) {
		return nil
	}
	if m := mimeFor(newName); m != old.MIME {
		n, err := tx.NodeByID(ctx, old.ID)
		if err != nil {
			return err
		}
		n.MIME = m
		return tx.UpdateNode(ctx, n)
	}
	return nil
}

// rename renames src in one space to dst in another (or the same), and
// fsyncs both parents.
func (t *Tree) rename(ss *spaceState, src string, ds *spaceState, dst string) (undo func(), err error) {
	sdir, _ := split(src)
	ddir, _ := split(dst)
	if ss == ds {
		if err := ss.root.Rename(diskPath(src), diskPath(dst)); err != nil {
			return nil, err
		}
		undo = func() { t.undo("move back", ss.root.Rename(diskPath(dst), diskPath(src))) }
	} else {
		exists, err := checkDiskEntry(ss, src)
		if err == nil && !exists {
			err = fmt.Errorf("%w: %q on disk", ErrNotFound, src)
		}
		if err == nil {
			err = checkDiskDir(ds, ddir)
		}
		if err != nil {
			return nil, err
		}
		if err := os.Rename(ss.abs(src), ds.abs(dst)); err != nil {
			return nil, err
		}
		undo = func() { t.undo("move back", os.Rename(ds.abs(dst), ss.abs(src))) }
	}
	if err := syncDir(ds.root, ddir); err != nil {
		return undo, err
	}
	if ss != ds || sdir != ddir {
		return undo, syncDir(ss.root, sdir)
	}
	return undo, nil
}

// errSourceChanged: the source of a copy changed while its bytes were
// being copied; Copy starts again.
var errSourceChanged = errors.New("source changed during copy")

// Copy copies the file or tree at src to dst, possibly in another space,
// and reports whether dst was created. depth is 0 or -1 (infinity); for a
// directory, depth 0 copies only the directory itself. Every file is
// copied byte for byte (to uploads/, fsynced), with its mtime, and the copy
// appears at dst with one rename; the copies get new node ids. The
// destination space's quota is checked before any byte is copied. With
// overwrite, whatever is at dst is deleted first; without, ErrExists.
// Errors also: ErrBadPath (roots, dst equal to, inside or above src),
// ErrNotFound, ErrParentMissing / ErrNotDir for dst's parent, ErrQuota,
// ErrNoSpace.
func (t *Tree) Copy(ctx context.Context, srcSpace, src, dstSpace, dst string, overwrite bool, depth int) (created bool, err error) {
	src, dst, err = checkPair(srcSpace, src, dstSpace, dst)
	what := fmt.Sprintf("copy %s/%q to %s/%q", srcSpace, src, dstSpace, dst)
	if err == nil && depth != 0 && depth != -1 {
		err = fmt.Errorf("depth %d: want 0 or -1", depth)
	}
	if err != nil {
		return false, fail(what, err)
	}
	ss, err := t.open(srcSpace)
	if err != nil {
		return false, fail(what, err)
	}
	ds, err := t.open(dstSpace)
	if err != nil {
		return false, fail(what, err)
	}
	for range 3 {
		created, err = t.copyOnce(ctx, ss, src, ds, dst, overwrite, depth != 0)
		if !errors.Is(err, errSourceChanged) {
			break
		}
	}
	if err != nil {
		return false, fail(what, err)
	}
	return created, nil
}

func (t *Tree) copyOnce(ctx context.Context, ss *spaceState, src string, ds *spaceState, dst string, overwrite, deep bool) (bool, error) {
	// Snapshot the source and check the destination from the read pool.
	sn, err := t.db.Node(ctx, ss.id, src)
	if err != nil {
		return false, err
	}
	deep = deep && sn.IsDir
	var desc []Node
	if deep {
		if desc, err = t.db.Descendants(ctx, ss.id, src); err != nil {
			return false, err
		}
	}
	bytes := sn.Size
	for _, n := range desc {
		bytes += n.Size
	}
	ddir, dname := split(dst)
	// Check the destination and the quota before copying a byte.
	if _, err := parentDir(ctx, t.db.Reader, ds.id, ddir); err != nil {
		return false, err
	}
	var removed int64
	if _, err := t.db.Node(ctx, ds.id, dst); err == nil {
		if !overwrite {
			return false, fmt.Errorf("%w: destination %q", ErrExists, dst)
		}
		if removed, err = t.db.SubtreeBytes(ctx, ds.id, dst); err != nil {
			return false, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if err := checkQuota(ctx, t.db.Reader, ds.id, bytes-removed); err != nil {
		return false, err
	}
	// Every copy is a new file of the destination: it meets its policy,
	// and its content is scanned if it never was.
	if err := t.admit(ctx, ds.id, sn, desc, src, dst); err != nil {
		return false, err
	}
	if err := t.Vet(ctx, append([]Node{sn}, desc...)...); err != nil {
		return false, err
	}

	var staged string
	var copies map[string]string // object-store mode: destination path → new key
	if t.objects() {
		if copies, err = t.copyObjects(ctx, ds.id, sn, desc, dst); err != nil {
			return false, err
		}
	} else {
		if staged, err = t.stageCopy(ctx, ss, sn, desc); err != nil {
			return false, err
		}
		defer os.RemoveAll(staged) // gone already after a success
	}
	var replaced []string // object-store mode: contents overwritten at dst

	unlock := lock2(ss, ds)
	defer unlock()
	now := t.clock()
	trash := t.trashName()
	trashed := false
	var created bool
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		// The index must still describe the bytes just copied.
		cur, err := tx.Node(ctx, ss.id, src)
		if err != nil {
			return nil, err
		}
		if cur.ID != sn.ID || cur.ETag != sn.ETag {
			return nil, errSourceChanged
		}
		if deep {
			again, err := tx.Descendants(ctx, ss.id, src)
			if err != nil {
				return nil, err
			}
			if len(again) != len(desc) {
				return nil, errSourceChanged
			}
			for i := range again {
				if again[i].ID != desc[i].ID || again[i].Path != desc[i].Path || again[i].ETag != desc[i].ETag {
					return nil, errSourceChanged
				}
			}
		}
		dparent, err := parentDir(ctx, tx.Reader, ds.id, ddir)
		if err != nil {
			return nil, err
		}
		if t.objects() && overwrite {
			if replaced, err = dstObjects(ctx, tx, ds.id, dst, now); err != nil {
				return nil, err
			}
		}
		removed, exists, err := clearDst(ctx, tx, ds.id, dst, overwrite)
		if err != nil {
			return nil, err
		}
		created = !exists
		if err := checkQuota(ctx, tx.Reader, ds.id, bytes-removed); err != nil {
			return nil, err
		}
		if bytes != removed {
			if err := tx.AddUsed(ctx, ds.id, bytes-removed); err != nil {
				return nil, err
			}
		}
		top, err := tx.CopySubtree(ctx, ss.id, src, ds.id, dst, dparent.ID, dname, deep, now)
		if err != nil {
			return nil, err
		}
		if top.IsDir {
			top.ETag = dirETag(now)
			err = tx.UpdateNode(ctx, top)
		} else {
			err = renamedMIME(ctx, tx, top, dname)
		}
		if err == nil {
			err = touchDir(ctx, tx, dparent, now)
		}
		if err != nil {
			return nil, err
		}
		if t.objects() {
			// Each copy names its own object: a node's deletion never has
			// to count who else names its key.
			for p, key := range copies {
				n, err := tx.Node(ctx, ds.id, p)
				if err == nil {
					err = tx.SetBlob(ctx, n.ID, key)
				}
				if err == nil {
					err = tx.ClaimBlobOrphan(ctx, key)
				}
				if err != nil {
					return nil, err
				}
			}
			return func() {}, nil
		}
		var undos []func()
		undoAll := func() {
			for i := len(undos) - 1; i >= 0; i-- {
				undos[i]()
			}
		}
		if exists {
			undo, err := t.moveOut(ds, dst, trash)
			if undo != nil {
				trashed = true
				undos = append(undos, undo)
			}
			if err != nil {
				return undoAll, err
			}
		}
		if err := checkDiskDir(ds, ddir); err != nil {
			return undoAll, err
		}
		if err := os.Rename(staged, ds.abs(dst)); err != nil {
			return undoAll, err
		}
		undos = append(undos, func() { t.undo("remove copy", os.Rename(ds.abs(dst), staged)) })
		return undoAll, syncDir(ds.root, ddir)
	})
	if trashed && err == nil {
		t.removeTrash(trash)
	}
	if t.objects() {
		if err != nil {
			for _, key := range copies {
				t.dropObjects(key)
			}
		} else {
			t.dropObjects(replaced...)
		}
	}
	return created, err
}

// copyObjects is stageCopy in object-store mode: it copies the object of
// sn (a file) or of each file of desc inside the store, to new keys of the
// destination space, and returns them by the path the copies will have
// under dst. The keys are recorded as orphans until the copy's commit.
func (t *Tree) copyObjects(ctx context.Context, dstSpace string, sn Node, desc []Node, dst string) (map[string]string, error) {
	copies := map[string]string{}
	fail := func(err error) (map[string]string, error) {
		for _, key := range copies {
			t.dropObjects(key)
		}
		return nil, err
	}
	for _, n := range append([]Node{sn}, desc...) {
		if n.IsDir {
			continue
		}
		key, err := t.copyObject(ctx, dstSpace, n.Blob)
		if err != nil {
			return fail(err)
		}
		p := dst
		if n.Path != sn.Path {
			p = dst + "/" + strings.TrimPrefix(n.Path, sn.Path+"/")
		}
		copies[p] = key
	}
	return copies, nil
}

// stageCopy copies the bytes of sn (and of desc, its descendants in path
// order, if it is a directory) to a new staging entry in uploads/ and
// returns its name. Files keep their mtimes; everything is fsynced.
func (t *Tree) stageCopy(ctx context.Context, ss *spaceState, sn Node, desc []Node) (staged string, err error) {
	staged = t.trashName()
	defer func() {
		if err != nil {
			os.RemoveAll(staged)
		}
	}()
	if !sn.IsDir {
		return staged, copyFile(ctx, ss.root, sn.Path, staged, sn.MTime)
	}
	if err := os.Mkdir(staged, dirPerm); err != nil {
		return staged, err
	}
	dirs := []string{staged}
	for _, n := range desc {
		target := filepath.Join(staged, filepath.FromSlash(strings.TrimPrefix(n.Path, sn.Path+"/")))
		if n.IsDir {
			err = os.Mkdir(target, dirPerm)
			dirs = append(dirs, target)
		} else {
			err = copyFile(ctx, ss.root, n.Path, target, n.MTime)
		}
		if err != nil {
			return staged, err
		}
	}
	// Deepest first, so each directory's entries are durable before it.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncPath(dirs[i]); err != nil {
			return staged, err
		}
	}
	return staged, nil
}

// copyFile copies the file src of a space to the new file dst, through the
// root, and gives it mtime. *os.File to *os.File lets io.Copy use
// copy_file_range (and reflinks where the file system has them).
func copyFile(ctx context.Context, root *os.Root, src, dst string, mtime time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in, err := root.Open(diskPath(src))
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%q is not a regular file on disk", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = os.Chtimes(dst, time.Time{}, mtime)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// vetMove scans, before a move, the files that the move shows somewhere
// new: the same files the Gate is asked about (all of them for a move to
// another space, a file renamed within its space), read from the read
// pool before the move takes its locks (a scan can take long).
func (t *Tree) vetMove(ctx context.Context, srcSpace, src, dstSpace, dst string) error {
	if t.scanner == nil {
		return nil
	}
	sn, err := t.db.Node(ctx, srcSpace, src)
	if err != nil {
		return err
	}
	_, dname := split(dst)
	switch {
	case srcSpace != dstSpace && sn.IsDir:
		desc, err := t.db.Descendants(ctx, srcSpace, src)
		if err != nil {
			return err
		}
		return t.Vet(ctx, desc...)
	case srcSpace != dstSpace || (!sn.IsDir && sn.Name != dname):
		return t.Vet(ctx, sn)
	}
	return nil
}
