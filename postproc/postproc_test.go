package postproc

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/blob/local"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

type fixture struct {
	dir  string
	db   *store.DB
	tree *space.Tree
	bus  *events.Bus
	sub  *events.Subscription
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := testenv.New(t, testenv.Options{})
	env.Space(t, "s", "Space s", 0)
	bus := events.New()
	sub := bus.Subscribe(nil, 10000)
	t.Cleanup(sub.Close)
	return &fixture{dir: env.Dir, db: env.DB, tree: env.Tree, bus: bus, sub: sub}
}

func (f *fixture) config(mod func(*Config)) Config {
	cfg := Config{DB: f.db, Tree: f.tree, Bus: f.bus, Workers: 2,
		QuarantineDir: filepath.Join(f.dir, "quarantine"), ThumbsDir: filepath.Join(f.dir, "thumbs")}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

// runner starts a Runner closed at the end of the test.
func (f *fixture) runner(t testing.TB, mod func(*Config)) *Runner {
	t.Helper()
	r, err := New(f.config(mod))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// stage writes content to a fresh file in uploads/, as tus would, and
// returns a job for it with its SHA-256 known.
func (f *fixture) stage(t testing.TB, id, p string, content []byte) Job {
	t.Helper()
	name := filepath.Join(f.dir, "uploads", id)
	if err := os.WriteFile(name, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	return Job{ID: id, Space: "s", Path: p, Staged: name, Size: int64(len(content)),
		SHA256: hex.EncodeToString(sum[:]), User: "alice"}
}

func wait(t *testing.T, r *Runner, id string) (Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Wait(ctx, id)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("job %s did not finish: %+v", id, st)
	}
	return st, err
}

// events returns the events published so far for job id (or about its
// path), in order.
func (f *fixture) events(id string) []events.Event {
	var out []events.Event
	for {
		select {
		case e := <-f.sub.C():
			if e.Upload == id {
				out = append(out, e)
			}
		default:
			return out
		}
	}
}

func types(es []events.Event) []string {
	var out []string
	for _, e := range es {
		if e.Type != events.ProcessingStep {
			out = append(out, e.Type)
		}
	}
	return out
}

func stepsSeen(es []events.Event) []string {
	var out []string
	for _, e := range es {
		if e.Type == events.ProcessingStep {
			if s, _ := e.Data["step"].(string); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{200, uint8(x), uint8(y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPassInstallsWithSniffedTypeThumbnailAndMetadata(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, nil)
	content := pngBytes(t, 600, 300)
	job := f.stage(t, "up1", "photo.dat", content) // the name says nothing of the type
	s1 := sha1.Sum(content)
	job.SHA1 = hex.EncodeToString(s1[:])
	m5 := md5.Sum(content)
	job.Expect = []Checksum{{"sha256", job.SHA256}, {"md5", hex.EncodeToString(m5[:])}}
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	st, err := wait(t, r, "up1")
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if st.State != Done || st.Node == nil || st.FileID == 0 || st.ETag == "" || st.MIME != "image/png" {
		t.Fatalf("status = %+v", st)
	}
	n, err := f.tree.Stat(context.Background(), "s", "photo.dat")
	if err != nil {
		t.Fatal(err)
	}
	if n.MIME != "image/png" || n.SHA256 != job.SHA256 || n.SHA1 != job.SHA1 || n.Size != int64(len(content)) || n.ID != st.FileID {
		t.Errorf("node = %+v", n)
	}
	if _, err := os.Stat(job.Staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file still there: %v", err)
	}
	if st.Metadata["width"] != 600.0 || st.Metadata["height"] != 300.0 {
		t.Errorf("metadata = %v", st.Metadata)
	}
	thumb, err := os.ReadFile(filepath.Join(f.dir, "thumbs", job.SHA256+".jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
	if err != nil || cfg.Width != 256 || cfg.Height != 128 {
		t.Errorf("thumbnail %dx%d, %v; want 256x128", cfg.Width, cfg.Height, err)
	}
	es := f.events("up1")
	if got, want := stepsSeen(es), []string{"checksum", "sniff", "policy", "thumbnail", "metadata", "install"}; !slices.Equal(got, want) {
		t.Errorf("steps published %v, want %v", got, want)
	}
	if got, want := types(es), []string{events.NodeCreated, events.ProcessingFinished}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	// The record says the same after a restart.
	r2, err := New(f.config(nil))
	if err != nil {
		t.Fatal(err)
	}
	st2, err := r2.Status(context.Background(), "up1")
	if err != nil || st2.State != Done || st2.ETag != st.ETag || st2.Node == nil || st2.Metadata["thumbnail"] != job.SHA256+".jpg" {
		t.Errorf("status from the record: %+v, %v", st2, err)
	}
}

func TestChecksumUsesKnownSumsWithoutReading(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, nil)
	content := []byte("hello, world\n")
	// A SHA-256 that is not the content's: the step must trust it rather
	// than read the file, so the expected value (equal to it) passes.
	job := f.stage(t, "known", "a.txt", content)
	fake := strings.Repeat("ab", 32)
	job.SHA256, job.Expect = fake, []Checksum{{"sha256", fake}}
	job.Quick = true
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, r, "known"); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if n, err := f.tree.Stat(context.Background(), "s", "a.txt"); err != nil || n.SHA256 != fake {
		t.Errorf("node %+v, %v: the file was re-read for its SHA-256", n, err)
	}
	// Unknown SHA-256: computed (one read) and stored.
	job = f.stage(t, "unknown", "b.txt", content)
	job.SHA256 = ""
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, r, "unknown"); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	want := sha256.Sum256(content)
	if n, _ := f.tree.Stat(context.Background(), "s", "b.txt"); n.SHA256 != hex.EncodeToString(want[:]) || n.MIME != "text/plain; charset=utf-8" {
		t.Errorf("node %+v", n)
	}
}

func TestRejections(t *testing.T) {
	text := []byte("just some text, not an image\n")
	for _, tc := range []struct {
		name     string
		policy   Policy
		quota    int64
		existing bool // a file is already at the path
		job      func(*Job)
		step     string
		reason   string
	}{
		{name: "sha256 mismatch", job: func(j *Job) { j.Expect = []Checksum{{"sha256", strings.Repeat("0", 64)}} },
			step: "checksum", reason: "sha256 checksum mismatch"},
		{name: "md5 mismatch", job: func(j *Job) { j.Expect = []Checksum{{"md5", strings.Repeat("0", 32)}} },
			step: "checksum", reason: "md5 checksum mismatch"},
		{name: "unknown algorithm", job: func(j *Job) { j.Expect = []Checksum{{"crc32", "00"}} },
			step: "checksum", reason: "unsupported checksum algorithm"},
		{name: "type not allowed", policy: Policy{AllowTypes: []string{"image/*"}},
			step: "policy", reason: "files of type text/plain are not accepted"},
		{name: "type denied", policy: Policy{DenyTypes: []string{"text/*"}},
			step: "policy", reason: "files of type text/plain are not accepted"},
		{name: "too large", policy: Policy{MaxSize: 10},
			step: "policy", reason: "at most 10 bytes"},
		{name: "name denied", policy: Policy{DenyNames: []string{"*.EXE"}}, job: func(j *Job) { j.Path = "setup.exe" },
			step: "policy", reason: `file names like "setup.exe" are not accepted`},
		{name: "quota", quota: 5, step: "policy", reason: "quota would be exceeded"},
		{name: "precondition at install", existing: true, job: func(j *Job) { j.Put.IfNoneMatch = "*" },
			step: "install", reason: "If-Match / If-None-Match failed"},
		{name: "missing folder at install", job: func(j *Job) { j.Path = "nope/f.txt" },
			step: "install", reason: "the destination folder does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			if tc.quota > 0 {
				if err := f.tree.SetQuota(ctx, "s", tc.quota); err != nil {
					t.Fatal(err)
				}
			}
			r := f.runner(t, func(c *Config) { c.Policy = func(string) Policy { return tc.policy } })
			job := f.stage(t, "j", "f.txt", text)
			if tc.job != nil {
				tc.job(&job)
			}
			if tc.existing {
				if _, _, err := f.tree.Put(ctx, "s", job.Path, strings.NewReader("old"), space.PutOptions{ExpectedSize: -1}); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Submit(ctx, job); err != nil {
				t.Fatal(err)
			}
			st, err := wait(t, r, "j")
			var rej *RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("Wait: %+v, %v; want a rejection", st, err)
			}
			if rej.Step != tc.step || !strings.Contains(rej.Reason, tc.reason) || st.State != Rejected || st.Step != tc.step || st.Error != rej.Reason {
				t.Errorf("rejected at %q: %q (status %+v); want %q containing %q", rej.Step, rej.Reason, st, tc.step, tc.reason)
			}
			n, err := f.tree.Stat(ctx, "s", job.Path)
			if tc.existing {
				if err != nil || n.Size != 3 {
					t.Errorf("the existing file was touched: %+v, %v", n, err)
				}
			} else if !errors.Is(err, space.ErrNotFound) && !errors.Is(err, space.ErrParentMissing) {
				t.Errorf("rejected file is in the space: %+v, %v", n, err)
			}
			if got, err := os.ReadFile(filepath.Join(f.dir, "quarantine", "j")); err != nil || !bytes.Equal(got, text) {
				t.Errorf("quarantined file: %q, %v", got, err)
			}
			if _, err := os.Stat(job.Staged); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("staged file left: %v", err)
			}
			es := f.events("j")
			if got := types(es); !slices.Equal(got, []string{events.ProcessingAborted}) {
				t.Errorf("events %v, want only processing.aborted", got)
			} else if a := es[len(es)-1]; a.Data["step"] != tc.step || a.Data["error"] != rej.Reason {
				t.Errorf("aborted event data %v", a.Data)
			}
			if rec, err := f.db.Job(ctx, "j"); err != nil || rec.Staged != "" || rec.State != store.JobRejected {
				t.Errorf("record %+v, %v", rec, err)
			}
		})
	}
}

func TestRejectDelete(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, func(c *Config) {
		c.Reject = "delete"
		c.Policy = func(string) Policy { return Policy{MaxSize: 1} }
	})
	job := f.stage(t, "del", "f.txt", []byte("too big"))
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, r, "del"); err == nil {
		t.Fatal("not rejected")
	}
	if _, err := os.Stat(job.Staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file left: %v", err)
	}
	if es, _ := os.ReadDir(filepath.Join(f.dir, "quarantine")); len(es) != 0 {
		t.Errorf("quarantine holds %v with Reject delete", es)
	}
}

