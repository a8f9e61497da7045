package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// CheckOptions qualify Check.
type CheckOptions struct {
	// Hashes reads every file and compares its SHA-256 with the index's.
	Hashes bool
	// Repair fixes what can be fixed: the index (Reindex, Rehash), used
	// bytes, orphaned uploads.
	Repair bool
	// Grace is how old an upload record without its file must be to be
	// called orphaned (the record is written just before the file). 0: 1
	// minute.
	Grace time.Duration
	// ObjectGrace, in object-store mode, is how long an object recorded
	// as named by no row (blob_orphans) is left to the write that stored
	// it before it is called orphaned (Repair: collected), and how old the
	// frozen objects of a commit without a record must be to be orphaned.
	// 0: DefaultObjectGrace (1 hour).
	ObjectGrace time.Duration
}

// Report is what Check found and, with Repair, what it fixed.
type Report struct {
	// Problems are one line each, e.g. "missing: files/a.jpg".
	Problems []string
	// Notes are things that are not errors: entries the index never
	// holds (symbolic links, special files, unclean names).
	Notes []string
	// Fixed says what Repair did, one line each.
	Fixed []string
}

// Check compares every space's index with its directory, the spaces' used
// bytes with the sizes indexed, the trash and versions with their records,
// the uploads area with the upload records, the commits area with the
// commit records (in object-store mode, the object store with the rows:
// objects.go), and runs SQLite's integrity check (on PostgreSQL, a
// note says to run pg_amcheck instead). It may run beside a server (each
// difference is looked at twice before it is reported; repairs are
// transactions), but repairs are safer with the server stopped.
func Check(ctx context.Context, cfg Config, opts CheckOptions) (Report, error) {
	if err := cfg.check(); err != nil {
		return Report{}, err
	}
	if opts.Grace == 0 {
		opts.Grace = time.Minute
	}
	if opts.ObjectGrace == 0 {
		opts.ObjectGrace = DefaultObjectGrace
	}
	var r Report
	bad, err := cfg.DB.IntegrityCheck(ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		// PostgreSQL: its pages are its own to check; Wharf's checks of
		// the index against the files below still run.
		r.Notes = append(r.Notes, "database: PostgreSQL; its integrity check is pg_amcheck's (docs/postgres.md)")
	} else if err != nil {
		return r, err
	}
	for _, b := range bad {
		r.Problems = append(r.Problems, "database: "+b)
	}
	spaces, err := cfg.Tree.Spaces(ctx)
	if err != nil {
		return r, err
	}
	for _, sp := range spaces {
		if err := checkSpace(ctx, cfg, sp.ID, opts, &r); err != nil {
			return r, err
		}
	}
	if err := checkRetained(ctx, cfg, spaces, opts, &r); err != nil {
		return r, err
	}
	if err := checkUploads(ctx, cfg, opts, &r); err != nil {
		return r, err
	}
	if cfg.Blobs != nil {
		if err := checkObjects(ctx, cfg, opts, &r); err != nil {
			return r, err
		}
	}
	if err := checkCommits(ctx, cfg, opts, &r); err != nil {
		return r, err
	}
	if opts.Repair && len(bad) > 0 {
		r.Fixed = append(r.Fixed, "not fixed: the database fails its integrity check; stop the server and restore from a backup (wharf restore)")
	}
	return r, nil
}

func checkSpace(ctx context.Context, cfg Config, id string, opts CheckOptions, r *Report) error {
	if cfg.Blobs != nil {
		return checkSpaceObjects(ctx, cfg, id, opts, r)
	}
	probs, err := cfg.Tree.Verify(ctx, id, opts.Hashes)
	if errors.Is(err, space.ErrNotFound) {
		r.Problems = append(r.Problems, fmt.Sprintf("missing: %s: the space has no directory", id))
		return nil
	}
	if err != nil {
		return err
	}
	reindex := false
	var rehash []string
	for _, p := range probs {
		if p.Kind == space.Skipped {
			r.Notes = append(r.Notes, p.String())
			continue
		}
		r.Problems = append(r.Problems, p.String())
		if p.Kind == space.HashMismatch {
			rehash = append(rehash, p.Path)
		} else {
			reindex = true
		}
	}
	sp, err := cfg.Tree.Space(ctx, id)
	if err != nil {
		return err
	}
	sum, err := cfg.DB.FileBytes(ctx, id)
	if err != nil {
		return err
	}
	if sum != sp.UsedBytes {
		// Look again: a write may have been between the two reads.
		if sp, err = cfg.Tree.Space(ctx, id); err != nil {
			return err
		}
		if sum, err = cfg.DB.FileBytes(ctx, id); err != nil {
			return err
		}
		if sum != sp.UsedBytes {
			r.Problems = append(r.Problems, fmt.Sprintf("used bytes: %s: recorded %d, its files sum to %d", id, sp.UsedBytes, sum))
			reindex = true
		}
	}
	if !opts.Repair {
		return nil
	}
	if reindex {
		if err := cfg.Tree.Reindex(ctx, id); err != nil {
			return err
		}
		r.Fixed = append(r.Fixed, fmt.Sprintf("reindexed space %s: the index now lists what is on disk, used bytes recomputed", id))
	}
	for _, p := range rehash {
		n, err := cfg.Tree.Rehash(ctx, id, p)
		if err != nil {
			return err
		}
		r.Fixed = append(r.Fixed, fmt.Sprintf("rehashed %s/%s: the index now has the bytes on disk (sha256 %s); if they are corrupt, restore this file from a backup", id, p, n.SHA256))
	}
	return nil
}

