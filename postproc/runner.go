package postproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Config configures a Runner. Zero values mean the documented defaults.
type Config struct {
	// DB keeps the job records. Required.
	DB *store.DB
	// Tree is where accepted files are installed. Required.
	Tree *space.Tree
	// Bus receives processing.step|finished|aborted and node.created|updated.
	// Nil: no events.
	Bus *events.Bus
	// Logger receives rejections and failures to record. Nil: discard.
	Logger *slog.Logger
	// Workers is how many jobs run at once. 0: GOMAXPROCS.
	Workers int
	// Clamd is the clamd socket for the virus scan: "unix:/path/to/socket"
	// or "tcp:host:port". "": no virus scan. Note that clamd refuses streams
	// longer than its StreamMaxLength (25 MB by default): such files are
	// rejected, not passed.
	Clamd string
	// Reject is what happens to the bytes of a rejected job: "quarantine"
	// moves them to QuarantineDir/<job id>, "delete" removes them. "":
	// quarantine.
	Reject string
	// QuarantineDir receives rejected files. Required, absolute; created if
	// missing. Put it on the file system of the uploads so the move is a
	// rename.
	QuarantineDir string
	// ThumbsDir receives thumbnails as <sha256>.jpg. Required, absolute;
	// created if missing.
	ThumbsDir string
	// Policy returns the policy of a space; it must be safe for concurrent
	// use. Nil: no limits anywhere.
	Policy func(spaceID string) Policy
	// Now is the clock for the records. Nil: time.Now.
	Now func() time.Time
	// DecodeMemory is the memory, in bytes, that the thumbnail decoders of
	// all workers together may hold for decoded images (estimated from
	// each image's header before decoding it). An image that needs more
	// than all of it gets no thumbnail (the file is still accepted); one
	// that fits waits until its share is free. 0: DefaultDecodeMemory
	// (256 MiB).
	DecodeMemory int64
}

// Policy is what a space accepts. The zero value accepts everything (the
// quota is always checked).
type Policy struct {
	// MaxSize is the largest file in bytes. 0: no limit.
	MaxSize int64 `json:"maxSize,omitempty"`
	// AllowTypes lists the media types accepted, by the sniffed type (not
	// the name): "image/jpeg", "image/*", "*/*". Empty: all.
	AllowTypes []string `json:"allowTypes,omitempty"`
	// DenyTypes lists media types refused, in the same form; it wins over
	// AllowTypes. Empty: none.
	DenyTypes []string `json:"denyTypes,omitempty"`
	// DenyNames lists path.Match patterns refused for the file's name (its
	// last element), ASCII case ignored: "*.exe", "desktop.ini". Empty: none.
	DenyNames []string `json:"denyNames,omitempty"`
	// FullOnPut makes Process run every step (thumbnails and metadata
	// too) for WebDAV PUTs, as a durable job. false: the quick steps only
	// (the virus scan among them when clamd is configured), inline.
	FullOnPut bool `json:"fullOnPut,omitempty"`
}

// Check reports the first malformed pattern of p, if any.
func (p Policy) Check() error {
	for _, list := range [][]string{p.AllowTypes, p.DenyTypes} {
		for _, m := range list {
			if t, sub, ok := strings.Cut(m, "/"); !ok || t == "" || sub == "" || strings.ContainsAny(m, " ,;") {
				return fmt.Errorf("media type %q: want type/subtype, type/* or */*", m)
			}
		}
	}
	for _, n := range p.DenyNames {
		if _, err := path.Match(n, ""); err != nil || strings.Contains(n, "/") {
			return fmt.Errorf("name pattern %q: want a file name pattern like *.exe", n)
		}
	}
	if p.MaxSize < 0 {
		return fmt.Errorf("maximum size %d", p.MaxSize)
	}
	return nil
}

// Runner runs processing jobs on a bounded pool of workers. It is safe for
// concurrent use. Create it with New, call Start once, Close it when done
// (before closing the DB).
type Runner struct {
	db         *store.DB
	tree       *space.Tree
	bus        *events.Bus
	log        *slog.Logger
	now        func() time.Time
	workers    int
	delete     bool
	quarantine string
	thumbs     string
	policy     func(string) Policy
	decodeMem  *budget // of the thumbnail decoders (Config.DecodeMemory)
	steps      []step  // in their fixed order; a job's StepsDone indexes it
	// recordEvery: a finished step is recorded if the job's last record
	// is older (recordStepsEvery; tests: 0, every step).
	recordEvery time.Duration
	enrich      enricher // the pass that runs the steps quick jobs skip
	claims      claims   // who runs which job when processes share the DB (claim.go)

	wake     chan struct{}
	closedCh chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	queue   []string
	queued  map[string]bool // in queue or being processed
	live    map[string]*entry
}

// entry is the in-memory state of a job not yet final: its status (with
// the percent and message between records) and a channel closed once it is
// final.
type entry struct {
	st      Status
	done    chan struct{}
	lastPub time.Time
	lastPct int
}

