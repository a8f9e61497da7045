package space

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// The trash and the versions of a space live beside spaces/, on the same
// file system, so that trashing, restoring and keeping a version are
// renames and hard links, never copies:
//
//	trash/<space>/<item id>      the deleted file or folder, as it was
//	versions/<space>/<version id> an earlier content of a file
//
// Ids are "<node id>-<random>": the node id lets Recover tell, for an entry
// that has no row (a crash came between the disk change and the commit),
// which indexed file it belongs to.
//
// Nothing in them is visible through the space, processed, or handed to
// Phraseanet; their bytes count against the space's quota (see
// docs/trash-versions.md) and are purged, oldest first, when a write needs
// the room.

// TrashItem is one deleted file or folder in a space's trash.
type TrashItem = store.TrashItem

// Version is one earlier content of a file.
type Version = store.Version

// Retention is how long a space keeps trash and versions.
type Retention = store.Retention

// Retained is what a space keeps in its trash and versions.
type Retained = store.Retained

type actorKey struct{}

// WithActor returns ctx carrying the name of the user a change is made
// for; the trash and versions record it. server sets it once for every
// authenticated request.
func WithActor(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, actorKey{}, user)
}

func actor(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

func (t *Tree) trashPath(spaceID, id string) string {
	return filepath.Join(t.trashDir, spaceID, id)
}

func (t *Tree) versionPath(spaceID, id string) string {
	return filepath.Join(t.versionsDir, spaceID, id)
}

// retainedID makes the id of a trash item or version of node id.
func retainedID(node int64) string { return strconv.FormatInt(node, 10) + "-" + randomHex()[:12] }

// retainedNode is the node id in a retained id; false if it has none.
func retainedNode(id string) (int64, bool) {
	i := strings.IndexByte(id, '-')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(id[:i], 10, 64)
	return n, err == nil
}

// validRetainedID refuses ids that are not ours before they reach a path.
func validRetainedID(id string) bool {
	if _, ok := retainedNode(id); !ok || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

// manifestNode is a node as a trash item keeps it: its path relative to
// the item ("" for the item itself).
type manifestNode struct {
	ID       int64     `json:"id"`
	ParentID int64     `json:"parent,omitempty"`
	Rel      string    `json:"rel"`
	Dir      bool      `json:"dir,omitempty"`
	Size     int64     `json:"size,omitempty"`
	MTime    time.Time `json:"mtime"`
	CTime    time.Time `json:"ctime"`
	ETag     string    `json:"etag"`
	SHA256   string    `json:"sha256,omitempty"`
	SHA1     string    `json:"sha1,omitempty"`
	MIME     string    `json:"mime,omitempty"`
	Blob     string    `json:"blob,omitempty"` // store.BlobNamed looks for it
	// Uploader is the user who uploaded the file (store.Tx.SetUploader),
	// 0 if unknown; a restore gives it back if the user still exists.
	Uploader int64 `json:"uploader,omitempty"`
}

// trashOut is Delete's part when the space has a trash: it records the
// subtree at p as a trash item and renames it to the trash. The caller
// has checked that p exists on disk.
func (t *Tree) trashOut(ctx context.Context, tx *store.Tx, st *spaceState, p string, now time.Time) (func(), error) {
	top, err := tx.Node(ctx, st.id, p)
	if err != nil {
		return nil, err
	}
	nodes := []Node{top}
	if top.IsDir {
		desc, err := tx.Descendants(ctx, st.id, p)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, desc...)
	}
	uploaders, err := tx.SubtreeUploaders(ctx, st.id, p)
	if err != nil {
		return nil, err
	}
	man := make([]manifestNode, len(nodes))
	files := 0
	for i, n := range nodes {
		rel := strings.TrimPrefix(strings.TrimPrefix(n.Path, p), "/")
		parent := n.ParentID
		if i == 0 {
			parent = 0
		}
		if !n.IsDir {
			files++
		}
		man[i] = manifestNode{ID: n.ID, ParentID: parent, Rel: rel, Dir: n.IsDir, Size: n.Size, MTime: n.MTime, CTime: n.CTime,
			ETag: n.ETag, SHA256: n.SHA256, SHA1: n.SHA1, MIME: n.MIME, Blob: n.Blob, Uploader: uploaders[n.ID]}
	}
	raw, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	id := retainedID(top.ID)
	size, err := tx.SubtreeBytes(ctx, st.id, p)
	if err != nil {
		return nil, err
	}
	err = tx.InsertTrash(ctx, store.TrashItem{ID: id, SpaceID: st.id, NodeID: top.ID, Path: p, IsDir: top.IsDir,
		Size: size, Files: files, DeletedBy: actor(ctx), DeletedAt: now, Nodes: string(raw)})
	if err != nil {
		return nil, err
	}
	if err := tx.TrashVersions(ctx, st.id, p, id); err != nil {
		return nil, err
	}
	if err := unindex(ctx, tx, st.id, p, now); err != nil {
		return nil, err
	}
	if t.objects() {
		return func() {}, nil // the item's rows hold its keys
	}
	if err := os.MkdirAll(filepath.Join(t.trashDir, st.id), dirPerm); err != nil {
		return nil, err
	}
	dst := t.trashPath(st.id, id)
	abs := st.abs(p)
	if err := os.Rename(abs, dst); err != nil {
		return nil, err
	}
	undo := func() { t.undo("take a deleted entry back from the trash", os.Rename(dst, abs)) }
	dir, _ := split(p)
	if err := syncDir(st.root, dir); err != nil {
		return undo, err
	}
	return undo, syncPath(filepath.Join(t.trashDir, st.id))
}

// Trash returns a space's trash, newest first. Errors: ErrNotFound for an
// unknown space.
func (t *Tree) Trash(ctx context.Context, spaceID string) ([]TrashItem, error) {
	if _, err := t.Space(ctx, spaceID); err != nil {
		return nil, err
	}
	items, err := t.db.TrashItems(ctx, spaceID)
	if err != nil {
		return nil, fail("list trash of "+spaceID, err)
	}
	return items, nil
}

// TrashItem returns one item of a space's trash (without its manifest), or
// ErrNotFound.
func (t *Tree) TrashItem(ctx context.Context, spaceID, id string) (TrashItem, error) {
	if !validRetainedID(id) {
		return TrashItem{}, fmt.Errorf("space: trash item %q: %w", id, ErrNotFound)
	}
	it, err := t.db.TrashItem(ctx, spaceID, id)
	if err != nil {
		return TrashItem{}, fail("get trash item "+spaceID+"/"+id, err)
	}
	it.Nodes = ""
	return it, nil
}

// Restore puts a trash item back where it was deleted from, or at to if
// not "", with its node ids, and returns its node. Errors: ErrNotFound
// (no such item); ErrExists if something is at the destination (a
// restore never replaces); ErrParentMissing / ErrNotDir if the
// destination's folder is gone; ErrBadPath; ErrQuota.
//
// It is two commits: the destination is recorded on the item first, so
// that a crash after the rename out of the trash but before the index
// commit is undone by Recover.
func (t *Tree) Restore(ctx context.Context, spaceID, id, to string) (Node, error) {
	what := fmt.Sprintf("restore %s/%s", spaceID, id)
	if !validRetainedID(id) {
		return Node{}, fail(what, ErrNotFound)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return Node{}, fail(what, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	it, err := t.db.TrashItem(ctx, spaceID, id)
	if err != nil {
		return Node{}, fail(what, err)
	}
	target := it.Path
	if to != "" {
		if target, err = Clean(to); err != nil {
			return Node{}, fail(what, err)
		}
		if target == "" {
			return Node{}, fail(what, fmt.Errorf("%w: the root", ErrExists))
		}
	}
	dir, name := split(target)
	free := func(tx *store.Tx) (Node, error) {
		parent, err := parentDir(ctx, tx.Reader, spaceID, dir)
		if err != nil {
			return Node{}, err
		}
		if _, err := tx.Node(ctx, spaceID, target); err == nil {
			return Node{}, fmt.Errorf("%w: %q (restore it elsewhere)", ErrExists, target)
		} else if !errors.Is(err, store.ErrNotFound) {
			return Node{}, err
		}
		if t.objects() {
			return parent, nil
		}
		if on, err := checkDiskEntry(st, target); err != nil || on {
			if err == nil {
				err = fmt.Errorf("%w: %q on disk", ErrExists, target)
			}
			return Node{}, err
		}
		return parent, checkDiskDir(st, dir)
	}
	err = t.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := free(tx); err != nil {
			return err
		}
		if err := checkQuota(ctx, tx.Reader, spaceID, it.Size); err != nil {
			return err
		}
		return tx.SetTrashRestoring(ctx, spaceID, id, target)
	})
	if err != nil {
		return Node{}, fail(what, parentGone(err))
	}
	var man []manifestNode
	if err := json.Unmarshal([]byte(it.Nodes), &man); err != nil || len(man) == 0 {
		t.clearRestoring(spaceID, id)
		return Node{}, fail(what, fmt.Errorf("the item's index rows are unreadable: %v", err))
	}
	sort.Slice(man, func(i, j int) bool { return man[i].Rel < man[j].Rel })
	now := t.clock()
	var top Node
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		parent, err := free(tx)
		if err != nil {
			return nil, err
		}
		for _, m := range man {
			n := Node{ID: m.ID, ParentID: m.ParentID, SpaceID: spaceID, Path: target, Name: name, IsDir: m.Dir, Size: m.Size,
				MTime: m.MTime, CTime: m.CTime, ETag: m.ETag, SHA256: m.SHA256, SHA1: m.SHA1, MIME: m.MIME, Blob: m.Blob}
			if m.Rel == "" {
				n.ParentID = parent.ID
				top = n
			} else {
				n.Path = target + "/" + m.Rel
				_, n.Name = split(n.Path)
			}
			if err := tx.InsertNodeWithID(ctx, n); err != nil {
				return nil, err
			}
			if m.Uploader != 0 {
				if err := tx.SetUploader(ctx, m.ID, m.Uploader); err != nil {
					return nil, err
				}
			}
		}
		if it.Size != 0 {
			if err := tx.AddUsed(ctx, spaceID, it.Size); err != nil {
				return nil, err
			}
		}
		if err := touchDir(ctx, tx, parent, now); err != nil {
			return nil, err
		}
		if err := tx.UntrashVersions(ctx, id); err != nil {
			return nil, err
		}
		if _, err := tx.DeleteTrash(ctx, spaceID, id); err != nil {
			return nil, err
		}
		if t.objects() {
			return func() {}, nil
		}
		src, abs := t.trashPath(spaceID, id), st.abs(target)
		if err := os.Rename(src, abs); err != nil {
			return nil, err
		}
		undo := func() { t.undo("put a restored entry back in the trash", os.Rename(abs, src)) }
		if err := syncDir(st.root, dir); err != nil {
			return undo, err
		}
		return undo, syncPath(filepath.Join(t.trashDir, spaceID))
	})
	if err != nil {
		t.clearRestoring(spaceID, id)
		return Node{}, fail(what, parentGone(err))
	}
	return t.db.NodeByID(ctx, top.ID)
}

