// Package ops holds the operator's tools that work on a whole data
// directory: a consistent online backup, its restore into a new data
// directory, and a check (with repair) of the index against the disk and
// of the uploads area.
//
// Backup and Check work beside a running server: the database is copied
// in one read transaction (VACUUM INTO), space files are taken through
// space.Tree, and repairs are store transactions. Restore works only on a
// directory no server uses (it must be empty).
//
// In object-store mode (Config.Blobs) Check also compares the object store
// with the rows (objects.go) and Backup refuses: the database's own dump
// and the bucket's versioning or replication are the backup then.
//
// It imports space, store, blob and phraseanet (the layout of frozen
// commits in an object store); server and main use it.
package ops

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Config is the data directory an operation works on.
type Config struct {
	// Dir is the data directory. Required.
	Dir string
	// DB is its open database. Required.
	DB *store.DB
	// Tree is its space tree. Required.
	Tree *space.Tree
	// Blobs is the object store of a Tree in object-store mode
	// (space.Tree.ObjectMode, the server's --blobs): Check compares it
	// with the rows, and Backup refuses. Required in that mode; nil
	// otherwise.
	Blobs blob.Store
	// Logger receives progress. Nil: discard.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// ErrObjectMode is Backup's refusal in object-store mode: the contents
// are in the bucket, which Wharf does not copy.
var ErrObjectMode = errors.New("backup: the file contents are in an object store (--blobs): back up the database with its own tool " +
	"(pg_dump for PostgreSQL) and the bucket with its versioning or replication; see docs/operations.md")

func (c *Config) check() error {
	if c.Dir == "" || c.DB == nil || c.Tree == nil {
		return errors.New("ops: Config needs Dir, DB and Tree")
	}
	if c.Tree.ObjectMode() != (c.Blobs != nil) {
		return errors.New("ops: Config.Blobs must be the object store of a Tree in object-store mode, and only then")
	}
	// Absolute, as the paths the store records (jobs' staged files) are.
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("ops: data directory: %w", err)
	}
	c.Dir = dir
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// emptyOrMissing reports whether dir is missing or an empty directory.
func emptyOrMissing(dir string) (missing bool, err error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, errNotEmpty
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return false, nil
}

var errNotEmpty = errors.New("not empty")

// syncTree fsyncs every directory under dir (files are synced as they are
// written), so the entries made in them are durable.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncPath(p)
	})
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
