package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Check in object-store mode (Config.Blobs). The contents are objects
// c/<space>/<id> named by rows (space.Tree's object-store mode), so
// besides the index's own checks:
//
//   - each space: every file's object exists with its size (and SHA-256
//     with Hashes), through space.Tree.Verify. Nothing can repair a
//     missing or different object: it comes back from the bucket's
//     versioning, or the file is deleted.
//   - the records of objects no row names (blob_orphans) older than
//     ObjectGrace: what a crash left between a write's store and its
//     install, or between a commit and its deletes. Repair runs
//     space.Tree.CollectObjects.
//   - the bucket's c/ keys: an object that no row names and that is not
//     recorded is one nothing will ever delete (written by another tool,
//     or by a bug). Repair deletes those older than UnnamedAge.
//   - Phraseanet's frozen commits (commits/<commit>/<asset>), as in the
//     data directory's commits/.

// DefaultObjectGrace is CheckOptions.ObjectGrace's default: longer than
// the longest store of one content in progress.
const DefaultObjectGrace = time.Hour

// UnnamedAge is how old an object of c/ that no row names and that is not
// recorded must be before Repair deletes it.
const UnnamedAge = 24 * time.Hour

// checkSpaceObjects is checkSpace in object-store mode. A difference is
// looked at twice (a file deleted between reading its row and asking for
// its object is no problem).
func checkSpaceObjects(ctx context.Context, cfg Config, id string, opts CheckOptions, r *Report) error {
	first, err := cfg.Tree.Verify(ctx, id, opts.Hashes)
	if err != nil {
		return err
	}
	var probs []space.Problem
	if len(first) > 0 {
		again, err := cfg.Tree.Verify(ctx, id, opts.Hashes)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, p := range again {
			seen[p.String()] = true
		}
		for _, p := range first {
			if seen[p.String()] {
				probs = append(probs, p)
			}
		}
	}
	for _, p := range probs {
		r.Problems = append(r.Problems, p.String())
		if opts.Repair {
			r.Fixed = append(r.Fixed, fmt.Sprintf("not fixed: %s/%s: restore its object from the bucket's versioning or replica, or delete the file", p.Space, p.Path))
		}
	}
	var sum int64
	var sp space.Space
	for attempt := 0; attempt < 2; attempt++ {
		// Look again: a write may have been between the two reads.
		if sp, err = cfg.Tree.Space(ctx, id); err != nil {
			return err
		}
		if sum, err = cfg.DB.FileBytes(ctx, id); err != nil {
			return err
		}
		if sum == sp.UsedBytes {
			return nil
		}
	}
	r.Problems = append(r.Problems, fmt.Sprintf("used bytes: %s: recorded %d, its files sum to %d", id, sp.UsedBytes, sum))
	if !opts.Repair {
		return nil
	}
	err = cfg.DB.Update(ctx, func(tx *store.Tx) error {
		sum, err := tx.FileBytes(ctx, id)
		if err != nil {
			return err
		}
		return tx.SetUsed(ctx, id, sum)
	})
	if err != nil {
		return err
	}
	r.Fixed = append(r.Fixed, fmt.Sprintf("recomputed the used bytes of space %s", id))
	return nil
}