func (t *Tree) clearRestoring(spaceID, id string) {
	err := t.db.Update(context.Background(), func(tx *store.Tx) error { return tx.SetTrashRestoring(context.Background(), spaceID, id, "") })
	if err != nil {
		t.log.Warn("cannot clear a failed restore's mark; the next start does", "space", spaceID, "item", id, "err", err)
	}
}

// Purge deletes items of a space's trash for good: those of ids, or all of
// them if ids is empty. It returns how many it purged. Errors: ErrNotFound
// for an unknown space or an id not in its trash (nothing is purged then).
func (t *Tree) Purge(ctx context.Context, spaceID string, ids ...string) (int, error) {
	what := "purge trash of " + spaceID
	st, err := t.open(spaceID)
	if err != nil {
		return 0, fail(what, err)
	}
	for _, id := range ids {
		if !validRetainedID(id) {
			return 0, fail(what, fmt.Errorf("%w: trash item %q", ErrNotFound, id))
		}
	}
	var gone []string
	st.mu.Lock()
	err = t.db.Update(ctx, func(tx *store.Tx) error {
		gone = gone[:0]
		if len(ids) == 0 {
			items, err := tx.TrashItems(ctx, spaceID)
			if err != nil {
				return err
			}
			for _, it := range items {
				if it.Restoring == "" {
					ids = append(ids, it.ID)
				}
			}
		}
		for _, id := range ids {
			paths, err := t.purgeEntry(ctx, tx, spaceID, store.RetainedEntry{Trash: true, ID: id})
			if err != nil {
				return err
			}
			gone = append(gone, paths...)
		}
		return nil
	})
	st.mu.Unlock()
	if err != nil {
		return 0, fail(what, err)
	}
	t.removeRetained(gone)
	return len(ids), nil
}