func TestWaitAndStatus(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, nil)
	ctx := context.Background()
	if _, err := r.Status(ctx, "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("Status of an unknown job: %v", err)
	}
	if _, err := r.Wait(ctx, "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("Wait on an unknown job: %v", err)
	}
	if err := r.Submit(ctx, Job{ID: "../x", Space: "s", Path: "a", Staged: "/tmp/x"}); err == nil {
		t.Error("a job id with a slash was accepted")
	}
	job := f.stage(t, "w", "w.txt", []byte("w"))
	if err := r.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := r.Submit(ctx, job); err != nil {
		t.Errorf("the same job again: %v, want nil", err)
	}
	other := job
	other.Path = "other.txt"
	if err := r.Submit(ctx, other); !errors.Is(err, ErrJobExists) {
		t.Errorf("another job under the same id: %v, want ErrJobExists", err)
	}
	if _, err := wait(t, r, "w"); err != nil {
		t.Fatal(err)
	}
	// Already final: Wait answers at once, from memory or from the record.
	for _, rr := range []*Runner{r, mustNew(t, f.config(nil))} {
		c, cancel := context.WithTimeout(ctx, time.Second)
		st, err := rr.Wait(c, "w")
		cancel()
		if err != nil || st.State != Done || st.FileID == 0 {
			t.Errorf("Wait on a done job: %+v, %v", st, err)
		}
	}
	// A rejected job, after a restart.
	bad := f.stage(t, "bad", "b.txt", []byte("b"))
	bad.Expect = []Checksum{{"sha1", strings.Repeat("0", 40)}}
	if err := r.Submit(ctx, bad); err != nil {
		t.Fatal(err)
	}
	wait(t, r, "bad")
	r2 := mustNew(t, f.config(nil))
	st, err := r2.Wait(ctx, "bad")
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Step != "checksum" || st.State != Rejected {
		t.Errorf("Wait on a rejected job after restart: %+v, %v", st, err)
	}
	// ctx ends Wait on a job that cannot finish (no Runner started).
	if err := r2.Submit(ctx, f.stage(t, "later", "l.txt", []byte("l"))); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if st, err := r2.Wait(c, "later"); !errors.Is(err, context.DeadlineExceeded) || st.State != Queued {
		t.Errorf("Wait on an unstarted runner: %+v, %v", st, err)
	}
}