// retryDelay is how long a job waits before it is tried again after its
// record could not be read or written.
const retryDelay = time.Second

// New checks cfg and returns a Runner that does nothing until Start.
func New(cfg Config) (*Runner, error) {
	if cfg.DB == nil {
		return nil, errors.New("postproc: Config.DB is required")
	}
	if cfg.Tree == nil {
		return nil, errors.New("postproc: Config.Tree is required")
	}
	r := &Runner{
		db: cfg.DB, tree: cfg.Tree, bus: cfg.Bus, log: cfg.Logger, now: cfg.Now,
		workers: cfg.Workers, quarantine: cfg.QuarantineDir, thumbs: cfg.ThumbsDir, policy: cfg.Policy,
		wake: make(chan struct{}, 1), closedCh: make(chan struct{}),
		queued: map[string]bool{}, live: map[string]*entry{}, recordEvery: recordStepsEvery,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.workers < 0 {
		return nil, fmt.Errorf("postproc: Config.Workers is %d", r.workers)
	}
	if r.workers == 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	if r.policy == nil {
		r.policy = func(string) Policy { return Policy{} }
	}
	switch {
	case cfg.DecodeMemory < 0:
		return nil, fmt.Errorf("postproc: Config.DecodeMemory is %d", cfg.DecodeMemory)
	case cfg.DecodeMemory == 0:
		r.decodeMem = &budget{size: DefaultDecodeMemory}
	default:
		r.decodeMem = &budget{size: cfg.DecodeMemory}
	}
	switch cfg.Reject {
	case "", "quarantine":
	case "delete":
		r.delete = true
	default:
		return nil, fmt.Errorf("postproc: Config.Reject is %q, want quarantine or delete", cfg.Reject)
	}
	for _, d := range []struct{ name, dir string }{{"QuarantineDir", cfg.QuarantineDir}, {"ThumbsDir", cfg.ThumbsDir}} {
		if d.dir == "" || !filepath.IsAbs(d.dir) {
			return nil, fmt.Errorf("postproc: Config.%s must be an absolute directory, not %q", d.name, d.dir)
		}
		if err := os.MkdirAll(d.dir, 0o700); err != nil {
			return nil, fmt.Errorf("postproc: create %s: %w", d.dir, err)
		}
	}
	scan := &scanStep{}
	if cfg.Clamd != "" {
		network, addr, ok := strings.Cut(cfg.Clamd, ":")
		if !ok || addr == "" || (network != "unix" && network != "tcp") {
			return nil, fmt.Errorf("postproc: Config.Clamd is %q, want unix:/path or tcp:host:port", cfg.Clamd)
		}
		scan.network, scan.addr = network, addr
	}
	r.steps = []step{checksumStep{}, sniffStep{}, policyStep{}, scan, thumbnailStep{}, metadataStep{}}
	r.enrich.kick = make(chan struct{}, 1)
	r.claims = newClaims(cfg.DB)
	removeEnrichLinks(r.thumbs)
	return r, nil
}

// Start resumes the jobs left unfinished in the DB and starts the workers.
// They stop when ctx ends or Close is called. Start may be called once.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("postproc: Start called twice or after Close")
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	r.mu.Unlock()
	jobs, err := r.db.PendingJobs(ctx)
	if err != nil {
		return fmt.Errorf("postproc: start: %w", err)
	}
	if jobs, err = r.unclaimed(ctx, jobs); err != nil {
		return fmt.Errorf("postproc: start: %w", err)
	}
	for _, j := range jobs {
		r.mu.Lock()
		if r.live[j.ID] == nil && !finalState(j.State) {
			r.live[j.ID] = &entry{st: statusOf(j), done: make(chan struct{})}
		}
		r.mu.Unlock()
		r.enqueue(j.ID)
	}
	if len(jobs) > 0 {
		r.log.InfoContext(ctx, "resuming jobs", "count", len(jobs))
	}
	for range r.workers {
		r.wg.Add(1)
		go r.worker(ctx)
	}
	r.wg.Add(1)
	go r.enrichLoop(ctx)
	if r.claims.shared {
		r.wg.Add(1)
		go r.adoptLoop(ctx)
	}
	return nil
}

