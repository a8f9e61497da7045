package tus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/fakeclock"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// fakePipe is a Pipeline whose jobs end as told: done at once, rejected at
// once, or held until release.
type fakePipe struct {
	db        *store.DB // where Job.Record runs, as the real Submit does
	mu        sync.Mutex
	mode      string // "done", "reject" or "hold"
	submitErr error
	jobs      map[string]postproc.Job
	status    map[string]postproc.Status
	changed   chan struct{} // closed and replaced on every change
	submits   int
}

func newFakePipe() *fakePipe {
	return &fakePipe{mode: "done", jobs: map[string]postproc.Job{}, status: map[string]postproc.Status{},
		changed: make(chan struct{})}
}

func (f *fakePipe) finish(id string, reject bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishLocked(id, reject)
}

func (f *fakePipe) finishLocked(id string, reject bool) {
	st := f.status[id]
	if reject {
		st.State, st.Step, st.Error = postproc.Rejected, "policy", "type not allowed"
	} else {
		st.State, st.ETag, st.FileID = postproc.Done, `"etag-`+id[:6]+`"`, 4242
	}
	f.status[id] = st
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakePipe) Submit(ctx context.Context, job postproc.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.submitErr != nil {
		return f.submitErr
	}
	if job.Record != nil {
		if err := f.db.Update(ctx, job.Record); err != nil {
			return err
		}
	}
	f.submits++
	f.jobs[job.ID] = job
	f.status[job.ID] = postproc.Status{ID: job.ID, Space: job.Space, Path: job.Path, State: postproc.Running, Step: "sniff"}
	switch f.mode {
	case "done":
		f.finishLocked(job.ID, false)
	case "reject":
		f.finishLocked(job.ID, true)
	}
	return nil
}

func (f *fakePipe) Wait(ctx context.Context, id string) (postproc.Status, error) {
	for {
		f.mu.Lock()
		st, ok := f.status[id]
		ch := f.changed
		f.mu.Unlock()
		if !ok {
			return postproc.Status{}, postproc.ErrUnknownJob
		}
		if st.State == postproc.Rejected {
			return st, &postproc.RejectedError{Step: st.Step, Reason: st.Error}
		}
		if st.State == postproc.Done {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-ch:
		}
	}
}

func (f *fakePipe) Status(ctx context.Context, id string) (postproc.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[id]
	if !ok {
		return postproc.Status{}, postproc.ErrUnknownJob
	}
	return st, nil
}

func (f *fakePipe) job(t *testing.T, id string) postproc.Job {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		t.Fatalf("no job submitted for upload %s", id)
	}
	return j
}

var _ Pipeline = (*fakePipe)(nil)

// fixtureBlobs, when set, makes newFixture's Handler and tree keep uploads
// and files in this object store (TestObjectModeSuite sets it while it
// runs the tests that make sense in object-store mode).
var fixtureBlobs blob.Backend

// fixture is a Handler on a real SQLite file and data directory behind a
// real HTTP server, with space "s" (folder dir/, file dir/existing) where
// alice and bob are editors and carol a viewer, and space "t" where only bob
// is a member. The server authenticates by the X-Test-User header.
type fixture struct {
	dir   string
	clock *fakeclock.Clock
	db    *store.DB
	tree  *space.Tree
	auth  *auth.Service
	pipe  *fakePipe
	cfg   Config
	h     *Handler
	srv   *httptest.Server

	users map[string]*auth.Principal
}

func newFixture(t *testing.T, tweak func(*Config)) *fixture {
	t.Helper()
	f := &fixture{clock: fakeclock.New(time.Unix(1_700_000_000, 0).UTC()), pipe: newFakePipe(),
		users: map[string]*auth.Principal{}}
	ctx := t.Context()
	env := testenv.New(t, testenv.Options{Now: f.clock.Now})
	f.dir, f.db, f.tree, f.auth = env.Dir, env.DB, env.Tree, env.Auth
	f.pipe.db = f.db
	if fixtureBlobs != nil {
		// Object-store mode (TestObjectModeSuite): a tree on the store,
		// with a data directory of its own.
		tree, err := space.New(space.Config{DB: env.DB, Dir: t.TempDir(), Blobs: fixtureBlobs, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tree.Close() })
		f.tree = tree
	}
	for _, id := range []string{"s", "t"} {
		if _, err := f.tree.CreateSpaceWithID(ctx, id, "Space "+id, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.tree.Mkdir(ctx, "s", "dir"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.tree.Put(ctx, "s", "dir/existing", strings.NewReader("old"), space.PutOptions{ExpectedSize: 3}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name, space string
		role        auth.Role
	}{{"alice", "s", auth.Editor}, {"bob", "s", auth.Editor}, {"carol", "s", auth.Viewer}, {"bob", "t", auth.Editor}} {
		if f.users[m.name] == nil {
			f.users[m.name] = &auth.Principal{User: env.User(t, m.name, "correct horse battery staple", false)}
		}
		env.Grant(t, m.space, m.name, m.role)
	}
	f.cfg = Config{Tree: f.tree, Auth: f.auth, DB: f.db, Pipeline: f.pipe, UploadsDir: filepath.Join(f.dir, "uploads"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: f.clock.Now, ProcessingWait: 5 * time.Second,
		Blobs: fixtureBlobs}
	if tweak != nil {
		tweak(&f.cfg)
	}
	f.start(t)
	return f
}

// start (re)creates the Handler and its server, as a restart would.
func (f *fixture) start(t *testing.T) {
	t.Helper()
	if f.srv != nil {
		f.srv.Close()
	}
	h, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := f.users[r.Header.Get("X-Test-User")]; p != nil {
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/dav/spaces/"); ok {
			id, dir, _ := strings.Cut(rest, "/")
			f.h.ServeDAVCreate(w, r, id, strings.Trim(dir, "/"))
			return
		}
		f.h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
}

// do sends a request as user ("" for none) with headers given as
// "Name: value" strings, and returns the response with its body read.
func (f *fixture) do(t *testing.T, user, method, target string, body []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = f.srv.URL + target
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		if v = strings.TrimSpace(v); v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// meta encodes Upload-Metadata.
func meta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return "Upload-Metadata: " + strings.Join(parts, ",")
}

// create POSTs a new upload of size bytes to s/p as user and returns its
// URL path (/tus/<id>).
func (f *fixture) create(t *testing.T, user, p string, size int, hdr ...string) string {
	t.Helper()
	hdr = append([]string{"Upload-Length: " + itoa(size), meta("space", "s", "path", p)}, hdr...)
	resp, body := f.do(t, user, http.MethodPost, "/tus/", nil, hdr...)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create %s: %d %s", p, resp.StatusCode, body)
	}
	return locationPath(t, resp)
}

func locationPath(t *testing.T, resp *http.Response) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	i := strings.Index(loc, BasePath)
	if i < 0 {
		t.Fatalf("Location %q is not under %s", loc, BasePath)
	}
	return loc[i:]
}

func (f *fixture) patch(t *testing.T, user, url string, offset int, data []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	hdr = append([]string{"Upload-Offset: " + itoa(offset), "Content-Type: application/offset+octet-stream"}, hdr...)
	return f.do(t, user, http.MethodPatch, url, data, hdr...)
}

func idOf(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

func itoa(n int) string { return strconv.Itoa(n) }

// tusFiles lists uploads/tus.
func (f *fixture) tusFiles(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(f.cfg.UploadsDir, "tus"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func expectStatus(t *testing.T, what string, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d (%s), want %d", what, resp.StatusCode, strings.TrimSpace(body), want)
	}
}