// purgeEntry deletes a trash item's or a version's rows and returns the
// files to remove once the transaction has committed. A crash before they
// are removed leaves files without rows, which Recover removes.
func (t *Tree) purgeEntry(ctx context.Context, tx *store.Tx, spaceID string, e store.RetainedEntry) ([]string, error) {
	if t.objects() {
		return t.purgeObjects(ctx, tx, spaceID, e)
	}
	if !e.Trash {
		if err := tx.DeleteVersion(ctx, spaceID, e.ID); err != nil {
			return nil, err
		}
		return []string{t.versionPath(spaceID, e.ID)}, nil
	}
	vs, err := tx.DeleteTrash(ctx, spaceID, e.ID)
	if err != nil {
		return nil, err
	}
	paths := []string{t.trashPath(spaceID, e.ID)}
	for _, v := range vs {
		paths = append(paths, t.versionPath(spaceID, v))
	}
	return paths, nil
}

// purgeObjects is purgeEntry in object-store mode: it returns the keys
// of the contents the entry held, recorded as orphans in tx.
func (t *Tree) purgeObjects(ctx context.Context, tx *store.Tx, spaceID string, e store.RetainedEntry) ([]string, error) {
	var keys []string
	if !e.Trash {
		v, err := tx.Version(ctx, spaceID, e.ID)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteVersion(ctx, spaceID, e.ID); err != nil {
			return nil, err
		}
		keys = append(keys, v.Blob)
	} else {
		it, err := tx.TrashItem(ctx, spaceID, e.ID)
		if err != nil {
			return nil, err
		}
		var man []manifestNode
		if err := json.Unmarshal([]byte(it.Nodes), &man); err != nil {
			return nil, fmt.Errorf("the index rows of trash item %s are unreadable: %v", e.ID, err)
		}
		for _, m := range man {
			if m.Blob != "" {
				keys = append(keys, m.Blob)
			}
		}
		vs, err := tx.SpaceVersions(ctx, spaceID)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.TrashID == e.ID {
				keys = append(keys, v.Blob)
			}
		}
		if _, err := tx.DeleteTrash(ctx, spaceID, e.ID); err != nil {
			return nil, err
		}
	}
	return keys, letGo(ctx, tx, t.clock(), keys...)
}