func mustNew(t *testing.T, cfg Config) *Runner {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestManyJobsOnABoundedPool(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, func(c *Config) { c.Workers = 2 })
	ctx := context.Background()
	const n = 40
	for i := range n {
		if err := r.Submit(ctx, f.stage(t, fmt.Sprint("m", i), fmt.Sprint("m", i, ".txt"), []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if st, err := wait(t, r, fmt.Sprint("m", i)); err != nil || st.State != Done {
				t.Errorf("m%d: %+v, %v", i, st, err)
			}
		})
	}
	wg.Wait()
}

// countStep counts its runs; if block is set, it blocks until its ctx is
// done (after telling started).
type countStep struct {
	id      string
	runs    *atomic.Int32
	block   bool
	started chan struct{}
}

func (s countStep) name() string { return s.id }
func (s countStep) quick() bool  { return true }
func (s countStep) run(ctx context.Context, _ *Runner, t *task, progress func(int, string)) error {
	s.runs.Add(1)
	progress(50, "working")
	if s.block {
		close(s.started)
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func TestResumeAfterCrashSkipsFinishedSteps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var aRuns, bRuns atomic.Int32
	started := make(chan struct{})
	r1 := mustNew(t, f.config(nil))
	r1.steps = []step{countStep{id: "a", runs: &aRuns}, countStep{id: "b", runs: &bRuns, block: true, started: started}}
	r1.recordEvery = 0 // each finished step recorded
	if err := r1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	job := f.stage(t, "res", "r.txt", []byte("resume me"))
	if err := r1.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("step b never started")
	}
	if st, _ := r1.Status(ctx, "res"); st.State != Running || st.Step != "b" || st.Percent != 50 || st.Message != "working" {
		t.Errorf("status while b runs: %+v", st)
	}
	waitErr := make(chan error, 1)
	go func() { _, err := r1.Wait(ctx, "res"); waitErr <- err }()
	r1.Close() // the "crash": b sees its ctx cancelled
	if err := <-waitErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Wait across Close: %v, want ErrClosed", err)
	}
	rec, err := f.db.Job(ctx, "res")
	if err != nil || rec.StepsDone != 1 || rec.State != store.JobRunning {
		t.Fatalf("record after the crash: %+v, %v", rec, err)
	}
	if _, err := f.tree.Stat(ctx, "s", "r.txt"); !errors.Is(err, space.ErrNotFound) {
		t.Fatalf("half-processed file visible: %v", err)
	}

	r2 := mustNew(t, f.config(nil))
	r2.steps = []step{countStep{id: "a", runs: &aRuns}, countStep{id: "b", runs: &bRuns}}
	if err := r2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := wait(t, r2, "res"); err != nil || st.State != Done {
		t.Fatalf("after resume: %+v, %v", st, err)
	}
	if a, b := aRuns.Load(), bRuns.Load(); a != 1 || b != 2 {
		t.Errorf("step a ran %d times (want 1: finished before the crash), b %d (want 2)", a, b)
	}
	if got, err := f.tree.Stat(ctx, "s", "r.txt"); err != nil || got.SHA256 != job.SHA256 {
		t.Errorf("installed node %+v, %v", got, err)
	}
}

