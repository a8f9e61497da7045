package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// RestoreOptions qualify Restore.
type RestoreOptions struct {
	// Verify hashes every restored file and compares it with the index's
	// SHA-256 (sizes are always compared).
	Verify bool
	// Logger receives progress. Nil: discard.
	Logger *slog.Logger
}

// Restore rebuilds a data directory at target from the backup in src (a
// directory written by Backup, with its BACKUP.json). target must be
// missing or an empty directory: a running server's data directory never
// is. Files are copied (the backup stays untouched, whatever happens to
// the restored files later) with the index's mtimes, their sizes checked
// against the index (and their SHA-256 with opts.Verify), and the counts
// against the manifest. The directory is built beside target and renamed
// into place at the end, so an interrupted restore leaves no half data
// directory behind.
func Restore(ctx context.Context, src, target string, opts RestoreOptions) (Manifest, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var m Manifest
	b, err := os.ReadFile(filepath.Join(src, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("restore: %s has no %s: not a backup, or an incomplete one", src, ManifestName)
	}
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("restore: %s: %w", ManifestName, err)
	}
	if m.Format != ManifestFormat {
		return m, fmt.Errorf("restore: %s has format %d, this binary reads %d", ManifestName, m.Format, ManifestFormat)
	}
	missing, err := emptyOrMissing(target)
	if errors.Is(err, errNotEmpty) {
		return m, fmt.Errorf("restore: %s is not empty; restore into a new or empty directory (a running server's data directory is never empty)", target)
	}
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	target = filepath.Clean(target)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(target), "."+filepath.Base(target)+".restore-")
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := restoreInto(ctx, src, tmp, m, opts.Verify, log); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if err := syncTree(tmp); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if !missing {
		if err := os.Remove(target); err != nil { // empty: checked above
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	done = true
	if err := syncPath(filepath.Dir(target)); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

func restoreInto(ctx context.Context, src, dir string, m Manifest, verify bool, log *slog.Logger) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	for _, d := range []string{"spaces", "uploads"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	dbPath := filepath.Join(dir, "wharf.db")
	if err := copyFile(filepath.Join(src, "wharf.db"), dbPath, time.Now(), nil); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	db, err := store.Open(ctx, dbPath) // brings an older schema up to date
	if err != nil {
		return err
	}
	defer db.Close()
	spaces, err := db.Spaces(ctx)
	if err != nil {
		return err
	}
	var files, bytes int64
	for _, sp := range spaces {
		nodes, err := db.Descendants(ctx, sp.ID, "")
		if err != nil {
			return err
		}
		if err := os.Mkdir(space.DiskPath(dir, sp.ID, ""), 0o700); err != nil {
			return err
		}
		var dirs []store.Node
		for _, n := range nodes {
			if err := ctx.Err(); err != nil {
				return err
			}
			to := space.DiskPath(dir, sp.ID, n.Path)
			if n.IsDir {
				if err := os.Mkdir(to, 0o700); err != nil {
					return err
				}
				dirs = append(dirs, n)
				continue
			}
			from := space.DiskPath(src, sp.ID, n.Path)
			fi, err := os.Lstat(from)
			if err != nil {
				return fmt.Errorf("space %q: %w", sp.ID, err)
			}
			if !fi.Mode().IsRegular() || fi.Size() != n.Size {
				return fmt.Errorf("space %q: %s has %d bytes, the index says %d: the backup is damaged", sp.ID, n.Path, fi.Size(), n.Size)
			}
			var sum string
			var sump *string
			if verify {
				sump = &sum
			}
			if err := copyFile(from, to, n.MTime, sump); err != nil {
				return fmt.Errorf("space %q: %w", sp.ID, err)
			}
			if verify && sum != n.SHA256 {
				return fmt.Errorf("space %q: %s has SHA-256 %s, the index says %s: the backup is damaged", sp.ID, n.Path, sum, n.SHA256)
			}
			files++
			bytes += n.Size
		}
		// Directory mtimes last, deepest first: creating entries in a
		// directory changes its mtime.
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Chtimes(space.DiskPath(dir, sp.ID, dirs[i].Path), time.Time{}, dirs[i].MTime)
		}
		log.Info("space restored", "space", sp.ID, "files", len(nodes)-len(dirs))
	}
	if files != m.Files || bytes != m.Bytes {
		return fmt.Errorf("the backup's index has %d files of %d bytes, %s says %d files of %d bytes: the backup is damaged",
			files, bytes, ManifestName, m.Files, m.Bytes)
	}
	if _, err := copyTree(ctx, filepath.Join(src, "thumbs"), filepath.Join(dir, "thumbs")); err != nil {
		return fmt.Errorf("thumbs: %w", err)
	}
	if _, err := copyTree(ctx, filepath.Join(src, "commits"), filepath.Join(dir, "commits")); err != nil {
		return fmt.Errorf("commits: %w", err)
	}
	return db.Close()
}
