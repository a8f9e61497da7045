// Package space owns the space tree on disk — it is the only package that
// touches the data directory's spaces/ — and keeps the node index in step
// with it. A space is a directory spaces/<id>/ of plain files; every file
// and directory in it has a row in the store's node index, which answers
// Stat and List without touching the disk.
//
// Writes are atomic: bytes go to a staging file in uploads/ (on the same
// file system as spaces/), are fsynced, and are renamed into place; the
// rename is the last step of the store transaction that updates the index,
// and is undone if that transaction fails, so index and disk agree. Writers
// to one space are serialised by a per-space mutex (only around the final
// rename and index update; staging runs in parallel); readers never take
// it.
//
// All access below spaces/<id> goes through an *os.Root, so a symbolic link
// in a space can never lead outside it. Renames between uploads/ and a
// space, and between two spaces, cannot go through one root: for those the
// parent directory is first resolved through the root, then the absolute
// path is renamed. That relies on nobody editing spaces/ by hand while Wharf
// runs (the documented rule), so nothing can swap a directory for a symbolic
// link in between.
//
// Files are created 0600 and directories 0700: only the server reads them.
// Files adopted from uploads/ (PutFile) are chmodded to 0600; files found
// by Reindex keep their modes.
//
// It imports store, events (for the event of a node change), the standard
// library and golang.org/x/text.
package space

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/store"
)

// Errors returned by Tree; check them with errors.Is. The comments say which
// HTTP status they usually become.
var (
	ErrNotFound           = errors.New("not found")                                 // 404
	ErrExists             = errors.New("already exists")                            // 405 on MKCOL, 412 on MOVE/COPY without overwrite
	ErrNotDir             = errors.New("not a directory")                           // 409
	ErrIsDir              = errors.New("is a directory")                            // 405/409
	ErrParentMissing      = errors.New("parent directory does not exist")           // 409
	ErrBadPath            = errors.New("invalid path")                              // 400, 403 for MOVE/COPY onto itself
	ErrBadID              = errors.New("invalid space id or name")                  // 400
	ErrQuota              = errors.New("quota exceeded")                            // 507
	ErrNoSpace            = errors.New("no space left on device")                   // 507
	ErrPreconditionFailed = errors.New("precondition failed")                       // 412
	ErrSizeMismatch       = errors.New("body size differs from the announced size") // 400
)

// Space is a space's row: id, name, quota and usage.
type Space = store.Space

// Node is one file or directory of a space, as indexed.
type Node = store.Node

const (
	filePerm   = 0o600
	dirPerm    = 0o700
	stagingPfx = ".put-" // staging files and trash in uploads/; New removes leftovers
)

// Config configures a Tree.
type Config struct {
	// DB holds the spaces and the node index. Required.
	DB *store.DB
	// Dir is the data directory. The tree uses Dir/spaces and Dir/uploads,
	// which must be on one file system; New creates them. Required.
	Dir string
	// Logger receives warnings (skipped entries during Reindex, failed
	// clean-ups). Nil: discard.
	Logger *slog.Logger
	// Now is the clock for mtimes, ctimes and directory ETags. Nil: time.Now.
	Now func() time.Time
	// Gate admits the files that moves and copies land in a space (its
	// policy). Nil: everything is admitted.
	Gate Gate
	// Scanner scans the files found in a space without having been
	// scanned, on their first exposure (see Scanner). Nil: no scan.
	Scanner Scanner
	// KeepStaging leaves the staging files in Dir/uploads alone: for a
	// second process on a data directory a server may be using (a
	// command of the command line), to which the staging files of the
	// server's writes in progress do not belong. False: New removes
	// the ones a crash left.
	KeepStaging bool
	// Blobs, if set, holds the files' contents (object-store mode,
	// objects.go); Dir then keeps only the staging files of writes in
	// progress. Nil: the contents are files under Dir/spaces.
	Blobs blob.Store
}

