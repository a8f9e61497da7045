// Package local is the blob store of a single node: objects are files in
// one directory, written atomically (staged, fsynced, renamed into place,
// the directory fsynced), copied by hard link (objects are never written
// in place, so a link is a copy), and staged uploads are files appended to
// and renamed into place by Complete. It imports blob and internal/diskio only.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/diskio"
)

// Layout under the root:
//
//	objects/<seg>/<seg>/<last>~   one file per object: each key segment
//	                              escaped (blob.EscapeSegment), the last
//	                              one with '~' appended, so that a key and
//	                              a longer key under it ("a", "a/b") never
//	                              collide as file and directory
//	staging/put-<random>          a Put or Copy in flight
//	staging/up-<id>               a staged upload's bytes
const (
	objectsDir = "objects"
	stagingDir = "staging"
	objSuffix  = "~"
	upPrefix   = "up-"
)

// Store is a blob store in a directory. Safe for concurrent use.
type Store struct {
	root string
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Stager = (*Store)(nil)
)

// New opens (creating it if needed) a store in dir. Staged puts left by a
// crash are removed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blob/local: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/local: %w", err)
	}
	for _, d := range []string{objectsDir, stagingDir} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("blob/local: %w", err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(abs, stagingDir))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "put-") {
			os.Remove(filepath.Join(abs, stagingDir, e.Name()))
		}
	}
	return &Store{root: abs}, nil
}

func (s *Store) path(key string) (string, error) {
	if err := blob.CheckKey(key); err != nil {
		return "", err
	}
	segs := strings.Split(key, "/")
	parts := make([]string, 0, len(segs)+2)
	parts = append(parts, s.root, objectsDir)
	for _, seg := range segs {
		parts = append(parts, blob.EscapeSegment(seg))
	}
	parts[len(parts)-1] += objSuffix
	return filepath.Join(parts...), nil
}

func randomName(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func info(key string, fi fs.FileInfo) blob.Info {
	etag := fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size())
	if ino, ok := inode(fi); ok {
		etag = fmt.Sprintf("%x-%x-%x", ino, fi.ModTime().UnixNano(), fi.Size())
	}
	return blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: etag}
}

// install renames a staged, fsynced file into place at key and fsyncs the
// directory it lands in.
func (s *Store) install(tmp, key string) (blob.Info, error) {
	dst, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return blob.Info{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return blob.Info{}, err
	}
	if err := syncDir(dir); err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return blob.Info{}, err
	}
	return info(key, fi), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Info{}, err
	}
	tmp := filepath.Join(s.root, stagingDir, randomName("put-"))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/local: put %q: %w", key, err)
	}
	fail := func(err error) (blob.Info, error) {
		f.Close()
		os.Remove(tmp)
		return blob.Info{}, fmt.Errorf("blob/local: put %q: %w", key, err)
	}
	src := diskio.ContextReader(ctx, r)
	if size >= 0 {
		src = io.LimitReader(src, size+1)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return fail(err)
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("read %d bytes, expected %d", n, size))
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return blob.Info{}, fmt.Errorf("blob/local: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return blob.Info{}, fmt.Errorf("blob/local: put %q: %w", key, err)
	}
	in, err := s.install(tmp, key)
	if err != nil {
		os.Remove(tmp)
		return blob.Info{}, fmt.Errorf("blob/local: put %q: %w", key, err)
	}
	return in, nil
}

// file is a blob.Reader on an open file: the version opened stays readable
// whatever later Puts do (they rename over the name, not into the file).
type file struct {
	*os.File
	info blob.Info
}

func (f *file) Info() blob.Info { return f.info }

// OSFile is the open file itself, for the sendfile fast path of
// http.ServeContent, which needs an *os.File (a wrapper hides it).
func (f *file) OSFile() *os.File { return f.File }

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (blob.Reader, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, s.mapErr("open", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob/local: open %q: %w", key, err)
	}
	return &file{File: f, info: info(key, fi)}, nil
}

func (s *Store) mapErr(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("blob/local: %s %q: %w", op, key, blob.ErrNotFound)
	}
	return fmt.Errorf("blob/local: %s %q: %w", op, key, err)
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return blob.Info{}, s.mapErr("stat", key, err)
	}
	return info(key, fi), nil
}

// Delete implements blob.Store. Directories left empty stay (they are
// cheap, and removing them races with a Put creating a sibling).
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("blob/local: delete %q: %w", key, err)
	}
	return nil
}

// Copy implements blob.Store with a hard link: objects are immutable
// files, so sharing the inode is a copy.
func (s *Store) Copy(ctx context.Context, src, dst string) (blob.Info, error) {
	sp, err := s.path(src)
	if err != nil {
		return blob.Info{}, err
	}
	if err := blob.CheckKey(dst); err != nil {
		return blob.Info{}, err
	}
	tmp := filepath.Join(s.root, stagingDir, randomName("put-"))
	if err := os.Link(sp, tmp); err != nil {
		return blob.Info{}, s.mapErr("copy", src, err)
	}
	in, err := s.install(tmp, dst)
	if err != nil {
		os.Remove(tmp)
		return blob.Info{}, fmt.Errorf("blob/local: copy %q to %q: %w", src, dst, err)
	}
	return in, nil
}