// checkObjects compares the object store's c/ with the rows and the
// records of orphans.
func checkObjects(ctx context.Context, cfg Config, opts CheckOptions, r *Report) error {
	now := cfg.Now()
	// Recorded orphans past the grace that no row names: the collector's.
	stale := 0
	for after := ""; ; {
		keys, err := cfg.DB.BlobOrphans(ctx, now.Add(-opts.ObjectGrace), after, 500)
		if err != nil {
			return err
		}
		for _, k := range keys {
			named, err := cfg.DB.BlobNamed(ctx, k)
			if err != nil {
				return err
			}
			if !named {
				stale++
			}
		}
		if len(keys) < 500 {
			break
		}
		after = keys[len(keys)-1]
	}
	if stale > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("orphaned objects: %d recorded for more than %v and named by no row (left by a crash or a failed delete)", stale, opts.ObjectGrace))
		if opts.Repair {
			n, err := cfg.Tree.CollectObjects(ctx, opts.ObjectGrace)
			if err != nil {
				return err
			}
			r.Fixed = append(r.Fixed, fmt.Sprintf("deleted %d orphaned objects", n))
		}
	}

	// Objects of c/ that nothing names nor records. The rows of nodes and
	// versions name most: read them in bulk, ask about the rest one by
	// one (jobs, uploads, trash items).
	named := map[string]bool{}
	spaces, err := cfg.DB.Spaces(ctx)
	if err != nil {
		return err
	}
	for _, sp := range spaces {
		keys, err := cfg.DB.SpaceBlobs(ctx, sp.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			named[k] = true
		}
	}
	var candidates []blob.Info
	err = cfg.Blobs.List(ctx, "c/", func(i blob.Info) error {
		// A write stores its object after recording it: a young object
		// is looked at by the next check, when its write is done.
		if !named[i.Key] && now.Sub(i.ModTime) >= opts.Grace {
			candidates = append(candidates, i)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the object store: %w", err)
	}
	unnamed, err := unnamedObjects(ctx, cfg, candidates)
	if err != nil {
		return err
	}
	if len(unnamed) > 0 {
		// Look again: an object may have been let go and deleted, its
		// record dropped, between the listing and the reads.
		if unnamed, err = unnamedObjects(ctx, cfg, unnamed); err != nil {
			return err
		}
	}
	for _, i := range unnamed {
		r.Problems = append(r.Problems, fmt.Sprintf("unnamed object: %s (%d bytes, written %s): no row names it and it is not recorded as an orphan",
			i.Key, i.Size, i.ModTime.UTC().Format(time.RFC3339)))
		if !opts.Repair {
			continue
		}
		if now.Sub(i.ModTime) < UnnamedAge {
			r.Fixed = append(r.Fixed, fmt.Sprintf("not deleted: %s is younger than %v; a check --repair after that deletes it", i.Key, UnnamedAge))
			continue
		}
		if err := cfg.Blobs.Delete(ctx, i.Key); err != nil {
			return err
		}
		r.Fixed = append(r.Fixed, "deleted unnamed object "+i.Key)
	}
	return nil
}

// unnamedObjects returns those of objs that still exist, that no row
// names and that are not recorded as orphans.
func unnamedObjects(ctx context.Context, cfg Config, objs []blob.Info) ([]blob.Info, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	recorded := map[string]bool{}
	for after := ""; ; {
		keys, err := cfg.DB.BlobOrphans(ctx, cfg.Now().Add(24*time.Hour), after, 1000)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			recorded[k] = true
		}
		if len(keys) < 1000 {
			break
		}
		after = keys[len(keys)-1]
	}
	var out []blob.Info
	for _, i := range objs {
		if recorded[i.Key] {
			continue
		}
		named, err := cfg.DB.BlobNamed(ctx, i.Key)
		if err != nil {
			return nil, err
		}
		if named {
			continue
		}
		info, err := cfg.Blobs.Stat(ctx, i.Key)
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// checkCommitObjects is checkCommits in object-store mode: the frozen
// files of commits are objects commits/<commit>/<asset>.
func checkCommitObjects(ctx context.Context, cfg Config, opts CheckOptions, r *Report) error {
	commits, err := phraseanet.FrozenObjects(ctx, cfg.Blobs)
	if err != nil {
		return fmt.Errorf("list the frozen commits: %w", err)
	}
	now := cfg.Now()
	for _, fc := range commits {
		c, err := cfg.DB.Commit(ctx, fc.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if now.Sub(fc.Newest) < opts.ObjectGrace {
				continue // being made, maybe by another replica
			}
		case err != nil:
			return err
		case c.DisposedAt.IsZero():
			continue
		}
		r.Problems = append(r.Problems, fmt.Sprintf("orphaned commit files: %d objects commits/%s/", len(fc.Keys), fc.ID))
		if !opts.Repair {
			continue
		}
		for _, k := range fc.Keys {
			if err := cfg.Blobs.Delete(ctx, k); err != nil {
				return err
			}
		}
		r.Fixed = append(r.Fixed, fmt.Sprintf("deleted orphaned commit files commits/%s/", fc.ID))
	}
	return checkFrozenAssets(ctx, cfg, r, func(commit, asset string) (bool, error) {
		_, err := cfg.Blobs.Stat(ctx, phraseanet.FrozenKey(commit, asset))
		if errors.Is(err, blob.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
}
