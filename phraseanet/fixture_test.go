package phraseanet

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/fakeclock"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// fixture is a data directory with a space "s", users alice (editor),
// bob (viewer) and carol (no role), a Service on a fake clock, and an
// HTTP server with the host-root API and /api/v1/targets behind Basic
// auth, as server/ mounts them.
type fixture struct {
	ctx   context.Context
	db    *store.DB
	auth  *auth.Service
	tree  *space.Tree
	bus   *events.Bus
	clock *fakeclock.Clock
	svc   *Service
	srv   *httptest.Server
	cfg   Config
	// secrets are the pull-mode client secrets of the targets made with
	// target, by target id (Wharf keeps only their hashes).
	secrets map[string]string
}

const password = "correct horse battery staple"

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, testenv.Options{}, mod)
}

// newFixtureWith is newFixture on a data directory made with o (an object
// store, for one).
func newFixtureWith(t *testing.T, o testenv.Options, mod func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	env := testenv.New(t, o)
	db, au, tree := env.DB, env.Auth, env.Tree
	env.Space(t, "s", "Space", 0)
	for name, role := range map[string]auth.Role{"alice": auth.Editor, "bob": auth.Viewer, "carol": ""} {
		env.User(t, name, password, false)
		if role != "" {
			env.Grant(t, "s", name, role)
		}
	}
	f := &fixture{ctx: ctx, db: db, auth: au, tree: tree, bus: events.New(),
		clock: fakeclock.New(time.Now().UTC().Truncate(time.Second))}
	var handler http.Handler
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	f.cfg = Config{DB: db, Tree: tree, Auth: au, Bus: f.bus, PublicURL: f.srv.URL, Now: f.clock.Now,
		RetryBase: time.Second, RetryMax: 4 * time.Second}
	if mod != nil {
		mod(&f.cfg)
	}
	f.svc = f.newService(t)
	handler = f.mux(f.svc)
	return f
}

func (f *fixture) newService(t *testing.T) *Service {
	t.Helper()
	svc, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// mux mounts the service's routes as the server does: public ones as they
// are, the others behind authentication.
func (f *fixture) mux(svc *Service) http.Handler {
	root := http.NewServeMux()
	for _, rt := range svc.Routes() {
		h := rt.Handler
		if !rt.Public {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, err := f.auth.Authenticate(r.Context(), r)
				if err != nil {
					http.Error(w, "unauthenticated", http.StatusUnauthorized)
					return
				}
				rt.Handler.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
			})
		}
		root.Handle(rt.Pattern, h)
	}
	return root
}

func (f *fixture) put(t *testing.T, p, content string) space.Node {
	t.Helper()
	if dir := path.Dir(p); dir != "." {
		f.mkdirAll(t, dir)
	}
	n, _, err := f.tree.Put(f.ctx, "s", p, strings.NewReader(content), space.PutOptions{ExpectedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) mkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := f.svc.mkdirAll(f.ctx, "s", dir); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) exists(p string) bool {
	_, err := f.tree.Stat(f.ctx, "s", p)
	return err == nil
}

func (f *fixture) target(t *testing.T, spec TargetSpec) Target {
	t.Helper()
	if spec.SpaceID == "" {
		spec.SpaceID = "s"
	}
	if spec.Destination == "" {
		spec.Destination = "42"
	}
	tg, secret, err := f.svc.AddTarget(f.ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if f.secrets == nil {
		f.secrets = map[string]string{}
	}
	f.secrets[tg.ID] = secret
	return tg
}

func (f *fixture) commit(t *testing.T, targetID string, paths ...string) (Commit, []Asset) {
	t.Helper()
	c, as, err := f.svc.CreateCommit(f.ctx, CommitRequest{TargetID: targetID, UserID: 7, Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	return c, as
}

func (f *fixture) getCommit(t *testing.T, id string) Commit {
	t.Helper()
	c, err := f.db.Commit(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a request to the fixture's server and returns the status and
// body. auth is the Authorization header ("" for none).
func (f *fixture) do(t *testing.T, method, target, authz, contentType, body string) (int, string, http.Header) {
	t.Helper()
	u := target
	if !strings.HasPrefix(u, "http") {
		u = f.srv.URL + target
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func basic(user string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %q: %v", body, err)
	}
	return m
}

// collect subscribes to the bus and returns a function listing the types
// of the events received so far.
func (f *fixture) collect(t *testing.T) func() []string {
	sub := f.bus.Subscribe(nil, 1000)
	t.Cleanup(sub.Close)
	var mu sync.Mutex
	var got []string
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		for {
			select {
			case e := <-sub.C():
				got = append(got, e.Type)
			default:
				return append([]string(nil), got...)
			}
		}
	}
}

func count(list []string, s string) int {
	n := 0
	for _, e := range list {
		if e == s {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