func TestResumeInstall(t *testing.T) {
	// Where the crash fell: after PutFile renamed and indexed the file
	// (before the job was recorded done), after the rename but before the
	// index committed (over no file, or over an older version), or before
	// the rename.
	for _, crash := range []string{"indexed", "renamed", "renamed over old", "before rename"} {
		t.Run(crash, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			var old space.Node
			if crash == "renamed over old" {
				var err error
				old, _, err = f.tree.Put(ctx, "s", "i.txt", strings.NewReader("an older version"), space.PutOptions{ExpectedSize: -1})
				if err != nil {
					t.Fatal(err)
				}
			}
			job := f.stage(t, "inst", "i.txt", []byte("install me"))
			var node space.Node
			switch crash {
			case "indexed":
				var err error
				node, _, err = f.tree.PutFile(ctx, "s", job.Path, job.Staged, job.SHA256, space.PutOptions{ExpectedSize: job.Size})
				if err != nil {
					t.Fatal(err)
				}
			case "renamed", "renamed over old":
				if err := os.Rename(job.Staged, filepath.Join(f.dir, "spaces", "s", "i.txt")); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now()
			err := f.db.Update(ctx, func(tx *store.Tx) error {
				return tx.InsertJob(ctx, store.Job{ID: job.ID, SpaceID: "s", Path: job.Path, Staged: job.Staged,
					Size: job.Size, SHA256: job.SHA256, State: store.JobInstalling, Step: "install", StepsDone: 6,
					MIME: "text/plain; charset=utf-8", CreatedAt: now, UpdatedAt: now})
			})
			if err != nil {
				t.Fatal(err)
			}
			var runs atomic.Int32
			r := mustNew(t, f.config(nil))
			r.steps = append(r.steps[:0:0], r.steps...)
			for i := range r.steps {
				r.steps[i] = countStep{id: r.steps[i].name(), runs: &runs}
			}
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := wait(t, r, "inst")
			if err != nil || st.State != Done {
				t.Fatalf("%+v, %v", st, err)
			}
			if runs.Load() != 0 {
				t.Errorf("%d steps ran again", runs.Load())
			}
			n, err := f.tree.Stat(ctx, "s", "i.txt")
			if err != nil || n.ID != st.FileID || n.SHA256 != job.SHA256 || n.Size != job.Size ||
				(crash == "indexed" && n.ID != node.ID) || (crash == "renamed over old" && n.ID != old.ID) {
				t.Errorf("node %+v, %v; status %+v", n, err, st)
			}
			if sp, _ := f.tree.Space(ctx, "s"); sp.UsedBytes != job.Size {
				t.Errorf("space uses %d bytes, want %d", sp.UsedBytes, job.Size)
			}
			if rec, err := f.db.Job(ctx, "inst"); err != nil || rec.State != store.JobDone || rec.NodeID != n.ID {
				t.Errorf("job record %+v, %v", rec, err)
			}
		})
	}
	t.Run("staged file lost", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		now := time.Now()
		err := f.db.Update(ctx, func(tx *store.Tx) error {
			return tx.InsertJob(ctx, store.Job{ID: "lost", SpaceID: "s", Path: "l.txt", Staged: filepath.Join(f.dir, "uploads", "lost"),
				Size: 1, SHA256: strings.Repeat("1", 64), State: store.JobInstalling, StepsDone: 6, CreatedAt: now, UpdatedAt: now})
		})
		if err != nil {
			t.Fatal(err)
		}
		r := f.runner(t, nil)
		var rej *RejectedError
		if _, err := wait(t, r, "lost"); !errors.As(err, &rej) || rej.Step != "install" {
			t.Errorf("err = %v, want a rejection at install", err)
		}
	})
}

