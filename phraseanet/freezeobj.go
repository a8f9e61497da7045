package phraseanet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// In object-store mode (Config.Blobs) a commit freezes its files in the
// object store, where every replica reads them: each asset is a
// server-side copy of its file's object, commits/<commit>/<asset>. The
// object a node names is one content written once and never changed (a
// new content gets a new key), so the copy holds exactly the bytes the
// node's row describes: the asset takes its size from the copy and its
// SHA-256 from that row, which was computed over the same bytes when they
// were written (`wharf check --verify-hashes` proves it), instead of
// reading the whole file back from the store. Release deletes the
// commit's objects; the janitor deletes those of commits that no longer
// need them.

// frozenPrefix is where the objects of frozen commits live.
const frozenPrefix = "commits/"

// orphanObjectAge is orphanAge for objects: another replica may be making
// the commit (its freezing map is its own), so the newest object of a
// commit without a row must be this old before the janitor deletes it.
const orphanObjectAge = time.Hour

// frozenKey is the object of the frozen copy of an asset.
func frozenKey(commitID, assetID string) string {
	return frozenPrefix + commitID + "/" + assetID
}

// freezeObjects is freeze in object-store mode. On error the commit's
// objects are deleted.
func (s *Service) freezeObjects(ctx context.Context, commitID string, nodes []space.Node, assets []Asset) (err error) {
	defer func() {
		if err != nil {
			s.unfreezeObjects(ctx, commitID)
		}
	}()
	for i, n := range nodes {
		key := frozenKey(commitID, assets[i].ID)
		var info blob.Info
		var cur space.Node
		// The file may be overwritten between reading its row and the
		// copy, and its old object deleted: read the row again.
		for attempt := 0; ; attempt++ {
			cur, err = s.tree.Stat(ctx, n.SpaceID, n.Path)
			if errors.Is(err, space.ErrNotFound) {
				return fmt.Errorf("%w: file %q (gone meanwhile)", ErrNotFound, n.Path)
			}
			if err != nil {
				return fmt.Errorf("phraseanet: freeze %q: %w", n.Path, err)
			}
			if cur.IsDir || cur.Blob == "" {
				return fmt.Errorf("%w: file %q (no content in the object store)", ErrNotFound, n.Path)
			}
			info, err = s.blobs.Copy(ctx, cur.Blob, key)
			if errors.Is(err, blob.ErrNotFound) && attempt < 2 {
				continue
			}
			if errors.Is(err, blob.ErrNotFound) {
				s.log.WarnContext(ctx, "indexed content missing in the object store; run wharf check", "space", n.SpaceID, "path", n.Path, "key", cur.Blob)
				return fmt.Errorf("%w: file %q (its content is missing in the object store)", ErrNotFound, n.Path)
			}
			if err != nil {
				return fmt.Errorf("phraseanet: freeze %q: %w", n.Path, err)
			}
			break
		}
		if info.Size != cur.Size {
			return fmt.Errorf("phraseanet: freeze %q: the object holds %d bytes, the index %d; run wharf check", n.Path, info.Size, cur.Size)
		}
		sum := cur.SHA256
		if sum == "" {
			if sum, err = s.hashObject(ctx, key); err != nil {
				return fmt.Errorf("phraseanet: freeze %q: %w", n.Path, err)
			}
		}
		assets[i].Size, assets[i].SHA256, assets[i].Frozen = info.Size, sum, true
	}
	return nil
}

// hashObject returns the SHA-256 (lowercase hex) of an object.
func (s *Service) hashObject(ctx context.Context, key string) (string, error) {
	r, err := s.blobs.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// openFrozenObject is openFrozen in object-store mode.
func (s *Service) openFrozenObject(ctx context.Context, a Asset) (space.File, time.Time, error) {
	r, err := s.blobs.Open(ctx, frozenKey(a.CommitID, a.ID))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, time.Time{}, fmt.Errorf("%w: the committed file of asset %q is no longer kept", ErrNotFound, a.ID)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return r, r.Info().ModTime, nil
}

// unfreezeObjects deletes a commit's frozen objects, even when ctx (a
// request's) is cancelled. What fails is left to the janitor.
func (s *Service) unfreezeObjects(ctx context.Context, commitID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var keys []string
	err := s.blobs.List(ctx, frozenPrefix+commitID+"/", func(i blob.Info) error {
		keys = append(keys, i.Key)
		return nil
	})
	for _, k := range keys {
		if err == nil {
			err = s.blobs.Delete(ctx, k)
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "cannot delete the frozen files of a commit", "commit_id", commitID, "err", err)
	}
}

// sweepFrozenObjects is sweepFrozen in object-store mode: it deletes the
// objects of commits without a row (once their newest object is
// orphanObjectAge old) and of commits whose after-ack action is done.
func (s *Service) sweepFrozenObjects(ctx context.Context) (int, error) {
	commits, err := FrozenObjects(ctx, s.blobs)
	if err != nil {
		return 0, fmt.Errorf("phraseanet: list frozen commits: %w", err)
	}
	removed := 0
	for _, fc := range commits {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if s.isFreezing(fc.ID) {
			continue
		}
		c, err := s.db.Commit(ctx, fc.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if s.now().Sub(fc.Newest) < orphanObjectAge {
				continue
			}
		case err != nil:
			return removed, fmt.Errorf("phraseanet: list frozen commits: %w", err)
		case c.DisposedAt.IsZero():
			continue
		}
		for _, k := range fc.Keys {
			if err := s.blobs.Delete(ctx, k); err != nil {
				return removed, fmt.Errorf("phraseanet: remove frozen commit %q: %w", fc.ID, err)
			}
		}
		removed++
	}
	return removed, nil
}

// FrozenCommit is one commit's frozen objects in an object store.
type FrozenCommit struct {
	ID     string
	Keys   []string
	Newest time.Time // the ModTime of its newest object
}

// FrozenObjects lists the frozen objects of commits in an object store
// (commits/<commit>/<asset>), by commit, in commit order. wharf check
// uses it too.
func FrozenObjects(ctx context.Context, bs blob.Store) ([]FrozenCommit, error) {
	var out []FrozenCommit
	err := bs.List(ctx, frozenPrefix, func(i blob.Info) error {
		id, _, _ := strings.Cut(strings.TrimPrefix(i.Key, frozenPrefix), "/")
		if len(out) == 0 || out[len(out)-1].ID != id {
			out = append(out, FrozenCommit{ID: id})
		}
		fc := &out[len(out)-1]
		fc.Keys = append(fc.Keys, i.Key)
		if i.ModTime.After(fc.Newest) {
			fc.Newest = i.ModTime
		}
		return nil
	})
	return out, err
}

// FrozenKey is the object of the frozen copy of an asset in an object
// store, for wharf check.
func FrozenKey(commitID, assetID string) string { return frozenKey(commitID, assetID) }