// removeRetained removes what purges let go, after their commit: files
// and folders of the trash and versions areas, or in object-store mode the
// objects of the keys.
func (t *Tree) removeRetained(paths []string) {
	if t.objects() {
		t.dropObjects(paths...)
		return
	}
	for _, p := range paths {
		if err := t.recycle(p); err != nil {
			t.log.Warn("cannot remove purged files; the next start does", "path", p, "err", err)
		}
	}
}

// makeRoom purges a space's oldest trash items and versions until its
// visible and retained bytes fit its quota again, and returns the files to
// remove after the commit. The visible bytes are checked against the quota
// by the write itself: retained bytes only ever take the room left.
func (t *Tree) makeRoom(ctx context.Context, tx *store.Tx, spaceID string) ([]string, error) {
	s, err := tx.Space(ctx, spaceID)
	if err != nil || s.QuotaBytes == 0 {
		return nil, err
	}
	ret, err := tx.SpaceRetained(ctx, spaceID)
	if err != nil {
		return nil, err
	}
	over := s.UsedBytes + ret.Bytes() - s.QuotaBytes
	if over <= 0 {
		return nil, nil
	}
	entries, err := tx.OldestRetained(ctx, spaceID, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if over <= 0 {
			break
		}
		ps, err := t.purgeEntry(ctx, tx, spaceID, e)
		if err != nil {
			return nil, err
		}
		paths = append(paths, ps...)
		over -= e.Size
	}
	return paths, nil
}

// Retention returns a space's retention. Errors: ErrNotFound.
func (t *Tree) Retention(ctx context.Context, spaceID string) (Retention, error) {
	r, err := t.db.SpaceRetention(ctx, spaceID)
	if err != nil {
		return Retention{}, fail("get retention of "+spaceID, err)
	}
	return r, nil
}

