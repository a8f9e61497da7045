package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wharfhq/wharf/store"
)

// checkCommits compares the commits area (commits/<commit>/<asset>: the
// frozen files of Phraseanet commits) with the commit records: a folder no
// live commit needs (no record older than the grace, or the after-ack action
// done) is orphaned, and removed with Repair; a frozen file missing for a
// commit still waiting is a problem nothing can repair (Phraseanet gets 404
// for it: make the commit again).
func checkCommits(ctx context.Context, cfg Config, opts CheckOptions, r *Report) error {
	if cfg.Blobs != nil {
		return checkCommitObjects(ctx, cfg, opts, r)
	}
	dir := filepath.Join(cfg.Dir, "commits")
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		es = nil
	} else if err != nil {
		return err
	}
	have := map[string]bool{}
	now := cfg.Now()
	for _, e := range es {
		id := e.Name()
		have[id] = true
		c, err := cfg.DB.Commit(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			fi, err := e.Info()
			if err != nil || now.Sub(fi.ModTime()) < opts.Grace {
				continue // being made
			}
		case err != nil:
			return err
		case c.DisposedAt.IsZero():
			continue
		}
		r.Problems = append(r.Problems, "orphaned commit files: commits/"+id)
		if opts.Repair {
			if err := os.RemoveAll(filepath.Join(dir, id)); err != nil {
				return err
			}
			r.Fixed = append(r.Fixed, "removed orphaned commit files commits/"+id)
		}
	}
	return checkFrozenAssets(ctx, cfg, r, func(commit, asset string) (bool, error) {
		_, err := os.Lstat(filepath.Join(dir, commit, asset))
		return err == nil, nil
	})
}

// checkFrozenAssets reports, for each commit not yet disposed of, the
// frozen assets whose copy present says is gone: Phraseanet cannot
// download them.
func checkFrozenAssets(ctx context.Context, cfg Config, r *Report, present func(commit, asset string) (bool, error)) error {
	ids, err := cfg.DB.FrozenCommitIDs(ctx)
	if err != nil {
		return err
	}
	for id := range ids {
		c, err := cfg.DB.Commit(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !c.DisposedAt.IsZero() {
			continue
		}
		as, err := cfg.DB.CommitAssets(ctx, id)
		if err != nil {
			return err
		}
		for _, a := range as {
			if !a.Frozen {
				continue
			}
			ok, err := present(id, a.ID)
			if err != nil {
				return err
			}
			if !ok {
				r.Problems = append(r.Problems, fmt.Sprintf("missing frozen file of asset %s (%s) of commit %s: Phraseanet cannot download it; commit the file again", a.ID, a.Path, id))
			}
		}
	}
	return nil
}