func TestSniff(t *testing.T) {
	ftyp := func(brand string) []byte {
		return append([]byte("\x00\x00\x00\x18ftyp"), brand+"\x00\x00\x00\x00mif1"...)
	}
	zipEntry := func(name, content string) []byte {
		h := make([]byte, 30)
		copy(h, "PK\x03\x04")
		h[18], h[26] = byte(len(content)), byte(len(name))
		return append(append(h, name...), content...)
	}
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"x.jpg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"},
		{"x.txt", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "image/png"},
		{"x", []byte("%PDF-1.7\n"), "application/pdf"},
		{"x.jpg", ftyp("heic"), "image/heic"},
		{"x", ftyp("mif1"), "image/heif"},
		{"x", ftyp("isom"), "video/mp4"},
		{"x.mp4", ftyp("qt  "), "video/quicktime"},
		{"x", []byte("II*\x00\x08\x00\x00\x00"), "image/tiff"},
		{"x.odt", zipEntry("mimetype", "application/vnd.oasis.opendocument.text"), "application/vnd.oasis.opendocument.text"},
		{"x", append(zipEntry("[Content_Types].xml", "<x/>"), zipEntry("word/document.xml", "")...),
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"x", zipEntry("a.txt", "hi"), "application/zip"},
		{"data.csv", []byte("a,b\n1,2\n"), "text/csv; charset=utf-8"},
		{"evil.jpg", []byte("MZ\x90\x00\x03\x00\x00\x00"), "application/octet-stream"},
	} {
		if got := sniff(tc.head, tc.name); got != tc.want {
			t.Errorf("sniff(%q, %q) = %q, want %q", tc.head, tc.name, got, tc.want)
		}
	}
}