// Tree is the set of spaces on disk with their index. It is safe for
// concurrent use. Close it when done.
type Tree struct {
	db      *store.DB
	spaces  string // absolute Dir/spaces
	uploads string // absolute Dir/uploads
	log     *slog.Logger
	now     func() time.Time
	gate    Gate
	scanner Scanner
	blobs   blob.Store // nil: the contents are files under spaces/

	// trashDir and versionsDir hold what leaves a space's visible tree
	// (see trash.go): Dir/trash/<space>/…, Dir/versions/<space>/….
	trashDir, versionsDir string

	mu    sync.Mutex
	state map[string]*spaceState

	listings *listingCache
	nodes    *store.EpochCache[nodeKey, Node] // see nodecache.go
	spares   spares                           // replaced files kept for staging (spares.go)
}

// spaceState is what a Tree keeps per open space.
type spaceState struct {
	id   string
	dir  string // absolute spaces/<id>
	root *os.Root
	rd   readDir // the directory again, for openRead (openread_linux.go)
	// mu serialises the final disk change and index update of writes to
	// the space, so two writers never interleave between the two.
	mu sync.Mutex
	// queue holds the installs waiting for mu (see Tree.install); qmu
	// guards it and installing (a write leads the next batch: it waits
	// for mu, or holds it).
	qmu        sync.Mutex
	queue      []*installReq
	installing bool
}

// New checks cfg, creates Dir/spaces and Dir/uploads if needed, and removes
// staging files (names starting with ".put-") left in uploads/ by a crash.
// Other files in uploads/ belong to the tus uploads and are left alone.
func New(cfg Config) (*Tree, error) {
	if cfg.DB == nil {
		return nil, errors.New("space: Config.DB is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("space: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("space: data directory: %w", err)
	}
	t := &Tree{
		db:      cfg.DB,
		spaces:  filepath.Join(dir, "spaces"),
		uploads: filepath.Join(dir, "uploads"),
		log:     cfg.Logger,
		now:     cfg.Now,
		gate:    cfg.Gate,
		scanner: cfg.Scanner,
		blobs:   cfg.Blobs,
		state:   map[string]*spaceState{},

		trashDir:    filepath.Join(dir, "trash"),
		versionsDir: filepath.Join(dir, "versions"),

		listings: newListingCache(maxCachedNodes),
		nodes:    store.NewEpochCache[nodeKey, Node](maxCachedByPath, nodeMaxAge),
		spares:   spares{off: cfg.KeepStaging},
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	for _, d := range []string{dir, t.spaces, t.uploads, t.trashDir, t.versionsDir} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("space: create %s: %w", d, err)
		}
	}
	var entries []os.DirEntry
	if !cfg.KeepStaging {
		entries, err = os.ReadDir(t.uploads)
		if err != nil {
			return nil, fmt.Errorf("space: clean %s: %w", t.uploads, err)
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagingPfx) {
			if err := os.RemoveAll(filepath.Join(t.uploads, e.Name())); err != nil {
				t.log.Warn("cannot remove stale staging file", "path", filepath.Join(t.uploads, e.Name()), "err", err)
			}
		}
	}
	t.keepReserve()
	return t, nil
}

// The reserve is a file of zeros in the data directory that keeps a little
// room on its file system for SQLite: when uploads have filled the disk, a
// DELETE still needs a few pages of journal to free space. Delete
// removes the reserve and tries again when it fails for want of room, and
// puts it back afterwards; New creates it when there is room.
const (
	reserveName = ".disk-reserve"
	reserveSize = 1 << 20
)

// keepReserve (re)creates the reserve if it is missing or short; it gives
// up quietly when the disk has no room for it.
func (t *Tree) keepReserve() {
	name := filepath.Join(filepath.Dir(t.spaces), reserveName)
	if fi, err := os.Stat(name); err == nil && fi.Size() == reserveSize {
		return
	}
	tmp := filepath.Join(t.uploads, stagingPfx+"reserve")
	err := os.WriteFile(tmp, make([]byte, reserveSize), filePerm)
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		t.log.Debug("no room for the disk-full reserve", "err", err)
	}
}

