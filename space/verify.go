package space

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/wharfhq/wharf/store"
)

// Problem kinds reported by Verify.
const (
	// MissingOnDisk: the index has a file or directory the disk does not.
	MissingOnDisk = "missing"
	// NotIndexed: the disk has a file or directory the index does not.
	NotIndexed = "not indexed"
	// KindMismatch: a file on one side is a directory on the other.
	KindMismatch = "kind"
	// SizeMismatch: the file's size differs from the index's.
	SizeMismatch = "size"
	// MTimeMismatch: the file's modification time differs from the index's.
	MTimeMismatch = "mtime"
	// HashMismatch: the file's SHA-256 differs from the index's (only when
	// Verify hashes).
	HashMismatch = "sha256"
	// Skipped: something Reindex never indexes (a symbolic link, a special
	// file, a name that is not clean NFC). Not an error of the index.
	Skipped = "skipped"
)

// Problem is one disagreement between a space's index and its directory.
type Problem struct {
	Kind   string // one of the kinds above
	Space  string
	Path   string
	Detail string
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s: %s/%s", p.Kind, p.Space, p.Path)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// Verify compares a space's index with its directory on disk and returns
// what disagrees, ordered by path; it changes nothing. With hashes, every
// indexed file is read and its SHA-256 compared. It may run while writers
// change the space: a difference is re-checked once before it is reported,
// so a write caught between its rename and its commit is not reported.
// It returns ErrNotFound for an unknown space.
func (t *Tree) Verify(ctx context.Context, spaceID string, hashes bool) ([]Problem, error) {
	what := fmt.Sprintf("verify space %q", spaceID)
	if _, err := t.db.Space(ctx, spaceID); err != nil {
		return nil, fail(what, err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return nil, fail(what, err)
	}
	known, err := indexMap(ctx, t.db.Reader, spaceID)
	if err != nil {
		return nil, fail(what, err)
	}
	if t.objects() {
		found, err := t.verifyObjects(ctx, spaceID, known, hashes)
		if err != nil {
			return found, fail(what, err)
		}
		return found, nil
	}
	var found []Problem
	seen := map[string]bool{}
	err = fs.WalkDir(st.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == "." {
				return err
			}
			found = append(found, Problem{Skipped, spaceID, name, err.Error()})
			return nil
		}
		if name == "." {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		skip := func(why string) error {
			found = append(found, Problem{Skipped, spaceID, name, why})
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p, err := Clean(name); err != nil || p != name {
			return skip("not a clean NFC name")
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return skip("a symbolic link")
		case !d.IsDir() && !d.Type().IsRegular():
			return skip("a special file")
		}
		seen[name] = true
		if pr, ok := t.compare(ctx, st, known[name], name, hashes); !ok {
			found = append(found, pr)
			if pr.Kind == NotIndexed && d.IsDir() {
				return fs.SkipDir // everything below is not indexed either
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail(what, err)
	}
	for p, n := range known {
		if p == "" || seen[p] || goneAbove(p, missingSet(found)) {
			continue
		}
		if pr, ok := t.compare(ctx, st, n, p, false); !ok {
			found = append(found, pr)
		}
	}
	if _, ok := known[""]; !ok {
		found = append(found, Problem{MissingOnDisk, spaceID, "", "the space's root has no index row"})
	}
	// Re-check each difference: a writer may have been half-way.
	out := found[:0]
	for _, pr := range found {
		if pr.Kind != Skipped && pr.Path != "" {
			n, err := t.db.Node(ctx, spaceID, pr.Path)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fail(what, err)
			}
			if err != nil {
				n = Node{}
			}
			var ok bool
			if pr, ok = t.compare(ctx, st, n, pr.Path, hashes); ok {
				continue
			}
		}
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func missingSet(ps []Problem) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		if p.Kind == MissingOnDisk || p.Kind == KindMismatch || p.Kind == NotIndexed {
			m[p.Path] = true
		}
	}
	return m
}

// compare checks one path: n is its node (ID 0: not indexed). ok is true
// when disk and index agree.
func (t *Tree) compare(ctx context.Context, st *spaceState, n Node, p string, hashes bool) (Problem, bool) {
	pr := Problem{Space: st.id, Path: p}
	fi, err := st.root.Lstat(diskPath(p))
	switch {
	case errors.Is(err, fs.ErrNotExist) && n.ID == 0:
		return pr, true // gone from both
	case errors.Is(err, fs.ErrNotExist):
		pr.Kind = MissingOnDisk
		return pr, false
	case err != nil:
		pr.Kind, pr.Detail = MissingOnDisk, err.Error()
		return pr, false
	case n.ID == 0:
		pr.Kind = NotIndexed
		return pr, false
	case fi.IsDir() != n.IsDir:
		pr.Kind, pr.Detail = KindMismatch, fmt.Sprintf("index says directory=%v, disk says directory=%v", n.IsDir, fi.IsDir())
		return pr, false
	case fi.IsDir():
		return pr, true
	case fi.Size() != n.Size:
		pr.Kind, pr.Detail = SizeMismatch, fmt.Sprintf("index %d bytes, disk %d", n.Size, fi.Size())
		return pr, false
	case !stamp(fi.ModTime()).Equal(n.MTime):
		pr.Kind, pr.Detail = MTimeMismatch, fmt.Sprintf("index %s, disk %s", n.MTime.Format(time.RFC3339Nano), stamp(fi.ModTime()).Format(time.RFC3339Nano))
		return pr, false
	}
	if hashes {
		f, err := st.root.Open(diskPath(p))
		if err != nil {
			pr.Kind, pr.Detail = MissingOnDisk, err.Error()
			return pr, false
		}
		sum, err := hashReader(ctx, f)
		f.Close()
		if err != nil {
			pr.Kind, pr.Detail = HashMismatch, "cannot read: "+err.Error()
			return pr, false
		}
		if sum != n.SHA256 {
			pr.Kind, pr.Detail = HashMismatch, fmt.Sprintf("index %s, disk %s", n.SHA256, sum)
			return pr, false
		}
	}
	return pr, true
}

// Rehash reads the file at p and records what is on disk in the index:
// its SHA-256, size and mtime (the SHA-1 is dropped). It is the repair of a
// HashMismatch, which Reindex does not see (it trusts a file whose size
// and mtime match): the bytes on disk become the file's content. Errors:
// ErrBadPath, ErrNotFound, ErrIsDir.
func (t *Tree) Rehash(ctx context.Context, spaceID, p string) (Node, error) {
	p, err := Clean(p)
	what := op("rehash", spaceID, p)
	if err == nil && t.objects() {
		err = errObjectMode
	}
	if err != nil {
		return Node{}, fail(what, err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return Node{}, fail(what, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var n Node
	err = t.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if n, err = tx.Node(ctx, spaceID, p); err != nil {
			return err
		}
		if n.IsDir {
			return ErrIsDir
		}
		f, err := st.root.Open(diskPath(p))
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		sum, err := hashReader(ctx, f)
		if err != nil {
			return err
		}
		delta := fi.Size() - n.Size
		n.Size, n.MTime, n.SHA256, n.SHA1 = fi.Size(), stamp(fi.ModTime()), sum, ""
		n.ETag = fileETag(sum, n.Size, n.MTime)
		if err := tx.UpdateNode(ctx, n); err != nil {
			return err
		}
		if delta != 0 {
			return tx.AddUsed(ctx, spaceID, delta)
		}
		return nil
	})
	if err != nil {
		return Node{}, fail(what, err)
	}
	return n, nil
}

// Export puts the file at p of a space at dst, a new file outside spaces/
// (a backup; the frozen copy of a Phraseanet commit): as a hard link when link is true and the
// file system allows it (files in a space are replaced by rename, never
// rewritten, so the link keeps this version), else as a copy. It returns
// whether it linked and the exported file's FileInfo as it was before the
// export (linking changes an inode's ctime; callers that compare ctimes
// need the one before). The file is taken as it is on disk, whatever the
// index says; the caller compares. Errors: ErrBadPath, ErrNotFound if
// nothing is on disk at p.
func (t *Tree) Export(ctx context.Context, spaceID, p, dst string, link bool) (linked bool, fi fs.FileInfo, err error) {
	p, err = Clean(p)
	what := op("export", spaceID, p)
	if err != nil {
		return false, nil, fail(what, err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return false, nil, fail(what, err)
	}
	if t.objects() {
		fi, err := t.exportObject(ctx, spaceID, p, dst)
		if err != nil {
			return false, nil, fail(what, err)
		}
		return false, fi, nil
	}
	notFound := func(err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w on disk", ErrNotFound)
		}
		return fail(what, err)
	}
	for attempt := 0; link && attempt < 3; attempt++ {
		// Through the root first: p must be a regular file inside the
		// space. The absolute-path link relies, like renames, on nobody
		// editing spaces/ by hand meanwhile.
		before, err := st.root.Lstat(diskPath(p))
		if err != nil {
			return false, nil, notFound(err)
		}
		if !before.Mode().IsRegular() {
			return false, nil, fail(what, fmt.Errorf("not a regular file on disk (%v)", before.Mode().Type()))
		}
		if err := os.Link(st.abs(p), dst); errors.Is(err, fs.ErrNotExist) {
			continue // replaced or deleted in between: look again
		} else if err != nil {
			break // another file system, or links not allowed: copy
		}
		after, err := os.Lstat(dst)
		if err != nil {
			return true, nil, fail(what, err)
		}
		if os.SameFile(before, after) {
			return true, before, nil
		}
		// A writer replaced the file between the two: link again.
		if err := os.Remove(dst); err != nil {
			return false, nil, fail(what, err)
		}
	}
	fi, err = exportCopy(ctx, st.root, p, dst)
	if err != nil {
		return false, nil, notFound(err)
	}
	return false, fi, nil
}

// exportCopy copies p to the new file dst with p's mtime, fsynced, and
// returns p's FileInfo from before the copy.
func exportCopy(ctx context.Context, root *os.Root, p, dst string) (fi fs.FileInfo, err error) {
	in, err := root.Open(diskPath(p))
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if fi, err = in.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file on disk (%v)", fi.Mode().Type())
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	if err = ctx.Err(); err == nil {
		// *os.File to *os.File: copy_file_range, reflinks where possible.
		_, err = io.Copy(out, in)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(dst, time.Time{}, fi.ModTime())
	}
	return fi, err
}

// FileETag is the ETag the index gives a file with this SHA-256, size and
// mtime, for tools that edit a copy of the index (a backup) to describe the
// files they hold.
func FileETag(sha256hex string, size int64, mtime time.Time) string {
	return fileETag(sha256hex, size, stamp(mtime))
}

// DiskPath is the file-system path of a space's file below a directory
// laid out like the data directory (dir/spaces/<id>/<p>), for tools that
// work on a copy of it (backup, restore).
func DiskPath(dir, spaceID, p string) string {
	return filepath.Join(dir, "spaces", spaceID, filepath.FromSlash(p))
}