func TestScale(t *testing.T) {
	// Left half black, right half white, transparent row at the bottom.
	src := image.NewNRGBA(image.Rect(10, 10, 1010, 510))
	for y := 10; y < 510; y++ {
		for x := 10; x < 1010; x++ {
			c := color.NRGBA{0, 0, 0, 255}
			if x >= 511 { // the middle destination pixel averages 1 black and 2 white
				c = color.NRGBA{255, 255, 255, 255}
			}
			src.SetNRGBA(x, y, c)
		}
	}
	dst := scale(src, 256, 256)
	if b := dst.Bounds(); b.Dx() != 256 || b.Dy() != 128 {
		t.Fatalf("scaled to %v, want 256x128", b)
	}
	if c := dst.RGBAAt(10, 60); c.R != 0 {
		t.Errorf("left side %v, want black", c)
	}
	if c := dst.RGBAAt(250, 60); c.R != 255 {
		t.Errorf("right side %v, want white", c)
	}
	if c := dst.RGBAAt(128, 60); c.R < 150 || c.R > 190 {
		t.Errorf("middle %v, want about grey (averaged)", c)
	}
	// Transparent pixels come out white; small images are not enlarged.
	small := scale(image.NewNRGBA(image.Rect(0, 0, 3, 2)), 256, 256)
	if small.Bounds().Dx() != 3 || small.RGBAAt(1, 1).R != 255 {
		t.Errorf("small transparent image: %v %v", small.Bounds(), small.RGBAAt(1, 1))
	}
}