// releaseReserve removes the reserve; false if there was none.
func (t *Tree) releaseReserve() bool {
	err := os.Remove(filepath.Join(filepath.Dir(t.spaces), reserveName))
	if err == nil {
		t.log.Warn("disk full: released the reserve to let a delete through")
	}
	return err == nil
}

// Close closes the spaces' roots. Files returned by Open stay usable.
func (t *Tree) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spares.drop()
	var errs []error
	for id, st := range t.state {
		errs = append(errs, st.root.Close())
		st.rd.close()
		delete(t.state, id)
	}
	return errors.Join(errs...)
}

// open returns the state of a space, opening its root on first use. It does
// not check the index: an id with a directory but no row still opens.
func (t *Tree) open(id string) (*spaceState, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q", ErrBadID, id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.state[id]; st != nil {
		return st, nil
	}
	dir := filepath.Join(t.spaces, id)
	if t.objects() {
		// The space's folder holds nothing, and was made by another
		// replica: the rows say whether the space exists.
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: space %q has no directory", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	st := &spaceState{id: id, dir: dir, root: root, rd: openReadDir(dir)}
	t.state[id] = st
	return st, nil
}

// forget closes and drops a space's root (after DeleteSpace).
func (t *Tree) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.state[id]; st != nil {
		st.root.Close()
		st.rd.close()
		delete(t.state, id)
	}
}

// lock2 locks one or two spaces in id order, so that two cross-space
// operations never deadlock, and returns the unlock.
func lock2(a, b *spaceState) func() {
	if a == b {
		a.mu.Lock()
		return a.mu.Unlock
	}
	if a.id > b.id {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
	return func() { b.mu.Unlock(); a.mu.Unlock() }
}

// fail wraps err with the operation, mapping the store's sentinels and
// "disk full" errors onto the package's own.
func fail(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = fmt.Errorf("%w (%v)", ErrNotFound, err)
	case errors.Is(err, store.ErrExists):
		err = fmt.Errorf("%w (%v)", ErrExists, err)
	case errors.Is(err, fs.ErrExist):
		// On disk but not in the index: Reindex will pick it up.
		err = fmt.Errorf("%w (%v)", ErrExists, err)
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || store.IsFull(err):
		err = fmt.Errorf("%w (%v)", ErrNoSpace, err)
	case escapes(err):
		// A symbolic link put into the space by hand: Wharf never
		// follows one out, and to a client it is not there.
		err = fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return fmt.Errorf("space: %s: %w", op, err)
}

// escapes reports whether err is os.Root refusing a path that leaves the
// space through a symbolic link (the os package has no exported sentinel
// for it), or refusing to follow a link as the last component.
func escapes(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Err.Error() == "path escapes from parent" || errors.Is(pe.Err, syscall.ELOOP)
}

// kindError is an error with a message of its own that matches a
// sentinel (ErrNotFound, ErrExists).
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func op(verb, spaceID, p string) string { return fmt.Sprintf("%s %s/%q", verb, spaceID, p) }

// commit runs fn in a store transaction. fn makes its index changes, then
// its disk change as its last step, and returns how to undo that disk
// change; the undo runs if fn fails after making it or the commit fails.
func (t *Tree) commit(ctx context.Context, fn func(tx *store.Tx) (undo func(), err error)) error {
	var undo func()
	err := t.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		undo, err = fn(tx)
		return err
	})
	if err != nil && undo != nil {
		undo()
	}
	return err
}