// SetRetention sets a space's retention; the next Expire applies it to
// what the space holds. Errors: ErrNotFound, ErrBadPath for a negative
// value.
func (t *Tree) SetRetention(ctx context.Context, spaceID string, r Retention) error {
	what := "set retention of " + spaceID
	if r.TrashDays < 0 || r.KeepVersions < 0 || r.VersionDays < 0 {
		return fail(what, fmt.Errorf("%w: negative retention %+v", ErrBadPath, r))
	}
	if err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.SetSpaceRetention(ctx, spaceID, r) }); err != nil {
		return fail(what, err)
	}
	return nil
}

// Retained returns what a space keeps in its trash and versions. Errors:
// ErrNotFound.
func (t *Tree) Retained(ctx context.Context, spaceID string) (Retained, error) {
	if _, err := t.Space(ctx, spaceID); err != nil {
		return Retained{}, err
	}
	r, err := t.db.SpaceRetained(ctx, spaceID)
	if err != nil {
		return Retained{}, fail("sum trash and versions of "+spaceID, err)
	}
	return r, nil
}

// Expire purges what a space's retention no longer keeps: trash items
// older than its days, versions older than theirs or beyond the count
// kept per file, versions of files that are gone, and the oldest of all
// while the space is over its quota. It returns how many trash items and
// versions it purged.
func (t *Tree) Expire(ctx context.Context, spaceID string) (int, error) {
	what := "expire trash and versions of " + spaceID
	st, err := t.open(spaceID)
	if err != nil {
		return 0, fail(what, err)
	}
	now := t.clock()
	var gone []string
	count := 0
	st.mu.Lock()
	err = t.db.Update(ctx, func(tx *store.Tx) error {
		gone, count = gone[:0], 0
		r, err := tx.SpaceRetention(ctx, spaceID)
		if err != nil {
			return err
		}
		// Zero days in the trash: the trash is off, nothing stays.
		trashBefore := now.Add(time.Nanosecond)
		if r.TrashDays > 0 {
			trashBefore = now.AddDate(0, 0, -r.TrashDays)
		}
		versionsBefore := time.Time{}
		if r.KeepVersions == 0 {
			versionsBefore = now.Add(time.Nanosecond)
		} else if r.VersionDays > 0 {
			versionsBefore = now.AddDate(0, 0, -r.VersionDays)
		}
		entries, err := tx.OldestRetained(ctx, spaceID, trashBefore, versionsBefore)
		if err != nil {
			return err
		}
		if versionsBefore.IsZero() {
			// No age limit: only trash items are due.
			kept := entries[:0]
			for _, e := range entries {
				if e.Trash {
					kept = append(kept, e)
				}
			}
			entries = kept
		}
		stray, err := tx.StrayVersions(ctx, spaceID)
		if err != nil {
			return err
		}
		for _, id := range stray {
			entries = append(entries, store.RetainedEntry{ID: id})
		}
		// Beyond the count kept per file, newest first.
		all, err := tx.SpaceVersions(ctx, spaceID)
		if err != nil {
			return err
		}
		perNode := map[int64]int{}
		for i := len(all) - 1; i >= 0; i-- {
			v := all[i]
			perNode[v.NodeID]++
			if perNode[v.NodeID] > r.KeepVersions && v.TrashID == "" {
				entries = append(entries, store.RetainedEntry{ID: v.ID})
			}
		}
		done := map[string]bool{}
		for _, e := range entries {
			if done[e.ID] {
				continue
			}
			done[e.ID] = true
			ps, err := t.purgeEntry(ctx, tx, spaceID, e)
			if errors.Is(err, store.ErrNotFound) {
				continue // a version that went with a trash item purged before it
			}
			if err != nil {
				return err
			}
			gone = append(gone, ps...)
			count++
		}
		ps, err := t.makeRoom(ctx, tx, spaceID)
		gone = append(gone, ps...)
		if len(ps) > 0 {
			count++
		}
		return err
	})
	st.mu.Unlock()
	if err != nil {
		return 0, fail(what, err)
	}
	t.removeRetained(gone)
	return count, nil
}

