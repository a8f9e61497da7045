package phraseanet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"sort"
	"strings"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Commit and Asset are the store's rows.
type (
	Commit = store.Commit
	Asset  = store.Asset
)

// CommitRequest asks for a commit of some files of a target's space.
type CommitRequest struct {
	TargetID string
	UserID   int64 // the committing user; 0 for the scheduler
	// NodeIDs and Paths name the files (either or both). A path is relative
	// to the space root; if nothing is there and the target has a folder,
	// it is tried relative to that folder.
	NodeIDs []int64
	Paths   []string
	// Form is the user's form data (nil: none); see MergeForm.
	Form map[string]any
	// Record, when set, runs inside the transaction that stores the
	// commit, so that what the caller records about it (an idempotency
	// answer, say) exists if and only if the commit does. Its error
	// undoes the commit.
	Record func(ctx context.Context, tx *store.Tx, c Commit) error
	// Finalizing says the request is the finalization of the files'
	// uploads: files an upload session holds (see HeldError) may join,
	// and Record is expected to release them.
	Finalizing bool
}

// HeldError names the files of a request that an upload session holds:
// delivered under an upload token and not finalized yet, they join no
// commit but their finalization's. It matches ErrHeld.
type HeldError struct{ Paths []string }

func (e *HeldError) Error() string {
	return "awaiting the finalization of their upload: " + strings.Join(e.Paths, ", ")
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// commitOpts are the parts of a commit that are not its files and form.
type commitOpts struct {
	userID     int64
	record     func(context.Context, *store.Tx, Commit) error
	finalizing bool
}

// CommittedError names the files of a request already in a commit. It
// matches ErrCommitted.
type CommittedError struct{ Paths []string }

func (e *CommittedError) Error() string {
	return "already in a commit: " + strings.Join(e.Paths, ", ")
}

func (e *CommittedError) Is(target error) bool { return target == ErrCommitted }

// CreateCommit makes a commit of the requested files with the merged,
// validated form data, and queues its push if the target notifies.
// Files the target excludes as junk (see DefaultExclude) are left out.
// Errors: ErrNotFound (target, file), ErrBadInput (a *FormError for the
// form, or a directory, no files, only excluded files, over the target's
// limits), ErrCommitted (a *CommittedError), ErrHeld (a *HeldError).
func (s *Service) CreateCommit(ctx context.Context, req CommitRequest) (Commit, []Asset, error) {
	t, err := s.db.Target(ctx, req.TargetID)
	if errors.Is(err, store.ErrNotFound) {
		return Commit{}, nil, fmt.Errorf("%w: target %q", ErrNotFound, req.TargetID)
	}
	if err != nil {
		return Commit{}, nil, fmt.Errorf("phraseanet: create commit: %w", err)
	}
	var nodes []space.Node
	seen := map[int64]bool{}
	add := func(n space.Node) error {
		if n.SpaceID != t.SpaceID {
			return fmt.Errorf("%w: file %d", ErrNotFound, n.ID)
		}
		if n.IsDir {
			return fmt.Errorf("%w: %q is a directory", ErrBadInput, n.Path)
		}
		if !seen[n.ID] {
			seen[n.ID] = true
			nodes = append(nodes, n)
		}
		return nil
	}
	for _, id := range req.NodeIDs {
		n, err := s.db.NodeByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return Commit{}, nil, fmt.Errorf("%w: file %d", ErrNotFound, id)
		}
		if err != nil {
			return Commit{}, nil, fmt.Errorf("phraseanet: create commit: %w", err)
		}
		if err := add(n); err != nil {
			return Commit{}, nil, err
		}
	}
	for _, p := range req.Paths {
		n, err := s.tree.Stat(ctx, t.SpaceID, p)
		if errors.Is(err, space.ErrNotFound) && t.Folder != "" {
			n, err = s.tree.Stat(ctx, t.SpaceID, path.Join(t.Folder, p))
		}
		switch {
		case errors.Is(err, space.ErrNotFound):
			return Commit{}, nil, fmt.Errorf("%w: file %q", ErrNotFound, p)
		case errors.Is(err, space.ErrBadPath):
			return Commit{}, nil, fmt.Errorf("%w: path %q", ErrBadInput, p)
		case err != nil:
			return Commit{}, nil, fmt.Errorf("phraseanet: create commit: %w", err)
		}
		if err := add(n); err != nil {
			return Commit{}, nil, err
		}
	}
	if len(nodes) == 0 {
		return Commit{}, nil, fmt.Errorf("%w: a commit needs at least one file", ErrBadInput)
	}
	patterns := excludePatterns(t)
	var kept []space.Node
	var excluded []string
	for _, n := range nodes {
		if junk(patterns, n.Path) {
			excluded = append(excluded, n.Path)
			continue
		}
		kept = append(kept, n)
	}
	if len(kept) == 0 {
		return Commit{}, nil, fmt.Errorf("%w: the target excludes every file asked for (%s)", ErrBadInput, strings.Join(excluded, ", "))
	}
	nodes = kept
	var total int64
	for _, n := range nodes {
		total += n.Size
	}
	if len(nodes) > t.MaxFiles {
		return Commit{}, nil, fmt.Errorf("%w: %d files, the target takes at most %d per commit", ErrBadInput, len(nodes), t.MaxFiles)
	}
	if total > t.MaxBytes {
		return Commit{}, nil, fmt.Errorf("%w: %d bytes, the target takes at most %d per commit", ErrBadInput, total, t.MaxBytes)
	}
	form := req.Form
	if form == nil {
		form = map[string]any{}
	}
	merged, err := checkForm(t, form)
	if err != nil {
		return Commit{}, nil, err
	}
	return s.insertCommit(ctx, t, merged, nodes, commitOpts{userID: req.UserID, record: req.Record, finalizing: req.Finalizing})
}

