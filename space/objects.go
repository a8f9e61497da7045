package space

// Object-store mode (Config.Blobs, docs/scale-out.md). A file's content is
// then the object named by its node's Blob key, not a file at its path in
// the data directory: a key is made for each content written and never
// reused, so a rename, a move, a delete into the trash or a version are
// changes of rows only, and readers on any replica never see an object
// change under them. The data directory keeps only what one process works
// on alone: the staging files of writes in progress.
//
// Every object the store may hold is named by a row or recorded in
// blob_orphans (store/blobs.go): a write records its key before storing
// the object and claims the record in the transaction that names it; a
// transaction that stops naming an object records it, and the object is
// deleted after the commit. The collector (CollectObjects) finishes what a
// crash interrupted.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/store"
)

// File is a file's content opened for reading: what http.ServeContent
// needs, and random access. In the data directory's layout it is the
// *os.File (so a response can use sendfile); in object-store mode a
// blob.Reader.
type File interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// objects reports whether the tree keeps contents in an object store.
func (t *Tree) objects() bool { return t.blobs != nil }

// newObjectKey makes the key of a new content of a file of a space:
// c/<space>/<128 random bits>. The space is the one the content was
// written in (a move to another space keeps the key), for a person
// reading the bucket; a space's deletion and wharf check go by the rows.
func newObjectKey(spaceID string) string {
	var b [16]byte
	rand.Read(b[:])
	return "c/" + spaceID + "/" + hex.EncodeToString(b[:])
}

// storeObject stores the staged file name as a new object of the space and
// returns its key, recorded as an orphan until an install claims it.
func (t *Tree) storeObject(ctx context.Context, spaceID, name string) (string, error) {
	key := newObjectKey(spaceID)
	if err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.AddBlobOrphan(ctx, key, t.clock()) }); err != nil {
		return "", err
	}
	f, err := os.Open(name)
	if err != nil {
		t.dropObjects(key)
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil {
		_, err = t.blobs.Put(ctx, key, f, fi.Size())
	}
	if err != nil {
		t.dropObjects(key)
		return "", fmt.Errorf("store the content: %w", err)
	}
	return key, nil
}

// copyObject copies the object src to a new key of the space, recorded as
// an orphan until the caller's transaction claims it.
func (t *Tree) copyObject(ctx context.Context, spaceID, src string) (string, error) {
	key := newObjectKey(spaceID)
	if err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.AddBlobOrphan(ctx, key, t.clock()) }); err != nil {
		return "", err
	}
	if _, err := t.blobs.Copy(ctx, src, key); err != nil {
		t.dropObjects(key)
		if errors.Is(err, blob.ErrNotFound) {
			t.log.Warn("indexed content missing in the object store; run wharf check", "key", src)
			return "", fmt.Errorf("%w in the object store", ErrNotFound)
		}
		return "", fmt.Errorf("copy the content: %w", err)
	}
	return key, nil
}

// letGo records, inside tx, the keys a change stops naming; the caller
// deletes them after the commit (dropObjects).
func letGo(ctx context.Context, tx *store.Tx, now time.Time, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := tx.AddBlobOrphan(ctx, k, now); err != nil {
			return err
		}
	}
	return nil
}