// CreateSpace creates a space named name with quota bytes (0: none). A
// space of the same name (whatever the case and spacing) exists already:
// an error matching ErrExists that names it. The id is derived from the
// name (see ValidID): "Photos 2024" becomes "photos-2024", then
// "photos-2024-2" if another name took it. It creates spaces/<id>/ and
// the root node. If the directory already exists (filled by hand), it is
// adopted and indexed with Reindex. An empty or invalid name gives
// ErrBadID.
func (t *Tree) CreateSpace(ctx context.Context, name string, quota int64) (Space, error) {
	if err := checkName(name); err != nil {
		return Space{}, fmt.Errorf("space: create space: %w", err)
	}
	base := slug(name)
	return t.createSpace(ctx, name, quota, func(tx *store.Tx) (string, error) {
		// The same name twice is a mistake (the command run twice, a
		// typo'd id), not a wish for a second space: it is refused.
		// CreateSpaceWithID makes a second one deliberately.
		all, err := tx.Spaces(ctx)
		if err != nil {
			return "", err
		}
		for _, sp := range all {
			if sameName(sp.Name, name) {
				return "", &kindError{kind: ErrExists, msg: fmt.Sprintf("a space named %q exists already (id %s)", sp.Name, sp.ID)}
			}
		}
		for n := 1; ; n++ {
			id := base
			if n > 1 {
				id = withSuffix(base, n)
			}
			_, err := tx.Space(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return id, nil
			}
			if err != nil {
				return "", err
			}
		}
	})
}

// sameName reports whether two space names read the same: equal but for
// case and runs of spaces.
func sameName(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// CreateSpaceWithID is CreateSpace with a given id (the first start's
// "files" space). It returns ErrBadID if the id is not valid, ErrExists if
// it is taken.
func (t *Tree) CreateSpaceWithID(ctx context.Context, id, name string, quota int64) (Space, error) {
	if !ValidID(id) {
		return Space{}, fmt.Errorf("space: create space: %w: %q must be 1-%d lowercase letters, digits or '-', not at either end", ErrBadID, id, maxID)
	}
	if err := checkName(name); err != nil {
		return Space{}, fmt.Errorf("space: create space %q: %w", id, err)
	}
	return t.createSpace(ctx, name, quota, func(*store.Tx) (string, error) { return id, nil })
}

func (t *Tree) createSpace(ctx context.Context, name string, quota int64, pickID func(*store.Tx) (string, error)) (Space, error) {
	if quota < 0 {
		return Space{}, fmt.Errorf("space: create space %q: negative quota %d", name, quota)
	}
	now := t.clock()
	var s Space
	adopted := false
	err := t.db.Update(ctx, func(tx *store.Tx) error {
		id, err := pickID(tx)
		if err != nil {
			return err
		}
		s = Space{ID: id, Name: name, QuotaBytes: quota, CreatedAt: now}
		if err := tx.CreateSpace(ctx, s); err != nil {
			return err
		}
		if _, err := tx.InsertNode(ctx, Node{SpaceID: id, IsDir: true, MTime: now, CTime: now, ETag: dirETag(now)}); err != nil {
			return err
		}
		dir := filepath.Join(t.spaces, id)
		fi, err := os.Lstat(dir)
		switch {
		case err == nil && fi.IsDir():
			adopted = true
			return nil
		case err == nil:
			return fmt.Errorf("%s exists and is not a directory", dir)
		case errors.Is(err, os.ErrNotExist):
			// A failed commit leaves an empty directory, adopted next time.
			return os.Mkdir(dir, dirPerm)
		default:
			return err
		}
	})
	var ke *kindError
	if errors.As(err, &ke) {
		return Space{}, err
	}
	if err != nil {
		return Space{}, fail(fmt.Sprintf("create space %q", s.ID), err)
	}
	if adopted {
		if err := t.Reindex(ctx, s.ID); err != nil {
			return Space{}, err
		}
		return t.Space(ctx, s.ID)
	}
	return s, nil
}

// Space returns a space, or an error matching ErrNotFound whose message,
// 'space "x" not found', is fit for the person who typed x.
func (t *Tree) Space(ctx context.Context, id string) (Space, error) {
	s, err := t.db.Space(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Space{}, &kindError{kind: ErrNotFound, msg: fmt.Sprintf("space %q not found", id)}
	}
	if err != nil {
		return Space{}, fail(fmt.Sprintf("get space %q", id), err)
	}
	return s, nil
}

// FilesDir returns the directory holding the spaces' files (Dir/spaces):
// the file system whose free space clients are told about. (With the
// metadata in PostgreSQL, the database is elsewhere.)
func (t *Tree) FilesDir() string { return t.spaces }

// Spaces returns every space, ordered by id.
func (t *Tree) Spaces(ctx context.Context) ([]Space, error) {
	ss, err := t.db.Spaces(ctx)
	if err != nil {
		return nil, fail("list spaces", err)
	}
	return ss, nil
}

// SetQuota sets a space's quota in bytes (0: none). Lowering it below the
// used bytes refuses further growth but deletes nothing. It returns
// ErrNotFound for an unknown space.
func (t *Tree) SetQuota(ctx context.Context, id string, bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("space: set quota of %q: negative quota %d", id, bytes)
	}
	err := t.db.Update(ctx, func(tx *store.Tx) error { return tx.SetQuota(ctx, id, bytes) })
	if err != nil {
		return fail(fmt.Sprintf("set quota of %q", id), err)
	}
	return nil
}