// Close stops the workers and waits for the running steps to return (they
// see their context cancelled). Jobs not finished resume at the next Start
// on the same DB; Wait returns ErrClosed for them. Close is idempotent.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.closedCh)
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// Submit records job in the DB (durably, when it returns nil) and queues
// it. It never blocks on busy workers. Errors: ErrJobExists if the id was
// submitted before for another space, path, size or staged file,
// ErrClosed, or a bad job or DB failure (wrapped). Submitting the same job
// again is harmless (nil): it is recorded once and runs once.
func (r *Runner) Submit(ctx context.Context, job Job) error {
	if err := checkJob(job); err != nil {
		return fmt.Errorf("postproc: submit %q: %w", job.ID, err)
	}
	if job.Blob != "" && !r.tree.ObjectMode() {
		return fmt.Errorf("postproc: submit %q: a job in the object store, and no object store", job.ID)
	}
	if r.tree.ObjectMode() && job.Blob == "" {
		// Any replica may run the job: its bytes go where all can read
		// them, and the staged file, once recorded, is of no more use.
		key, err := r.tree.StoreStaged(ctx, job.Space, job.Staged)
		if err != nil {
			return fmt.Errorf("postproc: submit %q: %w", job.ID, err)
		}
		staged := job.Staged
		job.Blob, job.Staged = key, ""
		if err := r.submit(ctx, job); err != nil {
			if derr := r.tree.DiscardObject(context.WithoutCancel(ctx), key); derr != nil {
				r.log.WarnContext(ctx, "cannot delete the object of a job not submitted", "job_id", job.ID, "key", key, "err", derr)
			}
			return err
		}
		os.Remove(staged)
		return nil
	}
	return r.submit(ctx, job)
}

// submit is Submit once the job's bytes are where its record says.
func (r *Runner) submit(ctx context.Context, job Job) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	now := r.now().UTC()
	rec := record(job, now)
	err := r.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.InsertJob(ctx, rec); err != nil {
			return err
		}
		if err := r.claimIn(ctx, tx, rec.ID); err != nil || job.Record == nil {
			return err
		}
		return job.Record(tx)
	})
	if errors.Is(err, store.ErrExists) {
		// The same job again (a caller retrying after a crash) is already
		// durable: fine. Another job under the same id is not.
		old, rerr := r.db.Job(ctx, job.ID)
		if rerr != nil || old.SpaceID != rec.SpaceID || old.Path != rec.Path || old.Size != rec.Size ||
			(old.Staged != rec.Staged && old.Staged != "") || (old.Blob != rec.Blob && old.Blob != "") {
			return fmt.Errorf("%w: %q", ErrJobExists, job.ID)
		}
		if job.Record != nil {
			if err := r.db.Update(ctx, job.Record); err != nil {
				return fmt.Errorf("postproc: submit %q: %w", job.ID, err)
			}
		}
		if finalState(old.State) {
			return nil
		}
		rec = old
		err = nil
	}
	if err != nil {
		return fmt.Errorf("postproc: submit %q: %w", job.ID, err)
	}
	r.mu.Lock()
	if r.live[job.ID] == nil {
		r.live[job.ID] = &entry{st: statusOf(rec), done: make(chan struct{})}
	}
	r.mu.Unlock()
	r.enqueue(job.ID)
	return nil
}

// record is the record of a job just submitted.
func record(job Job, now time.Time) store.Job {
	var expect []string
	for _, c := range job.Expect {
		expect = append(expect, strings.ToLower(c.Algo)+":"+strings.ToLower(c.Hex))
	}
	return store.Job{
		ID: job.ID, SpaceID: job.Space, Path: job.Path, Staged: job.Staged, Blob: job.Blob, Size: job.Size,
		SHA256: strings.ToLower(job.SHA256), SHA1: strings.ToLower(job.SHA1), Expect: strings.Join(expect, " "),
		UserID: job.UserID, UserName: job.User, MTime: job.MTime, Quick: job.Quick,
		IfMatch: job.Put.IfMatch, IfNoneMatch: job.Put.IfNoneMatch, State: store.JobQueued,
		CreatedAt: now, UpdatedAt: now,
	}
}

