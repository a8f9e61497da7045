package dav

import (
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/fakeclock"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// lockFixture is a real Handler on a real SQLite file and data directory,
// with space "s" where alice and bob are editors and carol a viewer, and
// these resources: file, "a b.txt", free.txt, shared.txt, coll/,
// coll/inner, dir2/, dir2/x.
type lockFixture struct {
	env   *testenv.Env
	dir   string
	clock *fakeclock.Clock
	db    *store.DB
	tree  *space.Tree
	auth  *auth.Service
	h     *Handler

	alice, bob, carol *auth.Principal
}

func newLockFixture(t *testing.T) *lockFixture {
	t.Helper()
	f := &lockFixture{clock: fakeclock.New(time.Unix(1700000000, 0).UTC())}
	f.open(t)
	ctx := t.Context()
	f.env.Space(t, "s", "Space S", 0)
	principal := func(name string, role auth.Role) *auth.Principal {
		u := f.env.User(t, name, "correct horse battery staple", false)
		f.env.Grant(t, "s", name, role)
		return &auth.Principal{User: u}
	}
	f.alice, f.bob, f.carol = principal("alice", auth.Editor), principal("bob", auth.Editor), principal("carol", auth.Viewer)
	for _, d := range []string{"coll", "dir2"} {
		if _, err := f.tree.Mkdir(ctx, "s", d); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"file", "a b.txt", "free.txt", "shared.txt", "coll/inner", "dir2/x"} {
		if _, _, err := f.tree.Put(ctx, "s", p, strings.NewReader("content of "+p), space.PutOptions{ExpectedSize: -1}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// open opens the database, tree, auth service and handler on f.dir (a new
// data directory if empty).
func (f *lockFixture) open(t *testing.T) {
	t.Helper()
	env := testenv.New(t, testenv.Options{Dir: f.dir})
	h, err := New(Config{Tree: env.Tree, Auth: env.Auth, DB: env.DB, MaxLockTimeout: time.Hour, Now: f.clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.env, f.dir, f.db, f.tree, f.auth, f.h = env, env.Dir, env.DB, env.Tree, env.Auth, h
}

// close closes the tree and the database, as a shutdown would.
func (f *lockFixture) close() { f.env.Close() }

func (f *lockFixture) request(p *auth.Principal, method, target string, hdr map[string]string, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r.WithContext(auth.NewContext(r.Context(), p))
}

func (f *lockFixture) do(p *auth.Principal, method, target string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, f.request(p, method, target, hdr, body))
	return w
}

// TestLockOwnerNamespaces: prefixes that a client declares on lockinfo
// (Windows uses a:, others a default namespace) must not reach the echoed
// owner undeclared.
func TestLockOwnerNamespaces(t *testing.T) {
	f := newLockFixture(t)
	bodies := []string{
		`<a:lockinfo xmlns:a="DAV:" xmlns:m="urn:me"><a:lockscope><a:exclusive/></a:lockscope><a:locktype><a:write/></a:locktype>` +
			`<a:owner><a:href>WIN\\ada</a:href><m:seat m:row="3">12</m:seat></a:owner></a:lockinfo>`,
		`<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype>` +
			`<owner><href>WIN\\ada</href><seat xmlns="urn:me" xmlns:m="urn:me" m:row="3">12</seat></owner></lockinfo>`,
	}
	for i, body := range bodies {
		name := fmt.Sprintf("file%d", i)
		w := f.do(f.alice, "LOCK", "/dav/spaces/s/"+name, nil, body)
		if w.Code != http.StatusCreated {
			t.Fatalf("LOCK %d: %d %s", i, w.Code, w.Body)
		}
		var got struct {
			Owner struct {
				Href string `xml:"DAV: href"`
				Seat struct {
					Row  string `xml:"urn:me row,attr"`
					Text string `xml:",chardata"`
				} `xml:"urn:me seat"`
			} `xml:"DAV: lockdiscovery>activelock>owner"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("LOCK %d: response is not XML: %v\n%s", i, err, w.Body)
		}
		if got.Owner.Href != `WIN\\ada` || got.Owner.Seat.Text != "12" || got.Owner.Seat.Row != "3" {
			t.Errorf("LOCK %d: owner read back as %+v from\n%s", i, got.Owner, w.Body)
		}
	}
}

func lockInfoBody(scope, owner string) string {
	return `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:` + scope + `/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner>` + owner + `</D:owner></D:lockinfo>`
}

// lock LOCKs p (a path in space s) and returns the response and the token
// from its Lock-Token header.
func (f *lockFixture) lock(t *testing.T, who *auth.Principal, p, scope, depth string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	hdr := map[string]string{"Timeout": "Second-600"}
	if depth != "" {
		hdr["Depth"] = depth
	}
	w := f.do(who, "LOCK", SpacesPrefix+"s/"+p, hdr, lockInfoBody(scope, "<D:href>"+who.User.Name+"</D:href>"))
	tok := strings.TrimSuffix(strings.TrimPrefix(w.Header().Get("Lock-Token"), "<"), ">")
	return w, tok
}

func (f *lockFixture) mustLock(t *testing.T, who *auth.Principal, p, scope, depth string) string {
	t.Helper()
	w, tok := f.lock(t, who, p, scope, depth)
	if w.Code != http.StatusOK && w.Code != http.StatusCreated {
		t.Fatalf("LOCK %s by %s: %d %s", p, who.User.Name, w.Code, w.Body)
	}
	return tok
}

type activeLockXML struct {
	Scope struct {
		Exclusive *struct{} `xml:"exclusive"`
		Shared    *struct{} `xml:"shared"`
	} `xml:"lockscope"`
	Write   *struct{} `xml:"locktype>write"`
	Depth   string    `xml:"depth"`
	Timeout string    `xml:"timeout"`
	Token   string    `xml:"locktoken>href"`
	Root    string    `xml:"lockroot>href"`
}

func parseDiscovery(t *testing.T, body string) []activeLockXML {
	t.Helper()
	var p struct {
		XMLName xml.Name        `xml:"DAV: prop"`
		Locks   []activeLockXML `xml:"DAV: lockdiscovery>activelock"`
	}
	if err := xml.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("LOCK response %q: %v", body, err)
	}
	return p.Locks
}

var tokenRE = regexp.MustCompile(`^opaquelocktoken:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestLockResponse(t *testing.T) {
	f := newLockFixture(t)
	owner := `<D:href>mailto:alice@example.com?a&amp;b</D:href>`
	w := f.do(f.alice, "LOCK", "/dav/spaces/s/a%20b.txt", map[string]string{"Depth": "0", "Timeout": "Second-600, Infinite"},
		lockInfoBody("exclusive", owner))
	if w.Code != http.StatusOK {
		t.Fatalf("LOCK: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("Content-Type %q", ct)
	}
	tok := strings.TrimSuffix(strings.TrimPrefix(w.Header().Get("Lock-Token"), "<"), ">")
	if !tokenRE.MatchString(tok) || w.Header().Get("Lock-Token") != "<"+tok+">" {
		t.Errorf("Lock-Token %q is not <opaquelocktoken:uuid-v4>", w.Header().Get("Lock-Token"))
	}
	// The owner comes back meaning the same, its namespaces declared
	// inline rather than on the request's root.
	const ownerOut = `<D:owner><href xmlns="DAV:">mailto:alice@example.com?a&amp;b</href></D:owner>`
	if !strings.Contains(w.Body.String(), ownerOut) {
		t.Errorf("owner not %s in %s", ownerOut, w.Body)
	}
	locks := parseDiscovery(t, w.Body.String())
	if len(locks) != 1 {
		t.Fatalf("%d activelocks in %s", len(locks), w.Body)
	}
	l := locks[0]
	if l.Scope.Exclusive == nil || l.Scope.Shared != nil || l.Write == nil || l.Depth != "0" ||
		l.Timeout != "Second-600" || l.Token != tok || l.Root != "/dav/spaces/s/a%20b.txt" {
		t.Errorf("activelock %+v", l)
	}

	// A collection, Depth absent (infinity), shared, Timeout Infinite:
	// the root href ends in "/" and the timeout is the maximum.
	w = f.do(f.alice, "LOCK", "/dav/spaces/s/coll", map[string]string{"Timeout": "Infinite"}, lockInfoBody("shared", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("LOCK coll: %d %s", w.Code, w.Body)
	}
	l = parseDiscovery(t, w.Body.String())[0]
	if l.Scope.Shared == nil || l.Depth != "infinity" || l.Timeout != "Second-3600" || l.Root != "/dav/spaces/s/coll/" {
		t.Errorf("activelock of coll %+v", l)
	}
	if strings.Contains(w.Body.String(), "owner") {
		t.Errorf("empty owner written: %s", w.Body)
	}
}

func TestLockUnmappedAndErrors(t *testing.T) {
	f := newLockFixture(t)
	w, tok := f.lock(t, f.alice, "new.txt", "exclusive", "0")
	if w.Code != http.StatusCreated || tok == "" {
		t.Fatalf("LOCK on an unmapped URL: %d %s", w.Code, w.Body)
	}
	if n, err := f.tree.Stat(t.Context(), "s", "new.txt"); err != nil || n.IsDir || n.Size != 0 {
		t.Errorf("after LOCK of new.txt: %+v, %v; want an empty file", n, err)
	}
	for _, tc := range []struct {
		name   string
		who    *auth.Principal
		target string
		hdr    map[string]string
		body   string
		want   int
	}{
		{"parent missing", f.alice, "/dav/spaces/s/nope/x", nil, lockInfoBody("exclusive", ""), http.StatusConflict},
		{"parent is a file", f.alice, "/dav/spaces/s/file/x", nil, lockInfoBody("exclusive", ""), http.StatusConflict},
		{"depth 1", f.alice, "/dav/spaces/s/coll", map[string]string{"Depth": "1"}, lockInfoBody("exclusive", ""), http.StatusBadRequest},
		{"depth bogus", f.alice, "/dav/spaces/s/coll", map[string]string{"Depth": "zero"}, lockInfoBody("exclusive", ""), http.StatusBadRequest},
		{"invalid XML", f.alice, "/dav/spaces/s/file", nil, "<D:lockinfo xmlns:D='DAV:'><D:lockscope>", http.StatusBadRequest},
		{"wrong root", f.alice, "/dav/spaces/s/file", nil, "<D:propfind xmlns:D='DAV:'/>", http.StatusBadRequest},
		{"no namespace", f.alice, "/dav/spaces/s/file", nil, "<lockinfo><lockscope><exclusive/></lockscope><locktype><write/></locktype></lockinfo>", http.StatusBadRequest},
		{"no scope", f.alice, "/dav/spaces/s/file", nil, "<D:lockinfo xmlns:D='DAV:'><D:locktype><D:write/></D:locktype></D:lockinfo>", http.StatusBadRequest},
		{"two scopes", f.alice, "/dav/spaces/s/file", nil, "<D:lockinfo xmlns:D='DAV:'><D:lockscope><D:exclusive/><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>", http.StatusBadRequest},
		{"no locktype", f.alice, "/dav/spaces/s/file", nil, "<D:lockinfo xmlns:D='DAV:'><D:lockscope><D:exclusive/></D:lockscope></D:lockinfo>", http.StatusBadRequest},
		{"content after root", f.alice, "/dav/spaces/s/file", nil, lockInfoBody("exclusive", "") + "<x/>", http.StatusBadRequest},
		{"body too large", f.alice, "/dav/spaces/s/file", nil, lockInfoBody("exclusive", strings.Repeat("x", 64<<10)), http.StatusRequestEntityTooLarge},
		{"malformed If", f.alice, "/dav/spaces/s/file", map[string]string{"If": "(<urn:x>"}, lockInfoBody("exclusive", ""), http.StatusBadRequest},
		{"false If", f.alice, "/dav/spaces/s/file", map[string]string{"If": "(<DAV:no-lock>)"}, lockInfoBody("exclusive", ""), http.StatusPreconditionFailed},
		{"viewer", f.carol, "/dav/spaces/s/file", nil, lockInfoBody("exclusive", ""), http.StatusForbidden},
		{"virtual collection", f.alice, "/dav/spaces/", nil, lockInfoBody("exclusive", ""), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.who, "LOCK", tc.target, tc.hdr, tc.body)
			if w.Code != tc.want {
				t.Errorf("LOCK: %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if w.Header().Get("Lock-Token") != "" {
				t.Errorf("failed LOCK sent Lock-Token %q", w.Header().Get("Lock-Token"))
			}
		})
	}
	if ls, _ := f.h.locks.Under(t.Context(), "s", ""); len(ls) != 1 {
		t.Errorf("failed LOCKs left locks: %+v", ls)
	}
}

func TestLockConflicts(t *testing.T) {
	type req struct {
		alice        bool // else bob
		path, scope  string
		depth        string
		wantConflict bool
	}
	for _, tc := range []struct {
		name   string
		first  req
		second req
		hrefs  []string // of the 423
	}{
		{"exclusive then exclusive", req{true, "file", "exclusive", "0", false}, req{false, "file", "exclusive", "0", true}, []string{"/dav/spaces/s/file"}},
		{"exclusive then shared", req{true, "file", "exclusive", "0", false}, req{false, "file", "shared", "0", true}, nil},
		{"shared then exclusive", req{true, "file", "shared", "0", false}, req{false, "file", "exclusive", "0", true}, nil},
		{"shared then shared", req{true, "file", "shared", "0", false}, req{false, "file", "shared", "0", false}, nil},
		{"same user twice", req{true, "file", "exclusive", "0", false}, req{true, "file", "exclusive", "0", true}, nil},
		{"infinity on collection, then child", req{true, "coll", "exclusive", "", false}, req{false, "coll/inner", "exclusive", "0", true}, []string{"/dav/spaces/s/coll/"}},
		{"infinity on collection, then new child", req{true, "coll", "exclusive", "infinity", false}, req{false, "coll/new", "exclusive", "0", true}, nil},
		{"shared infinity, then shared child", req{true, "coll", "shared", "infinity", false}, req{false, "coll/inner", "shared", "0", false}, nil},
		{"depth 0 on collection, then child", req{true, "coll", "exclusive", "0", false}, req{false, "coll/inner", "exclusive", "0", false}, nil},
		{"child, then infinity on collection", req{true, "coll/inner", "exclusive", "0", false}, req{false, "coll", "exclusive", "infinity", true}, []string{"/dav/spaces/s/coll/inner"}},
		{"shared child, then shared infinity", req{true, "coll/inner", "shared", "0", false}, req{false, "coll", "shared", "infinity", false}, nil},
		{"child, then depth 0 on collection", req{true, "coll/inner", "exclusive", "0", false}, req{false, "coll", "exclusive", "0", false}, nil},
		{"space root infinity", req{true, "", "exclusive", "infinity", false}, req{false, "dir2/x", "exclusive", "0", true}, []string{"/dav/spaces/s/"}},
		{"sibling with a common prefix", req{true, "coll", "exclusive", "infinity", false}, req{false, "coll-b", "exclusive", "0", false}, nil},
		{"sibling file", req{true, "file", "exclusive", "0", false}, req{false, "free.txt", "exclusive", "0", false}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLockFixture(t)
			who := func(r req) *auth.Principal {
				if r.alice {
					return f.alice
				}
				return f.bob
			}
			f.mustLock(t, who(tc.first), tc.first.path, tc.first.scope, tc.first.depth)
			w, tok := f.lock(t, who(tc.second), tc.second.path, tc.second.scope, tc.second.depth)
			if !tc.second.wantConflict {
				if w.Code != http.StatusOK && w.Code != http.StatusCreated || tok == "" {
					t.Fatalf("second LOCK: %d %s, want success", w.Code, w.Body)
				}
				return
			}
			if w.Code != http.StatusLocked {
				t.Fatalf("second LOCK: %d %s, want 423", w.Code, w.Body)
			}
			body := w.Body.String()
			if !strings.Contains(body, "<D:no-conflicting-lock>") && !strings.Contains(body, "<D:no-conflicting-lock/>") {
				t.Errorf("423 body %q lacks no-conflicting-lock", body)
			}
			for _, h := range tc.hrefs {
				if !strings.Contains(body, "<D:href>"+h+"</D:href>") {
					t.Errorf("423 body %q does not name %s", body, h)
				}
			}
		})
	}
}

func TestPrecondition(t *testing.T) {
	f := newLockFixture(t)
	ctx := t.Context()
	tokA := f.mustLock(t, f.alice, "file", "exclusive", "0")
	tokB := f.mustLock(t, f.bob, "coll", "exclusive", "infinity")
	tokS1 := f.mustLock(t, f.alice, "shared.txt", "shared", "0")
	tokS2 := f.mustLock(t, f.bob, "shared.txt", "shared", "0")
	tokX := f.mustLock(t, f.alice, "dir2/x", "exclusive", "0")
	etag := func(p string) string {
		n, err := f.tree.Stat(ctx, "s", p)
		if err != nil {
			t.Fatal(err)
		}
		return n.ETag
	}
	fileTag, freeTag := etag("file"), etag("free.txt")
	tgt := func(p string) lockTarget { return lockTarget{Space: "s", Path: p} }
	deep := func(p string) lockTarget { return lockTarget{Space: "s", Path: p, Deep: true} }

	for _, tc := range []struct {
		name    string
		who     *auth.Principal
		url     string // request path in space s
		ifHdr   string
		targets []lockTarget
		want    int
		href    string // of the lock named in a 423
	}{
		{"locked, no If", f.alice, "file", "", []lockTarget{tgt("file")}, 423, "/dav/spaces/s/file"},
		{"untagged token", f.alice, "file", "(<" + tokA + ">)", []lockTarget{tgt("file")}, 0, ""},
		{"tagged absolute URI", f.alice, "file", "<http://example.com/dav/spaces/s/file> (<" + tokA + ">)", []lockTarget{tgt("file")}, 0, ""},
		{"tagged path", f.alice, "file", "</dav/spaces/s/file> (<" + tokA + ">)", []lockTarget{tgt("file")}, 0, ""},
		{"another user's token", f.bob, "file", "(<" + tokA + ">)", []lockTarget{tgt("file")}, 423, "/dav/spaces/s/file"},
		{"litmus cond_put", f.alice, "file", "(<" + tokA + "> [" + fileTag + "])", []lockTarget{tgt("file")}, 0, ""},
		{"litmus fail_cond_put", f.alice, "file", "(<DAV:no-lock> [" + fileTag + "])", []lockTarget{tgt("file")}, 412, ""},
		{"litmus cond_put_with_not", f.alice, "file", "(<" + tokA + ">) (Not <DAV:no-lock>)", []lockTarget{tgt("file")}, 0, ""},
		{"litmus cond_put_corrupt_token", f.alice, "file", "(<" + tokA + "x>) (Not <DAV:no-lock>)", []lockTarget{tgt("file")}, 423, "/dav/spaces/s/file"},
		{"litmus complex_cond_put", f.alice, "file", "(<" + tokA + "> [" + fileTag + "]) (Not <DAV:no-lock> [" + fileTag + "])", []lockTarget{tgt("file")}, 0, ""},
		{"litmus fail_complex_cond_put", f.alice, "file", `(<` + tokA + `> ["bogus"]) (Not <DAV:no-lock> ["bogus"])`, []lockTarget{tgt("file")}, 412, ""},
		{"token under Not is not submitted", f.alice, "file", "(Not <" + tokA + "x>) (Not <" + tokA + ">)", []lockTarget{tgt("file")}, 423, "/dav/spaces/s/file"},
		{"litmus fail_cond_put_unlocked", f.alice, "free.txt", "(<DAV:no-lock>)", []lockTarget{tgt("free.txt")}, 412, ""},
		{"not no-lock, unlocked", f.alice, "free.txt", "(Not <DAV:no-lock>)", []lockTarget{tgt("free.txt")}, 0, ""},
		{"etag matches", f.alice, "free.txt", "([" + freeTag + "])", []lockTarget{tgt("free.txt")}, 0, ""},
		{"weak etag matches", f.alice, "free.txt", "([W/" + freeTag + "])", []lockTarget{tgt("free.txt")}, 0, ""},
		{"Not etag", f.alice, "free.txt", "(Not [" + freeTag + "])", []lockTarget{tgt("free.txt")}, 412, ""},
		{"etag of a missing resource", f.alice, "gone", "([" + freeTag + "])", []lockTarget{tgt("gone")}, 412, ""},
		{"Not etag of a missing resource", f.alice, "gone", "(Not [" + freeTag + "])", []lockTarget{tgt("gone")}, 0, ""},
		{"malformed", f.alice, "free.txt", "(<urn:x>", []lockTarget{tgt("free.txt")}, 400, ""},
		{"tag on another host", f.alice, "free.txt", "<http://other.example/dav/spaces/s/free.txt> (Not <DAV:no-lock>)", []lockTarget{tgt("free.txt")}, 412, ""},
		{"tag outside the spaces", f.alice, "free.txt", "</dav/> (Not <DAV:no-lock>)", []lockTarget{tgt("free.txt")}, 412, ""},
		{"tag outside WebDAV", f.alice, "free.txt", "</elsewhere> (Not <DAV:no-lock>)", []lockTarget{tgt("free.txt")}, 412, ""},
		{"tag in an unknown space", f.alice, "free.txt", "</dav/spaces/zz/free.txt> (Not <DAV:no-lock>)", []lockTarget{tgt("free.txt")}, 412, ""},
		{"one true list of several", f.alice, "free.txt", "</dav/spaces/s/free.txt> (<DAV:no-lock>) </dav/spaces/s/file> (<" + tokA + ">)", []lockTarget{tgt("free.txt")}, 0, ""},
		{"child of a depth-infinity lock", f.alice, "coll/inner", "", []lockTarget{tgt("coll/inner")}, 423, "/dav/spaces/s/coll/"},
		{"child, lock root tagged", f.bob, "coll/inner", "</dav/spaces/s/coll/> (<" + tokB + ">)", []lockTarget{tgt("coll/inner")}, 0, ""},
		{"child, untagged", f.bob, "coll/inner", "(<" + tokB + ">)", []lockTarget{tgt("coll/inner")}, 0, ""},
		{"new child", f.bob, "coll/new", "(<" + tokB + ">)", []lockTarget{tgt("coll/new")}, 0, ""},
		{"shared, first holder", f.alice, "shared.txt", "(<" + tokS1 + ">)", []lockTarget{tgt("shared.txt")}, 0, ""},
		{"shared, second holder", f.bob, "shared.txt", "(<" + tokS2 + ">)", []lockTarget{tgt("shared.txt")}, 0, ""},
		{"shared, only the other's token", f.alice, "shared.txt", "(<" + tokS2 + ">)", []lockTarget{tgt("shared.txt")}, 423, "/dav/spaces/s/shared.txt"},
		{"shared, no If", f.bob, "shared.txt", "", []lockTarget{tgt("shared.txt")}, 423, "/dav/spaces/s/shared.txt"},
		{"deep, locked descendant", f.alice, "dir2", "", []lockTarget{deep("dir2")}, 423, "/dav/spaces/s/dir2/x"},
		{"deep, descendant tagged", f.alice, "dir2", "</dav/spaces/s/dir2/x> (<" + tokX + ">)", []lockTarget{deep("dir2")}, 0, ""},
		// An untagged list is about the request URL, which tokX does not cover.
		{"deep, descendant's token untagged", f.alice, "dir2", "(<" + tokX + ">)", []lockTarget{deep("dir2")}, 412, ""},
		{"shallow target ignores descendants", f.alice, "dir2", "", []lockTarget{tgt("dir2")}, 0, ""},
		{"deep inside an infinity lock", f.alice, "coll/inner", "", []lockTarget{deep("coll/inner")}, 423, "/dav/spaces/s/coll/"},
		{"two targets, both covered", f.alice, "file", "(<" + tokA + ">)", []lockTarget{deep("file"), deep("free.txt")}, 0, ""},
		{"two targets, second locked", f.alice, "file", "(<" + tokA + ">)", []lockTarget{deep("file"), deep("coll/new")}, 423, "/dav/spaces/s/coll/"},
		{"unlocked, no If", f.bob, "free.txt", "", []lockTarget{deep("free.txt"), tgt("free.txt")}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.ifHdr != "" {
				hdr["If"] = tc.ifHdr
			}
			r := f.request(tc.who, http.MethodPut, "/dav/spaces/s/"+tc.url, hdr, "")
			status, err := f.h.precondition(r, tc.targets...)
			if status != tc.want {
				t.Fatalf("precondition = %d, %v; want %d", status, err, tc.want)
			}
			if status == http.StatusLocked {
				var ce *condError
				if !errors.As(err, &ce) || ce.Cond != "lock-token-submitted" || !slices.Equal(ce.Hrefs, []string{tc.href}) {
					t.Errorf("423 error %#v, want lock-token-submitted naming %s", err, tc.href)
				}
			}
		})
	}
}

// TestPutOnLockedFile goes through ServeHTTP, so it depends on PUT.
func TestPutOnLockedFile(t *testing.T) {
	f := newLockFixture(t)
	tok := f.mustLock(t, f.alice, "file", "exclusive", "0")
	w := f.do(f.bob, http.MethodPut, "/dav/spaces/s/file", nil, "x")
	if w.Code != http.StatusLocked || !strings.Contains(w.Body.String(), "<D:lock-token-submitted><D:href>/dav/spaces/s/file</D:href>") {
		t.Errorf("PUT by another user: %d %s", w.Code, w.Body)
	}
	w = f.do(f.alice, http.MethodPut, "/dav/spaces/s/file", map[string]string{"If": "(<" + tok + ">)"}, "x")
	if w.Code/100 != 2 {
		t.Errorf("PUT with the token: %d %s", w.Code, w.Body)
	}
}

func TestRefresh(t *testing.T) {
	f := newLockFixture(t)
	tok := f.mustLock(t, f.alice, "coll", "exclusive", "infinity") // Second-600
	f.clock.Advance(500 * time.Second)
	for _, tc := range []struct {
		name   string
		who    *auth.Principal
		target string
		hdr    map[string]string
		want   int
	}{
		{"no If", f.alice, "coll", map[string]string{}, 400},
		{"malformed If", f.alice, "coll", map[string]string{"If": "(" + tok + ")"}, 400},
		{"unknown token", f.alice, "coll", map[string]string{"If": "(<opaquelocktoken:nope>)"}, 412},
		{"token of a lock elsewhere", f.alice, "file", map[string]string{"If": "</dav/spaces/s/coll/> (<" + tok + ">)"}, 412},
		{"another user", f.bob, "coll", map[string]string{"If": "(<" + tok + ">)"}, 403},
		{"refresh", f.alice, "coll", map[string]string{"If": "(<" + tok + ">)", "Timeout": "Second-200"}, 200},
		{"indirect, through a child", f.alice, "coll/inner", map[string]string{"If": "(<" + tok + ">)", "Timeout": "Second-200"}, 200},
		{"tagged", f.alice, "coll/", map[string]string{"If": "<http://example.com/dav/spaces/s/coll/> (<" + tok + ">)", "Timeout": "Second-200"}, 200},
		{"no Timeout: the maximum", f.alice, "coll", map[string]string{"If": "(<" + tok + ">)"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.who, "LOCK", "/dav/spaces/s/"+tc.target, tc.hdr, "")
			if w.Code != tc.want {
				t.Fatalf("refresh: %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if w.Code != http.StatusOK {
				return
			}
			locks := parseDiscovery(t, w.Body.String())
			wantTimeout := "Second-200"
			if tc.hdr["Timeout"] == "" {
				wantTimeout = "Second-3600"
			}
			if len(locks) != 1 || locks[0].Token != tok || locks[0].Timeout != wantTimeout || locks[0].Root != "/dav/spaces/s/coll/" {
				t.Errorf("refresh response %s", w.Body)
			}
		})
	}
	// The refresh moved the expiry: 500 s after the lock would have lapsed,
	// it still holds.
	f.clock.Advance(500 * time.Second)
	if ls, err := f.h.locks.Covering(t.Context(), "s", "coll/inner"); err != nil || len(ls) != 1 {
		t.Errorf("after refresh and 500 s: %+v, %v", ls, err)
	}
}

func TestUnlock(t *testing.T) {
	f := newLockFixture(t)
	tokColl := f.mustLock(t, f.alice, "coll", "exclusive", "infinity")
	tokFile := f.mustLock(t, f.alice, "file", "exclusive", "0")
	for _, tc := range []struct {
		name   string
		who    *auth.Principal
		target string
		token  string // the Lock-Token header
		want   int
		cond   string
	}{
		{"no header", f.alice, "file", "", 400, ""},
		{"no brackets", f.alice, "file", tokFile, 400, ""},
		{"not a URI", f.alice, "file", "<foobar>", 400, ""},
		{"unknown token", f.alice, "file", "<opaquelocktoken:foobar>", 409, "lock-token-matches-request-uri"},
		{"lock of another resource", f.alice, "file", "<" + tokColl + ">", 409, "lock-token-matches-request-uri"},
		{"outside a depth-infinity lock", f.alice, "free.txt", "<" + tokColl + ">", 409, "lock-token-matches-request-uri"},
		{"another user", f.bob, "file", "<" + tokFile + ">", 403, ""},
		{"owner", f.alice, "file", "<" + tokFile + ">", 204, ""},
		{"again", f.alice, "file", "<" + tokFile + ">", 409, "lock-token-matches-request-uri"},
		{"through a child of the lock", f.alice, "coll/inner", " <" + tokColl + "> ", 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.token != "" {
				hdr["Lock-Token"] = tc.token
			}
			w := f.do(tc.who, "UNLOCK", "/dav/spaces/s/"+tc.target, hdr, "")
			if w.Code != tc.want {
				t.Fatalf("UNLOCK: %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if tc.cond != "" && !strings.Contains(w.Body.String(), "<D:"+tc.cond) {
				t.Errorf("body %q lacks %s", w.Body, tc.cond)
			}
		})
	}
	if ls, _ := f.h.locks.Under(t.Context(), "s", ""); len(ls) != 0 {
		t.Errorf("locks left: %+v", ls)
	}
}

func TestParseTimeout(t *testing.T) {
	const max = time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", max},
		{"Infinite", max},
		{"infinite", max},
		{"Second-60", time.Minute},
		{"second-60", time.Minute},
		{" Second-5 ", 5 * time.Second},
		{"Second-7200", max},
		{"Second-3600", max},
		{"Second-99999999999999999999999", max},
		{"Second-0", max},
		{"Second-0, Second-30", 30 * time.Second},
		{"Extend-5, Second-10", 10 * time.Second},
		{"Infinite, Second-5", max},
		{"Second-5, Infinite", 5 * time.Second},
		{"Second--5", max},
		{"Second-5x", max},
		{"Second-", max},
		{"Second-+5", max},
	} {
		if got := parseTimeout(tc.in, max); got != tc.want {
			t.Errorf("parseTimeout(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestTimeoutCapAndValue(t *testing.T) {
	f := newLockFixture(t)
	w := f.do(f.alice, "LOCK", "/dav/spaces/s/file", map[string]string{"Timeout": "Second-99999"}, lockInfoBody("exclusive", ""))
	if l := parseDiscovery(t, w.Body.String()); w.Code != 200 || l[0].Timeout != "Second-3600" {
		t.Fatalf("LOCK with Second-99999: %d %s", w.Code, w.Body)
	}
	now := f.clock.Now()
	l := Lock{Token: "urn:x", Space: "s", Expires: now.Add(10 * time.Second)}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now, "Second-10"},
		{now.Add(500 * time.Millisecond), "Second-10"}, // rounded up
		{now.Add(9999 * time.Millisecond), "Second-1"},
		{now.Add(10 * time.Second), "Second-1"}, // never Second-0
	} {
		if got := timeoutValue(l, tc.at); got != tc.want {
			t.Errorf("timeoutValue at +%v = %s, want %s", tc.at.Sub(now), got, tc.want)
		}
	}
}

func TestExpiry(t *testing.T) {
	f := newLockFixture(t)
	ctx := t.Context()
	w := f.do(f.alice, "LOCK", "/dav/spaces/s/coll", map[string]string{"Timeout": "Second-60"}, lockInfoBody("exclusive", ""))
	tok := strings.Trim(w.Header().Get("Lock-Token"), "<>")
	if w.Code != 200 || tok == "" {
		t.Fatalf("LOCK: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(59 * time.Second)
	if status, _ := f.h.precondition(f.request(f.bob, "PUT", "/dav/spaces/s/coll/inner", nil, ""), lockTarget{Space: "s", Path: "coll/inner"}); status != 423 {
		t.Errorf("before expiry: precondition %d, want 423", status)
	}
	f.clock.Advance(time.Second)
	if ls, err := f.h.locks.Under(ctx, "s", ""); err != nil || len(ls) != 0 {
		t.Errorf("expired lock listed: %+v, %v", ls, err)
	}
	if status, err := f.h.precondition(f.request(f.bob, "PUT", "/dav/spaces/s/coll/inner", nil, ""), lockTarget{Space: "s", Path: "coll/inner"}); status != 0 {
		t.Errorf("after expiry: precondition %d %v, want 0", status, err)
	}
	if status, _ := f.h.precondition(f.request(f.alice, "PUT", "/dav/spaces/s/coll/inner", map[string]string{"If": "(<" + tok + ">)"}, ""), lockTarget{Space: "s", Path: "coll/inner"}); status != 412 {
		t.Errorf("expired token in If: precondition %d, want 412", status)
	}
	if w := f.do(f.alice, "LOCK", "/dav/spaces/s/coll", map[string]string{"If": "(<" + tok + ">)"}, ""); w.Code != 412 {
		t.Errorf("refresh of an expired lock: %d", w.Code)
	}
	if w := f.do(f.alice, "UNLOCK", "/dav/spaces/s/coll", map[string]string{"Lock-Token": "<" + tok + ">"}, ""); w.Code != 409 {
		t.Errorf("UNLOCK of an expired lock: %d", w.Code)
	}
	// A new lock purges the expired one from the table.
	f.mustLock(t, f.bob, "coll", "exclusive", "infinity")
	if _, err := f.db.Lock(ctx, tok, time.Unix(0, 0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired lock still stored: %v", err)
	}
}

func TestLocksSurviveRestart(t *testing.T) {
	f := newLockFixture(t)
	tok := f.mustLock(t, f.alice, "coll", "shared", "infinity")
	f.close()
	f.open(t)
	ls, err := f.h.locks.Covering(t.Context(), "s", "coll/inner")
	if err != nil || len(ls) != 1 || ls[0].Token != tok || !ls[0].Shared || ls[0].Depth != -1 || !ls[0].IsDir || ls[0].UserID != f.alice.User.ID {
		t.Fatalf("after reopening: %+v, %v", ls, err)
	}
	if status, _ := f.h.precondition(f.request(f.bob, "PUT", "/dav/spaces/s/coll/inner", nil, ""), lockTarget{Space: "s", Path: "coll/inner"}); status != 423 {
		t.Errorf("after reopening: precondition %d, want 423", status)
	}
	if w := f.do(f.alice, "UNLOCK", "/dav/spaces/s/coll/", map[string]string{"Lock-Token": "<" + tok + ">"}, ""); w.Code != 204 {
		t.Errorf("UNLOCK after reopening: %d %s", w.Code, w.Body)
	}
}

func TestUnderAndReleaseTree(t *testing.T) {
	f := newLockFixture(t)
	ctx := t.Context()
	f.mustLock(t, f.alice, "", "shared", "infinity")
	f.mustLock(t, f.alice, "coll", "shared", "0")
	f.mustLock(t, f.alice, "coll/inner", "shared", "0")
	f.mustLock(t, f.alice, "coll-b", "shared", "0")
	roots := func(ls []Lock) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Root)
		}
		return out
	}
	ls, err := f.h.locks.Under(ctx, "s", "coll")
	if got := roots(ls); err != nil || !slices.Equal(got, []string{"", "coll", "coll/inner"}) {
		t.Errorf("Under(coll) = %q, %v", got, err)
	}
	ls, _ = f.h.locks.Covering(ctx, "s", "coll/inner")
	if got := roots(ls); !slices.Equal(got, []string{"", "coll/inner"}) {
		t.Errorf("Covering(coll/inner) = %q", got)
	}
	if err := f.h.locks.ReleaseTree(ctx, "s", "coll"); err != nil {
		t.Fatal(err)
	}
	ls, _ = f.h.locks.Under(ctx, "s", "")
	if got := roots(ls); !slices.Equal(got, []string{"", "coll-b"}) {
		t.Errorf("after ReleaseTree(coll): %q", got)
	}
}

func TestWriteActiveLock(t *testing.T) {
	now := time.Unix(1700000000, 0)
	var b strings.Builder
	err := writeActiveLock(&b, Lock{Token: "opaquelocktoken:a<b", Space: "s", Root: "a b/c&d", Depth: -1, Shared: true,
		OwnerXML: "<D:href>me</D:href>", IsDir: true, Expires: now.Add(90 * time.Second)}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:shared/></D:lockscope>` +
		`<D:depth>infinity</D:depth><D:owner><D:href>me</D:href></D:owner><D:timeout>Second-90</D:timeout>` +
		`<D:locktoken><D:href>opaquelocktoken:a&lt;b</D:href></D:locktoken>` +
		`<D:lockroot><D:href>/dav/spaces/s/a%20b/c&amp;d/</D:href></D:lockroot></D:activelock>`
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}

func TestWebdavLockSystem(t *testing.T) {
	f := newLockFixture(t)
	ls := f.h.locks
	now := f.clock.Now()
	tok, err := ls.Create(now, webdav.LockDetails{Root: "s/coll", Duration: -1, OwnerXML: "<D:href>x</D:href>"})
	if err != nil || !tokenRE.MatchString(tok) {
		t.Fatalf("Create = %q, %v", tok, err)
	}
	if _, err := ls.Create(now, webdav.LockDetails{Root: "/s/coll/inner", Duration: time.Minute, ZeroDepth: true}); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("conflicting Create: %v, want ErrLocked", err)
	}
	if _, err := ls.Confirm(now, "s/coll/inner", "", webdav.Condition{Token: "urn:other"}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm without the token: %v", err)
	}
	if _, err := ls.Confirm(now, "s/coll/inner", "", webdav.Condition{Token: tok, Not: true}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm with Not token: %v", err)
	}
	release, err := ls.Confirm(now, "s/coll/inner", "s/coll", webdav.Condition{Token: tok})
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if _, err := ls.Confirm(now, "s/coll", "", webdav.Condition{Token: tok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm of a held lock: %v", err)
	}
	if err := ls.Unlock(now, tok); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("Unlock of a held lock: %v", err)
	}
	release()
	release() // twice is harmless
	ld, err := ls.Refresh(now.Add(time.Minute), tok, 30*time.Second)
	if err != nil || ld.Root != "s/coll" || ld.Duration != 30*time.Second || ld.ZeroDepth || ld.OwnerXML != "<D:href>x</D:href>" {
		t.Errorf("Refresh = %+v, %v", ld, err)
	}
	if _, err := ls.Refresh(now.Add(2*time.Minute), tok, time.Second); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("Refresh after expiry: %v", err)
	}
	tok2, err := ls.Create(now.Add(2*time.Minute), webdav.LockDetails{Root: "s/file", Duration: time.Minute, ZeroDepth: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.Unlock(now.Add(2*time.Minute), tok2); err != nil {
		t.Errorf("Unlock: %v", err)
	}
	if err := ls.Unlock(now.Add(2*time.Minute), tok2); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("second Unlock: %v", err)
	}
	if _, err := ls.Create(now, webdav.LockDetails{Root: "/", Duration: time.Minute}); err == nil {
		t.Error("Create without a space succeeded")
	}
}

// TestConcurrentExclusiveLocks checks that of many simultaneous LOCKs of
// one resource exactly one wins.
func TestConcurrentExclusiveLocks(t *testing.T) {
	f := newLockFixture(t)
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := f.alice
			if i%2 == 1 {
				who = f.bob
			}
			w := f.do(who, "LOCK", "/dav/spaces/s/free.txt", nil, lockInfoBody("exclusive", fmt.Sprint(i)))
			codes <- w.Code
		}()
	}
	wg.Wait()
	close(codes)
	won := 0
	for c := range codes {
		switch c {
		case 200:
			won++
		case 423:
		default:
			t.Errorf("LOCK: %d", c)
		}
	}
	if won != 1 {
		t.Errorf("%d LOCKs won, want 1", won)
	}
}
