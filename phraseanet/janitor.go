package phraseanet

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// runJanitor carries out the after-ack actions once their grace period is
// over (and then releases the commits' frozen files), prunes acknowledged
// commits after their retention, drops expired pull tokens and, every
// minute, removes the frozen files no live commit needs, every Tick and whenever a commit is acknowledged,
// until ctx ends.
func (s *Service) runJanitor(ctx context.Context) {
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	var lastFrozen time.Time
	for {
		s.sweep(ctx)
		if now := s.now(); now.Sub(lastFrozen) >= orphanEvery {
			lastFrozen = now
			if _, err := s.sweepFrozen(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "janitor: commits area", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.ackKick:
		}
	}
}

// sweep runs the janitor once.
func (s *Service) sweep(ctx context.Context) {
	cs, err := s.db.AckedCommits(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "janitor", "err", err)
		}
		return
	}
	now := s.now()
	targets := map[string]Target{}
	for _, c := range cs {
		t, ok := targets[c.TargetID]
		if !ok {
			if t, err = s.db.Target(ctx, c.TargetID); err != nil {
				continue // removed meanwhile
			}
			targets[c.TargetID] = t
		}
		if now.Before(c.AcknowledgedAt.Add(t.Grace)) {
			continue
		}
		if err := s.dispose(ctx, t, c); err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "janitor: after-ack action", "commit_id", c.ID, "target", t.Name, "action", t.AfterAck, "err", err)
			}
			continue
		}
	}
	ts, err := s.db.Targets(ctx)
	if err != nil {
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		for _, t := range ts {
			if _, err := tx.PruneCommits(ctx, t.ID, now.Add(-t.Retention), now); err != nil {
				return err
			}
		}
		_, err := tx.DeleteExpiredPullTokens(ctx, now)
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "janitor: prune", "err", err)
	}
}

// dispose carries out t's after-ack action on the files of c, then records
// it done. A file deleted or moved away meanwhile is left as it is; a file
// is found by its node, wherever it is now.
func (s *Service) dispose(ctx context.Context, t Target, c Commit) error {
	action := t.AfterAck
	if action != "keep" {
		assets, err := s.db.CommitAssets(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, a := range assets {
			n, err := s.db.NodeByID(ctx, a.NodeID)
			if errors.Is(err, store.ErrNotFound) || (err == nil && (n.IsDir || n.SpaceID != a.SpaceID)) {
				continue
			}
			if err != nil {
				return err
			}
			if action == "delete" {
				if err := s.tree.Delete(ctx, n.SpaceID, n.Path); err != nil && !errors.Is(err, space.ErrNotFound) {
					return err
				}
				continue
			}
			dir := moveFolder(t)
			if within(n.Path, dir) {
				continue // already there
			}
			rel := n.Path
			if t.Folder != "" && within(n.Path, t.Folder) {
				rel = strings.TrimPrefix(n.Path, t.Folder+"/")
			}
			if err := s.moveTo(ctx, n.SpaceID, n.Path, path.Join(dir, rel)); err != nil {
				return err
			}
		}
	}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetCommitDisposed(ctx, c.ID, s.now()) }); err != nil {
		return err
	}
	// Acknowledged and disposed of: Phraseanet has the bytes, the commit's
	// copy goes (a crash before this line leaves it to sweepFrozen).
	s.unfreeze(ctx, c.ID)
	return nil
}

// moveTo moves a file to dst, creating dst's parent directories and
// picking "name (2).ext" and so on if dst is taken.
func (s *Service) moveTo(ctx context.Context, spaceID, src, dst string) error {
	if err := s.mkdirAll(ctx, spaceID, path.Dir(dst)); err != nil {
		return err
	}
	ext := path.Ext(dst)
	stem := strings.TrimSuffix(dst, ext)
	for i := 1; i < 100; i++ {
		try := dst
		if i > 1 {
			try = stem + " (" + strconv.Itoa(i) + ")" + ext
		}
		_, err := s.tree.Move(ctx, spaceID, src, spaceID, try, false)
		if !errors.Is(err, space.ErrExists) {
			return err
		}
	}
	return fmt.Errorf("move %q: no free name for %q", src, dst)
}

func (s *Service) mkdirAll(ctx context.Context, spaceID, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	n, err := s.tree.Stat(ctx, spaceID, dir)
	if err == nil {
		if !n.IsDir {
			return fmt.Errorf("%q: %w", dir, space.ErrNotDir)
		}
		return nil
	}
	if !errors.Is(err, space.ErrNotFound) {
		return err
	}
	if err := s.mkdirAll(ctx, spaceID, path.Dir(dir)); err != nil {
		return err
	}
	if _, err := s.tree.Mkdir(ctx, spaceID, dir); err != nil && !errors.Is(err, space.ErrExists) {
		return err
	}
	return nil
}