// exifJPEG returns a JPEG with an EXIF APP1 segment carrying make, model
// and date (in little- or big-endian TIFF).
func exifJPEG(t testing.TB, bo string, make_, model, date string) []byte {
	t.Helper()
	le := bo == "II"
	u16 := func(v int) []byte {
		if le {
			return []byte{byte(v), byte(v >> 8)}
		}
		return []byte{byte(v >> 8), byte(v)}
	}
	u32 := func(v int) []byte {
		if le {
			return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		}
		return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	}
	// Layout: header (8), IFD0 with 4 entries (2+48+4), Exif IFD with 1
	// entry (2+12+4), then the strings.
	ifd0 := 8
	exifIFD := ifd0 + 2 + 4*12 + 4
	data := exifIFD + 2 + 12 + 4
	var strs []byte
	str := func(s string) (count, off int) {
		off = data + len(strs)
		strs = append(strs, s+"\x00"...)
		return len(s) + 1, off
	}
	entry := func(tag, typ, count int, val []byte) []byte {
		e := append(append(append(u16(tag), u16(typ)...), u32(count)...), val...)
		return append(e, make([]byte, 12-len(e))...)
	}
	b := append([]byte(bo), u16(42)...)
	b = append(b, u32(ifd0)...)
	b = append(b, u16(4)...)
	mc, mo := str(make_)
	b = append(b, entry(tagMake, 2, mc, u32(mo))...)
	mdc, mdo := str(model)
	b = append(b, entry(tagModel, 2, mdc, u32(mdo))...)
	b = append(b, entry(tagOrientation, 3, 1, u16(6))...)
	b = append(b, entry(tagExifIFD, 4, 1, u32(exifIFD))...)
	b = append(b, u32(0)...)
	b = append(b, u16(1)...)
	dc, do := str(date)
	b = append(b, entry(tagDateTimeOriginal, 2, dc, u32(do))...)
	b = append(b, u32(0)...)
	b = append(b, strs...)
	app1 := append([]byte("Exif\x00\x00"), b...)
	seg := append([]byte{0xff, 0xe1, byte((len(app1) + 2) >> 8), byte(len(app1) + 2)}, app1...)
	jpg := jpegBytes(t, 40, 30)
	return append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
}

func TestEXIF(t *testing.T) {
	for _, bo := range []string{"II", "MM"} {
		jpg := exifJPEG(t, bo, "Canon", "EOS R5", "2024:05:06 07:08:09")
		got := readEXIF(jpg)
		want := exifInfo{DateTimeOriginal: "2024:05:06 07:08:09", Make: "Canon", Model: "EOS R5", Orientation: 6}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", bo, got, want)
		}
		if _, err := jpeg.DecodeConfig(bytes.NewReader(jpg)); err != nil {
			t.Fatalf("test JPEG does not decode: %v", err)
		}
	}
	// Through the pipeline: the metadata lands in the status.
	f := newFixture(t)
	r := f.runner(t, nil)
	job := f.stage(t, "exif", "cam.jpg", exifJPEG(t, "II", "Canon", "EOS R5", "2024:05:06 07:08:09"))
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	st, err := wait(t, r, "exif")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := st.Metadata["exif"].(map[string]any)
	if st.Metadata["width"] != 40.0 || st.Metadata["height"] != 30.0 || x["make"] != "Canon" || x["dateTimeOriginal"] != "2024:05:06 07:08:09" {
		t.Errorf("metadata %v", st.Metadata)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "thumbs", job.SHA256+".jpg")); err != nil {
		t.Errorf("no thumbnail: %v", err)
	}
}

func FuzzReadEXIF(f *testing.F) {
	f.Add(exifJPEG(f, "II", "Canon", "EOS R5", "2024:05:06 07:08:09"))
	f.Add(exifJPEG(f, "MM", "N", "M", "D"))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x := readEXIF(b)
		if len(x.Make) > 256 || len(x.Model) > 256 || len(x.DateTimeOriginal) > 256 {
			t.Errorf("unbounded strings: %+v", x)
		}
		readTIFF(b) // also straight, without the JPEG around it
	})
}

func TestCorruptImageIsNotRefused(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, nil)
	broken := append(pngBytes(t, 10, 10)[:40], make([]byte, 20)...)
	job := f.stage(t, "broken", "b.png", broken)
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if st, err := wait(t, r, "broken"); err != nil || st.State != Done {
		t.Errorf("%+v, %v", st, err)
	}
}

