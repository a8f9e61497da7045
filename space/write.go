package space

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/internal/diskio"
	"github.com/wharfhq/wharf/store"
)

// PutOptions qualifies Put and PutFile.
type PutOptions struct {
	// ExpectedSize is the body's announced size (Content-Length,
	// X-Expected-Entity-Length), or -1 if unknown. Beware: 0 means an empty
	// body. It is checked against the quota before a byte is read, and a
	// body shorter or longer than it gives ErrSizeMismatch and keeps
	// nothing.
	ExpectedSize int64
	// MTime is the file's modification time. Zero: now.
	MTime time.Time
	// IfMatch is an If-Match value: "" no condition, "*" the file must
	// exist, else a list of ETags one of which must be the current file's
	// (strong comparison). A failed condition gives ErrPreconditionFailed.
	IfMatch string
	// IfNoneMatch is an If-None-Match value: "*" the file must not exist,
	// else a list of ETags none of which may be the current file's (weak
	// comparison).
	IfNoneMatch string
	// MIME is the file's media type. "": guessed from the name's extension.
	MIME string
	// SHA1 makes Put compute the body's SHA-1 too and keep it in the index,
	// for clients that can verify nothing else (rclone's owncloud vendor).
	// Without it the node's SHA1 is "".
	SHA1 bool
	// KnownSHA1 is the file's SHA-1 (hex) as already computed, for PutFile
	// to keep in the index without reading the file. "": none. Put ignores
	// it.
	KnownSHA1 string
	// Verify, if set, is called by Put once the whole body has been read,
	// with its checksums, before anything becomes visible: an error keeps
	// nothing and is returned (wrapped). Callers use it to check a checksum
	// the client sent along (OC-Checksum, Digest).
	Verify func(Sums) error
	// Record, if set, is called inside the transaction that indexes the
	// file, with its node as indexed: what it writes commits with the
	// install or not at all (postproc marks its job done this way). An
	// error undoes the install and is returned (wrapped). It must not
	// change nodes (the listing cache is patched with the installed files
	// alone, listcache.go).
	Record func(tx *store.Tx, n Node, created bool) error
	// Progress, if set, is given the body's bytes by Put and Stage as they
	// are written to the staging file, after them and in order: a counter
	// of what has arrived (events.Progress publishes upload.progress from
	// it). It is fed as the hashes are, and must not fail.
	Progress io.Writer
	// SyncLater makes Stage start the staged file's fsync in the
	// background instead of waiting for it (Staged.Flush), for the
	// caller to hand to PutFile (Flush), which waits for it just before
	// the rename: the flush overlaps the processing and the index writes.
	// A caller that does anything else with the staged file waits for
	// it first (Flush.Wait; Keep does).
	SyncLater bool
	// Flush is the background fsync of the staged file given to PutFile,
	// from Stage (Staged.Flush): the install waits for it before the
	// rename. nil: PutFile gives the file its mode and mtime and fsyncs
	// it (but in object-store mode, where the content goes to the store).
	Flush *Flush

	object string // PutObject's key
}

// Sums are a body's checksums as lowercase hex; SHA1 is "" unless
// PutOptions.SHA1 asked for it.
type Sums struct {
	SHA256, SHA1 string
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Put writes body to the file at p, creating or replacing it, and reports
// whether it was created. The bytes are staged in uploads/, hashed with
// SHA-256 and counted against the quota while they stream, fsynced, then
// renamed into place with the index and used bytes updated in one
// transaction. Until then the old file (if any) is untouched: a failing
// body, a cancelled ctx or any error keeps it and leaves no staging file.
//
// Errors: ErrBadPath; ErrIsDir if p is a directory (or the root);
// ErrParentMissing / ErrNotDir if p's parent is missing / a file;
// ErrPreconditionFailed; ErrQuota (checked with ExpectedSize first, then
// while streaming, then finally when committing); ErrSizeMismatch;
// ErrNoSpace if the disk is full; the body's own error wrapped.
func (t *Tree) Put(ctx context.Context, spaceID, p string, body io.Reader, o PutOptions) (n Node, created bool, err error) {
	sf, err := t.Stage(ctx, spaceID, p, body, o)
	if err != nil {
		return Node{}, false, err
	}
	what := op("put", spaceID, sf.Path)
	st, err := t.open(spaceID)
	if err == nil {
		o.Flush = sf.Flush
		n, created, err = t.install(ctx, st, spaceID, sf.Path, sf.Name, sf.Size, sf.Sums, sf.MTime, o)
	}
	if err != nil {
		os.Remove(sf.Name)
		return Node{}, false, fail(what, err)
	}
	return n, created, nil
}

// Staged is a body written to uploads/ by Stage, waiting to be installed.
type Staged struct {
	Name  string // absolute path of the staging file
	Path  string // the cleaned destination path in the space
	Size  int64
	Sums  Sums
	MTime time.Time // as stored on the file
	// Flush is the file's fsync under way (PutOptions.SyncLater), nil
	// if it is done or not needed (object-store mode).
	Flush *Flush
	// Head is the body's first HeadSize bytes (all of it if shorter):
	// what a type is sniffed from, without reading the file again.
	Head []byte
}

// HeadSize is how much of a body Stage keeps in Staged.Head.
const HeadSize = 4096

// Keep renames a staging file made by Stage to uploads/<name>, where the
// next start will not remove it, for a caller that hands it to a job that
// must survive a restart (the job then owns it). name must be a plain file
// name not starting with "."; it returns the new absolute path.
func (t *Tree) Keep(sf Staged, name string) (string, error) {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("%w: keep staged file as %q", ErrBadPath, name)
	}
	if err := sf.Flush.Wait(); err != nil {
		return "", err
	}
	kept := filepath.Join(t.uploads, name)
	if err := os.Rename(sf.Name, kept); err != nil {
		return "", fmt.Errorf("space: keep staged file: %w", err)
	}
	return kept, syncPath(t.uploads)
}

