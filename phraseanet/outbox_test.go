package phraseanet

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/store"
)

// commitPaths returns the paths of each commit of a target, oldest first.
func (f *fixture) commitPaths(t *testing.T, targetID string) [][]string {
	t.Helper()
	cs, assets, err := f.svc.Commits(f.ctx, targetID)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].CreatedAt.Before(cs[j].CreatedAt) || cs[i].ID < cs[j].ID })
	var out [][]string
	for _, c := range cs {
		var ps []string
		for _, a := range assets[c.ID] {
			ps = append(ps, a.Path)
		}
		out = append(out, ps)
	}
	return out
}

func TestSchedulerBatchesExactlyOnce(t *testing.T) {
	f := newFixture(t, nil)
	tg := f.target(t, TargetSpec{Name: "dam", Folder: "in", Mode: ModePull, MaxFiles: 2, MaxBytes: 25,
		AfterAck: "move:in/_done", Every: "1m"})
	for _, p := range []string{"in/a.jpg", "in/b.jpg", "in/c.jpg", "in/sub/d.jpg"} {
		f.put(t, p, "0123456789") // 10 bytes each
	}
	f.put(t, "in/_done/old.jpg", "12345") // the after-ack folder
	f.put(t, "in/empty.jpg", "")          // nothing to ingest
	f.put(t, "elsewhere.jpg", "12345")    // outside the bound folder

	n, err := f.svc.RunSchedule(f.ctx, tg.ID)
	if err != nil || n != 2 {
		t.Fatalf("first run: %d commits, %v; want 2", n, err)
	}
	got := f.commitPaths(t, tg.ID)
	want := [][]string{{"in/a.jpg", "in/b.jpg"}, {"in/c.jpg", "in/sub/d.jpg"}}
	sort.Slice(got, func(i, j int) bool { return got[i][0] < got[j][0] })
	if !equalPaths(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	if n, err := f.svc.RunSchedule(f.ctx, tg.ID); err != nil || n != 0 {
		t.Errorf("second run without new files: %d commits, %v; want none", n, err)
	}
	f.put(t, "in/e.jpg", "0123456789")
	f.put(t, "in/f.jpg", "01234567890123456789") // 10+20 > 25: two commits
	if n, err := f.svc.RunSchedule(f.ctx, tg.ID); err != nil || n != 2 {
		t.Errorf("third run: %d commits, %v; want 2 (byte limit)", n, err)
	}
	seen := map[string]int{}
	for _, c := range f.commitPaths(t, tg.ID) {
		for _, p := range c {
			seen[p]++
		}
	}
	for _, p := range []string{"in/a.jpg", "in/b.jpg", "in/c.jpg", "in/sub/d.jpg", "in/e.jpg", "in/f.jpg"} {
		if seen[p] != 1 {
			t.Errorf("%s in %d commits, want exactly 1", p, seen[p])
		}
	}
	for _, p := range []string{"in/_done/old.jpg", "in/empty.jpg", "elsewhere.jpg"} {
		if seen[p] != 0 {
			t.Errorf("%s committed", p)
		}
	}
	// The default form data carries the destination.
	cs, _, _ := f.svc.Commits(f.ctx, tg.ID)
	var form map[string]any
	json.Unmarshal([]byte(cs[0].FormData), &form)
	if form["collection_destination"] != "42" || cs[0].UserID != 0 {
		t.Errorf("scheduled commit form %v user %d", form, cs[0].UserID)
	}
	// A file committed by the API is not committed again by the scheduler.
	f.put(t, "in/g.jpg", "x")
	f.commit(t, tg.ID, "in/g.jpg")
	if n, _ := f.svc.RunSchedule(f.ctx, tg.ID); n != 0 {
		t.Errorf("scheduler recommitted an API commit's file")
	}
	if _, _, err := f.svc.CreateCommit(f.ctx, CommitRequest{TargetID: tg.ID, Paths: []string{"in/a.jpg"}}); !errors.Is(err, ErrCommitted) {
		t.Errorf("API commit of a scheduled file: %v, want ErrCommitted", err)
	}
}

func equalPaths(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func TestSchedulerTiming(t *testing.T) {
	f := newFixture(t, nil)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePull, Every: "1m"})
	f.put(t, "a.jpg", "aaa")
	f.svc.scheduleDue(f.ctx)
	if n := len(f.commitPaths(t, tg.ID)); n != 0 {
		t.Fatalf("%d commits before the interval", n)
	}
	f.clock.Advance(59 * time.Second)
	f.svc.scheduleDue(f.ctx)
	if n := len(f.commitPaths(t, tg.ID)); n != 0 {
		t.Fatalf("%d commits before the interval", n)
	}
	f.clock.Advance(time.Second)
	f.svc.scheduleDue(f.ctx)
	if n := len(f.commitPaths(t, tg.ID)); n != 1 {
		t.Fatalf("%d commits after the interval, want 1", n)
	}
	f.put(t, "b.jpg", "bbb")
	f.svc.scheduleDue(f.ctx) // the interval restarted at the last run
	if n := len(f.commitPaths(t, tg.ID)); n != 1 {
		t.Fatalf("%d commits, want 1", n)
	}

	loc := time.Local
	day := time.Date(2025, 3, 10, 0, 0, 0, 0, loc)
	daily := Target{DailyAt: "03:00", LastRunAt: day.Add(time.Hour)}
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{day.Add(2 * time.Hour), false},
		{day.Add(3 * time.Hour), true},
		{day.Add(27 * time.Hour), true},
	} {
		if got := due(daily, tt.at); got != tt.want {
			t.Errorf("daily 03:00, last run 01:00, at %v: due = %v, want %v", tt.at, got, tt.want)
		}
	}
	daily.LastRunAt = day.Add(3*time.Hour + time.Minute)
	if due(daily, day.Add(20*time.Hour)) || !due(daily, day.Add(27*time.Hour)) {
		t.Error("daily: ran at 03:01, due again only the next day at 03:00")
	}
}