// submitterKey is the form key naming the publisher's e-mail address.
const submitterKey = "phraseanet_submiter_email"

// insertCommit freezes nodes and stores a commit of them with the final
// form data, adding the publisher's e-mail address when the form has none.
// It returns a *CommittedError if any node is (or was) in a commit, a
// *HeldError if an upload session holds one (unless o.finalizing).
func (s *Service) insertCommit(ctx context.Context, t Target, form map[string]any, nodes []space.Node, o commitOpts) (Commit, []Asset, error) {
	// Joining a commit is an exposure: files never scanned are scanned
	// now; one found infected is quarantined and the commit refused.
	// This comes before the files are frozen into the commit.
	if err := s.tree.Vet(ctx, nodes...); err != nil {
		return Commit{}, nil, err
	}
	userID, record := o.userID, o.record
	if userID != 0 {
		if v, _ := form[submitterKey].(string); v == "" {
			u, err := s.db.UserByID(ctx, userID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return Commit{}, nil, fmt.Errorf("phraseanet: create commit: %w", err)
			}
			if u.Email != "" {
				form = maps.Clone(form)
				form[submitterKey] = u.Email
			}
		}
	}
	formJSON, err := json.Marshal(form)
	if err != nil {
		return Commit{}, nil, fmt.Errorf("%w: form data: %v", ErrBadInput, err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Path < nodes[j].Path })
	now := s.now()
	c := Commit{
		ID: newUUID(), TargetID: t.ID, Token: newToken(21), UserID: userID, FormData: string(formJSON),
		State: store.CommitPending, Push: notifies(t), CreatedAt: now,
	}
	assets := make([]Asset, len(nodes))
	ids := make([]int64, len(nodes))
	for i, n := range nodes {
		c.TotalSize += n.Size
		ids[i] = n.ID
		assets[i] = Asset{ID: newUUID(), CommitID: c.ID, NodeID: n.ID, SpaceID: n.SpaceID, Path: n.Path,
			Size: n.Size, OriginalName: n.Name, MIME: n.MIME, CreatedAt: now}
		if assets[i].MIME == "" {
			assets[i].MIME = "application/octet-stream"
		}
	}
	held := func(r store.Reader) error {
		if o.finalizing {
			return nil
		}
		h, err := r.Held(ctx, ids, now)
		if err != nil || len(h) == 0 {
			return err
		}
		he := &HeldError{}
		for _, n := range nodes {
			if h[n.ID] {
				he.Paths = append(he.Paths, n.Path)
			}
		}
		return he
	}
	if err := held(s.db.Reader); err != nil {
		return Commit{}, nil, err
	}
	s.startFreezing(c.ID)
	defer s.doneFreezing(c.ID)
	if err := s.freeze(ctx, c.ID, nodes, assets); err != nil {
		return Commit{}, nil, err
	}
	if s.freezes() {
		c.TotalSize = 0
		for _, a := range assets {
			c.TotalSize += a.Size
		}
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		done, err := tx.HandedOff(ctx, ids)
		if err != nil {
			return err
		}
		if len(done) > 0 {
			ce := &CommittedError{}
			for _, n := range nodes {
				if done[n.ID] {
					ce.Paths = append(ce.Paths, n.Path)
				}
			}
			return ce
		}
		if err := held(tx.Reader); err != nil {
			return err
		}
		if err := tx.InsertCommit(ctx, c, assets); err != nil {
			return err
		}
		if record != nil {
			return record(ctx, tx, c)
		}
		return nil
	})
	if err != nil {
		s.unfreeze(ctx, c.ID)
	}
	var ce *CommittedError
	var he *HeldError
	switch {
	case errors.As(err, &ce), errors.As(err, &he):
		return Commit{}, nil, err
	case errors.Is(err, store.ErrNotFound):
		return Commit{}, nil, fmt.Errorf("%w: target %q", ErrNotFound, t.ID)
	case errors.Is(err, store.ErrExists):
		// A node committed between HandedOff and the insert cannot happen
		// (one writer), but a clash on a random id would end here.
		return Commit{}, nil, &CommittedError{}
	case err != nil:
		return Commit{}, nil, fmt.Errorf("phraseanet: create commit: %w", err)
	}
	s.publish(events.Event{Type: events.CommitCreated, Space: t.SpaceID, Path: t.Folder, Size: c.TotalSize,
		Data: map[string]any{"commit": c.ID, "target": t.ID, "assets": len(assets), "push": c.Push}})
	if c.Push {
		kick(s.pushKick)
	}
	return c, assets, nil
}