// List implements blob.Store. It walks only the directories the prefix
// can reach.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	// The directory of the prefix's complete segments; the rest filters.
	base := filepath.Join(s.root, objectsDir)
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		for _, seg := range strings.Split(prefix[:i], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return nil // no valid key has such a segment
			}
			base = filepath.Join(base, blob.EscapeSegment(seg))
		}
	}
	var keys []blob.Info
	objects := filepath.Join(s.root, objectsDir)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), objSuffix) {
			return nil
		}
		rel, err := filepath.Rel(objects, strings.TrimSuffix(p, objSuffix))
		if err != nil {
			return err
		}
		segs := strings.Split(filepath.ToSlash(rel), "/")
		for i, seg := range segs {
			if segs[i], err = blob.UnescapeSegment(seg); err != nil {
				return nil // not ours
			}
		}
		key := strings.Join(segs, "/")
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted meanwhile
			}
			return err
		}
		keys = append(keys, info(key, fi))
		return nil
	})
	if err != nil {
		return fmt.Errorf("blob/local: list %q: %w", prefix, err)
	}
	// The walk's order is by escaped name; keys are listed by key.
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
	for _, in := range keys {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// CreateUpload implements blob.Stager: an empty staging file.
func (s *Store) CreateUpload(ctx context.Context, key string, size int64) (blob.Upload, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Upload{}, err
	}
	id := randomName("")
	f, err := os.OpenFile(s.upPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return blob.Upload{}, fmt.Errorf("blob/local: create upload for %q: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return blob.Upload{}, fmt.Errorf("blob/local: create upload for %q: %w", key, err)
	}
	if err := syncDir(filepath.Join(s.root, stagingDir)); err != nil {
		return blob.Upload{}, fmt.Errorf("blob/local: create upload for %q: %w", key, err)
	}
	return blob.Upload{Key: key, ID: id, Size: size}, nil
}

func (s *Store) upPath(id string) string {
	return filepath.Join(s.root, stagingDir, upPrefix+id)
}

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return fmt.Errorf("blob/local: bad upload id %q: %w", id, blob.ErrNotFound)
	}
	return nil
}

// UploadOffset implements blob.Stager: the staging file's size.
func (s *Store) UploadOffset(ctx context.Context, u blob.Upload) (int64, error) {
	if err := checkID(u.ID); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.upPath(u.ID))
	if err != nil {
		return 0, s.mapErr("upload offset", u.Key, err)
	}
	return fi.Size(), nil
}

// WriteUpload implements blob.Stager: append, then fsync before the count
// is returned (the caller acknowledges those bytes).
func (s *Store) WriteUpload(ctx context.Context, u blob.Upload, offset int64, r io.Reader) (int64, error) {
	if err := checkID(u.ID); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(s.upPath(u.ID), os.O_WRONLY, 0)
	if err != nil {
		return 0, s.mapErr("write upload", u.Key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("blob/local: write upload %q: %w", u.Key, err)
	}
	if fi.Size() != offset {
		return 0, fmt.Errorf("blob/local: write upload %q at %d, holds %d: %w", u.Key, offset, fi.Size(), blob.ErrOffset)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	src := diskio.ContextReader(ctx, r)
	limited := false
	if u.Size >= 0 {
		src = io.LimitReader(src, u.Size-offset)
		limited = true
	}
	n, copyErr := io.Copy(f, src)
	if limited && copyErr == nil && offset+n == u.Size {
		// Anything more the reader holds is beyond the declared size.
		var one [1]byte
		if m, _ := r.Read(one[:]); m > 0 {
			copyErr = fmt.Errorf("blob/local: write upload %q: more than the declared %d bytes: %w", u.Key, u.Size, blob.ErrTooLarge)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("blob/local: write upload %q: %w", u.Key, err)
	}
	return n, copyErr
}

// CompleteUpload implements blob.Stager: fsync, rename into place.
func (s *Store) CompleteUpload(ctx context.Context, u blob.Upload) (blob.Info, error) {
	if err := checkID(u.ID); err != nil {
		return blob.Info{}, err
	}
	p := s.upPath(u.ID)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Completed before (the retry after a crash)?
		if in, serr := s.Stat(ctx, u.Key); serr == nil && (u.Size < 0 || in.Size == u.Size) {
			return in, nil
		}
		return blob.Info{}, s.mapErr("complete upload", u.Key, err)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/local: complete upload %q: %w", u.Key, err)
	}
	if u.Size >= 0 && fi.Size() != u.Size {
		return blob.Info{}, fmt.Errorf("blob/local: complete upload %q: %d of %d bytes: %w", u.Key, fi.Size(), u.Size, blob.ErrIncomplete)
	}
	in, err := s.install(p, u.Key)
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/local: complete upload %q: %w", u.Key, err)
	}
	return in, nil
}

// AbortUpload implements blob.Stager.
func (s *Store) AbortUpload(ctx context.Context, u blob.Upload) error {
	if err := checkID(u.ID); err != nil {
		return nil
	}
	if err := os.Remove(s.upPath(u.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob/local: abort upload %q: %w", u.Key, err)
	}
	return nil
}

// AbortUploadsBefore implements blob.Stager. A staging file's age is its
// creation; the file's birth time is not portable, so the age is taken
// from its last write: an upload still receiving bytes is never aborted.
func (s *Store) AbortUploadsBefore(ctx context.Context, t time.Time) (int, error) {
	dir := filepath.Join(s.root, stagingDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("blob/local: abort uploads: %w", err)
	}
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), upPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(t) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			n++
		}
	}
	return n, nil
}