// Process runs job's quick steps (checksum, sniff, policy, and the virus
// scan when clamd is configured) in the calling goroutine and installs the
// file, keeping no record: it is for a request that answers only once the
// file is in place (a WebDAV PUT), whose client sends it again if the
// server dies meanwhile. It publishes node.created
// or node.updated, and reports whether the file was created.
//
// A step's refusal gives the status and a *RejectedError, and the bytes
// are quarantined or deleted like a job's; PutFile's errors (quota,
// If-Match, a missing folder) come back as they are, wrapped, with the
// staged file removed, so that the caller can answer them precisely. On
// any error the staged file is gone.
func (r *Runner) Process(ctx context.Context, job Job) (st Status, created bool, err error) {
	if err := checkJob(job); err != nil {
		os.Remove(job.Staged)
		return Status{}, false, fmt.Errorf("postproc: process %q: %w", job.ID, err)
	}
	policy := r.policy(job.Space)
	if policy.FullOnPut {
		// A durable job: its bytes must be durable first.
		if err := job.Put.Flush.Wait(); err != nil {
			os.Remove(job.Staged)
			return Status{}, false, fmt.Errorf("postproc: process %q: %w", job.ID, err)
		}
		job.Put.SyncLater, job.Put.Flush = false, nil
		return r.processFully(ctx, job)
	}
	job.Quick = true
	t := &task{job: record(job, r.now().UTC()), meta: map[string]any{}, policy: policy, head: job.Head}
	t.job.State = store.JobRunning
	for _, s := range r.steps {
		if !runs(s, true) {
			continue
		}
		t.job.Step = s.name()
		if err := s.run(ctx, r, t, func(int, string) {}); err != nil {
			if ctx.Err() != nil {
				os.Remove(job.Staged)
				return Status{}, false, ctx.Err()
			}
			t.job.State, t.job.Error = store.JobRejected, err.Error()
			r.log.InfoContext(ctx, "upload rejected", "job_id", job.ID, "space", job.Space, "path", job.Path, "step", s.name(), "reason", err.Error())
			if derr := r.discard(job.Staged, job.ID); derr != nil {
				r.log.ErrorContext(ctx, "cannot dispose of a rejected file", "job_id", job.ID, "path", job.Staged, "err", derr)
				os.Remove(job.Staged)
			}
			return statusOf(t.job), false, &RejectedError{Step: s.name(), Reason: err.Error()}
		}
	}
	j := &t.job
	// The uploader replaces the file: the trash and versions record them.
	n, created, err := r.tree.PutFile(space.WithActor(ctx, j.UserName), j.SpaceID, j.Path, j.Staged, j.SHA256, space.PutOptions{
		ExpectedSize: j.Size, MTime: j.MTime, IfMatch: j.IfMatch, IfNoneMatch: j.IfNoneMatch,
		MIME: j.MIME, KnownSHA1: j.SHA1, Flush: job.Put.Flush,
		Record: func(tx *store.Tx, n space.Node, _ bool) error {
			if err := r.recordContent(ctx, tx, *j, n); err != nil {
				return err
			}
			return tx.SetUploader(ctx, n.ID, j.UserID)
		},
	})
	if err != nil {
		os.Remove(j.Staged)
		return Status{}, false, fmt.Errorf("postproc: process %q: %w", job.ID, err)
	}
	r.enrichLater(n)
	j.State, j.Step, j.Staged, j.NodeID, j.ETag, j.Percent = store.JobDone, "", "", n.ID, n.ETag, 100
	typ := events.NodeCreated
	if !created {
		typ = events.NodeUpdated
	}
	r.publish(t, typ, map[string]any{"id": n.ID, "etag": n.ETag})
	st = statusOf(*j)
	st.Node, st.Created = &n, created
	return st, created, nil
}

// processFully is Process for a space that wants every step on PUTs: a
// durable job, waited for.
func (r *Runner) processFully(ctx context.Context, job Job) (Status, bool, error) {
	job.Quick = false
	if err := r.Submit(ctx, job); err != nil {
		os.Remove(job.Staged)
		return Status{}, false, err
	}
	st, err := r.Wait(ctx, job.ID)
	if err != nil {
		return st, false, err
	}
	return st, st.Created, nil
}

// runs reports whether step s runs for a job, quick or not. This is the
// one place that decides a job's steps: a step switched off never runs; a
// quick job (a WebDAV PUT) runs the quick steps — checksum, sniff, policy
// and, when clamd is configured, the virus scan — and skips the others.
func runs(s step, quick bool) bool {
	if o, ok := s.(interface{ off() bool }); ok && o.off() {
		return false
	}
	return !quick || s.quick()
}

func checkJob(j Job) error {
	switch {
	case !validID(j.ID):
		return errors.New("bad job id (want letters, digits, '.', '_', '-')")
	case j.Space == "" || j.Path == "":
		return errors.New("space and path are required")
	case j.Blob == "" && !filepath.IsAbs(j.Staged):
		return fmt.Errorf("staged file %q is not an absolute path", j.Staged)
	case j.Blob != "" && j.Staged != "":
		return errors.New("a job's bytes are staged or in the object store, not both")
	case j.Size < 0:
		return fmt.Errorf("size %d", j.Size)
	}
	return nil
}