// Recover completes or undoes what a crash cut short in the trash and the
// versions, and removes files a purge left: run it at start, before
// serving (and from wharf check --repair with the server stopped).
//
//   - A trash item marked as being restored: if its entry has left the
//     trash, the restore did not commit; the entry goes back.
//   - An entry in the trash without a row: a delete that did not commit
//     (its node is still indexed and missing on disk: it goes back), or a
//     purge that committed (removed).
//   - A version file without a row: an overwrite or a version restore that
//     did not commit (the file still holds what the index says and the
//     file in the space does not: it goes back), or a purge (removed).
//   - Folders of spaces that no longer exist are removed.
//
// It returns one line per thing it did.
func (t *Tree) Recover(ctx context.Context) ([]string, error) {
	if t.objects() {
		return t.recoverObjects(ctx)
	}
	var did []string
	spaces, err := t.db.Spaces(ctx)
	if err != nil {
		return nil, fail("recover trash and versions", err)
	}
	known := map[string]bool{}
	for _, s := range spaces {
		known[s.ID] = true
		d, err := t.recoverSpace(ctx, s.ID)
		did = append(did, d...)
		if err != nil {
			return did, err
		}
	}
	for _, base := range []string{t.trashDir, t.versionsDir} {
		es, err := os.ReadDir(base)
		if err != nil {
			return did, fail("recover trash and versions", err)
		}
		for _, e := range es {
			if !known[e.Name()] {
				if err := os.RemoveAll(filepath.Join(base, e.Name())); err != nil {
					return did, fail("recover trash and versions", err)
				}
				did = append(did, "removed the trash or versions of deleted space "+e.Name())
			}
		}
	}
	return did, nil
}

func (t *Tree) recoverSpace(ctx context.Context, spaceID string) ([]string, error) {
	what := "recover trash and versions of " + spaceID
	st, err := t.open(spaceID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(what, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var did []string
	// Restores cut short.
	items, err := t.db.TrashItems(ctx, spaceID)
	if err != nil {
		return nil, fail(what, err)
	}
	rows := map[string]bool{}
	for _, it := range items {
		rows[it.ID] = true
		if it.Restoring == "" {
			continue
		}
		src := t.trashPath(spaceID, it.ID)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			if _, err := t.db.Node(ctx, spaceID, it.Restoring); errors.Is(err, store.ErrNotFound) {
				if err := os.Rename(st.abs(it.Restoring), src); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return did, fail(what, err)
				}
				did = append(did, fmt.Sprintf("put %s/%s back in the trash (its restore did not complete)", spaceID, it.Restoring))
			}
		}
		if err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.SetTrashRestoring(ctx, spaceID, it.ID, "") }); err != nil {
			return did, fail(what, err)
		}
	}
	// Trash entries without rows.
	es, err := readDirIfAny(filepath.Join(t.trashDir, spaceID))
	if err != nil {
		return did, fail(what, err)
	}
	for _, e := range es {
		if rows[e.Name()] {
			continue
		}
		name := t.trashPath(spaceID, e.Name())
		if node, ok := retainedNode(e.Name()); ok {
			if n, err := t.db.NodeByID(ctx, node); err == nil && n.SpaceID == spaceID {
				if on, err := checkDiskEntry(st, n.Path); err == nil && !on {
					if err := os.Rename(name, st.abs(n.Path)); err != nil {
						return did, fail(what, err)
					}
					did = append(did, fmt.Sprintf("put %s/%s back (its delete did not complete)", spaceID, n.Path))
					continue
				}
			}
		}
		if err := os.RemoveAll(name); err != nil {
			return did, fail(what, err)
		}
		did = append(did, fmt.Sprintf("removed %s: in the trash of %s without a record (purged)", e.Name(), spaceID))
	}
	// Version files without rows.
	vs, err := t.db.SpaceVersions(ctx, spaceID)
	if err != nil {
		return did, fail(what, err)
	}
	vrows := map[string]bool{}
	for _, v := range vs {
		vrows[v.ID] = true
	}
	es, err = readDirIfAny(filepath.Join(t.versionsDir, spaceID))
	if err != nil {
		return did, fail(what, err)
	}
	for _, e := range es {
		if vrows[e.Name()] {
			continue
		}
		name := t.versionPath(spaceID, e.Name())
		if back, p := t.versionGoesBack(ctx, st, e.Name(), name); back {
			if err := os.Rename(name, st.abs(p)); err != nil {
				return did, fail(what, err)
			}
			did = append(did, fmt.Sprintf("put the content of %s/%s back (its replacement did not complete)", spaceID, p))
			continue
		}
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return did, fail(what, err)
		}
		did = append(did, fmt.Sprintf("removed version %s of %s: no record (purged)", e.Name(), spaceID))
	}
	for _, dir := range []string{t.trashDir, t.versionsDir} {
		if err := syncPath(filepath.Join(dir, spaceID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return did, fail(what, err)
		}
	}
	return did, nil
}

