package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wharfhq/wharf/internal/diskio"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// ManifestName is the file a backup describes itself in.
const ManifestName = "BACKUP.json"

// ManifestFormat is the version of BACKUP.json this package writes and
// reads.
const ManifestFormat = 1

// Manifest is BACKUP.json: what a backup holds. Restore checks the
// restored data directory against it.
type Manifest struct {
	Format        int           `json:"format"`
	WharfVersion  string        `json:"wharf_version"`
	SchemaVersion int           `json:"schema_version"`
	CreatedAt     time.Time     `json:"created_at"`
	Spaces        []SpaceCounts `json:"spaces"`
	Files         int64         `json:"files"`
	Dirs          int64         `json:"dirs"`
	Bytes         int64         `json:"bytes"`
	// Linked and Copied say how the files were taken (hard links share
	// the live files' blocks; copies do not).
	Linked int64 `json:"linked"`
	Copied int64 `json:"copied"`
	// ChangedDuringBackup counts files replaced or deleted between the
	// database snapshot and their export; the backup's index was brought
	// in line with what was exported.
	ChangedDuringBackup int64 `json:"changed_during_backup"`
	// AbandonedUploads and AbandonedJobs are the unfinished tus uploads
	// and processing jobs the backup's database forgets: their bytes are
	// in uploads/, which is not backed up.
	AbandonedUploads int64 `json:"abandoned_uploads"`
	AbandonedJobs    int64 `json:"abandoned_jobs"`
	Thumbs           int64 `json:"thumbs"`
	// CommitFiles counts the frozen files of Phraseanet commits copied
	// from commits/: an unacknowledged commit restored is still served.
	CommitFiles int64    `json:"commit_files,omitempty"`
	Skipped     []string `json:"skipped"`
}

// SpaceCounts is one space's share of a backup.
type SpaceCounts struct {
	ID    string `json:"id"`
	Files int64  `json:"files"`
	Dirs  int64  `json:"dirs"`
	Bytes int64  `json:"bytes"`
}

// BackupOptions qualify Backup.
type BackupOptions struct {
	// Version is the Wharf version recorded in the manifest.
	Version string
	// NoThumbs leaves thumbs/ out (they are derived and can be rebuilt).
	NoThumbs bool
	// Copy copies the space files even where hard links would do.
	Copy bool
}