// validID accepts ids that are safe as a file name in QuarantineDir.
func validID(id string) bool {
	if id == "" || len(id) > 200 || id[0] == '.' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Wait blocks until the job is final or ctx is done, and returns its
// status. For a rejected job the error is a *RejectedError. Other errors:
// ErrUnknownJob, ErrClosed, ctx's error (with the current status).
func (r *Runner) Wait(ctx context.Context, id string) (Status, error) {
	e, st, err := r.lookup(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if e != nil {
		select {
		case <-e.done:
		case <-ctx.Done():
			st, _ := r.Status(context.WithoutCancel(ctx), id)
			return st, ctx.Err()
		case <-r.closedCh:
			st, _ := r.Status(context.WithoutCancel(ctx), id)
			return st, ErrClosed
		}
		r.mu.Lock()
		st = e.st
		r.mu.Unlock()
	}
	if st.State == Rejected {
		return st, &RejectedError{Step: st.Step, Reason: st.Error}
	}
	return st, nil
}

// lookup returns the entry of a job not final, or the status of a final
// one from its record. A job unfinished in the DB but unknown here (not
// started yet) gets an entry, which Start picks up.
func (r *Runner) lookup(ctx context.Context, id string) (*entry, Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.live[id]; e != nil {
		return e, Status{}, nil
	}
	// Read under the lock: a job finishing meanwhile writes its final
	// record before it drops its entry, so one of the two is seen.
	j, err := r.db.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Status{}, ErrUnknownJob
	}
	if err != nil {
		return nil, Status{}, fmt.Errorf("postproc: job %q: %w", id, err)
	}
	if finalState(j.State) {
		return nil, r.withNode(ctx, statusOf(j)), nil
	}
	e := &entry{st: statusOf(j), done: make(chan struct{})}
	r.live[id] = e
	return e, Status{}, nil
}

// Status returns a job's current status, or ErrUnknownJob.
func (r *Runner) Status(ctx context.Context, id string) (Status, error) {
	r.mu.Lock()
	if e := r.live[id]; e != nil {
		st := e.st
		r.mu.Unlock()
		return st, nil
	}
	r.mu.Unlock()
	j, err := r.db.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, ErrUnknownJob
	}
	if err != nil {
		return Status{}, fmt.Errorf("postproc: job %q: %w", id, err)
	}
	return r.withNode(ctx, statusOf(j)), nil
}

// withNode adds the installed node to a done job's status, if it is still
// there.
func (r *Runner) withNode(ctx context.Context, st Status) Status {
	if st.State == Done && st.FileID != 0 {
		if n, err := r.db.NodeByID(ctx, st.FileID); err == nil {
			st.Node = &n
		}
	}
	return st
}

// Prune removes the records of jobs final for longer than olderThan and
// returns how many.
func (r *Runner) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := r.db.Update(ctx, func(tx *store.Tx) (err error) {
		n, err = tx.DeleteFinishedJobs(ctx, r.now().Add(-olderThan))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postproc: prune: %w", err)
	}
	return n, nil
}

func finalState(s string) bool { return s == store.JobDone || s == store.JobRejected }

// statusOf turns a record into a Status (without the Node).
func statusOf(j store.Job) Status {
	st := Status{ID: j.ID, Space: j.SpaceID, Path: j.Path, Step: j.Step, Percent: j.Percent,
		Message: j.Message, Error: j.Error, Updated: j.UpdatedAt, ETag: j.ETag, FileID: j.NodeID, MIME: j.MIME}
	switch j.State {
	case store.JobQueued:
		st.State = Queued
	case store.JobDone:
		st.State, st.Step, st.Percent = Done, "", 100
	case store.JobRejected:
		st.State = Rejected
	default:
		st.State = Running
	}
	if j.Metadata != "" {
		_ = json.Unmarshal([]byte(j.Metadata), &st.Metadata) // written by us; a bad one is just left out
	}
	return st
}

func (r *Runner) enqueue(id string) {
	r.mu.Lock()
	if r.closed || r.queued[id] {
		r.mu.Unlock()
		return
	}
	r.queued[id] = true
	r.queue = append(r.queue, id)
	r.mu.Unlock()
	r.signal()
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next pops the queue, and passes the wake-up on if more is waiting, so
// that one buffered signal is enough for any number of idle workers.
func (r *Runner) next() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return "", false
	}
	id := r.queue[0]
	r.queue = r.queue[1:]
	if len(r.queue) > 0 {
		r.signal()
	}
	return id, true
}

func (r *Runner) worker(ctx context.Context) {
	defer r.wg.Done()
	for ctx.Err() == nil {
		id, ok := r.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			}
			continue
		}
		retry := r.process(ctx, id)
		r.mu.Lock()
		delete(r.queued, id)
		r.mu.Unlock()
		if retry && ctx.Err() == nil {
			time.AfterFunc(retryDelay, func() { r.enqueue(id) })
		}
	}
}

// task is a job being processed: its record, updated as steps finish, and
// what the steps need.
type task struct {
	job    store.Job
	policy Policy
	meta   map[string]any // recorded as job.Metadata
	// local is this process's copy of a job's object (job.Blob), which
	// the steps read; "" when the job has a staged file.
	local string
	// head is the file's first bytes, if the job came with them
	// (Job.Head).
	head []byte
}

// dropLocal removes the local copy of the job's object once the steps
// are done with it, before the job's outcome is told: a job reported
// done or rejected has left nothing in uploads/.
func (t *task) dropLocal() {
	if t.local != "" {
		os.Remove(t.local)
		t.local = ""
	}
}

// file is the file the steps read: the staged file, or the local copy of
// the job's object.
func (t *task) file() string {
	if t.local != "" {
		return t.local
	}
	return t.job.Staged
}

