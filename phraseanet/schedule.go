package phraseanet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// runScheduler makes the scheduled commits of every target as they come
// due, checking every Tick, until ctx ends.
func (s *Service) runScheduler(ctx context.Context) {
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	for {
		s.scheduleDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// scheduleDue runs the scheduler once for each enabled target whose time
// has come.
func (s *Service) scheduleDue(ctx context.Context) {
	ts, err := s.db.Targets(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "scheduler: list targets", "err", err)
		}
		return
	}
	now := s.now()
	for _, t := range ts {
		if ctx.Err() != nil {
			return
		}
		if !t.Enabled || !due(t, now) {
			continue
		}
		n, err := s.RunSchedule(ctx, t.ID)
		if err != nil {
			s.log.ErrorContext(ctx, "scheduler", "target", t.Name, "err", err)
			continue
		}
		if n > 0 {
			s.log.InfoContext(ctx, "scheduled commits made", "target", t.Name, "commits", n)
		}
	}
}

// due reports whether t's scheduled run has come at now.
func due(t Target, now time.Time) bool {
	switch {
	case t.Every > 0:
		return !now.Before(t.LastRunAt.Add(t.Every))
	case t.DailyAt != "":
		at, err := time.Parse("15:04", t.DailyAt)
		if err != nil {
			return false
		}
		local := now.Local()
		slot := time.Date(local.Year(), local.Month(), local.Day(), at.Hour(), at.Minute(), 0, 0, time.Local)
		if slot.After(local) {
			slot = slot.AddDate(0, 0, -1)
		}
		return t.LastRunAt.Before(slot)
	}
	return false
}

// RunSchedule batches the files of t's folder that are in no commit yet
// (the after-ack move folder, empty files, the files t excludes as junk
// and those awaiting the finalization of their upload excepted), by
// publisher, into commits with
// the target's default form data, respecting its limits, and records the
// run. A file larger than the byte limit goes alone. It returns how many
// commits it made; never an empty one.
func (s *Service) RunSchedule(ctx context.Context, targetID string) (int, error) {
	t, err := s.db.Target(ctx, targetID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: target %q", ErrNotFound, targetID)
	}
	if err != nil {
		return 0, fmt.Errorf("phraseanet: schedule: %w", err)
	}
	runAt := s.now()
	files, err := s.db.UnhandedFiles(ctx, t.SpaceID, t.Folder, runAt)
	if err != nil {
		return 0, fmt.Errorf("phraseanet: schedule %q: %w", t.Name, err)
	}
	exclude := moveFolder(t)
	patterns := excludePatterns(t)
	var keep []space.Node
	for _, n := range files {
		if n.Size == 0 || (exclude != "" && within(n.Path, exclude)) || junk(patterns, n.Path) {
			continue
		}
		keep = append(keep, n)
	}
	// Each commit names one publisher: the user who uploaded its files
	// (recorded when each was installed, whatever way it came in; unknown
	// for a file placed by hand and reindexed, or whose uploader's account
	// is gone), else the target's configured publisher, else nobody ("0").
	ids := make([]int64, len(keep))
	for i, n := range keep {
		ids[i] = n.ID
	}
	uploaders, err := s.db.Uploaders(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("phraseanet: schedule %q: %w", t.Name, err)
	}
	type batch struct {
		user  int64
		nodes []space.Node
	}
	var batches []batch
	open := map[int64]int{} // publisher -> index of its batch being filled
	var curBytes = map[int64]int64{}
	for _, n := range keep {
		user, ok := uploaders[n.ID]
		if !ok {
			user = t.PublisherID
		}
		i, ok := open[user]
		if ok && (len(batches[i].nodes) >= t.MaxFiles || curBytes[user]+n.Size > t.MaxBytes) {
			ok = false
		}
		if !ok {
			batches = append(batches, batch{user: user})
			i = len(batches) - 1
			open[user], curBytes[user] = i, 0
		}
		batches[i].nodes = append(batches[i].nodes, n)
		curBytes[user] += n.Size
	}
	made := 0
	var firstErr error
	if len(batches) > 0 {
		form, err := checkForm(t, map[string]any{})
		if err != nil {
			// The defaults do not satisfy the schema: nothing can be
			// committed on schedule; say why at every run.
			return 0, fmt.Errorf("phraseanet: schedule %q: default form data: %w", t.Name, err)
		}
		for _, b := range batches {
			if _, _, err := s.insertCommit(ctx, t, form, b.nodes, commitOpts{userID: b.user}); err != nil {
				// A file committed meanwhile (by the API), or deleted:
				// the others go at the next run.
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			made++
		}
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetTargetLastRun(ctx, t.ID, runAt) })
	if err != nil {
		return made, fmt.Errorf("phraseanet: schedule %q: %w", t.Name, err)
	}
	if firstErr != nil && !errors.Is(firstErr, ErrCommitted) && !errors.Is(firstErr, ErrHeld) && !errors.Is(firstErr, ErrNotFound) {
		return made, firstErr
	}
	return made, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}
