package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/wharfhq/wharf/space"
)

// retainEvery is how often the trash janitor applies every space's
// retention (it also runs once at start).
const retainEvery = time.Hour

// collectGrace is how long an object recorded as an orphan is left to the
// write that stores it before the janitor deletes it (object-store mode,
// space.Tree.CollectObjects): longer than storing the largest file takes.
const collectGrace = 6 * time.Hour

// recoverRetained completes or undoes the trash and versions changes a
// crash cut short; it runs at start, before any request is served.
func recoverRetained(ctx context.Context, tree *space.Tree, log *slog.Logger) error {
	did, err := tree.Recover(ctx)
	for _, d := range did {
		log.WarnContext(ctx, "trash and versions: recovered after a crash", "what", d)
	}
	return err
}

// trashJanitor purges, in every space, the trash items and versions its
// retention no longer keeps, and in object-store mode collects the objects
// a crash left unnamed, at start and then every retainEvery, until ctx
// ends.
func trashJanitor(ctx context.Context, tree *space.Tree, log *slog.Logger) {
	tick := time.NewTicker(retainEvery)
	defer tick.Stop()
	for {
		spaces, err := tree.Spaces(ctx)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "trash janitor: list spaces", "err", err)
		}
		for _, s := range spaces {
			n, err := tree.Expire(ctx, s.ID)
			switch {
			case err != nil && ctx.Err() == nil:
				log.ErrorContext(ctx, "trash janitor", "space", s.ID, "err", err)
			case n > 0:
				log.InfoContext(ctx, "trash janitor: purged expired trash items and versions", "space", s.ID, "purged", n)
			}
		}
		n, err := tree.CollectObjects(ctx, collectGrace)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "object collector", "err", err)
		case n > 0:
			log.InfoContext(ctx, "object collector: deleted objects a crash left unnamed", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
