package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// fixture is a Handler on a real SQLite file, behind a gate that
// authenticates like the server's (auth.Authenticate), with users admin,
// alice (editor of "files", manager of "team"), bob (viewer of "files")
// and a space "secret" nobody but the admin sees.
type fixture struct {
	t      *testing.T
	db     *store.DB
	auth   *auth.Service
	tree   *space.Tree
	bus    *events.Bus
	h      *Handler
	thumbs string
	srv    http.Handler
}

const pw = "correct horse battery"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, testenv.Options{})
}

// newFixtureWith is newFixture on a data directory made with o (an object
// store, for one).
func newFixtureWith(t *testing.T, o testenv.Options) *fixture {
	t.Helper()
	o.Auth = auth.Config{MaxFailures: 3}
	env := testenv.New(t, o)
	dir, db, a, tree := env.Dir, env.DB, env.Auth, env.Tree
	f := &fixture{t: t, db: db, auth: a, tree: tree, bus: events.New(), thumbs: filepath.Join(dir, "thumbs")}
	if err := os.Mkdir(f.thumbs, 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	f.h, err = New(Config{Tree: tree, Auth: a, Bus: f.bus, ThumbsDir: f.thumbs, Locks: db,
		Logger: nil})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name  string
		admin bool
	}{{"admin", true}, {"alice", false}, {"bob", false}} {
		env.User(t, u.name, pw, u.admin)
	}
	for _, s := range []string{"files", "team", "secret"} {
		env.Space(t, s, s, 0)
	}
	for _, g := range []struct {
		space, user string
		role        auth.Role
	}{{"files", "alice", auth.Editor}, {"team", "alice", auth.Manager}, {"files", "bob", auth.Viewer}} {
		env.Grant(t, g.space, g.user, g.role)
	}
	// The server's mounting, in miniature: public routes as they are, the
	// others, and every other path, behind authentication.
	authed := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.Authenticate(r.Context(), r)
			if err != nil {
				f.h.fail(w, r, err)
				return
			}
			h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
		})
	}
	mux := http.NewServeMux()
	for _, rt := range f.h.Routes() {
		if !rt.Public {
			rt.Handler = authed(rt.Handler)
		}
		mux.Handle(rt.Pattern, rt.Handler)
	}
	mux.Handle("/", authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.h.fail(w, r, api.NotFound("no such resource"))
	})))
	f.srv = mux
	return f
}

// session is a logged-in browser: its cookie and CSRF token.
type session struct {
	cookie *http.Cookie
	csrf   string
}

func (f *fixture) login(user string) session {
	f.t.Helper()
	rec := f.do(httptest.NewRequest("POST", SessionPath, strings.NewReader(`{"user":"`+user+`","password":"`+pw+`"}`)))
	if rec.Code != 200 {
		f.t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body)
	}
	var out sessionJSON
	json.NewDecoder(rec.Body).Decode(&out)
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			return session{cookie: c, csrf: out.CSRF}
		}
	}
	f.t.Fatalf("login %s: no %s cookie", user, auth.SessionCookie)
	return session{}
}

// do serves r. A body without a Content-Type is sent as JSON, as the UI's
// scripts send theirs.
func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	if r.ContentLength > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, r)
	return rec
}

// call sends a request as s (with its CSRF token) and returns the status
// and body.
func (f *fixture) call(s session, method, target, body string) (int, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if s.cookie != nil {
		r.AddCookie(s.cookie)
	}
	if s.csrf != "" {
		r.Header.Set(auth.CSRFHeader, s.csrf)
	}
	rec := f.do(r)
	return rec.Code, rec.Body.String()
}