// versionGoesBack reports whether an unrecorded version file holds what
// the index says its file holds while the file in the space does not: an
// overwrite that renamed the new content in but did not commit.
func (t *Tree) versionGoesBack(ctx context.Context, st *spaceState, id, name string) (bool, string) {
	node, ok := retainedNode(id)
	if !ok {
		return false, ""
	}
	n, err := t.db.NodeByID(ctx, node)
	if err != nil || n.SpaceID != st.id || n.IsDir {
		return false, ""
	}
	vfi, err := os.Lstat(name)
	if err != nil || !vfi.Mode().IsRegular() || vfi.Size() != n.Size || !stamp(vfi.ModTime()).Equal(n.MTime) {
		return false, ""
	}
	cfi, err := st.root.Lstat(diskPath(n.Path))
	if err != nil {
		return errors.Is(err, fs.ErrNotExist), n.Path
	}
	if os.SameFile(vfi, cfi) {
		return false, ""
	}
	if cfi.Size() != n.Size || !stamp(cfi.ModTime()).Equal(n.MTime) {
		return true, n.Path
	}
	// Both look alike: the bytes decide.
	sum, err := hashFile(ctx, st.abs(n.Path))
	return err == nil && sum != n.SHA256, n.Path
}

func readDirIfAny(dir string) ([]os.DirEntry, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

// VerifyRetained compares a space's trash and version records with the
// files in trash/ and versions/, and returns one line per difference.
func (t *Tree) VerifyRetained(ctx context.Context, spaceID string) ([]string, error) {
	what := "verify trash and versions of " + spaceID
	var probs []string
	items, err := t.db.TrashItems(ctx, spaceID)
	if err != nil {
		return nil, fail(what, err)
	}
	vs, err := t.db.SpaceVersions(ctx, spaceID)
	if err != nil {
		return nil, fail(what, err)
	}
	if t.objects() {
		probs, err := t.verifyRetainedObjects(ctx, spaceID, items, vs)
		if err != nil {
			return probs, fail(what, err)
		}
		return probs, nil
	}
	rows := map[string]bool{}
	for _, it := range items {
		rows["t/"+it.ID] = true
		if _, err := os.Lstat(t.trashPath(spaceID, it.ID)); err != nil {
			probs = append(probs, fmt.Sprintf("trash: %s: item %s (%s) has no files in trash/", spaceID, it.ID, it.Path))
		}
		if it.Restoring != "" {
			probs = append(probs, fmt.Sprintf("trash: %s: item %s is half restored to %s", spaceID, it.ID, it.Restoring))
		}
	}
	for _, v := range vs {
		rows["v/"+v.ID] = true
		fi, err := os.Lstat(t.versionPath(spaceID, v.ID))
		if err != nil {
			probs = append(probs, fmt.Sprintf("versions: %s: version %s has no file in versions/", spaceID, v.ID))
		} else if fi.Size() != v.Size {
			probs = append(probs, fmt.Sprintf("versions: %s: version %s has %d bytes, recorded %d", spaceID, v.ID, fi.Size(), v.Size))
		}
	}
	for _, k := range []struct{ dir, pfx, what string }{{t.trashDir, "t/", "trash"}, {t.versionsDir, "v/", "versions"}} {
		es, err := readDirIfAny(filepath.Join(k.dir, spaceID))
		if err != nil {
			return nil, fail(what, err)
		}
		for _, e := range es {
			if !rows[k.pfx+e.Name()] {
				probs = append(probs, fmt.Sprintf("%s: %s: %s has no record", k.what, spaceID, e.Name()))
			}
		}
	}
	return probs, nil
}

// The file system is short of room below the smaller of these (diskLow).
const (
	lowDiskBytes = 64 << 20
	lowDiskPart  = 50
)