// Stage does the first half of Put: it checks p and the quota, then writes
// body to a staging file in uploads/, hashing it and checking its size,
// calls o.Verify, and fsyncs it (or starts to: o.SyncLater); the file
// gets o.MTime (or now). The caller
// installs it with PutFile or removes it (os.Remove(Staged.Name)); staging
// files left by a crash are removed on the next start. Errors are Put's,
// but for the conditions (checked by PutFile).
func (t *Tree) Stage(ctx context.Context, spaceID, p string, body io.Reader, o PutOptions) (sf Staged, err error) {
	p, what, _, err := t.fileIn("put", spaceID, p)
	if err != nil {
		return Staged{}, err
	}
	limit, err := t.precheck(ctx, spaceID, p, o)
	if err != nil {
		return Staged{}, fail(what, err)
	}
	f, staged, old := t.spares.take()
	if f == nil {
		if f, err = os.CreateTemp(t.uploads, stagingPfx+"*"); err != nil {
			return Staged{}, fail(what, err)
		}
		staged = f.Name()
	}
	defer func() {
		if err != nil {
			os.Remove(staged)
		}
	}()
	head := headKeeper{b: make([]byte, 0, HeadSize)}
	size, sums, err := receive(ctx, f, body, limit, o.ExpectedSize, o.SHA1, &head, o.Progress)
	if err == nil && old > size {
		err = f.Truncate(size) // a spare's old bytes past the new ones
	}
	if err == nil && o.Verify != nil {
		err = o.Verify(sums)
	}
	mtime := o.MTime
	if mtime.IsZero() {
		mtime = t.now()
	}
	if err == nil {
		// Set the mtime before the final fsync so it is durable with the data.
		err = os.Chtimes(staged, time.Time{}, mtime)
	}
	// In object-store mode the staged file is only the source of the
	// object the install stores (or a job's, stored when submitted):
	// nothing reads it after a crash, so it needs no fsync.
	var fl *Flush
	if err == nil && !t.objects() {
		if o.SyncLater {
			fl, f = startFlush(f), nil // the flush closes f
		} else {
			err = f.Sync()
		}
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = os.Stat(staged)
	}
	if err != nil {
		return Staged{}, fail(what, err)
	}
	return Staged{Name: staged, Path: p, Size: size, Sums: sums, MTime: stamp(fi.ModTime()), Flush: fl, Head: head.b}, nil
}

// precheck looks at the index before any byte is read, so that a request
// doomed to fail does not upload first, and returns how many bytes the
// file may have under the quota (-1: no limit). install checks again.
//
// A body announced small (at most precheckMin bytes) to a space without
// a quota is read without these lookups: refusing it first would spare
// the client next to nothing, the install checks the same and gives the
// same answers, and the lookups were a tenth of a small PUT's CPU time
// (docs/benchmarks.md, round 6).
// Under a quota they stay, so that a write past it is told 507 before
// anything else (its body, its processing) is looked at.
func (t *Tree) precheck(ctx context.Context, spaceID, p string, o PutOptions) (int64, error) {
	if o.ExpectedSize >= 0 && o.ExpectedSize <= precheckMin {
		if q, err := t.db.SpaceQuota(ctx, spaceID); err == nil && q == 0 {
			return -1, nil
		}
	}
	dir, _ := split(p)
	if _, err := parentDir(ctx, t.db.Reader, spaceID, dir); err != nil {
		return 0, err
	}
	cur, err := t.db.Node(ctx, spaceID, p)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if exists && cur.IsDir {
		return 0, ErrIsDir
	}
	if err := checkConditions(o, cur, exists); err != nil {
		return 0, err
	}
	s, err := t.db.Space(ctx, spaceID)
	if err != nil {
		return 0, err
	}
	if s.QuotaBytes == 0 {
		return -1, nil
	}
	// A write may always shrink or keep the space's usage; it may grow it
	// up to the quota.
	limit := cur.Size + max(0, s.QuotaBytes-s.UsedBytes)
	if o.ExpectedSize > limit {
		return 0, fmt.Errorf("%w: %d bytes announced, %d used of %d", ErrQuota, o.ExpectedSize, s.UsedBytes, s.QuotaBytes)
	}
	return limit, nil
}

// precheckMin is the largest announced body precheck lets in unchecked.
const precheckMin = 64 << 10

// receive copies body to f, hashing it and feeding it to head, and fails
// as soon as more than limit bytes (limit >= 0) or more than expected
// bytes (expected >= 0) arrive, or ctx is done.
func receive(ctx context.Context, f *os.File, body io.Reader, limit, expected int64, withSHA1 bool, head *headKeeper, progress io.Writer) (int64, Sums, error) {
	h := sha256.New()
	hashers := []io.Writer{h, head}
	var h1 hash.Hash
	if withSHA1 {
		h1 = sha1.New()
		hashers = append(hashers, h1)
	}
	if progress != nil {
		hashers = append(hashers, progress)
	}
	size, err := diskio.Copy(f, 0, &bodyGuard{ctx: ctx, r: body, limit: limit, expected: expected}, hashers...)
	if err != nil {
		return 0, Sums{}, err
	}
	if expected >= 0 && size != expected {
		return 0, Sums{}, fmt.Errorf("%w: %d bytes received, %d announced", ErrSizeMismatch, size, expected)
	}
	sums := Sums{SHA256: hex.EncodeToString(h.Sum(nil))}
	if h1 != nil {
		sums.SHA1 = hex.EncodeToString(h1.Sum(nil))
	}
	return size, sums, nil
}

