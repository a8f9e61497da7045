package dav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/blob"
)

// chunkStore keeps the chunks of the Nextcloud client's transfers
// (chunks.go): in a folder of the data directory (dirChunks), or, when the
// tree keeps its contents in an object store, as objects of that store
// (objChunks), so that a client whose PUTs and MOVE land on different
// replicas finds its chunks. Missing transfers and chunks are
// os.ErrNotExist; a transfer created twice is os.ErrExist.
type chunkStore interface {
	// held is what user uid's chunks hold, but for the chunk except of
	// transfer (the one a PUT replaces; "" for none).
	held(ctx context.Context, uid int64, transfer, except string) (int64, error)
	// transfers counts user uid's transfers.
	transfers(ctx context.Context, uid int64) (int, error)
	create(ctx context.Context, uid int64, transfer string) error
	exists(ctx context.Context, uid int64, transfer string) error
	// put stores a chunk atomically from r, which yields size bytes (-1:
	// unknown); a failing r stores nothing. It marks the transfer alive.
	put(ctx context.Context, uid int64, transfer, chunk string, r io.Reader, size int64) error
	// list returns the chunks of a transfer, unsorted.
	list(ctx context.Context, uid int64, transfer string) ([]chunkFile, error)
	open(ctx context.Context, uid int64, transfer, chunk string) (io.ReadCloser, error)
	removeChunk(ctx context.Context, uid int64, transfer, chunk string) error
	removeTransfer(ctx context.Context, uid int64, transfer string) error
	// expire removes the transfers, of every user, untouched since cutoff.
	expire(ctx context.Context, cutoff time.Time) error
}

// dirChunks keeps chunks in dir/<user id>/<transfer>/<chunk>; a transfer's
// folder's mtime is its last use.
type dirChunks struct{ dir string }

func (d dirChunks) user(uid int64) string { return filepath.Join(d.dir, strconv.FormatInt(uid, 10)) }

func (d dirChunks) transfer(uid int64, t string) string { return filepath.Join(d.user(uid), t) }

func (d dirChunks) held(_ context.Context, uid int64, transfer, except string) (int64, error) {
	old := ""
	if except != "" {
		old = filepath.Join(d.transfer(uid, transfer), except)
	}
	var n int64
	// Chunks only: the ".part-" files being written are counted by the
	// caller while they are.
	filepath.WalkDir(d.user(uid), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && p != old {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, nil
}

func (d dirChunks) transfers(_ context.Context, uid int64) (int, error) {
	es, err := os.ReadDir(d.user(uid))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return len(es), err
}

func (d dirChunks) create(_ context.Context, uid int64, transfer string) error {
	if err := os.MkdirAll(d.user(uid), 0o700); err != nil {
		return err
	}
	return os.Mkdir(d.transfer(uid, transfer), 0o700)
}

func (d dirChunks) exists(_ context.Context, uid int64, transfer string) error {
	_, err := os.Stat(d.transfer(uid, transfer))
	return err
}

func (d dirChunks) put(_ context.Context, uid int64, transfer, chunk string, r io.Reader, size int64) error {
	dir := d.transfer(uid, transfer)
	f, err := os.CreateTemp(dir, ".part-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	n, err := io.Copy(f, r)
	if err == nil && size >= 0 && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, chunk)); err != nil {
		return err
	}
	now := time.Now()
	os.Chtimes(dir, now, now) // the transfer is alive
	return nil
}

func (d dirChunks) list(_ context.Context, uid int64, transfer string) ([]chunkFile, error) {
	es, err := os.ReadDir(d.transfer(uid, transfer))
	if err != nil {
		return nil, err
	}
	var cs []chunkFile
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		cs = append(cs, chunkFile{name: e.Name(), size: fi.Size()})
	}
	return cs, nil
}

func (d dirChunks) open(_ context.Context, uid int64, transfer, chunk string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.transfer(uid, transfer), chunk))
}

func (d dirChunks) removeChunk(_ context.Context, uid int64, transfer, chunk string) error {
	return os.Remove(filepath.Join(d.transfer(uid, transfer), chunk))
}

func (d dirChunks) removeTransfer(_ context.Context, uid int64, transfer string) error {
	if _, err := os.Stat(d.transfer(uid, transfer)); err != nil {
		return err
	}
	return os.RemoveAll(d.transfer(uid, transfer))
}

func (d dirChunks) expire(_ context.Context, cutoff time.Time) error {
	users, _ := os.ReadDir(d.dir)
	var errs []error
	for _, u := range users {
		userDir := filepath.Join(d.dir, u.Name())
		es, _ := os.ReadDir(userDir)
		for _, e := range es {
			if fi, err := e.Info(); err == nil && e.IsDir() && fi.ModTime().Before(cutoff) {
				errs = append(errs, os.RemoveAll(filepath.Join(userDir, e.Name())))
			}
		}
	}
	return errors.Join(errs...)
}

// objChunks keeps chunks as objects chunks/<user id>/<transfer>/<chunk> of
// an object store; the object chunks/<user id>/<transfer>/.transfer marks
// the transfer, and is written again by each chunk: its date is the
// transfer's last use.
type objChunks struct{ s blob.Store }