// enqueueServer is a fake Phraseanet enqueue endpoint that fails the first
// fails calls with 500, then answers 200.
type enqueueServer struct {
	*httptest.Server
	fails    int32
	calls    atomic.Int32
	inflight atomic.Int32
	maxIn    atomic.Int32
	delay    time.Duration
	mu       sync.Mutex
	reqs     []enqueueReq
}

type enqueueReq struct {
	Method, Path, Authorization, ContentType string
	Body                                     map[string]any
}

func newEnqueueServer(t *testing.T, fails int32) *enqueueServer {
	e := &enqueueServer{fails: fails}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.inflight.Add(1)
		defer e.inflight.Add(-1)
		for {
			m := e.maxIn.Load()
			if n <= m || e.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(e.delay)
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(b, &body)
		e.mu.Lock()
		e.reqs = append(e.reqs, enqueueReq{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		e.mu.Unlock()
		if e.calls.Add(1) <= e.fails {
			http.Error(w, "queue unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"meta":{"http_code":200},"response":{"data":{}}}`)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *enqueueServer) requests() []enqueueReq {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]enqueueReq(nil), e.reqs...)
}

func TestPushRetriesWithBackoffUntilDelivered(t *testing.T) {
	f := newFixture(t, nil)
	events := f.collect(t)
	enq := newEnqueueServer(t, 2)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePush, URL: enq.URL + "/api/v1/upload/enqueue/", Key: "secret-key"})
	f.put(t, "a.jpg", "aaa")
	f.put(t, "b.jpg", "bbb")
	c, as := f.commit(t, tg.ID, "a.jpg", "b.jpg")

	f.svc.pushDue(f.ctx)
	got := f.getCommit(t, c.ID)
	if enq.calls.Load() != 1 || got.State != store.CommitFailing || got.Attempts != 1 || got.LastError == "" {
		t.Fatalf("after a 500: calls %d, commit %+v", enq.calls.Load(), got)
	}
	if d := got.NextAttemptAt.Sub(f.clock.Now()); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("first retry in %v, want within [0.5s, 1s]", d)
	}
	f.svc.pushDue(f.ctx)
	if enq.calls.Load() != 1 {
		t.Fatal("retried before the backoff elapsed")
	}
	f.clock.Advance(time.Second)
	f.svc.pushDue(f.ctx)
	got = f.getCommit(t, c.ID)
	if enq.calls.Load() != 2 || got.State != store.CommitFailing || got.Attempts != 2 {
		t.Fatalf("second attempt: calls %d, commit %+v", enq.calls.Load(), got)
	}
	if d := got.NextAttemptAt.Sub(f.clock.Now()); d < time.Second || d > 2*time.Second {
		t.Errorf("second retry in %v, want within [1s, 2s]", d)
	}
	f.clock.Advance(2 * time.Second)
	f.svc.pushDue(f.ctx)
	got = f.getCommit(t, c.ID)
	if enq.calls.Load() != 3 || got.State != store.CommitPushed || got.LastError != "" {
		t.Fatalf("third attempt: calls %d, commit %+v", enq.calls.Load(), got)
	}
	f.clock.Advance(time.Hour)
	f.svc.pushDue(f.ctx)
	if enq.calls.Load() != 3 {
		t.Errorf("a pushed commit was sent again")
	}

	r := enq.requests()[2]
	if r.Method != "POST" || r.Path != "/api/v1/upload/enqueue/" || r.Authorization != "OAuth secret-key" || r.ContentType != "application/json" {
		t.Errorf("request %+v", r)
	}
	wantAssets := []any{as[0].ID, as[1].ID}
	if len(r.Body) != 5 || r.Body["publisher"] != "7" || r.Body["commit_id"] != c.ID || r.Body["token"] != c.Token ||
		r.Body["base_url"] != f.srv.URL || !equalAny(r.Body["assets"], wantAssets) {
		t.Errorf("body %v", r.Body)
	}
	if len(c.Token) != 42 {
		t.Errorf("token %q: want 42 hex characters", c.Token)
	}
	evs := events()
	if count(evs, "commit.created") != 1 || count(evs, "commit.failed") != 2 || count(evs, "commit.pushed") != 1 {
		t.Errorf("events %v", evs)
	}
}

func equalAny(a any, b []any) bool {
	l, ok := a.([]any)
	if !ok || len(l) != len(b) {
		return false
	}
	for i := range l {
		if l[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackoffIsCapped(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RetryBase, c.RetryMax = time.Second, 5*time.Minute })
	for n, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 20: 5 * time.Minute, 1000: 5 * time.Minute} {
		for range 20 {
			if d := f.svc.backoff(n); d < max/2 || d > max {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", n, d, max/2, max)
			}
		}
	}
}

func TestPushWorkerDeliversOnceAndNeverConcurrently(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Now, c.RetryBase, c.RetryMax, c.Tick = nil, 5*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	})
	enq := newEnqueueServer(t, 3)
	enq.delay = 20 * time.Millisecond
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModeBoth, URL: enq.URL + "/enqueue/", Key: "k"})
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	f.put(t, "a.jpg", "aaa")
	c, _ := f.commit(t, tg.ID, "a.jpg")
	waitFor(t, "the commit pushed", func() bool { return f.getCommit(t, c.ID).State == store.CommitPushed })
	time.Sleep(100 * time.Millisecond)
	if n := enq.calls.Load(); n != 4 {
		t.Errorf("%d enqueue calls, want 4 (3 failures, 1 success)", n)
	}
	if m := enq.maxIn.Load(); m != 1 {
		t.Errorf("%d sends of the commit at once", m)
	}
}