// processJob runs a job from where its record says it stands. It reports
// whether the job should be tried again later (its record could not be
// read or written). A cancelled ctx abandons the job as it is recorded.
func (r *Runner) processJob(ctx context.Context, id string) (retry bool) {
	j, err := r.db.Job(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			r.log.ErrorContext(ctx, "cannot read job", "job_id", id, "err", err)
		}
		return !errors.Is(err, store.ErrNotFound)
	}
	t := &task{job: j, meta: map[string]any{}}
	if j.Metadata != "" {
		_ = json.Unmarshal([]byte(j.Metadata), &t.meta)
	}
	switch j.State {
	case store.JobDone:
		r.finish(t.job, nil, false)
		return false
	case store.JobRejected:
		return r.dispose(ctx, t)
	case store.JobInstalling:
		return r.install(ctx, t)
	}
	t.policy = r.policy(j.SpaceID)
	if j.Blob != "" {
		// The steps read a file: this process's copy of the object.
		t.local = r.tree.TempName()
		defer t.dropLocal()
		if err := r.tree.FetchObject(ctx, j.Blob, t.local); err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.log.ErrorContext(ctx, "cannot fetch a job's bytes from the object store; trying again later", "job_id", id, "key", j.Blob, "err", err)
			return true
		}
	}
	recorded := time.Now() // of the last durable record of this job's progress
	for i := j.StepsDone; i < len(r.steps); i++ {
		s := r.steps[i]
		if !runs(s, t.job.Quick) {
			continue
		}
		t.job.State, t.job.Step = store.JobRunning, s.name()
		r.report(t, 0, "", true)
		err := s.run(ctx, r, t, func(pct int, msg string) { r.report(t, pct, msg, false) })
		if ctx.Err() != nil {
			return false // abandoned: resumes at this step on the next Start
		}
		if err != nil {
			t.dropLocal()
			return r.reject(ctx, t, s.name(), err.Error())
		}
		t.job.StepsDone = i + 1
		// A finished step is recorded only once there is work worth
		// not redoing after a crash (steps are idempotent): for a small
		// file, each record would cost more than all its steps.
		if time.Since(recorded) >= r.recordEvery {
			if err := r.record(ctx, t, 100); err != nil {
				r.log.ErrorContext(ctx, "cannot record a finished step", "job_id", id, "step", s.name(), "err", err)
				return true
			}
			recorded = time.Now()
		}
		r.report(t, 100, t.job.Message, true)
	}
	t.dropLocal()
	t.job.State, t.job.Step, t.job.StepsDone = store.JobInstalling, "install", len(r.steps)
	// Recorded before PutFile: a crash after the rename is then recognised
	// on resume instead of running the steps again on a file that is gone.
	if err := r.record(ctx, t, 0); err != nil {
		r.log.ErrorContext(ctx, "cannot record the install phase", "job_id", id, "err", err)
		return true
	}
	return r.install(ctx, t)
}

// recordStepsEvery is how much step work a crash may cost at most: a
// finished step is recorded when the last record is older than this.
const recordStepsEvery = time.Second

// record writes t's record with the given percent.
func (r *Runner) record(ctx context.Context, t *task, pct int) error {
	if err := r.prepare(t, pct); err != nil {
		return err
	}
	return r.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateJob(ctx, t.job) })
}

// prepare brings t's record up to date for writing, with the given
// percent.
func (r *Runner) prepare(t *task, pct int) error {
	t.job.Percent = pct
	t.job.UpdatedAt = r.now().UTC()
	if len(t.meta) > 0 {
		b, err := json.Marshal(t.meta)
		if err != nil {
			return fmt.Errorf("encode metadata: %w", err)
		}
		t.job.Metadata = string(b)
	}
	return nil
}

// report updates a job's status in memory and publishes a processing.step
// event: always when forced (a step's start and end), else at most every
// 200 ms or each 10 %.
func (r *Runner) report(t *task, pct int, msg string, force bool) {
	pct = min(max(pct, 0), 100)
	t.job.Percent, t.job.Message = pct, msg
	now := r.now()
	r.mu.Lock()
	e := r.live[t.job.ID]
	if e == nil { // Wait creates entries on demand; the worker always has one
		e = &entry{done: make(chan struct{})}
		r.live[t.job.ID] = e
	}
	e.st = statusOf(t.job)
	e.st.Updated = now.UTC()
	publish := force || pct >= e.lastPct+10 || now.Sub(e.lastPub) >= 200*time.Millisecond
	if publish {
		e.lastPub, e.lastPct = now, pct
	}
	r.mu.Unlock()
	if publish {
		r.publish(t, events.ProcessingStep, map[string]any{"step": t.job.Step, "percent": pct, "message": msg})
	}
}

func (r *Runner) publish(t *task, typ string, data map[string]any) {
	if r.bus == nil {
		return
	}
	r.bus.Publish(events.Event{Type: typ, Space: t.job.SpaceID, Path: t.job.Path, Upload: t.job.ID,
		User: t.job.UserName, MIME: t.job.MIME, Size: t.job.Size, Data: data})
}

