package postproc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// A file installed after the quick steps only (a WebDAV PUT, kept fast)
// gets the other steps — thumbnail and metadata — soon after, in the
// background: the enrichment pass. It reads the installed file through a
// hard link (space.Tree.Export), so a later overwrite changes nothing of
// what it reads, and records what it finds for the content
// (store.Tx.PutMeta), which is how a file gets the same processing
// whichever way it came in. The queue is in memory: at each start the pass
// first looks for every file of a type it reads whose content has no
// metadata recorded (a restart before the pass ran, files installed by
// older versions, restored or found by a repair), so nothing is missed for
// long.

// maxEnrichQueue bounds the files waiting for the pass; beyond it they are
// left to the next start's look-up.
const maxEnrichQueue = 10000

// enrichPrefix names the pass's links in ThumbsDir; New removes leftovers.
const enrichPrefix = ".enrich-"

// enricher is the state of the enrichment pass.
type enricher struct {
	mu    sync.Mutex
	queue []space.Node
	kick  chan struct{}
}

// recordContent records, in the transaction that installs job j's file as
// n, what is known of its content: clean, when the scan ran; the findings
// of the thumbnail and metadata steps, when they ran (not a quick job).
func (r *Runner) recordContent(ctx context.Context, tx *store.Tx, j store.Job, n space.Node) error {
	if n.SHA256 == "" {
		return nil
	}
	if r.scanOn() {
		if err := tx.MarkScanned(ctx, n.SHA256, r.now()); err != nil {
			return err
		}
	}
	if j.Quick {
		return nil
	}
	meta := j.Metadata
	if meta == "" {
		meta = "{}"
	}
	return tx.PutMeta(ctx, n.SHA256, meta)
}

// scanOn reports whether the pipeline scans for viruses.
func (r *Runner) scanOn() bool {
	for _, s := range r.steps {
		if sc, ok := s.(*scanStep); ok {
			return !sc.off()
		}
	}
	return false
}

// enrichLater queues file n for the enrichment pass, if its type is one
// the pass reads.
func (r *Runner) enrichLater(n space.Node) {
	if n.IsDir || !wantsEnrich(n.MIME) {
		return
	}
	e := &r.enrich
	e.mu.Lock()
	if len(e.queue) < maxEnrichQueue {
		e.queue = append(e.queue, n)
	}
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// enrichLoop runs the enrichment pass until ctx ends: first over every
// file whose content lacks metadata, then over the files queued.
func (r *Runner) enrichLoop(ctx context.Context) {
	defer r.wg.Done()
	r.enrichAll(ctx)
	e := &r.enrich
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		for ctx.Err() == nil {
			e.mu.Lock()
			if len(e.queue) == 0 {
				e.mu.Unlock()
				break
			}
			n := e.queue[0]
			e.queue = e.queue[1:]
			e.mu.Unlock()
			r.enrichOne(ctx, n)
		}
	}
}

// enrichAll runs the pass over the files whose content has no metadata,
// each content once.
func (r *Runner) enrichAll(ctx context.Context) {
	tried := map[string]bool{}
	for ctx.Err() == nil {
		ns, err := r.db.FilesWithoutMeta(ctx, enriched, 100)
		if err != nil {
			if ctx.Err() == nil {
				r.log.ErrorContext(ctx, "cannot look for files without metadata", "err", err)
			}
			return
		}
		progress := false
		for _, n := range ns {
			if !tried[n.SHA256] {
				tried[n.SHA256], progress = true, true
				r.enrichOne(ctx, n)
			}
		}
		if !progress {
			return
		}
	}
}

// enrichOne runs the steps a quick job skipped on file n, as it is now,
// and records what they find for its content.
func (r *Runner) enrichOne(ctx context.Context, n space.Node) {
	if c, err := r.db.Content(ctx, n.SHA256); err != nil || c.Meta != "" {
		return // known already (or unreadable: the next start tries again)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	link := filepath.Join(r.thumbs, enrichPrefix+hex.EncodeToString(b[:]))
	defer os.Remove(link)
	_, fi, err := r.tree.Export(ctx, n.SpaceID, n.Path, link, true)
	if err != nil {
		r.log.DebugContext(ctx, "enrichment: file gone", "space", n.SpaceID, "path", n.Path, "err", err)
		return
	}
	if fi.Size() != n.Size || !fi.ModTime().Equal(n.MTime) {
		return // replaced meanwhile: the new content is queued by its own install
	}
	t := &task{job: store.Job{ID: "enrich", SpaceID: n.SpaceID, Path: n.Path, Staged: link, Size: n.Size,
		SHA256: n.SHA256, MIME: n.MIME}, meta: map[string]any{}}
	for _, s := range r.steps {
		if !runs(s, false) || runs(s, true) {
			continue
		}
		if err := s.run(ctx, r, t, func(int, string) {}); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.WarnContext(ctx, "enrichment step failed", "space", n.SpaceID, "path", n.Path, "step", s.name(), "err", err)
		}
	}
	meta, err := json.Marshal(t.meta)
	if err != nil {
		return
	}
	err = r.db.Update(ctx, func(tx *store.Tx) error { return tx.PutMeta(ctx, n.SHA256, string(meta)) })
	if err != nil && ctx.Err() == nil {
		r.log.ErrorContext(ctx, "cannot record a file's metadata", "space", n.SpaceID, "path", n.Path, "err", err)
	}
}

// removeEnrichLinks removes the links a crash left in dir.
func removeEnrichLinks(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), enrichPrefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