func TestPushNetworkErrorAndNoNotify(t *testing.T) {
	f := newFixture(t, nil)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/enqueue/"
	dead.Close()
	tg := f.target(t, TargetSpec{Name: "down", Mode: ModePush, URL: deadURL, Key: "k"})
	f.put(t, "a.jpg", "a")
	c, _ := f.commit(t, tg.ID, "a.jpg")
	f.svc.pushDue(f.ctx)
	if got := f.getCommit(t, c.ID); got.State != store.CommitFailing || got.LastError == "" {
		t.Errorf("network error: %+v", got)
	}

	enq := newEnqueueServer(t, 0)
	for _, spec := range []TargetSpec{
		{Name: "avoid", Mode: ModePush, URL: enq.URL + "/", Key: NoNotifyKey},
		{Name: "pull", Mode: ModePull},
	} {
		tg := f.target(t, spec)
		f.put(t, spec.Name+".jpg", "x")
		c, _ := f.commit(t, tg.ID, spec.Name+".jpg")
		f.svc.pushDue(f.ctx)
		if got := f.getCommit(t, c.ID); got.Push || got.State != store.CommitPending {
			t.Errorf("%s: %+v", spec.Name, got)
		}
	}
	if enq.calls.Load() != 0 {
		t.Errorf("a key of %q or a pull target notified", NoNotifyKey)
	}
}

func TestPushSurvivesRestart(t *testing.T) {
	f := newFixture(t, nil)
	enq := newEnqueueServer(t, 0)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePush, URL: enq.URL + "/enqueue/", Key: "k"})
	f.put(t, "a.jpg", "a")
	c, _ := f.commit(t, tg.ID, "a.jpg") // made, never pushed: the process stops here

	cfg := f.cfg
	cfg.Now, cfg.Tick = nil, 10*time.Millisecond
	restarted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); restarted.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the commit pushed after the restart", func() bool { return f.getCommit(t, c.ID).State == store.CommitPushed })
	if enq.calls.Load() != 1 || enq.requests()[0].Body["commit_id"] != c.ID {
		t.Errorf("calls %d", enq.calls.Load())
	}
}