func (f *fixture) put(spaceID, p, body string) space.Node {
	f.t.Helper()
	n, _, err := f.tree.Put(context.Background(), spaceID, p, strings.NewReader(body), space.PutOptions{ExpectedSize: -1})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func errorOf(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	index, _ := static.ReadFile("static/index.html")
	for _, tc := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/", 200, "text/html; charset=utf-8"},
		{"/ui/", 200, "text/html; charset=utf-8"},
		{"/ui/spaces/files", 200, "text/html; charset=utf-8"},
		{"/ui/static/index.html", 404, ""},
		{"/ui/static/no-such-file.js", 404, ""},
		{"/ui/typo.js", 404, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := f.do(httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("GET %s = %d, want %d", tc.path, rec.Code, tc.status)
			}
			for k, v := range uiHeaders {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %s = %q, want %q", tc.path, k, got, v)
				}
			}
			if tc.status != 200 {
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if rec.Body.String() != string(index) {
				t.Errorf("GET %s is not index.html", tc.path)
			}
			etag := rec.Header().Get("ETag")
			if rec.Header().Get("Cache-Control") != "no-cache" || etag == "" {
				t.Fatalf("Cache-Control %q ETag %q: want no-cache and an ETag", rec.Header().Get("Cache-Control"), etag)
			}
			r := httptest.NewRequest("GET", tc.path, nil)
			r.Header.Set("If-None-Match", etag)
			if rec := f.do(r); rec.Code != http.StatusNotModified {
				t.Errorf("revalidation with the ETag = %d, want 304", rec.Code)
			}
		})
	}
	// Every embedded file other than the shell is served with a type.
	for name, a := range f.h.pages.(*pages).files {
		if name == "index.html" {
			continue
		}
		rec := f.do(httptest.NewRequest("GET", StaticPrefix+name, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != a.ctype || a.ctype == "" {
			t.Errorf("GET %s%s = %d %q", StaticPrefix, name, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}

func TestSession(t *testing.T) {
	f := newFixture(t)

	rec := f.do(httptest.NewRequest("POST", SessionPath, strings.NewReader(`{"user":"alice","password":"`+pw+`"}`)))
	if rec.Code != 200 {
		t.Fatalf("login = %d %s", rec.Code, rec.Body)
	}
	var out sessionJSON
	json.NewDecoder(rec.Body).Decode(&out)
	if out.User != "alice" || out.Admin || out.CSRF == "" {
		t.Errorf("login answered %+v", out)
	}
	c := rec.Result().Cookies()[0]
	if c.Name != auth.SessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie over plain HTTP: %s; want HttpOnly, SameSite=Strict, Path=/, not Secure", rec.Header().Get("Set-Cookie"))
	}
	s := session{cookie: c, csrf: out.CSRF}

	// Over TLS the cookie is Secure.
	r := httptest.NewRequest("POST", "https://wharf.test"+SessionPath, strings.NewReader(`{"user":"alice","password":"`+pw+`"}`))
	if rec := f.do(r); rec.Code != 200 || !rec.Result().Cookies()[0].Secure {
		t.Errorf("login over TLS = %d, Set-Cookie %q: want Secure", rec.Code, rec.Header().Get("Set-Cookie"))
	}

	// GET tells who is logged in, with the same CSRF token.
	if code, body := f.call(session{cookie: c}, "GET", SessionPath, ""); code != 200 || !strings.Contains(body, `"csrf":"`+out.CSRF+`"`) {
		t.Errorf("GET session = %d %s", code, body)
	}
	if code, _ := f.call(session{}, "GET", SessionPath, ""); code != 401 {
		t.Errorf("GET session without cookie = %d, want 401", code)
	}

	// Unsafe methods need the CSRF token; safe ones do not.
	if code, body := f.call(session{cookie: c}, "POST", SpacesPath+"/files/mkdir", `{"path":"x"}`); code != 403 ||
		errorOf(t, body) != "missing or wrong CSRF token" {
		t.Errorf("mkdir by cookie without CSRF token = %d %s, want 403", code, body)
	}
	if code, _ := f.call(session{cookie: c, csrf: "forged"}, "POST", SpacesPath+"/files/mkdir", `{"path":"x"}`); code != 403 {
		t.Errorf("mkdir with a wrong CSRF token = %d, want 403", code)
	}
	if code, body := f.call(s, "POST", SpacesPath+"/files/mkdir", `{"path":"x"}`); code != 201 {
		t.Errorf("mkdir with the CSRF token = %d %s, want 201", code, body)
	}
	if code, _ := f.call(session{cookie: c}, "GET", SpacesPath, ""); code != 200 {
		t.Errorf("GET spaces by cookie = %d, want 200", code)
	}
	// Basic auth needs none.
	r = httptest.NewRequest("POST", SpacesPath+"/files/mkdir", strings.NewReader(`{"path":"y"}`))
	r.SetBasicAuth("alice", pw)
	if rec := f.do(r); rec.Code != 201 {
		t.Errorf("mkdir with Basic auth = %d %s, want 201", rec.Code, rec.Body)
	}

	// A websocket upgrade by cookie must come from this origin.
	for _, tc := range []struct {
		origin string
		want   int
	}{{"http://evil.test", 403}, {"", 403}, {"http://example.com", 404}} {
		r := httptest.NewRequest("GET", "/api/v1/no-such-socket", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		r.AddCookie(c)
		if rec := f.do(r); rec.Code != tc.want {
			t.Errorf("websocket upgrade from Origin %q = %d, want %d", tc.origin, rec.Code, tc.want)
		}
	}

	// Logout revokes the session and clears the cookie; logging out again
	// is fine.
	r = httptest.NewRequest("DELETE", SessionPath, nil)
	r.AddCookie(c)
	if rec := f.do(r); rec.Code != 403 {
		t.Errorf("logout without CSRF token = %d, want 403", rec.Code)
	}
	r.Header.Set(auth.CSRFHeader, out.CSRF)
	rec = f.do(r)
	if rec.Code != 204 || !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout = %d, Set-Cookie %q; want 204 clearing the cookie", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	if code, _ := f.call(s, "GET", SpacesPath, ""); code != 401 {
		t.Errorf("GET spaces with the revoked cookie = %d, want 401", code)
	}
	if rec := f.do(r); rec.Code != 204 {
		t.Errorf("second logout = %d, want 204", rec.Code)
	}
}

func TestLoginFailuresAndThrottle(t *testing.T) {
	f := newFixture(t)
	// An API token in the cookie is not a session.
	_, secret, err := f.auth.CreateToken(context.Background(), "bob", auth.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(session{cookie: &http.Cookie{Name: auth.SessionCookie, Value: secret}}, "GET", SpacesPath, ""); code != 401 {
		t.Errorf("API token as cookie = %d, want 401", code)
	}
	for i := range 3 {
		rec := f.do(httptest.NewRequest("POST", SessionPath, strings.NewReader(`{"user":"bob","password":"wrong password"}`)))
		if rec.Code != 401 || errorOf(t, rec.Body.String()) != "user name or password is wrong" {
			t.Fatalf("wrong password #%d = %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := f.do(httptest.NewRequest("POST", SessionPath, strings.NewReader(`{"user":"bob","password":"`+pw+`"}`)))
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("login after 3 failures = %d Retry-After %q, want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestNodes(t *testing.T) {
	f := newFixture(t)
	alice, bob, admin := f.login("alice"), f.login("bob"), f.login("admin")
	sub := f.bus.Subscribe(nil, 64)
	defer sub.Close()

	if _, err := f.tree.Mkdir(context.Background(), "files", "a"); err != nil {
		t.Fatal(err)
	}
	img := f.put("files", "a/b.jpg", "not really a jpeg")
	if err := os.WriteFile(filepath.Join(f.thumbs, img.SHA256+".jpg"), []byte("thumb bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.put("files", "a/c.txt", "hello, world")

	// Spaces: alice sees hers with roles, the admin all.
	code, body := f.call(alice, "GET", SpacesPath, "")
	var spaces []spaceJSON
	json.Unmarshal([]byte(body), &spaces)
	if code != 200 || len(spaces) != 2 || spaces[0].ID != "files" || spaces[0].Role != "editor" || spaces[0].Used == 0 ||
		spaces[1].ID != "team" || spaces[1].Role != "manager" {
		t.Errorf("alice's spaces = %d %s", code, body)
	}
	if _, body := f.call(admin, "GET", SpacesPath, ""); strings.Count(body, `"role":"manager"`) != 3 {
		t.Errorf("admin's spaces = %s, want 3 as manager", body)
	}

	// A folder lists its children, with a thumbnail URL for the image.
	code, body = f.call(bob, "GET", SpacesPath+"/files/nodes/a", "")
	var dir struct {
		Node     nodeJSON
		Children []nodeJSON
	}
	json.Unmarshal([]byte(body), &dir)
	if code != 200 || !dir.Node.Dir || dir.Node.Path != "a" || len(dir.Children) != 2 {
		t.Fatalf("list a = %d %s", code, body)
	}
	b, c := dir.Children[0], dir.Children[1]
	if b.Name != "b.jpg" || b.Path != "a/b.jpg" || b.MIME != "image/jpeg" || b.SHA256 != img.SHA256 || b.ETag != img.ETag ||
		b.Thumb != "/api/v1/spaces/files/thumbs/a/b.jpg" || b.ID == "" || b.Size != int64(len("not really a jpeg")) {
		t.Errorf("b.jpg = %+v", b)
	}
	if c.Thumb != "" {
		t.Errorf("c.txt has a thumbnail URL %q", c.Thumb)
	}
	if code, body := f.call(bob, "GET", SpacesPath+"/files/nodes/", ""); code != 200 || !strings.Contains(body, `"children":[{"name":"a"`) {
		t.Errorf("list root = %d %s", code, body)
	}
	if code, body := f.call(bob, "GET", SpacesPath+"/files/nodes/a/c.txt", ""); code != 200 || strings.Contains(body, "children") {
		t.Errorf("get file = %d %s", code, body)
	}
	for _, p := range []string{SpacesPath + "/files/nodes/nope", SpacesPath + "/secret/nodes/", SpacesPath + "/nospace/nodes/",
		SpacesPath + "/files/thumbs/a/c.txt", SpacesPath + "/secret/download/x"} {
		if code, body := f.call(bob, "GET", p, ""); code != 404 {
			t.Errorf("GET %s = %d %s, want 404", p, code, body)
		}
	}

	// Thumbnail and download.
	r := httptest.NewRequest("GET", b.Thumb, nil)
	r.AddCookie(bob.cookie)
	rec := f.do(r)
	if rec.Code != 200 || rec.Body.String() != "thumb bytes" || rec.Header().Get("Content-Type") != "image/jpeg" ||
		rec.Header().Get("Cache-Control") != "private, max-age=3600" {
		t.Errorf("thumb = %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	f.put("files", "a/ü ber;\"x\".txt", "0123456789")
	r = httptest.NewRequest("GET", SpacesPath+"/files/download/a/%C3%BC%20ber%3B%22x%22.txt", nil)
	r.AddCookie(bob.cookie)
	r.Header.Set("Range", "bytes=2-4")
	rec = f.do(r)
	if rec.Code != 206 || rec.Body.String() != "234" || rec.Header().Get("ETag") == "" ||
		rec.Header().Get("Content-Disposition") != `attachment; filename*=UTF-8''%C3%BC%20ber%3B%22x%22.txt` {
		t.Errorf("ranged download = %d %q %v", rec.Code, rec.Body, rec.Header())
	}

	// Viewers cannot write.
	if code, _ := f.call(bob, "POST", SpacesPath+"/files/mkdir", `{"path":"new"}`); code != 403 {
		t.Errorf("viewer mkdir = %d, want 403", code)
	}
	if code, _ := f.call(bob, "DELETE", SpacesPath+"/files/nodes/a/c.txt", ""); code != 403 {
		t.Errorf("viewer delete = %d, want 403", code)
	}

	// mkdir.
	drain(sub)
	if code, body := f.call(alice, "POST", SpacesPath+"/files/mkdir", `{"path":"x/y/z"}`); code != 409 {
		t.Errorf("mkdir without parents = %d %s, want 409", code, body)
	}
	if code, body := f.call(alice, "POST", SpacesPath+"/files/mkdir", `{"path":"x/y/z","parents":true}`); code != 201 ||
		!strings.Contains(body, `"path":"x/y/z"`) {
		t.Errorf("mkdir -p = %d %s, want 201", code, body)
	}
	if got := drain(sub); len(got) != 3 || got[2].Type != events.NodeCreated || got[2].Path != "x/y/z" || got[2].User != "alice" {
		t.Errorf("mkdir -p published %+v, want three node.created", got)
	}
	if code, _ := f.call(alice, "POST", SpacesPath+"/files/mkdir", `{"path":"x/y/z","parents":true}`); code != 200 {
		t.Errorf("mkdir -p of an existing folder = %d, want 200", code)
	}
	if code, _ := f.call(alice, "POST", SpacesPath+"/files/mkdir", `{"path":"x/y"}`); code != 409 {
		t.Errorf("mkdir of an existing folder = %d, want 409", code)
	}
	if code, _ := f.call(alice, "POST", SpacesPath+"/files/mkdir", `{"path":"../up"}`); code != 400 {
		t.Errorf("mkdir ../up = %d, want 400", code)
	}

	// move and rename.
	if code, body := f.call(alice, "POST", SpacesPath+"/files/move", `{"from":"a/c.txt","to":"a/b.jpg"}`); code != 412 ||
		!strings.Contains(errorOf(t, body), "exists") {
		t.Errorf("move onto an existing file = %d %s, want 412", code, body)
	}
	if code, _ := f.call(alice, "POST", SpacesPath+"/files/move", `{"from":"a/none","to":"a/x"}`); code != 404 {
		t.Errorf("move of a missing file = %d, want 404", code)
	}
	if code, _ := f.call(alice, "POST", SpacesPath+"/files/move", `{"from":"a/c.txt","to":"nowhere/c.txt"}`); code != 409 {
		t.Errorf("move into a missing folder = %d, want 409", code)
	}
	if code, _ := f.call(alice, "POST", SpacesPath+"/files/move", `{"from":"a/c.txt","to":"c.txt","toSpace":"secret"}`); code != 404 {
		t.Errorf("move into a hidden space = %d, want 404", code)
	}
	drain(sub)
	if code, body := f.call(alice, "POST", SpacesPath+"/files/move", `{"from":"a/c.txt","to":"x/renamed.txt"}`); code != 200 ||
		!strings.Contains(body, `"path":"x/renamed.txt"`) {
		t.Errorf("move = %d %s", code, body)
	}
	if got := drain(sub); len(got) != 1 || got[0].Type != events.NodeMoved || got[0].Data["from"] != "a/c.txt" ||
		got[0].Before == nil || got[0].Before.Path != "a/c.txt" || got[0].Before.Space != "files" {
		t.Errorf("move published %+v, want the old place in Data and Before", got)
	}
	if code, body := f.call(alice, "POST", SpacesPath+"/files/move", `{"from":"x/renamed.txt","to":"c.txt","toSpace":"team"}`); code != 200 {
		t.Errorf("move to another space = %d %s", code, body)
	}

	// delete.
	drain(sub)
	if code, _ := f.call(alice, "DELETE", SpacesPath+"/files/nodes/x", ""); code != 204 {
		t.Errorf("delete folder = %d, want 204", code)
	}
	if got := drain(sub); len(got) != 1 || got[0].Type != events.NodeDeleted || got[0].Path != "x" {
		t.Errorf("delete published %+v", got)
	}
	if code, _ := f.call(alice, "DELETE", SpacesPath+"/files/nodes/x", ""); code != 404 {
		t.Errorf("delete again = %d, want 404", code)
	}
	if code, _ := f.call(alice, "DELETE", SpacesPath+"/files/nodes/", ""); code != 400 {
		t.Errorf("delete root = %d, want 400", code)
	}

	// A WebDAV lock keeps the UI's hands off.
	err := f.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.InsertLock(context.Background(), store.Lock{Token: "opaquelocktoken:1", SpaceID: "files", Root: "a/b.jpg",
			Timeout: time.Hour, ExpiresAt: time.Now().Add(time.Hour), CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(alice, "DELETE", SpacesPath+"/files/nodes/a", ""); code != 423 {
		t.Errorf("delete of a folder holding a locked file = %d, want 423", code)
	}
}

// drain returns the events published so far.
func drain(s *events.Subscription) []events.Event {
	var out []events.Event
	for {
		select {
		case e := <-s.C():
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestAccount(t *testing.T) {
	f := newFixture(t)
	alice := f.login("alice")
	// A session alone does not make an app password: the account
	// password must come along (not an app password, not a wrong one).
	if code, body := f.call(alice, "POST", AppPasswordsPath, `{"label":"laptop"}`); code != 403 || !strings.Contains(body, "password") {
		t.Errorf("create app password without the password = %d %s, want 403 asking for it", code, body)
	}
	code, body := f.call(alice, "POST", AppPasswordsPath, `{"label":"laptop","password":"`+pw+`"}`)
	var ap map[string]string
	json.Unmarshal([]byte(body), &ap)
	if code != 201 || ap["label"] != "laptop" || ap["password"] == "" || ap["user"] != "alice" || ap["id"] == "" {
		t.Fatalf("create app password = %d %s", code, body)
	}
	r := httptest.NewRequest("GET", SpacesPath, nil)
	r.SetBasicAuth("alice", ap["password"])
	if rec := f.do(r); rec.Code != 200 {
		t.Errorf("Basic with the new app password = %d", rec.Code)
	}
	if code, body := f.call(alice, "GET", AppPasswordsPath, ""); code != 200 || !strings.Contains(body, `"label":"laptop"`) ||
		strings.Contains(body, ap["password"]) {
		t.Errorf("list app passwords = %d %s", code, body)
	}
	// Neither does an app password, even sent as the password.
	r = httptest.NewRequest("POST", AppPasswordsPath, strings.NewReader(`{"label":"second","password":"`+ap["password"]+`"}`))
	r.SetBasicAuth("alice", ap["password"])
	if rec := f.do(r); rec.Code != 403 {
		t.Errorf("an app password making an app password = %d %s, want 403", rec.Code, rec.Body)
	}
	// A session logged in with the app password dies with it.
	rec := f.do(httptest.NewRequest("POST", SessionPath, strings.NewReader(`{"user":"alice","password":"`+ap["password"]+`"}`)))
	var minted *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			minted = c
		}
	}
	if rec.Code != 200 || minted == nil {
		t.Fatalf("login with the app password = %d %s", rec.Code, rec.Body)
	}
	if code, body := f.call(session{cookie: minted}, "GET", SpacesPath, ""); code != 200 {
		t.Fatalf("the app password's session = %d %s", code, body)
	}
	if code, _ := f.call(alice, "DELETE", AppPasswordsPath+"/"+ap["id"], ""); code != 204 {
		t.Errorf("revoke = %d", code)
	}
	if code, _ := f.call(session{cookie: minted}, "GET", SpacesPath, ""); code != 401 {
		t.Errorf("the app password's session after revoking it = %d, want 401", code)
	}
	if code, _ := f.call(alice, "DELETE", AppPasswordsPath+"/"+ap["id"], ""); code != 404 {
		t.Errorf("revoke again = %d, want 404", code)
	}

	if code, _ := f.call(alice, "POST", PasswordPath, `{"current":"wrong one here","new":"a new long password"}`); code != 403 {
		t.Errorf("password change with a wrong current = %d, want 403", code)
	}
	if code, body := f.call(alice, "POST", PasswordPath, `{"current":"`+pw+`","new":"short"}`); code != 400 ||
		!strings.Contains(body, "too short") {
		t.Errorf("password change to a weak one = %d %s, want 400", code, body)
	}
	if code, _ := f.call(alice, "POST", PasswordPath, `{"current":"`+pw+`","new":"a new long password"}`); code != 204 {
		t.Errorf("password change = %d, want 204", code)
	}
	if _, err := f.auth.Login(context.Background(), "127.0.0.1:1", "alice", "a new long password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := f.auth.Login(context.Background(), "127.0.0.1:1", "alice", pw); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("login with the old password: %v, want refused", err)
	}
	// A wrong password is a failed login (and counts as one).
	if code, body := f.call(alice, "POST", AppPasswordsPath, `{"label":"laptop","password":"not it at all"}`); code != 401 {
		t.Errorf("create app password with a wrong password = %d %s, want 401", code, body)
	}
}

func TestAdmin(t *testing.T) {
	f := newFixture(t)
	alice, admin := f.login("alice"), f.login("admin")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", AdminPrefix + "users", ""},
		{"POST", AdminPrefix + "users", `{"name":"carol"}`},
		{"DELETE", AdminPrefix + "users/bob", ""},
		{"POST", AdminPrefix + "spaces", `{"name":"x"}`},
		{"PATCH", AdminPrefix + "spaces/files", `{"quota":1}`},
		{"DELETE", AdminPrefix + "spaces/files", ""},
	} {
		if code, _ := f.call(alice, tc.method, tc.path, tc.body); code != 403 {
			t.Errorf("alice %s %s = %d, want 403", tc.method, tc.path, code)
		}
	}

	code, body := f.call(admin, "POST", AdminPrefix+"users", `{"name":"carol"}`)
	var carol map[string]any
	json.Unmarshal([]byte(body), &carol)
	if code != 201 || carol["name"] != "carol" || carol["password"] == "" {
		t.Fatalf("add user without password = %d %s", code, body)
	}
	if _, err := f.auth.Login(context.Background(), "127.0.0.1:1", "carol", carol["password"].(string)); err != nil {
		t.Errorf("carol cannot log in with the generated password: %v", err)
	}
	if code, _ := f.call(admin, "POST", AdminPrefix+"users", `{"name":"carol","password":"`+pw+`"}`); code != 409 {
		t.Errorf("add existing user = %d, want 409", code)
	}
	if code, body := f.call(admin, "GET", AdminPrefix+"users", ""); code != 200 || !strings.Contains(body, `{"name":"carol","admin":false}`) {
		t.Errorf("list users = %d %s", code, body)
	}
	if code, _ := f.call(admin, "DELETE", AdminPrefix+"users/admin", ""); code != 400 {
		t.Errorf("admin removes self = %d, want 400", code)
	}

	code, body = f.call(admin, "POST", AdminPrefix+"spaces", `{"name":"Photos 2025","quota":1000,"owner":"carol"}`)
	var sp adminSpace
	json.Unmarshal([]byte(body), &sp)
	if code != 201 || sp.ID == "" || sp.Quota != 1000 {
		t.Fatalf("create space = %d %s", code, body)
	}
	if code, body := f.call(admin, "GET", SpacesPath+"/"+sp.ID+"/members", ""); code != 200 || body != `[{"user":"carol","role":"manager"}]`+"\n" {
		t.Errorf("members = %d %s", code, body)
	}
	if code, body := f.call(admin, "PATCH", AdminPrefix+"spaces/"+sp.ID, `{"quota":0}`); code != 200 || !strings.Contains(body, `"quota":0`) {
		t.Errorf("set quota = %d %s", code, body)
	}

	// Members: the space's managers and admins.
	if code, _ := f.call(alice, "PUT", SpacesPath+"/files/members/bob", `{"role":"editor"}`); code != 403 {
		t.Errorf("editor grants = %d, want 403", code)
	}
	if code, _ := f.call(alice, "GET", SpacesPath+"/secret/members", ""); code != 404 {
		t.Errorf("members of a hidden space = %d, want 404", code)
	}
	if code, _ := f.call(alice, "PUT", SpacesPath+"/team/members/bob", `{"role":"owner"}`); code != 400 {
		t.Errorf("bad role = %d, want 400", code)
	}
	if code, _ := f.call(alice, "PUT", SpacesPath+"/team/members/bob", `{"role":"editor"}`); code != 204 {
		t.Errorf("manager grants = %d, want 204", code)
	}
	if code, _ := f.call(alice, "PUT", SpacesPath+"/team/members/nobody", `{"role":"editor"}`); code != 404 {
		t.Errorf("grant to a missing user = %d, want 404", code)
	}
	if code, body := f.call(alice, "GET", SpacesPath+"/team/members", ""); !strings.Contains(body, `{"user":"bob","role":"editor"}`) {
		t.Errorf("members after grant = %d %s", code, body)
	}
	if code, _ := f.call(alice, "DELETE", SpacesPath+"/team/members/bob", ""); code != 204 {
		t.Errorf("revoke = %d, want 204", code)
	}
	if code, _ := f.call(alice, "DELETE", SpacesPath+"/team/members/bob", ""); code != 404 {
		t.Errorf("revoke again = %d, want 404", code)
	}

	if code, _ := f.call(admin, "DELETE", AdminPrefix+"spaces/"+sp.ID, ""); code != 204 {
		t.Errorf("delete space = %d, want 204", code)
	}
	if code, _ := f.call(admin, "DELETE", AdminPrefix+"spaces/"+sp.ID, ""); code != 404 {
		t.Errorf("delete space again = %d, want 404", code)
	}
	if code, _ := f.call(admin, "DELETE", AdminPrefix+"users/carol", ""); code != 204 {
		t.Errorf("remove user = %d, want 204", code)
	}
}