// finish makes a final job's status known to waiters and drops its entry.
func (r *Runner) finish(j store.Job, n *space.Node, created bool) {
	st := statusOf(j)
	st.Node, st.Created = n, created
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.live[j.ID]; e != nil {
		e.st = st
		close(e.done)
		delete(r.live, j.ID)
	}
}

// install puts the staged file into the space. If the staged file is gone,
// an earlier run renamed it into the space and crashed: before recording
// the job (the space has a file with the job's SHA-256 at its path), or
// before committing the index (the file is on disk but not indexed, and
// is adopted). Either way the job is done.
func (r *Runner) install(ctx context.Context, t *task) (retry bool) {
	j := &t.job
	r.report(t, 0, "installing", true)
	// The job is marked done in the transaction that indexes the file:
	// both happen or neither.
	before := *j
	opts := space.PutOptions{
		ExpectedSize: j.Size, MTime: j.MTime, IfMatch: j.IfMatch, IfNoneMatch: j.IfNoneMatch,
		MIME: j.MIME, KnownSHA1: j.SHA1,
		Record: func(tx *store.Tx, n space.Node, created bool) error {
			done(j, n)
			if err := r.prepare(t, 100); err != nil {
				return err
			}
			if err := r.recordContent(ctx, tx, *j, n); err != nil {
				return err
			}
			if err := tx.SetUploader(ctx, n.ID, j.UserID); err != nil {
				return err
			}
			if err := recordLinkUpload(ctx, tx, *j, n, created); err != nil {
				return err
			}
			return tx.UpdateJob(ctx, *j)
		},
	}
	if j.Blob != "" {
		// The install names the object and records the job done in one
		// transaction: a crash leaves it to do again, never half done.
		n, created, err := r.tree.PutObject(space.WithActor(ctx, j.UserName), j.SpaceID, j.Path, j.Blob, j.SHA256, opts)
		if err != nil {
			*j = before
			if ctx.Err() != nil {
				return false
			}
			return r.reject(ctx, t, "install", installReason(err, r.log, j.ID))
		}
		return r.installed(ctx, t, n, created, true)
	}
	if _, err := os.Lstat(j.Staged); j.Staged == "" || errors.Is(err, fs.ErrNotExist) {
		n, err := r.tree.Stat(ctx, j.SpaceID, j.Path)
		if err == nil && !n.IsDir && j.SHA256 != "" && n.SHA256 == j.SHA256 {
			r.log.InfoContext(ctx, "job found installed by an earlier run", "job_id", j.ID, "space", j.SpaceID, "path", j.Path)
			return r.installed(ctx, t, n, true, false)
		}
		if err != nil && !errors.Is(err, space.ErrNotFound) {
			if ctx.Err() != nil {
				return false
			}
			r.log.ErrorContext(ctx, "cannot check an interrupted install", "job_id", j.ID, "err", err)
			return true
		}
		if j.SHA256 == "" {
			return r.reject(ctx, t, "install", "the uploaded file disappeared before it could be installed")
		}
		n, created, err := r.tree.Adopt(ctx, j.SpaceID, j.Path, j.SHA256, opts)
		if err != nil {
			*j = before
			if ctx.Err() != nil {
				return false
			}
			if errors.Is(err, space.ErrNotFound) {
				return r.reject(ctx, t, "install", "the uploaded file disappeared before it could be installed")
			}
			return r.reject(ctx, t, "install", installReason(err, r.log, j.ID))
		}
		r.log.InfoContext(ctx, "job found renamed into the space by an earlier run, not indexed; indexed it", "job_id", j.ID, "space", j.SpaceID, "path", j.Path)
		return r.installed(ctx, t, n, created, true)
	}
	n, created, err := r.tree.PutFile(space.WithActor(ctx, j.UserName), j.SpaceID, j.Path, j.Staged, j.SHA256, opts)
	if err != nil {
		*j = before
		if ctx.Err() != nil {
			return false
		}
		return r.reject(ctx, t, "install", installReason(err, r.log, j.ID))
	}
	return r.installed(ctx, t, n, created, true)
}

// done makes j the record of a job whose file is installed as n.
func done(j *store.Job, n space.Node) {
	j.State, j.Step, j.Staged, j.Blob, j.NodeID, j.ETag, j.Message = store.JobDone, "", "", "", n.ID, n.ETag, ""
}

// installed finishes a job whose file is in place as n; recorded says
// whether its record says so already.
func (r *Runner) installed(ctx context.Context, t *task, n space.Node, created, recorded bool) (retry bool) {
	j := &t.job
	if !recorded {
		done(j, n)
		if err := r.record(ctx, t, 100); err != nil {
			// The file is in place; the next try finds it there.
			r.log.ErrorContext(ctx, "cannot record an installed job", "job_id", j.ID, "err", err)
			return true
		}
	}
	typ := events.NodeCreated
	if !created {
		typ = events.NodeUpdated
	}
	r.publish(t, typ, map[string]any{"id": n.ID, "etag": n.ETag})
	r.publish(t, events.ProcessingFinished, map[string]any{"id": n.ID, "etag": n.ETag, "metadata": t.meta})
	r.finish(*j, &n, created)
	if j.Quick {
		r.enrichLater(n)
	}
	return false
}