func TestAckBeforePushOutcomeWins(t *testing.T) {
	f := newFixture(t, nil)
	var svc *Service
	var c Commit
	enq := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Phraseanet consumed and acknowledged before answering.
		tg, _ := f.db.Target(f.ctx, c.TargetID)
		svc.ack(f.ctx, tg, c, "")
		w.WriteHeader(http.StatusOK)
	}))
	defer enq.Close()
	svc = f.svc
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePush, URL: enq.URL + "/", Key: "k"})
	f.put(t, "a.jpg", "a")
	c, _ = f.commit(t, tg.ID, "a.jpg")
	evs := f.collect(t)
	f.svc.pushDue(f.ctx)
	if got := f.getCommit(t, c.ID); got.State != store.CommitAcknowledged {
		t.Errorf("state %q, want acknowledged", got.State)
	}
	if n := count(evs(), events.CommitAcknowledged); n != 1 {
		t.Errorf("%d acknowledged events", n)
	}
}

// TestPushInDoubt: a push call whose outcome is unknown (Wharf stopped
// during it, or the request went out and no answer came back) is not sent
// again before the hold ends, and never once Phraseanet has fetched one
// of the commit's assets: its enqueue is not idempotent.
func TestPushInDoubt(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.DoubtHold = time.Minute })
	var calls atomic.Int32
	var stop context.CancelFunc // the "crash" during the call
	mode := "crash"
	enq := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		calls.Add(1)
		switch mode {
		case "crash":
			stop()
			<-r.Context().Done()
		case "no answer":
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer enq.Close()
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePush, URL: enq.URL + "/", Key: "k"})
	crashDuringPush := func(name string) Commit {
		t.Helper()
		f.put(t, name, name)
		c, _ := f.commit(t, tg.ID, name)
		ctx, cancel := context.WithCancel(f.ctx)
		stop = cancel
		f.svc.pushDue(ctx)
		got := f.getCommit(t, c.ID)
		if got.State != store.CommitPending || got.LastError != inDoubt || !got.NextAttemptAt.Equal(f.clock.Now().Add(time.Minute)) {
			t.Fatalf("after a crash during the call: %+v; want pending, in doubt, held a minute", got)
		}
		return got
	}

	// Phraseanet had it: it fetches an asset, and the commit is pushed.
	mode = "crash"
	c := crashDuringPush("a.jpg")
	restarted := f.newService(t)
	restarted.pushDue(f.ctx)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls: sent again during the hold", n)
	}
	as, err := f.db.CommitAssets(f.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs := f.collect(t)
	if st, body, _ := f.do(t, "GET", AssetsPrefix+as[0].ID, "AssetToken "+c.Token, "", ""); st != http.StatusOK {
		t.Fatalf("asset fetch: %d %s", st, body)
	}
	if got := f.getCommit(t, c.ID); got.State != store.CommitPushed || got.LastError != "" {
		t.Errorf("after Phraseanet fetched an asset: %+v; want pushed", got)
	}
	if n := count(evs(), events.CommitPushed); n != 1 {
		t.Errorf("%d commit.pushed events, want 1", n)
	}
	f.clock.Advance(time.Hour)
	restarted.pushDue(f.ctx)
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls: a commit Phraseanet has was sent again", n)
	}

	// Phraseanet never had it: sent again once the hold is over.
	mode = "crash"
	c = crashDuringPush("b.jpg")
	mode = "ok"
	restarted.pushDue(f.ctx)
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2: sent again during the hold", n)
	}
	f.clock.Advance(time.Minute)
	restarted.pushDue(f.ctx)
	if got := f.getCommit(t, c.ID); calls.Load() != 3 || got.State != store.CommitPushed {
		t.Errorf("after the hold: %d calls, %+v; want 3 calls and pushed", calls.Load(), got)
	}

	// The request went out, the connection closed without an answer:
	// failing, and the next attempt waits out the hold.
	mode = "no answer"
	f.put(t, "c.jpg", "c")
	c, _ = f.commit(t, tg.ID, "c.jpg")
	restarted.pushDue(f.ctx)
	got := f.getCommit(t, c.ID)
	if got.State != store.CommitFailing || got.NextAttemptAt.Before(f.clock.Now().Add(time.Minute)) {
		t.Errorf("after a call without an answer: %+v; want failing, next attempt after the hold", got)
	}
}
