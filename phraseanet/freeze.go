package phraseanet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// A commit freezes its files: when it is made, each file is put into the
// commit's own folder of the data directory, Config.Dir/<commit>/<asset>,
// as a hard link (space replaces files by rename and never rewrites them,
// so the link keeps the committed version whatever happens to the file in
// the space afterwards), or as a copy where links are impossible (Dir on
// another file system than spaces/; the copy uses copy_file_range, which
// reflinks on file systems that can). The asset's size and SHA-256 are read
// from the frozen bytes, and Phraseanet is served those bytes. The folder
// goes when the after-ack action is done, and the janitor removes any
// folder without a live commit (a crash between freezing and recording,
// a pruned commit, a removed target).

// orphanAge is how old a commit folder without a commit row must be before
// the janitor removes it: a commit being made by this process is protected
// by s.freezing, but the folder's age also covers a clock-less view of it.
const orphanAge = time.Minute

// orphanEvery is how often the janitor looks for commit folders to remove.
const orphanEvery = time.Minute

// frozenPath is where the frozen copy of an asset lives.
func (s *Service) frozenPath(a Asset) string {
	return filepath.Join(s.dir, a.CommitID, a.ID)
}

// freeze puts a copy of each asset's node into the commit's folder and
// sets the asset's Size, SHA256 and Frozen from it. Without a Dir it does
// nothing (assets are then served from their nodes). On error the folder
// is removed. Errors: ErrNotFound for a file gone meanwhile.
func (s *Service) freeze(ctx context.Context, commitID string, nodes []space.Node, assets []Asset) (err error) {
	if s.blobs != nil {
		return s.freezeObjects(ctx, commitID, nodes, assets)
	}
	if s.dir == "" {
		return nil
	}
	dir := filepath.Join(s.dir, commitID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("phraseanet: freeze commit: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	for i, n := range nodes {
		dst := filepath.Join(dir, assets[i].ID)
		_, _, err := s.tree.Export(ctx, n.SpaceID, n.Path, dst, true)
		if errors.Is(err, space.ErrNotFound) {
			return fmt.Errorf("%w: file %q (gone meanwhile)", ErrNotFound, n.Path)
		}
		if err != nil {
			return fmt.Errorf("phraseanet: freeze %q: %w", n.Path, err)
		}
		size, sum, err := hashFile(ctx, dst)
		if err != nil {
			return fmt.Errorf("phraseanet: freeze %q: %w", n.Path, err)
		}
		assets[i].Size, assets[i].SHA256, assets[i].Frozen = size, sum, true
	}
	// The folder's entries must survive a crash once the commit is
	// recorded: sync it before the transaction.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// freezes reports whether commits freeze their files (in the data
// directory or in the object store).
func (s *Service) freezes() bool { return s.dir != "" || s.blobs != nil }

// openFrozen opens the frozen copy of asset a (Frozen), with its
// modification time; ErrNotFound once it is released.
func (s *Service) openFrozen(ctx context.Context, a Asset) (space.File, time.Time, error) {
	if s.blobs != nil {
		return s.openFrozenObject(ctx, a)
	}
	f, err := os.Open(s.frozenPath(a))
	if errors.Is(err, fs.ErrNotExist) {
		// Released after the after-ack action, or lost: nothing to serve.
		return nil, time.Time{}, fmt.Errorf("%w: the committed file of asset %q is no longer kept", ErrNotFound, a.ID)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, time.Time{}, err
	}
	return f, fi.ModTime(), nil
}

// hashFile returns the length and SHA-256 (lowercase hex) of a file.
func hashFile(ctx context.Context, name string) (int64, string, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, diskio.ContextReader(ctx, f))
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// unfreeze removes a commit's frozen files.
func (s *Service) unfreeze(ctx context.Context, commitID string) {
	if s.blobs != nil && commitID != "" {
		s.unfreezeObjects(ctx, commitID)
		return
	}
	if s.dir == "" || commitID == "" {
		return
	}
	if err := os.RemoveAll(filepath.Join(s.dir, commitID)); err != nil {
		s.log.ErrorContext(ctx, "cannot remove the frozen files of a commit", "commit_id", commitID, "err", err)
	}
}

// startFreezing and doneFreezing keep the janitor off the folder of a
// commit being made.
func (s *Service) startFreezing(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freezing[id] = true
}

func (s *Service) doneFreezing(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.freezing, id)
}

func (s *Service) isFreezing(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freezing[id]
}

// sweepFrozen removes the commit folders that no live commit needs: no
// commit row (a crash before the commit was recorded, a pruned commit or a
// removed target), or a commit whose after-ack action is done. It returns
// how many it removed.
func (s *Service) sweepFrozen(ctx context.Context) (int, error) {
	if s.blobs != nil {
		return s.sweepFrozenObjects(ctx)
	}
	if s.dir == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("phraseanet: list frozen commits: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		id := e.Name()
		if s.isFreezing(id) {
			continue
		}
		c, err := s.db.Commit(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if fi, err := e.Info(); err != nil || s.now().Sub(fi.ModTime()) < orphanAge {
				continue
			}
		case err != nil:
			return removed, fmt.Errorf("phraseanet: list frozen commits: %w", err)
		case c.DisposedAt.IsZero():
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, id)); err != nil {
			return removed, fmt.Errorf("phraseanet: remove frozen commit %q: %w", id, err)
		}
		removed++
	}
	return removed, nil
}

// SweepFrozen is the janitor's clean-up of the commits area, for `wharf
// check`: it removes what no live commit needs and says how many folders
// went.
func (s *Service) SweepFrozen(ctx context.Context) (int, error) { return s.sweepFrozen(ctx) }