// dropObjects deletes objects that no row names (recorded as orphans) and
// forgets them. What fails is left to the collector.
func (t *Tree) dropObjects(keys ...string) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var gone []string
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := t.blobs.Delete(ctx, k); err != nil {
			t.log.Warn("cannot delete an object no file names; the collector retries", "key", k, "err", err)
			continue
		}
		gone = append(gone, k)
	}
	err := t.db.Update(ctx, func(tx *store.Tx) error {
		for _, k := range gone {
			if err := tx.DropBlobOrphan(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.log.Warn("cannot forget deleted objects; the collector does", "err", err)
	}
}

// CollectObjects deletes the objects recorded as orphans for longer than
// grace that no row names (what a crash left between a write's store and
// its install, or between a commit and its deletes). Records of objects a
// row names (a processing job or a tus upload waiting to install them)
// stay: their install claims them. The grace must exceed the longest
// store of one content in progress. It returns how many objects it
// deleted. Without an object store it does nothing.
func (t *Tree) CollectObjects(ctx context.Context, grace time.Duration) (int, error) {
	if !t.objects() {
		return 0, nil
	}
	const page = 500
	n, after := 0, ""
	for {
		keys, err := t.db.BlobOrphans(ctx, t.now().Add(-grace), after, page)
		if err != nil || len(keys) == 0 {
			return n, err
		}
		after = keys[len(keys)-1]
		var gone []string
		// Claimed in one transaction: an install that comes after, which
		// claims its own record, fails rather than name an object being
		// deleted.
		err = t.db.Update(ctx, func(tx *store.Tx) error {
			gone = gone[:0]
			for _, k := range keys {
				named, err := tx.BlobNamed(ctx, k)
				if err != nil {
					return err
				}
				if named {
					continue
				}
				if err := tx.DropBlobOrphan(ctx, k); err != nil {
					return err
				}
				gone = append(gone, k)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		for _, k := range gone {
			if err := t.blobs.Delete(ctx, k); err != nil {
				// Recorded again, for the next pass.
				_ = t.db.Update(ctx, func(tx *store.Tx) error { return tx.AddBlobOrphan(ctx, k, time.Unix(0, 0)) })
				return n, fmt.Errorf("space: collect objects: %w", err)
			}
			n++
		}
		if len(keys) < page {
			return n, nil
		}
	}
}

// ObjectMode reports whether the tree keeps contents in an object store
// (Config.Blobs): then writers that keep bytes for later (a processing
// job, a tus upload) keep them as objects (NewObject, StoreStaged), which
// every replica can read, and install them with PutObject.
func (t *Tree) ObjectMode() bool { return t.objects() }

// NewObject makes the key of a new content of a file of the space and
// records it as an orphan: the caller stores the object under it (a tus
// upload's staging completes there) and installs it with PutObject, or
// lets it go with DiscardObject; a row of the caller's must name it while
// it waits (a job's or an upload's blob), or the collector takes it after
// its grace.
func (t *Tree) NewObject(ctx context.Context, spaceID string) (string, error) {
	if !t.objects() {
		return "", errors.New("space: NewObject: " + errNoObjects)
	}
	if !ValidID(spaceID) {
		return "", fmt.Errorf("space: %w: %q", ErrBadID, spaceID)
	}
	key := newObjectKey(spaceID)
	if err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.AddBlobOrphan(ctx, key, t.clock()) }); err != nil {
		return "", fmt.Errorf("space: new object: %w", err)
	}
	return key, nil
}

// StoreStaged stores a staged file (Stage's) as a new object of the space
// and returns its key, recorded as NewObject's are. The staged file stays.
func (t *Tree) StoreStaged(ctx context.Context, spaceID, name string) (string, error) {
	if !t.objects() {
		return "", errors.New("space: StoreStaged: " + errNoObjects)
	}
	key, err := t.storeObject(ctx, spaceID, name)
	if err != nil {
		return "", fmt.Errorf("space: %w", err)
	}
	return key, nil
}

// PutObject is PutFile for content already in the object store under key
// (made by NewObject or StoreStaged): the install names it. sha256hex is
// its SHA-256, which the caller computed (the store's ETags are no
// checksum); o.KnownSHA1 its SHA-1 if known. ExpectedSize, if >= 0, must
// equal the object's size. On error the object stays the caller's.
func (t *Tree) PutObject(ctx context.Context, spaceID, p, key, sha256hex string, o PutOptions) (Node, bool, error) {
	p, what, st, err := t.fileIn("put", spaceID, p)
	if err != nil {
		return Node{}, false, err
	}
	if !t.objects() {
		return Node{}, false, fail(what, errors.New(errNoObjects))
	}
	if b, err := hex.DecodeString(sha256hex); err != nil || len(b) != 32 {
		return Node{}, false, fail(what, fmt.Errorf("bad SHA-256 %q", sha256hex))
	}
	info, err := t.blobs.Stat(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		err = fmt.Errorf("%w: object %s", ErrNotFound, key)
	}
	if err != nil {
		return Node{}, false, fail(what, err)
	}
	if o.ExpectedSize >= 0 && info.Size != o.ExpectedSize {
		return Node{}, false, fail(what, fmt.Errorf("%w: %d bytes stored, %d announced", ErrSizeMismatch, info.Size, o.ExpectedSize))
	}
	mtime := o.MTime
	if mtime.IsZero() {
		mtime = t.now()
	}
	o.object = key
	n, created, err := t.install(ctx, st, spaceID, p, "", info.Size, Sums{SHA256: sha256hex, SHA1: o.KnownSHA1}, stamp(mtime), o)
	if err != nil {
		return Node{}, false, fail(what, err)
	}
	return n, created, nil
}

// DiscardObject deletes an object made by NewObject or StoreStaged that
// will not be installed (a rejected upload, an abandoned one).
func (t *Tree) DiscardObject(ctx context.Context, key string) error {
	if !t.objects() {
		return errors.New("space: DiscardObject: " + errNoObjects)
	}
	err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.AddBlobOrphan(ctx, key, t.clock()) })
	if err != nil {
		return fmt.Errorf("space: discard object: %w", err)
	}
	t.dropObjects(key)
	return nil
}

// FetchObject copies an object (made by NewObject or StoreStaged, or a
// file's) into a new local file name, for a step that reads a file.
func (t *Tree) FetchObject(ctx context.Context, key, name string) error {
	if !t.objects() {
		return errors.New("space: FetchObject: " + errNoObjects)
	}
	if err := t.fetchObject(ctx, key, name); err != nil {
		return fmt.Errorf("space: fetch object %s: %w", key, err)
	}
	return nil
}

// TempName returns the name of a new file in the data directory's
// uploads/ for a caller's temporary copy (a job's object fetched for its
// steps); like staging files, one left by a crash is removed at the next
// start.
func (t *Tree) TempName() string { return t.trashName() }

const errNoObjects = "the tree keeps no object store"

// openObject opens the content of n in the object store.
func (t *Tree) openObject(ctx context.Context, n Node) (File, error) {
	if n.Blob == "" {
		return nil, fmt.Errorf("%w: no object names the content (a file of the data directory's layout)", ErrNotFound)
	}
	r, err := t.blobs.Open(ctx, n.Blob)
	if errors.Is(err, blob.ErrNotFound) {
		t.log.Warn("indexed content missing in the object store; run wharf check", "space", n.SpaceID, "path", n.Path, "key", n.Blob)
		return nil, fmt.Errorf("%w in the object store", ErrNotFound)
	}
	return r, err
}

// fetchObject copies the object key into a new file name.
func (t *Tree) fetchObject(ctx context.Context, key, name string) error {
	r, err := t.blobs.Open(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// errObjectMode refuses what only the data directory's layout has.
var errObjectMode = errors.New("not available in object-store mode (the contents are objects, not files of the data directory)")

// verifyObjects is Verify in object-store mode: every indexed file's
// object must exist with the indexed size, and with hashes hold the
// indexed SHA-256. Objects no row names are the collector's (orphans) or
// wharf check's concern, not a space's.
func (t *Tree) verifyObjects(ctx context.Context, spaceID string, known map[string]Node, hashes bool) ([]Problem, error) {
	var found []Problem
	for _, n := range sortedNodes(known) {
		if n.IsDir || n.Path == "" {
			continue
		}
		if n.Blob == "" {
			found = append(found, Problem{MissingOnDisk, spaceID, n.Path, "no object names its content"})
			continue
		}
		info, err := t.blobs.Stat(ctx, n.Blob)
		if errors.Is(err, blob.ErrNotFound) {
			found = append(found, Problem{MissingOnDisk, spaceID, n.Path, "object " + n.Blob + " is missing"})
			continue
		}
		if err != nil {
			return found, err
		}
		if info.Size != n.Size {
			found = append(found, Problem{SizeMismatch, spaceID, n.Path, fmt.Sprintf("object %d bytes, index %d", info.Size, n.Size)})
			continue
		}
		if hashes {
			r, err := t.blobs.Open(ctx, n.Blob)
			if err != nil {
				return found, err
			}
			sum, err := hashReader(ctx, r)
			r.Close()
			if err != nil {
				return found, err
			}
			if sum != n.SHA256 {
				found = append(found, Problem{HashMismatch, spaceID, n.Path, fmt.Sprintf("object %s, index %s", sum, n.SHA256)})
			}
		}
	}
	return found, nil
}

// verifyRetainedObjects is VerifyRetained in object-store mode.
func (t *Tree) verifyRetainedObjects(ctx context.Context, spaceID string, items []store.TrashItem, vs []store.Version) ([]string, error) {
	var probs []string
	missing := func(key string) (bool, error) {
		_, err := t.blobs.Stat(ctx, key)
		if errors.Is(err, blob.ErrNotFound) {
			return true, nil
		}
		return false, err
	}
	for _, it := range items {
		if it.Restoring != "" {
			probs = append(probs, fmt.Sprintf("trash: %s: item %s is half restored to %s", spaceID, it.ID, it.Restoring))
		}
		full, err := t.db.TrashItem(ctx, spaceID, it.ID)
		if err != nil {
			return probs, err
		}
		var man []manifestNode
		if err := jsonUnmarshal(full.Nodes, &man); err != nil {
			probs = append(probs, fmt.Sprintf("trash: %s: item %s has unreadable rows", spaceID, it.ID))
			continue
		}
		for _, m := range man {
			if m.Dir {
				continue
			}
			gone, err := missing(m.Blob)
			if err != nil {
				return probs, err
			}
			if gone || m.Blob == "" {
				probs = append(probs, fmt.Sprintf("trash: %s: item %s: the object of %q is missing", spaceID, it.ID, m.Rel))
			}
		}
	}
	for _, v := range vs {
		gone, err := missing(v.Blob)
		if err != nil {
			return probs, err
		}
		if gone || v.Blob == "" {
			probs = append(probs, fmt.Sprintf("versions: %s: version %s has no object", spaceID, v.ID))
		}
	}
	return probs, nil
}

// exportObject is Export in object-store mode: a copy of the object of
// the file at p, with the file's mtime.
func (t *Tree) exportObject(ctx context.Context, spaceID, p, dst string) (fs.FileInfo, error) {
	n, err := t.db.Node(ctx, spaceID, p)
	if err != nil {
		return nil, err
	}
	if n.IsDir {
		return nil, ErrIsDir
	}
	if n.Blob == "" {
		return nil, fmt.Errorf("%w: no object names its content", ErrNotFound)
	}
	if err := t.fetchObject(ctx, n.Blob, dst); err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			err = fmt.Errorf("%w in the object store", ErrNotFound)
		}
		return nil, err
	}
	if err := os.Chtimes(dst, time.Time{}, n.MTime); err != nil {
		os.Remove(dst)
		return nil, err
	}
	return os.Stat(dst)
}

// recoverObjects is Recover in object-store mode: restores and deletes
// change rows only, in one transaction, so nothing is half done but a
// restore's mark, cleared here.
func (t *Tree) recoverObjects(ctx context.Context) ([]string, error) {
	spaces, err := t.db.Spaces(ctx)
	if err != nil {
		return nil, fail("recover trash and versions", err)
	}
	var did []string
	for _, s := range spaces {
		items, err := t.db.TrashItems(ctx, s.ID)
		if err != nil {
			return did, fail("recover trash and versions", err)
		}
		for _, it := range items {
			if it.Restoring == "" {
				continue
			}
			err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.SetTrashRestoring(ctx, s.ID, it.ID, "") })
			if err != nil {
				return did, fail("recover trash and versions", err)
			}
			did = append(did, fmt.Sprintf("trash: %s: item %s was not restored; it stays in the trash", s.ID, it.ID))
		}
	}
	return did, nil
}

// deleteSpaceObjects is DeleteSpace in object-store mode: the rows go in
// one transaction, which records the space's objects as orphans; they are
// deleted after it.
func (t *Tree) deleteSpaceObjects(ctx context.Context, st *spaceState, id string) error {
	var keys []string
	err := t.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if keys, err = tx.SpaceBlobs(ctx, id); err != nil {
			return err
		}
		items, err := tx.TrashItems(ctx, id)
		if err != nil {
			return err
		}
		for _, it := range items {
			full, err := tx.TrashItem(ctx, id, it.ID)
			if err != nil {
				return err
			}
			var man []manifestNode
			if err := jsonUnmarshal(full.Nodes, &man); err != nil {
				return fmt.Errorf("the rows of trash item %s are unreadable: %v", it.ID, err)
			}
			for _, m := range man {
				if m.Blob != "" {
					keys = append(keys, m.Blob)
				}
			}
		}
		if err := tx.DeleteSpace(ctx, id); err != nil {
			return err
		}
		return letGo(ctx, tx, t.clock(), keys...)
	})
	if err != nil {
		return err
	}
	t.forget(id)
	os.RemoveAll(st.dir)
	t.dropObjects(keys...)
	return nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