// checkUploads looks for upload files without a record and records
// without their files: in uploads/tus/ (tus uploads: <id> and <id>.info)
// and in uploads/ itself (the bytes of processing jobs, named by the job).
// Staging files (".put-…") belong to writes in progress and are skipped;
// the next start removes stale ones.
func checkUploads(ctx context.Context, cfg Config, opts CheckOptions, r *Report) error {
	dir := filepath.Join(cfg.Dir, "uploads")
	tusDir := filepath.Join(dir, "tus")
	files := map[string]bool{} // absolute paths of candidate files
	for _, d := range []string{dir, tusDir} {
		es, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range es {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			files[filepath.Join(d, e.Name())] = true
		}
	}
	owned, err := uploadOwners(ctx, cfg.DB, tusDir)
	if err != nil {
		return err
	}
	var orphans []string
	for f := range files {
		if !owned[f] {
			orphans = append(orphans, f)
		}
	}
	if len(orphans) > 0 {
		// A job's bytes are renamed into uploads/ just before its record
		// is written: look again.
		if owned, err = uploadOwners(ctx, cfg.DB, tusDir); err != nil {
			return err
		}
	}
	us, err := cfg.DB.UploadsIn(ctx, store.UploadReceiving)
	if err != nil {
		return err
	}
	now := cfg.Now()
	for _, f := range orphans {
		if owned[f] {
			continue
		}
		rel, _ := filepath.Rel(cfg.Dir, f)
		r.Problems = append(r.Problems, "orphaned upload file: "+filepath.ToSlash(rel))
		if opts.Repair {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			r.Fixed = append(r.Fixed, "removed orphaned upload file "+filepath.ToSlash(rel))
		}
	}
	for _, u := range us {
		if cfg.Blobs != nil {
			// Staged in the object store, not in uploads/tus: its
			// expiry aborts an abandoned one.
			break
		}
		if now.Sub(u.UpdatedAt) < opts.Grace {
			continue
		}
		if _, err := os.Lstat(filepath.Join(tusDir, u.ID)); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		r.Problems = append(r.Problems, fmt.Sprintf("orphaned upload record: %s (%s/%s, receiving, no file in uploads/tus)", u.ID, u.SpaceID, u.Path))
		if !opts.Repair {
			continue
		}
		err := cfg.DB.Update(ctx, func(tx *store.Tx) error {
			// The file is still missing under the write lock; the record
			// is still the same.
			cur, err := tx.Upload(ctx, u.ID)
			if err != nil || cur.State != store.UploadReceiving || !cur.UpdatedAt.Equal(u.UpdatedAt) {
				return err
			}
			return tx.DeleteUpload(ctx, u.ID)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r.Fixed = append(r.Fixed, "removed orphaned upload record "+u.ID)
	}
	return nil
}

// uploadOwners returns the absolute paths of the files in uploads/ that a
// record owns: every tus upload's <id> and <id>.info, and the staged bytes
// of pending processing jobs.
func uploadOwners(ctx context.Context, db *store.DB, tusDir string) (map[string]bool, error) {
	owned := map[string]bool{}
	us, err := db.Uploads(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		owned[filepath.Join(tusDir, u.ID)] = true
		owned[filepath.Join(tusDir, u.ID+".info")] = true
	}
	jobs, err := db.PendingJobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.Staged != "" {
			owned[filepath.Clean(j.Staged)] = true
		}
	}
	return owned, nil
}

// checkRetained compares each space's trash and version records with the
// files in trash/ and versions/. A difference seen twice is reported (a
// delete or a purge may be between the two looks); Repair runs
// space.Tree.Recover, which completes or undoes what a crash cut short and
// removes files a purge left.
func checkRetained(ctx context.Context, cfg Config, spaces []space.Space, opts CheckOptions, r *Report) error {
	found := false
	for _, sp := range spaces {
		first, err := cfg.Tree.VerifyRetained(ctx, sp.ID)
		if err != nil {
			return err
		}
		if len(first) == 0 {
			continue
		}
		again, err := cfg.Tree.VerifyRetained(ctx, sp.ID)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, p := range first {
			seen[p] = true
		}
		for _, p := range again {
			if seen[p] {
				r.Problems = append(r.Problems, p)
				found = true
			}
		}
	}
	if !found || !opts.Repair {
		return nil
	}
	did, err := cfg.Tree.Recover(ctx)
	r.Fixed = append(r.Fixed, did...)
	return err
}