// installReason says in plain words why PutFile refused the file; the
// details go to the log.
func installReason(err error, log *slog.Logger, id string) string {
	for _, c := range []struct {
		err    error
		reason string
	}{
		{space.ErrQuota, "the space's quota would be exceeded"},
		{space.ErrNoSpace, "the server's disk is full"},
		{space.ErrPreconditionFailed, "the file changed meanwhile (If-Match / If-None-Match failed)"},
		{space.ErrParentMissing, "the destination folder does not exist"},
		{space.ErrNotDir, "a parent of the destination is a file"},
		{space.ErrIsDir, "a folder exists at the destination"},
		{space.ErrBadPath, "the destination path is not valid"},
		{space.ErrBadID, "the space id is not valid"},
		{space.ErrNotFound, "the space does not exist"},
		{space.ErrSizeMismatch, "the file's size differs from the announced size"},
	} {
		if errors.Is(err, c.err) {
			return c.reason
		}
	}
	log.Error("cannot install a file", "job_id", id, "err", err)
	return "the file could not be installed (server error)"
}

// reject records a job's rejection, then quarantines or deletes its bytes.
func (r *Runner) reject(ctx context.Context, t *task, step, reason string) (retry bool) {
	j := &t.job
	j.State, j.Step, j.Error, j.Message = store.JobRejected, step, reason, ""
	if err := r.record(ctx, t, j.Percent); err != nil {
		r.log.ErrorContext(ctx, "cannot record a rejection", "job_id", j.ID, "step", step, "err", err)
		return true
	}
	r.log.InfoContext(ctx, "upload rejected", "job_id", j.ID, "space", j.SpaceID, "path", j.Path, "step", step, "reason", reason)
	r.publish(t, events.ProcessingAborted, map[string]any{"step": step, "error": reason})
	return r.dispose(ctx, t)
}

// discard quarantines (as QuarantineDir/<id>) or deletes rejected bytes.
func (r *Runner) discard(staged, id string) error {
	var err error
	if r.delete {
		err = os.Remove(staged)
	} else {
		err = os.Rename(staged, filepath.Join(r.quarantine, id))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// discardObject is discard for a job's object: quarantined as a file
// (fetched into QuarantineDir/<id>), then deleted from the store.
func (r *Runner) discardObject(ctx context.Context, key, id string) error {
	if !r.delete {
		name := filepath.Join(r.quarantine, id)
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			if err := r.tree.FetchObject(ctx, key, name); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return err
			}
		}
	}
	return r.tree.DiscardObject(ctx, key)
}

// dispose quarantines or deletes a rejected job's bytes and records that
// they are gone. If that fails the record keeps the staged path, and the
// next Start tries again.
func (r *Runner) dispose(ctx context.Context, t *task) (retry bool) {
	j := &t.job
	defer r.finish(*j, nil, false)
	if j.Blob != "" {
		if err := r.discardObject(ctx, j.Blob, j.ID); err != nil {
			r.log.ErrorContext(ctx, "cannot dispose of a rejected object; trying again at the next start", "job_id", j.ID, "key", j.Blob, "err", err)
			return false
		}
		j.Blob = ""
		if err := r.record(ctx, t, j.Percent); err != nil {
			r.log.WarnContext(ctx, "cannot record a disposed object", "job_id", j.ID, "err", err)
		}
		return false
	}
	if j.Staged == "" {
		return false
	}
	if err := r.discard(j.Staged, j.ID); err != nil {
		r.log.ErrorContext(ctx, "cannot dispose of a rejected file; trying again at the next start", "job_id", j.ID, "path", j.Staged, "err", err)
		return false
	}
	j.Staged = ""
	if err := r.record(ctx, t, j.Percent); err != nil {
		r.log.WarnContext(ctx, "cannot record a disposed file", "job_id", j.ID, "err", err)
	}
	return false
}

// recordLinkUpload stores, as the metadata of a file a share link's drop
// page created (its job's user is "link:<id>", see tus), who sent it: the
// link and the user who made the link. A file replaced through a link
// keeps the metadata it had.
func recordLinkUpload(ctx context.Context, tx *store.Tx, j store.Job, n space.Node, created bool) error {
	link, ok := strings.CutPrefix(j.UserName, "link:")
	if !ok || !created {
		return nil
	}
	creator := ""
	if u, err := tx.UserByID(ctx, j.UserID); err == nil {
		creator = u.Name
	}
	js, err := json.Marshal(map[string]string{"uploadedBy": j.UserName, "link": link, "linkCreator": creator})
	if err != nil {
		return err
	}
	return tx.PutNodeMetadata(ctx, n.ID, string(js), time.Now())
}