func TestNewValidates(t *testing.T) {
	f := newFixture(t)
	for name, mod := range map[string]func(*Config){
		"no db":            func(c *Config) { c.DB = nil },
		"no tree":          func(c *Config) { c.Tree = nil },
		"relative thumbs":  func(c *Config) { c.ThumbsDir = "thumbs" },
		"no quarantine":    func(c *Config) { c.QuarantineDir = "" },
		"bad reject":       func(c *Config) { c.Reject = "keep" },
		"bad clamd":        func(c *Config) { c.Clamd = "localhost:3310" },
		"negative workers": func(c *Config) { c.Workers = -1 },
	} {
		if _, err := New(f.config(mod)); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	r := f.runner(t, func(c *Config) { c.Now = func() time.Time { return *clock.Load() } })
	ctx := context.Background()
	if err := r.Submit(ctx, f.stage(t, "old", "o.txt", []byte("o"))); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, r, "old"); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Prune(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("Prune of a fresh job: %d, %v", n, err)
	}
	later := now.Add(2 * time.Hour)
	clock.Store(&later)
	if n, err := r.Prune(ctx, time.Hour); err != nil || n != 1 {
		t.Errorf("Prune of a 2-hour-old job: %d, %v", n, err)
	}
	if _, err := r.Status(ctx, "old"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("Status after Prune: %v", err)
	}
}

// In object-store mode a job's bytes go to the store when it is submitted
// (any replica may run it), the steps read a local copy, the install
// names the object; a rejected job's object is quarantined as a file and
// deleted from the store. Nothing is left behind.
func TestObjectModeJobs(t *testing.T) {
	bs, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.New(t, testenv.Options{Blobs: bs})
	env.Space(t, "s", "Space s", 0)
	bus := events.New()
	sub := bus.Subscribe(nil, 10000)
	t.Cleanup(sub.Close)
	f := &fixture{dir: env.Dir, db: env.DB, tree: env.Tree, bus: bus, sub: sub}
	r := f.runner(t, nil)
	ctx := context.Background()
	objects := func() []string {
		var keys []string
		if err := bs.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		return keys
	}

	job := f.stage(t, "j1", "a.txt", []byte("hello objects"))
	if err := r.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(job.Staged); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the staged file stays once the job is in the store: %v", err)
	}
	st, err := wait(t, r, "j1")
	if err != nil || st.State != store.JobDone {
		t.Fatalf("job: %+v, %v", st, err)
	}
	n, err := f.tree.Stat(ctx, "s", "a.txt")
	if err != nil || n.Blob == "" {
		t.Fatalf("node %+v, %v", n, err)
	}
	file, _, err := f.tree.Open(ctx, "s", "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(file)
	file.Close()
	if string(b) != "hello objects" {
		t.Fatalf("read %q", b)
	}
	if rec, _ := f.db.Job(ctx, "j1"); rec.Blob != "" || rec.Staged != "" {
		t.Fatalf("the record still names bytes: %+v", rec)
	}
	if keys := objects(); len(keys) != 1 || keys[0] != n.Blob {
		t.Fatalf("objects %v, want the node's %s", keys, n.Blob)
	}

	// Rejected: quarantined as a file, gone from the store.
	bad := f.stage(t, "j2", "b.txt", []byte("not what was announced"))
	bad.Expect = []Checksum{{"sha256", strings.Repeat("0", 64)}}
	if err := r.Submit(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if st, _ := wait(t, r, "j2"); st.State != store.JobRejected {
		t.Fatalf("job: %+v", st)
	}
	if q, err := os.ReadFile(filepath.Join(f.dir, "quarantine", "j2")); err != nil || string(q) != "not what was announced" {
		t.Fatalf("quarantined %q, %v", q, err)
	}
	if keys := objects(); len(keys) != 1 {
		t.Fatalf("objects after a rejection %v", keys)
	}
	if orphans, err := f.db.BlobOrphans(ctx, time.Now().Add(time.Hour), "", 10); err != nil || len(orphans) != 0 {
		t.Fatalf("orphans %v, %v", orphans, err)
	}
	if es, _ := os.ReadDir(filepath.Join(f.dir, "uploads")); len(es) != 0 {
		t.Fatalf("left in uploads/: %v", es)
	}
}