// Backup writes a consistent snapshot of the data directory to dst, which
// must be missing or an empty directory, while a server may be using it:
// first the database (VACUUM INTO: one read transaction), then exactly the
// files that snapshot's index knows, hard-linked when dst is on the same
// file system (space files are replaced by rename, never rewritten) and
// copied otherwise; thumbs/ is copied unless opts.NoThumbs. A file replaced
// or deleted after the snapshot is exported as it is then and the backup's
// index is corrected to describe it, so index and files agree. Unfinished
// uploads are not backed up (uploads/ and quarantine/ are skipped) and the
// backup's database forgets them. Everything is fsynced, then dst/
// BACKUP.json is written last: a backup without it is incomplete.
func Backup(ctx context.Context, cfg Config, dst string, opts BackupOptions) (Manifest, error) {
	if err := cfg.check(); err != nil {
		return Manifest{}, err
	}
	if cfg.Blobs != nil {
		return Manifest{}, ErrObjectMode
	}
	if cfg.DB.Postgres() {
		return Manifest{}, fmt.Errorf("backup: the database is PostgreSQL (%s): back it up with pg_dump, and the data directory's files with a file backup; see docs/postgres.md", cfg.DB.Path())
	}
	log := cfg.Logger
	missing, err := emptyOrMissing(dst)
	if errors.Is(err, errNotEmpty) {
		return Manifest{}, fmt.Errorf("backup: %s is not empty; back up into a new or empty directory", dst)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if missing {
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
	}
	// Links change a file's ctime; a file whose ctime is at or after t0
	// may be newer than the snapshot and is checked by content.
	t0 := cfg.Now().Add(-time.Second)
	dbPath := filepath.Join(dst, "wharf.db")
	if err := cfg.DB.Snapshot(ctx, dbPath); err != nil {
		return Manifest{}, fmt.Errorf("backup: database: %w", err)
	}
	log.Info("database copied", "path", dbPath)
	bdb, err := store.Open(ctx, dbPath)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: open the copy: %w", err)
	}
	defer func() {
		if bdb != nil {
			bdb.Close()
		}
	}()
	m := Manifest{Format: ManifestFormat, WharfVersion: opts.Version, CreatedAt: cfg.Now().UTC(),
		Skipped: []string{"uploads/ (unfinished uploads)", "quarantine/ (rejected uploads)",
			"trash/ and versions/ (deleted files and earlier contents: their records are dropped from the copy)"}}
	if opts.NoThumbs {
		m.Skipped = append(m.Skipped, "thumbs/ (--no-thumbs)")
	}
	if m.SchemaVersion, _, err = bdb.SchemaVersion(ctx); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	err = bdb.Update(ctx, func(tx *store.Tx) error {
		var err error
		m.AbandonedUploads, m.AbandonedJobs, err = tx.AbandonInFlight(ctx,
			"interrupted: the data directory was restored from a backup taken while this file was being processed; upload it again", cfg.Now())
		if err == nil {
			err = tx.ForgetRetained(ctx)
		}
		return err
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	spaces, err := bdb.Spaces(ctx)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	for _, sp := range spaces {
		sc, err := backupSpace(ctx, cfg, bdb, sp.ID, dst, !opts.Copy, t0, &m)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: space %q: %w", sp.ID, err)
		}
		m.Spaces = append(m.Spaces, sc)
		m.Files += sc.Files
		m.Dirs += sc.Dirs
		m.Bytes += sc.Bytes
		log.Info("space backed up", "space", sp.ID, "files", sc.Files, "bytes", sc.Bytes)
	}
	if !opts.NoThumbs {
		if m.Thumbs, err = copyTree(ctx, filepath.Join(cfg.Dir, "thumbs"), filepath.Join(dst, "thumbs")); err != nil {
			return Manifest{}, fmt.Errorf("backup: thumbs: %w", err)
		}
	}
	// The commits area, copied after the snapshot: a commit made since has
	// a folder and no row (the restored janitor removes it), one released
	// since has a row and no folder (its downloads answer 404, as for any
	// commit whose bytes are gone; make it again).
	if m.CommitFiles, err = copyTree(ctx, filepath.Join(cfg.Dir, "commits"), filepath.Join(dst, "commits")); err != nil {
		return Manifest{}, fmt.Errorf("backup: commits: %w", err)
	}
	err = bdb.Close()
	bdb = nil
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: close the copy: %w", err)
	}
	if err := syncPath(dbPath); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncTree(dst); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := writeJSON(filepath.Join(dst, ManifestName), m); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// backupSpace exports the files of one space that the backup's index bdb
// knows, and corrects bdb where the disk moved on since the snapshot.
func backupSpace(ctx context.Context, cfg Config, bdb *store.DB, id, dst string, link bool, t0 time.Time, m *Manifest) (SpaceCounts, error) {
	sc := SpaceCounts{ID: id}
	if err := os.MkdirAll(space.DiskPath(dst, id, ""), 0o700); err != nil {
		return sc, err
	}
	nodes, err := bdb.Descendants(ctx, id, "")
	if err != nil {
		return sc, err
	}
	var fixed []store.Node // nodes to update in bdb
	var gone []string      // paths to drop from bdb
	for _, n := range nodes {
		if err := ctx.Err(); err != nil {
			return sc, err
		}
		to := space.DiskPath(dst, id, n.Path)
		if n.IsDir {
			if err := os.MkdirAll(to, 0o700); err != nil {
				return sc, err
			}
			sc.Dirs++
			continue
		}
		linked, fi, err := cfg.Tree.Export(ctx, id, n.Path, to, link)
		if errors.Is(err, space.ErrNotFound) {
			// Deleted (or moved) after the snapshot: the backup cannot
			// have it.
			gone = append(gone, n.Path)
			m.ChangedDuringBackup++
			continue
		}
		if err != nil {
			return sc, err
		}
		if linked {
			m.Linked++
		} else {
			m.Copied++
		}
		changed, _ := changedSince(fi, t0)
		if fi.Size() != n.Size || !fi.ModTime().Equal(n.MTime) || changed {
			// Maybe not the version the snapshot describes: look.
			sum, err := hashFile(ctx, to)
			if err != nil {
				return sc, err
			}
			if sum != n.SHA256 || fi.Size() != n.Size || !fi.ModTime().Equal(n.MTime) {
				n.Size, n.MTime, n.SHA256, n.SHA1 = fi.Size(), fi.ModTime().UTC(), sum, ""
				n.ETag = space.FileETag(sum, n.Size, n.MTime)
				fixed = append(fixed, n)
				m.ChangedDuringBackup++
			}
		}
		// A hard link shares its mtime with the live file, which a later
		// PROPPATCH may change; restore sets it from the index.
		sc.Files++
		sc.Bytes += fi.Size()
	}
	return sc, bdb.Update(ctx, func(tx *store.Tx) error {
		for _, n := range fixed {
			if err := tx.UpdateNode(ctx, n); err != nil {
				return err
			}
		}
		for _, p := range gone {
			if _, err := tx.DeleteSubtree(ctx, id, p); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		used, err := tx.FileBytes(ctx, id)
		if err != nil {
			return err
		}
		return tx.SetUsed(ctx, id, used)
	})
}

// copyTree copies the regular files and directories below src to dst (a
// missing src copies nothing) and returns how many files it copied.
func copyTree(ctx context.Context, src, dst string) (int64, error) {
	var n int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == src {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o700)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if err := copyFile(p, to, fi.ModTime(), nil); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// copyFile copies src to the new file dst, gives it mtime, and fsyncs it.
// With sum set, it also hashes the bytes with SHA-256 into *sum.
func copyFile(src, dst string, mtime time.Time, sum *string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	if sum != nil {
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(out, h), in)
		*sum = hex.EncodeToString(h.Sum(nil))
	} else {
		_, err = io.Copy(out, in) // copy_file_range where possible
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(dst, time.Time{}, mtime)
	}
	return err
}

func hashFile(ctx context.Context, name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// writeJSON writes v to name atomically (temporary file, fsync, rename,
// fsync of the directory).
func writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return diskio.WriteFile(name, append(b, '\n'))
}