// headKeeper keeps the first bytes written to it, up to the capacity of
// b.
type headKeeper struct{ b []byte }

func (k *headKeeper) Write(p []byte) (int, error) {
	if room := cap(k.b) - len(k.b); room > 0 {
		k.b = append(k.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// bodyGuard reads a request body for receive: it fails once more than
// limit (if >= 0) or expected (if >= 0) bytes arrive, or ctx is done, and
// says what a read error is. Once it has failed, it fails every read.
type bodyGuard struct {
	ctx             context.Context
	r               io.Reader
	n               int64
	limit, expected int64
	err             error
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.err = g.ctx.Err(); g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	switch {
	case g.limit >= 0 && g.n > g.limit:
		g.err = fmt.Errorf("%w: the file may not exceed %d bytes", ErrQuota, g.limit)
	case g.expected >= 0 && g.n > g.expected:
		g.err = fmt.Errorf("%w: more than the %d bytes announced", ErrSizeMismatch, g.expected)
	case err != nil && err != io.EOF:
		g.err = fmt.Errorf("reading the body: %w", err)
	default:
		return n, err
	}
	return n, g.err
}

// fileIn is the start of Stage, PutFile and Adopt: p cleaned (the root is not a
// file), the operation's name for errors, and the open space. Its error is
// already wrapped with that name.
func (t *Tree) fileIn(verb, spaceID, p string) (string, string, *spaceState, error) {
	p, err := Clean(p)
	what := op(verb, spaceID, p)
	if err == nil && p == "" {
		err = fmt.Errorf("%w: the root", ErrIsDir)
	}
	var st *spaceState
	if err == nil {
		st, err = t.open(spaceID)
	}
	if err != nil {
		return "", what, nil, fail(what, err)
	}
	return p, what, st, nil
}

// PutFile is Put for a file already written and fsynced in uploads/ (by
// tus): staged is its absolute path and sha256hex its SHA-256 (""
// computes it). The file is renamed into place, not copied. On success it
// is gone from uploads/; on error it is left where it was, for the caller.
// ExpectedSize, if >= 0, must equal the file's size.
func (t *Tree) PutFile(ctx context.Context, spaceID, p, staged, sha256hex string, o PutOptions) (Node, bool, error) {
	p, what, st, err := t.fileIn("put", spaceID, p)
	if err != nil {
		return Node{}, false, err
	}
	staged = filepath.Clean(staged)
	if rel, err := filepath.Rel(t.uploads, staged); err != nil || !filepath.IsAbs(staged) || rel == "." || strings.HasPrefix(rel, "..") {
		return Node{}, false, fail(what, fmt.Errorf("%w: staged file %s is not under %s", ErrBadPath, staged, t.uploads))
	}
	fi, err := os.Lstat(staged)
	if err != nil {
		return Node{}, false, fail(what, err)
	}
	if !fi.Mode().IsRegular() {
		return Node{}, false, fail(what, fmt.Errorf("%w: staged file %s is not a regular file", ErrBadPath, staged))
	}
	if o.ExpectedSize >= 0 && fi.Size() != o.ExpectedSize {
		return Node{}, false, fail(what, fmt.Errorf("%w: %d bytes staged, %d announced", ErrSizeMismatch, fi.Size(), o.ExpectedSize))
	}
	sha256hex = strings.ToLower(sha256hex)
	if sha256hex == "" {
		if sha256hex, err = hashFile(ctx, staged); err != nil {
			return Node{}, false, fail(what, err)
		}
	} else if b, err := hex.DecodeString(sha256hex); err != nil || len(b) != sha256.Size {
		return Node{}, false, fail(what, fmt.Errorf("bad SHA-256 %q", sha256hex))
	}
	sha1hex := strings.ToLower(o.KnownSHA1)
	if b, err := hex.DecodeString(sha1hex); sha1hex != "" && (err != nil || len(b) != sha1.Size) {
		return Node{}, false, fail(what, fmt.Errorf("bad SHA-1 %q", sha1hex))
	}
	mtime := o.MTime
	if mtime.IsZero() {
		mtime = t.now()
	}
	// A file staged by Stage has its mode and mtime already, set before
	// its flush began; any other file is given them here, and fsynced
	// unless its content goes to the object store (the install stores it
	// before naming it, and nothing reads the staged file after a crash).
	if o.Flush == nil || fi.Mode().Perm() != filePerm || !fi.ModTime().Equal(mtime) {
		if err := o.Flush.Wait(); err != nil {
			return Node{}, false, fail(what, err)
		}
		o.Flush = nil
		if err := settle(staged, mtime, !t.objects()); err != nil {
			return Node{}, false, fail(what, err)
		}
		if fi, err = os.Stat(staged); err != nil {
			return Node{}, false, fail(what, err)
		}
	}
	n, created, err := t.install(ctx, st, spaceID, p, staged, fi.Size(), Sums{SHA256: sha256hex, SHA1: sha1hex}, stamp(fi.ModTime()), o)
	if err != nil {
		return Node{}, false, fail(what, parentGone(err))
	}
	return n, created, nil
}

// settle gives an adopted staged file our permissions and its mtime, and
// makes the file durable if sync.
func settle(name string, mtime time.Time, sync bool) error {
	if err := os.Chmod(name, filePerm); err != nil {
		return err
	}
	if err := os.Chtimes(name, time.Time{}, mtime); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func hashFile(ctx context.Context, name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return hashReader(ctx, f)
}

func hashReader(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := r.Read(*bp)
		h.Write((*bp)[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// install renames a staged file to p and indexes it, under the space's
// mutex, checking everything precheck did against the current index.
//
// Writes waiting for the mutex are installed together by whichever of
// them gets it (see installBatch): the cost under the mutex is two fsyncs
// (the folder, the index) for all of them rather than for each.
func (t *Tree) install(ctx context.Context, st *spaceState, spaceID, p, staged string, size int64, sums Sums, mtime time.Time, o PutOptions) (Node, bool, error) {
	r := &installReq{ctx: ctx, p: p, staged: staged, size: size, sums: sums, mtime: mtime, o: o, flush: o.Flush}
	if t.objects() && staged == "" {
		// PutObject: r.blob is stored already, and stays the caller's
		// if the install fails.
		r.blob = o.object
	} else if t.objects() {
		// The content goes to the object store before the install names
		// it (outside the space's mutex: installs wait for no upload); the
		// staged file's own fsync is then of no use.
		key, err := t.storeObject(ctx, spaceID, staged)
		if err != nil {
			return Node{}, false, err
		}
		r.blob, r.flush = key, nil
		defer func() {
			if r.err != nil {
				t.dropObjects(key)
			} else if err := os.Remove(staged); err != nil {
				t.log.Warn("cannot remove a staged file once stored", "path", staged, "err", err)
			}
		}()
	}
	if t.enqueue(st, r) || <-r.wake {
		t.leadBatch(st, spaceID, r)
	}
	// r was in the batch it led, or in the batch of a write that led
	// before: either way it is done.
	return r.n, r.created, r.err
}

// enqueue queues r for the next install batch of st. If no write leads
// the next batch, r does (enqueue returns true), else r.wake says when
// its batch is done (false) or that it is to lead the next (true).
func (t *Tree) enqueue(st *spaceState, r *installReq) (lead bool) {
	r.wake = make(chan bool, 1)
	st.qmu.Lock()
	st.queue = append(st.queue, r)
	if !st.installing {
		st.installing, lead = true, true
	}
	st.qmu.Unlock()
	return lead
}

// leadBatch installs, under st.mu, every write queued by then (lead, the
// caller's, first), then hands the lead to the first write queued
// since, if any, and wakes the writes of its batch. The next batch's
// staged files are being fsynced meanwhile (Flush): its writes wait for
// mu, not for each other.
func (t *Tree) leadBatch(st *spaceState, spaceID string, lead *installReq) {
	var batch []*installReq
	var cleanup func()
	defer func() {
		// Also when installBatch panics (it has failed batch then): no
		// write may wait for ever, and the next leads.
		st.qmu.Lock()
		if len(st.queue) > 0 {
			st.queue[0].wake <- true
		} else {
			st.installing = false
		}
		st.qmu.Unlock()
		for _, w := range batch {
			if w != lead {
				w.wake <- false
			}
		}
		if cleanup != nil {
			cleanup()
		}
	}()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.qmu.Lock()
	batch = st.queue
	st.queue = nil
	st.qmu.Unlock()
	cleanup = t.installBatch(st, spaceID, batch)
}

// failBatch fails every write of batch not failed yet with err, after
// putting back, last first, the files of those in placed.
func failBatch(batch, placed []*installReq, err error) {
	for i := len(placed) - 1; i >= 0; i-- {
		placed[i].undo()
	}
	for _, r := range batch {
		if r.err == nil {
			r.err = err
		}
	}
}

// installReq is one write waiting to be installed, and then its outcome.
type installReq struct {
	ctx       context.Context
	p, staged string
	size      int64
	sums      Sums
	mtime     time.Time
	o         PutOptions
	flush     *Flush // the staged file's fsync, waited for before its rename
	blob      string // object-store mode: the key of the content, stored already

	// wake tells a queued write that it is to lead the next batch
	// (true) or that it is done (false).
	wake chan bool

	n       Node
	created bool
	err     error
	undo    func()   // puts the disk back as it was, once the file is in place
	backup  string   // a link to the file replaced, removed at the end unless it is the version
	version string   // the id of the version the replaced file became, "" if none
	purge   []string // trash and versions purged to make room, removed after the commit
}

// installBatch installs batch, in order, in one transaction: each write is
// a part of it (store.Tx.Part) that fails alone, with its own error, as it
// would have on its own; the ones that succeed share one fsync per folder
// and the commit. If the fsync or the commit fails, they all fail, and
// their files are put back, in reverse order (a later write may have
// replaced an earlier one's file). The caller holds st.mu. It returns
// what is left to do once the writes are answered, without the mutex:
// removing the links kept for an undo and the retained files purged, which
// no index row names any more.
func (t *Tree) installBatch(st *spaceState, spaceID string, batch []*installReq) (cleanup func()) {
	now := t.clock()
	var placed []*installReq
	defer func() {
		// A panic (in a PutOptions.Record, say) reaches the write whose
		// caller holds the lock; the others of the batch must not read
		// their unset outcome as a success, nor keep a file the index
		// will not have.
		if v := recover(); v != nil {
			failBatch(batch, placed, fmt.Errorf("space: install: panic: %v", v))
			panic(v)
		}
	}()
	var genBefore, genAfter int64
	err := t.db.Update(context.Background(), func(tx *store.Tx) error {
		placed = placed[:0]
		b := &batchIndex{folders: folderTouches{}, parents: map[string]Node{}}
		versions := false
		// Room is made for a write only under a quota, which nothing but
		// this transaction changes while it runs (checkQuota still reads
		// the used bytes for each write).
		sp, err := tx.Space(context.Background(), spaceID)
		if err != nil {
			return err
		}
		genBefore = sp.Generation
		// Each write is a part of the transaction that can fail alone; a
		// write alone fails with the transaction, without a savepoint.
		part := tx.Part
		if len(batch) == 1 {
			part = func(_ context.Context, fn func() error) error { return fn() }
		}
		for _, r := range batch {
			r.err = part(r.ctx, func() error {
				if err := r.ctx.Err(); err != nil {
					return err
				}
				var exists bool
				var prev Node
				var err error
				ctx := context.WithoutCancel(r.ctx)
				r.n, r.created, exists, prev, err = indexFile(ctx, tx, spaceID, r.p, r.size, r.sums, r.mtime, r.blob, r.o, now, b)
				if err != nil {
					return err
				}
				if r.blob != "" {
					if err := tx.ClaimBlobOrphan(ctx, r.blob); err != nil {
						return fmt.Errorf("the stored content was collected before its install: %w", err)
					}
				}
				// The content replaced becomes a version (trash.go), and
				// retained bytes make room for the write.
				r.version, r.purge = "", nil
				if exists && prev.SHA256 != r.sums.SHA256 { // the same bytes again make no version
					if r.version, r.purge, err = t.keepVersion(ctx, tx, spaceID, prev, now); err != nil {
						return err
					}
				}
				if sp.QuotaBytes > 0 {
					more, err := t.makeRoom(ctx, tx, spaceID)
					if err != nil {
						return err
					}
					r.purge = append(r.purge, more...)
				}
				if t.objects() {
					// Rows only: the replaced content is a version's now,
					// or nobody's.
					if r.version != "" && slices.Contains(r.purge, prev.Blob) {
						r.version = "" // purged at once to make room
					}
					if exists && r.version == "" && !slices.Contains(r.purge, prev.Blob) {
						if err := letGo(ctx, tx, now, prev.Blob); err != nil {
							return err
						}
						r.purge = append(r.purge, prev.Blob)
					}
					r.undo = func() {}
					return nil
				}
				vpath := ""
				if r.version != "" {
					vpath = t.versionPath(spaceID, r.version)
					if slices.Contains(r.purge, vpath) {
						r.version, vpath = "", ""
					}
				}
				// The staged file's bytes are durable before its name in
				// the space can point at them; its flush ran meanwhile.
				if err := r.flush.Wait(); err != nil {
					return err
				}
				var linked bool
				r.undo, r.backup, linked, err = t.place(st, r.staged, r.p, exists, vpath)
				if err == nil && vpath != "" && !linked {
					err = tx.DeleteVersion(ctx, spaceID, r.version)
					r.version = ""
				}
				if err == nil && r.version != "" {
					versions = true
				}
				return err
			})
			if errors.Is(r.err, store.ErrTxLost) {
				if r.undo != nil {
					placed = append(placed, r)
				}
				return r.err
			}
			if r.err != nil {
				if r.undo != nil {
					r.undo()
				}
				if len(batch) == 1 {
					return r.err // its writes go with the transaction
				}
				continue
			}
			placed = append(placed, r)
			b.folders.add(r.p, r.created)
		}
		// The renames are durable before the index says the files are
		// there: the folders the batch renamed into (object-store mode
		// renames nothing) are fsynced while the folders' rows are
		// updated, and waited for before the commit.
		var syncs flushes
		if !t.objects() {
			for dir := range b.folders {
				syncs.start(func() error { return syncDir(st.root, dir) })
			}
		}
		if versions {
			syncs.start(func() error { return syncPath(filepath.Join(t.versionsDir, spaceID)) })
		}
		err = b.folders.touch(context.Background(), tx, spaceID, now)
		if err == nil {
			genAfter, err = tx.SpaceGeneration(context.Background(), spaceID)
		}
		if serr := syncs.wait(); err == nil {
			err = serr
		}
		return err
	})
	if err != nil {
		failBatch(batch, placed, err)
	} else {
		t.patchListings(batch, genBefore, genAfter)
	}
	var remove []string
	var purge [][]string
	for _, r := range batch {
		if r.err != nil {
			r.version, r.purge = "", nil
		}
		if r.backup != "" && r.version == "" {
			remove = append(remove, r.backup) // after a failure undo has renamed it back already
		}
		if r.err != nil {
			r.n, r.created = Node{}, false
		}
		if len(r.purge) > 0 {
			purge = append(purge, r.purge)
		}
	}
	return func() {
		for _, name := range remove {
			if filepath.Dir(name) == t.uploads {
				t.spares.offer(name)
			} else {
				os.Remove(name) // a version's link an undo could not put back
			}
		}
		for _, p := range purge {
			t.removeRetained(p)
		}
	}
}

// indexFile writes the index side of an install of a file at p: the node
// (created or updated, with blob, its content's key in object-store mode),
// its folders' ETags (unless b is set: the install batch updates them, see
// folderTouches), the quota; it checks the conditions and the quota.
func indexFile(ctx context.Context, tx *store.Tx, spaceID, p string, size int64, sums Sums, mtime time.Time, blob string, o PutOptions, now time.Time, b *batchIndex) (n Node, created, exists bool, prev Node, err error) {
	dir, name := split(p)
	parent, known := b.parent(dir)
	if !known {
		if parent, err = parentDir(ctx, tx.Reader, spaceID, dir); err != nil {
			return Node{}, false, false, Node{}, err
		}
		b.found(dir, parent)
	}
	cur, err := tx.Node(ctx, spaceID, p)
	exists = err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Node{}, false, false, Node{}, err
	}
	if exists && cur.IsDir {
		return Node{}, false, true, Node{}, ErrIsDir
	}
	if err := checkConditions(o, cur, exists); err != nil {
		return Node{}, false, exists, Node{}, err
	}
	delta := size - cur.Size
	if err := checkQuota(ctx, tx.Reader, spaceID, delta); err != nil {
		return Node{}, false, exists, Node{}, err
	}
	mimeType := o.MIME
	if mimeType == "" {
		mimeType = mimeFor(name)
	}
	if exists {
		n = cur
	} else {
		n = Node{SpaceID: spaceID, ParentID: parent.ID, Path: p, Name: name, CTime: now}
	}
	n.Size, n.MTime, n.SHA256, n.SHA1, n.MIME, n.Blob = size, mtime, sums.SHA256, sums.SHA1, mimeType, blob
	n.ETag = fileETag(sums.SHA256, size, mtime)
	if exists {
		if err = tx.UpdateNode(ctx, n); err == nil && b == nil {
			err = tx.SetAncestorETags(ctx, spaceID, p, dirETag(now))
		}
	} else {
		created = true
		if n, err = tx.InsertNode(ctx, n); err == nil && b == nil {
			err = touchDir(ctx, tx, parent, now)
		}
	}
	if err == nil && delta != 0 {
		err = tx.AddUsed(ctx, spaceID, delta)
	}
	if err == nil && o.Record != nil {
		err = o.Record(tx, n, created)
	}
	if err != nil {
		return Node{}, false, exists, Node{}, err
	}
	return n, created, exists, cur, nil
}

// Adopt indexes the regular file found on disk at p if its SHA-256 is
// sha256hex, as PutFile would have (same checks, same o.Record): it
// completes an install that a crash cut between the rename into the space
// and the commit of the index. postproc calls it for a job whose staged
// file is gone. It returns ErrNotFound if no file, or another file, is at
// p, and reports whether the node was created.
func (t *Tree) Adopt(ctx context.Context, spaceID, p, sha256hex string, o PutOptions) (Node, bool, error) {
	p, what, st, err := t.fileIn("adopt", spaceID, p)
	if err != nil {
		return Node{}, false, err
	}
	if t.objects() {
		// An install names its object in one transaction: no crash leaves
		// a content in place without its row.
		return Node{}, false, fail(what, fmt.Errorf("%w: nothing to adopt in object-store mode", ErrNotFound))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	f, err := st.root.Open(diskPath(p))
	if err != nil {
		return Node{}, false, fail(what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Node{}, false, fail(what, err)
	}
	if !fi.Mode().IsRegular() {
		return Node{}, false, fail(what, fmt.Errorf("%w: not a regular file", ErrNotFound))
	}
	sum, err := hashReader(ctx, f)
	if err != nil {
		return Node{}, false, fail(what, err)
	}
	if sum != sha256hex {
		return Node{}, false, fail(what, fmt.Errorf("%w: the file on disk has SHA-256 %s, not %s", ErrNotFound, sum, sha256hex))
	}
	now := t.clock()
	var n Node
	var created bool
	err = t.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		n, created, _, _, err = indexFile(ctx, tx, spaceID, p, fi.Size(), Sums{SHA256: sum, SHA1: o.KnownSHA1}, stamp(fi.ModTime()), "", o, now, nil)
		return err
	})
	if err != nil {
		return Node{}, false, fail(what, parentGone(err))
	}
	return n, created, nil
}

// place renames staged to p in the space, keeping a hard link to the file
// it replaces (if replacing) so that the undo can put it back: at version
// (the file of the version it becomes) if not "", else in uploads/. linked
// reports whether that link was made. The caller fsyncs p's folder.
func (t *Tree) place(st *spaceState, staged, p string, replacing bool, version string) (undo func(), backup string, linked bool, err error) {
	dir, _ := split(p)
	if err := checkDiskDir(st, dir); err != nil {
		return nil, "", false, err
	}
	abs := st.abs(p)
	if replacing {
		backup = version
		if backup == "" {
			backup = filepath.Join(t.uploads, stagingPfx+randomHex())
		} else if err := os.MkdirAll(filepath.Dir(backup), dirPerm); err != nil {
			return nil, "", false, err
		}
		if err := os.Link(abs, backup); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.log.Warn("cannot keep the replaced file for an undo or as a version", "space", st.id, "path", p, "err", err)
			}
			backup = ""
		}
	}
	linked = backup != ""
	if err := os.Rename(staged, abs); err != nil {
		if version != "" && backup != "" {
			os.Remove(backup)
			backup = ""
		}
		return nil, backup, false, err
	}
	undo = func() {
		switch {
		case backup != "":
			t.undo("restore replaced file", os.Rename(backup, abs))
		case !replacing:
			t.undo("remove new file", os.Rename(abs, staged))
		default:
			t.undo("restore replaced file", errors.New("no copy of the old file was kept"))
		}
	}
	return undo, backup, linked, nil
}

// parentDir returns the directory node that will hold a new entry.
func parentDir(ctx context.Context, r store.Reader, spaceID, dir string) (Node, error) {
	parent, err := r.Node(ctx, spaceID, dir)
	if errors.Is(err, store.ErrNotFound) {
		return Node{}, fmt.Errorf("%w: %q", ErrParentMissing, dir)
	}
	if err != nil {
		return Node{}, err
	}
	if !parent.IsDir {
		return Node{}, fmt.Errorf("%w: parent %q is a file", ErrNotDir, dir)
	}
	return parent, nil
}

// checkQuota refuses a change that grows a space past its quota. Changes
// that shrink it or keep it are always allowed, even over quota.
func checkQuota(ctx context.Context, r store.Reader, spaceID string, delta int64) error {
	if delta <= 0 {
		return nil
	}
	s, err := r.Space(ctx, spaceID)
	if err != nil {
		return err
	}
	if s.QuotaBytes > 0 && s.UsedBytes+delta > s.QuotaBytes {
		return fmt.Errorf("%w: %d more bytes, %d used of %d", ErrQuota, delta, s.UsedBytes, s.QuotaBytes)
	}
	return nil
}

// batchIndex is what the writes of one install batch share in its
// transaction: the touches of their folders, made once at the end, and
// the folders found so far (a write of a batch installs a file, which
// removes no folder and turns none into a file, so a folder found stays
// one for the rest of the batch). The nil *batchIndex is an install on
// its own.
type batchIndex struct {
	folders folderTouches
	parents map[string]Node
}

func (b *batchIndex) parent(dir string) (Node, bool) {
	if b == nil {
		return Node{}, false
	}
	n, ok := b.parents[dir]
	return n, ok
}

func (b *batchIndex) found(dir string, n Node) {
	if b != nil {
		b.parents[dir] = n
	}
}

// folderTouches is what the writes of an install batch did to their
// folders, by folder: a file of it (whose ancestors get the batch's
// folder ETag) and whether an entry was created (the folder's mtime
// changes too). All writes of a batch share one time, so each folder is
// touched once for the batch instead of once per write.
type folderTouches map[string]folderTouch

type folderTouch struct {
	file    string
	created bool
}

func (f folderTouches) add(p string, created bool) {
	dir, _ := split(p)
	t := f[dir]
	t.file, t.created = p, t.created || created
	f[dir] = t
}

// touch updates the folders of the batch's writes, in a fixed order.
func (f folderTouches) touch(ctx context.Context, tx *store.Tx, spaceID string, now time.Time) error {
	for _, dir := range slices.Sorted(maps.Keys(f)) {
		var err error
		if f[dir].created {
			err = touchPath(ctx, tx, spaceID, dir, now)
		} else {
			err = tx.SetAncestorETags(ctx, spaceID, f[dir].file, dirETag(now))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// touchDir records that a directory's children changed: new mtime, new
// ETag.
func touchDir(ctx context.Context, tx *store.Tx, dir Node, now time.Time) error {
	dir.MTime, dir.ETag = now, dirETag(now)
	if err := tx.UpdateNode(ctx, dir); err != nil {
		return err
	}
	return tx.SetAncestorETags(ctx, dir.SpaceID, dir.Path, dir.ETag)
}

// touchPath is touchDir for a directory known by path, read fresh.
func touchPath(ctx context.Context, tx *store.Tx, spaceID, dir string, now time.Time) error {
	n, err := tx.Node(ctx, spaceID, dir)
	if err != nil {
		return err
	}
	return touchDir(ctx, tx, n, now)
}

// diskPath turns a cleaned path into a name for the space's root.
func diskPath(p string) string {
	if p == "" {
		return "."
	}
	return filepath.FromSlash(p)
}

func (st *spaceState) abs(p string) string { return filepath.Join(st.dir, filepath.FromSlash(p)) }

// checkDiskDir checks, through the root, that dir is a directory inside the
// space, before an absolute-path rename into it.
func checkDiskDir(st *spaceState, dir string) error {
	fi, err := st.root.Stat(diskPath(dir))
	if err != nil {
		return fmt.Errorf("directory %q on disk: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %q on disk", ErrNotDir, dir)
	}
	return nil
}

// checkDiskEntry checks, through the root, that p exists inside the space
// (not following a final symbolic link), before an absolute-path rename of
// it. exists is false if nothing is there.
func checkDiskEntry(st *spaceState, p string) (exists bool, err error) {
	_, err = st.root.Lstat(diskPath(p))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%q on disk: %w", p, err)
	}
	return true, nil
}

// syncDir fsyncs a directory of the space so a rename into or out of it is
// durable.
func syncDir(root *os.Root, dir string) error {
	f, err := root.Open(diskPath(dir))
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncPath(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Mkdir creates the directory p and returns its node. Errors: ErrBadPath;
// ErrExists if anything is at p (the root included); ErrParentMissing /
// ErrNotDir if p's parent is missing / a file.
func (t *Tree) Mkdir(ctx context.Context, spaceID, p string) (Node, error) {
	p, err := Clean(p)
	what := op("mkdir", spaceID, p)
	if err == nil && p == "" {
		err = fmt.Errorf("%w: the root", ErrExists)
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
	now := t.clock()
	dir, name := split(p)
	var n Node
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		parent, err := parentDir(ctx, tx.Reader, spaceID, dir)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Node(ctx, spaceID, p); err == nil {
			return nil, ErrExists
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		n, err = tx.InsertNode(ctx, Node{SpaceID: spaceID, ParentID: parent.ID, Path: p, Name: name,
			IsDir: true, MTime: now, CTime: now, ETag: dirETag(now)})
		if err == nil {
			err = touchDir(ctx, tx, parent, now)
		}
		if err != nil {
			return nil, err
		}
		if t.objects() {
			return func() {}, nil
		}
		if err := st.root.Mkdir(diskPath(p), dirPerm); err != nil {
			return nil, parentGone(err)
		}
		undo := func() { t.undo("remove new directory", st.root.Remove(diskPath(p))) }
		return undo, syncDir(st.root, dir)
	})
	if err != nil {
		return Node{}, fail(what, err)
	}
	return n, nil
}

// Delete deletes the file or the whole directory tree at p and lowers the
// space's used bytes. If the space has a trash (Retention.TrashDays > 0) the
// tree is renamed into it and recorded as a trash item, with who deleted it
// (WithActor); otherwise it leaves the space at once (renamed to uploads/)
// and its files are removed after the commit. Errors: ErrBadPath (the root
// included); ErrNotFound.
func (t *Tree) Delete(ctx context.Context, spaceID, p string) error {
	p, err := Clean(p)
	what := op("delete", spaceID, p)
	if err == nil && p == "" {
		err = fmt.Errorf("%w: cannot delete the root; delete the space", ErrBadPath)
	}
	if err != nil {
		return fail(what, err)
	}
	st, err := t.open(spaceID)
	if err != nil {
		return fail(what, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := t.clock()
	var trash string
	var final bool
	var gone []string // object-store mode: the contents deleted for good
	del := func(tx *store.Tx) (func(), error) {
		// With a trash, the entry goes there (trash.go); without one, when
		// the disk is short of room, or when it is missing on disk, it goes
		// for good.
		ret, err := tx.SpaceRetention(ctx, spaceID)
		if err != nil {
			return nil, err
		}
		if t.objects() {
			if ret.TrashDays > 0 {
				return t.trashOut(ctx, tx, st, p, now)
			}
			if gone, err = subtreeObjects(ctx, tx, spaceID, p); err != nil {
				return nil, err
			}
			if err := unindex(ctx, tx, spaceID, p, now); err != nil {
				return nil, err
			}
			return func() {}, letGo(ctx, tx, now, gone...)
		}
		if ret.TrashDays > 0 && !final {
			on, err := checkDiskEntry(st, p)
			if err != nil {
				return nil, err
			}
			if on {
				return t.trashOut(ctx, tx, st, p, now)
			}
		}
		if err := unindex(ctx, tx, spaceID, p, now); err != nil {
			return nil, err
		}
		return t.moveOut(st, p, trash)
	}
	// A disk short of room needs deletes that free it: they skip the trash.
	final = !t.objects() && diskLow(t.spaces)
	trash = t.trashName()
	err = t.commit(ctx, del)
	if t.objects() {
		if err != nil {
			return fail(what, err)
		}
		t.dropObjects(gone...)
		return nil
	}
	if err != nil && errors.Is(fail(what, err), ErrNoSpace) && t.releaseReserve() {
		// Deleting is how room is made: spend the reserve on it.
		final = true
		trash = t.trashName()
		err = t.commit(ctx, del)
	}
	if err != nil {
		return fail(what, err)
	}
	t.removeTrash(trash)
	t.keepReserve()
	return nil
}

func (t *Tree) trashName() string { return filepath.Join(t.uploads, stagingPfx+randomHex()) }

func (t *Tree) removeTrash(trash string) {
	if err := os.RemoveAll(trash); err != nil {
		t.log.Warn("cannot remove deleted files; they go at next start", "path", trash, "err", err)
	}
}

// moveOut renames p out of the space to trash (in uploads/). Nothing on
// disk at p is not an error: the index is what gets fixed.
func (t *Tree) moveOut(st *spaceState, p, trash string) (undo func(), err error) {
	exists, err := checkDiskEntry(st, p)
	if err != nil || !exists {
		if !exists && err == nil {
			t.log.Warn("indexed entry missing on disk", "space", st.id, "path", p)
		}
		return nil, err
	}
	abs := st.abs(p)
	if err := os.Rename(abs, trash); err != nil {
		return nil, err
	}
	dir, _ := split(p)
	undo = func() { t.undo("restore deleted entry", os.Rename(trash, abs)) }
	return undo, syncDir(st.root, dir)
}

// SetMTime sets the modification time of the file or directory at p (on
// disk and in the index) and returns the updated node. A file's ETag
// changes with its mtime; a directory gets a fresh one. Errors:
// ErrBadPath, ErrNotFound.
func (t *Tree) SetMTime(ctx context.Context, spaceID, p string, mtime time.Time) (Node, error) {
	p, err := Clean(p)
	what := op("set mtime of", spaceID, p)
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
	err = t.commit(ctx, func(tx *store.Tx) (func(), error) {
		var err error
		if n, err = tx.Node(ctx, spaceID, p); err != nil {
			return nil, err
		}
		undo := func() {}
		if t.objects() {
			n.MTime = stamp(mtime)
		} else {
			old := n.MTime
			if err := st.root.Chtimes(diskPath(p), time.Time{}, mtime); err != nil {
				return nil, err
			}
			undo = func() { t.undo("restore mtime", st.root.Chtimes(diskPath(p), time.Time{}, old)) }
			fi, err := st.root.Stat(diskPath(p))
			if err != nil {
				return undo, err
			}
			n.MTime = stamp(fi.ModTime())
		}
		if n.IsDir {
			n.ETag = dirETag(now)
		} else {
			n.ETag = fileETag(n.SHA256, n.Size, n.MTime)
		}
		if err := tx.UpdateNode(ctx, n); err != nil {
			return undo, err
		}
		return undo, tx.SetAncestorETags(ctx, spaceID, p, dirETag(now))
	})
	if err != nil {
		return Node{}, fail(what, err)
	}
	return n, nil
}

// parentGone makes os.Root's refusal to enter a parent that is now a
// symbolic link (put there by hand) ErrParentMissing: as far as Wharf is
// concerned the folder is not there.
func parentGone(err error) error {
	if escapes(err) {
		return fmt.Errorf("%w (%v)", ErrParentMissing, err)
	}
	return err
}

// subtreeObjects returns the keys of the contents of the file at p, or of
// the files below the folder at p.
func subtreeObjects(ctx context.Context, tx *store.Tx, spaceID, p string) ([]string, error) {
	top, err := tx.Node(ctx, spaceID, p)
	if err != nil {
		return nil, err
	}
	if !top.IsDir {
		return []string{top.Blob}, nil
	}
	desc, err := tx.Descendants(ctx, spaceID, p)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, n := range desc {
		if n.Blob != "" {
			keys = append(keys, n.Blob)
		}
	}
	return keys, nil
}

// unindex removes p and everything below it from the index of a space,
// gives their bytes back to its quota and touches the folders above p: the
// index side of a file or folder leaving the space (deleted, trashed,
// quarantined).
func unindex(ctx context.Context, tx *store.Tx, spaceID, p string, now time.Time) error {
	removed, err := tx.DeleteSubtree(ctx, spaceID, p)
	if err == nil && removed != 0 {
		err = tx.AddUsed(ctx, spaceID, -removed)
	}
	if err == nil {
		dir, _ := split(p)
		err = touchPath(ctx, tx, spaceID, dir, now)
	}
	return err
}