const transferMark = ".transfer"

func (o objChunks) prefix(uid int64) string { return "chunks/" + strconv.FormatInt(uid, 10) + "/" }

func (o objChunks) key(uid int64, transfer, name string) string {
	return o.prefix(uid) + transfer + "/" + name
}

// each calls fn for each object of user uid's transfer ("" for all of
// them), with its transfer and name.
func (o objChunks) each(ctx context.Context, prefix string, fn func(transfer, name string, i blob.Info) error) error {
	return o.s.List(ctx, prefix, func(i blob.Info) error {
		rest := strings.TrimPrefix(i.Key, "chunks/")
		_, rest, _ = strings.Cut(rest, "/") // the user
		transfer, name, ok := strings.Cut(rest, "/")
		if !ok {
			return nil
		}
		return fn(transfer, name, i)
	})
}

func (o objChunks) held(ctx context.Context, uid int64, transfer, except string) (int64, error) {
	var n int64
	err := o.each(ctx, o.prefix(uid), func(t, name string, i blob.Info) error {
		if name != transferMark && (t != transfer || name != except) {
			n += i.Size
		}
		return nil
	})
	return n, err
}

func (o objChunks) transfers(ctx context.Context, uid int64) (int, error) {
	n := 0
	err := o.each(ctx, o.prefix(uid), func(_, name string, _ blob.Info) error {
		if name == transferMark {
			n++
		}
		return nil
	})
	return n, err
}

func (o objChunks) mark(ctx context.Context, uid int64, transfer string) error {
	_, err := o.s.Put(ctx, o.key(uid, transfer, transferMark), strings.NewReader(""), 0)
	return err
}

func (o objChunks) create(ctx context.Context, uid int64, transfer string) error {
	if err := o.exists(ctx, uid, transfer); err == nil {
		return os.ErrExist
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return o.mark(ctx, uid, transfer)
}

func (o objChunks) exists(ctx context.Context, uid int64, transfer string) error {
	_, err := o.s.Stat(ctx, o.key(uid, transfer, transferMark))
	return notExist(err)
}

// notExist makes blob.ErrNotFound os.ErrNotExist, as dirChunks answers.
func notExist(err error) error {
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("%w (%v)", os.ErrNotExist, err)
	}
	return err
}

func (o objChunks) put(ctx context.Context, uid int64, transfer, chunk string, r io.Reader, size int64) error {
	if _, err := o.s.Put(ctx, o.key(uid, transfer, chunk), r, size); err != nil {
		return err
	}
	return o.mark(ctx, uid, transfer)
}

func (o objChunks) list(ctx context.Context, uid int64, transfer string) ([]chunkFile, error) {
	if err := o.exists(ctx, uid, transfer); err != nil {
		return nil, err
	}
	var cs []chunkFile
	err := o.each(ctx, o.prefix(uid)+transfer+"/", func(t, name string, i blob.Info) error {
		if t == transfer && !strings.HasPrefix(name, ".") {
			cs = append(cs, chunkFile{name: name, size: i.Size})
		}
		return nil
	})
	return cs, err
}

func (o objChunks) open(ctx context.Context, uid int64, transfer, chunk string) (io.ReadCloser, error) {
	r, err := o.s.Open(ctx, o.key(uid, transfer, chunk))
	return r, notExist(err)
}

func (o objChunks) removeChunk(ctx context.Context, uid int64, transfer, chunk string) error {
	if _, err := o.s.Stat(ctx, o.key(uid, transfer, chunk)); err != nil {
		return notExist(err)
	}
	return o.s.Delete(ctx, o.key(uid, transfer, chunk))
}

func (o objChunks) removeTransfer(ctx context.Context, uid int64, transfer string) error {
	if err := o.exists(ctx, uid, transfer); err != nil {
		return err
	}
	var keys []string
	err := o.each(ctx, o.prefix(uid)+transfer+"/", func(t, name string, i blob.Info) error {
		if t == transfer {
			keys = append(keys, i.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The mark last: a transfer half removed is still one, and removed
	// again by the next DELETE or the expiry.
	var errs []error
	for _, k := range keys {
		if !strings.HasSuffix(k, "/"+transferMark) {
			errs = append(errs, o.s.Delete(ctx, k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return o.s.Delete(ctx, o.key(uid, transfer, transferMark))
}

func (o objChunks) expire(ctx context.Context, cutoff time.Time) error {
	type tr struct {
		uid      int64
		transfer string
	}
	var old []tr
	err := o.s.List(ctx, "chunks/", func(i blob.Info) error {
		rest := strings.TrimPrefix(i.Key, "chunks/")
		user, rest, _ := strings.Cut(rest, "/")
		transfer, name, _ := strings.Cut(rest, "/")
		uid, err := strconv.ParseInt(user, 10, 64)
		if err == nil && name == transferMark && i.ModTime.Before(cutoff) {
			old = append(old, tr{uid, transfer})
		}
		return nil
	})
	var errs []error
	for _, t := range old {
		errs = append(errs, o.removeTransfer(ctx, t.uid, t.transfer))
	}
	return errors.Join(append(errs, err)...)
}