// Usage returns a space's used bytes and quota (0: none), or ErrNotFound.
func (t *Tree) Usage(ctx context.Context, id string) (used, quota int64, err error) {
	s, err := t.Space(ctx, id)
	return s.UsedBytes, s.QuotaBytes, err
}

// Quota returns a space's quota in bytes (0: none), or ErrNotFound:
// Usage without the used bytes, which every write changes, and so from
// memory while the space's settings stand (store.DB.SpaceQuota).
func (t *Tree) Quota(ctx context.Context, id string) (int64, error) {
	q, err := t.db.SpaceQuota(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, &kindError{kind: ErrNotFound, msg: fmt.Sprintf("space %q not found", id)}
	}
	if err != nil {
		return 0, fail(fmt.Sprintf("get quota of space %q", id), err)
	}
	return q, nil
}

// DeleteSpace deletes a space: its rows (nodes, members, tokens) and its
// directory with every file in it. It returns ErrNotFound for an unknown
// space.
func (t *Tree) DeleteSpace(ctx context.Context, id string) error {
	what := fmt.Sprintf("delete space %q", id)
	st, err := t.open(id)
	if errors.Is(err, ErrNotFound) {
		// No directory: drop the rows anyway.
		err = t.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteSpace(ctx, id) })
		if err != nil {
			return fail(what, err)
		}
		return nil
	}
	if err != nil {
		return fail(what, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if t.objects() {
		if err := t.deleteSpaceObjects(ctx, st, id); err != nil {
			return fail(what, err)
		}
		return nil
	}
	trash := filepath.Join(t.uploads, stagingPfx+randomHex()+"-"+id)
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		if err := tx.DeleteSpace(ctx, id); err != nil {
			return nil, err
		}
		if err := os.Rename(st.dir, trash); err != nil {
			return nil, err
		}
		return func() { t.undo("restore space directory", os.Rename(trash, st.dir)) }, nil
	})
	if err != nil {
		return fail(what, err)
	}
	t.forget(id)
	// The rows went with the space; files left by a crash here are removed
	// by Recover.
	t.removeRetained([]string{filepath.Join(t.trashDir, id), filepath.Join(t.versionsDir, id)})
	if err := os.RemoveAll(trash); err != nil {
		t.log.Warn("cannot remove deleted space's files; they go at next start", "space", id, "path", trash, "err", err)
	}
	return nil
}

// undo logs a failed undo: the index and the disk now disagree until
// Reindex runs.
func (t *Tree) undo(what string, err error) {
	if err != nil {
		t.log.Error("cannot undo a disk change after a failed index update; run wharf check --repair", "what", what, "err", err)
	}
}

func randomHex() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clock returns the current time as the index stores it.
func (t *Tree) clock() time.Time { return stamp(t.now()) }

// stamp drops a time's location and monotonic reading, keeping what the
// index stores (UTC nanoseconds), so returned nodes equal re-read ones.
func stamp(x time.Time) time.Time { return time.Unix(0, x.UnixNano()).UTC() }