// Commits returns a target's commits, unacknowledged first, then oldest
// first, with their assets.
func (s *Service) Commits(ctx context.Context, targetID string) ([]Commit, map[string][]Asset, error) {
	cs, _, err := s.db.Commits(ctx, store.CommitFilter{TargetID: targetID})
	if err != nil {
		return nil, nil, fmt.Errorf("phraseanet: %w", err)
	}
	assets := make(map[string][]Asset, len(cs))
	for _, c := range cs {
		as, err := s.db.CommitAssets(ctx, c.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("phraseanet: %w", err)
		}
		assets[c.ID] = as
	}
	return cs, assets, nil
}

// ack records an acknowledgement (of one asset, or of a whole commit when
// assetID is "") and, when the commit becomes acknowledged, publishes it
// and wakes the janitor.
func (s *Service) ack(ctx context.Context, t Target, c Commit, assetID string) error {
	var acked bool
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if assetID != "" {
			acked, err = tx.AckAsset(ctx, assetID, s.now())
		} else {
			acked, err = tx.AckCommit(ctx, c.ID, s.now())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("phraseanet: acknowledge: %w", err)
	}
	if acked {
		s.publish(events.Event{Type: events.CommitAcknowledged, Space: t.SpaceID, Path: t.Folder, Size: c.TotalSize,
			Data: map[string]any{"commit": c.ID, "target": t.ID, "after_ack": t.AfterAck}})
		kick(s.ackKick)
	}
	return nil
}
