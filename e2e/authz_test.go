package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// The authorization matrix of issue 8: every surface against every actor,
// with the exact status each must get and no byte of space "alpha" leaking
// to an actor that may not read it.

// Actors, in the order of the columns of the matrix.
const (
	anon       = iota // no credentials
	badPW             // a user's name with a wrong password
	revoked           // an app password, revoked
	expired           // a bearer token past its --ttl
	viewer            // viewer in alpha
	editor            // editor in alpha (with an app password, as WebDAV clients are told to)
	manager           // manager in alpha
	other             // editor in beta, no role in alpha
	admin             // administrator
	upTok             // upload token of editor for alpha/partner/
	assetOther        // AssetToken of another commit (commit 2)
	tampered          // no credentials; on signed URLs, a tampered signature
	assetOwn          // baseline: AssetToken of commit 1
	cookie            // editor's web session: the cookie, its CSRF token, the server's own Origin
	forged            // editor's session cookie sent by another site: no CSRF token, a foreign Origin
	pullOwn           // pull token (client credentials) of alpha's pull target
	pullOther         // pull token of a pull target on beta
	basicX            // editor's app password cached by a browser, sent by another site's page: a foreign Origin, Sec-Fetch-Site cross-site
	nActors
)

var actorNames = [nActors]string{"anon", "badpw", "revok", "expir", "viewr", "editr", "mangr", "other", "admin", "uptok", "astOt", "tampr", "astOw", "cookie", "forgd", "pullO", "pullX", "basicX"}

// The two cookie columns and basicX are not written in the rows below (they
// are left zero): cookieColumns and crossSiteColumn derive them from
// editor's, whose session or app password they use. The session gets what
// editor's app password gets; the forged request and basicX get the same
// on GET, HEAD and OPTIONS and 403 on any other method and on a websocket,
// on every surface: what another site's page makes a browser send is
// refused whatever it carries. The two pull-token columns are anon's where
// they are left zero: a pull token is no credential anywhere but on
// Phraseanet's API (surface.pull).

// row is the expected status of one surface for each actor, in column order.
type row = [nActors]int

// Status patterns shared by many surfaces of space alpha.
var (
	//                anon badpw revok expir viewr editr mangr other admin uptok astOt tampr astOw
	davRead   = row{401, 401, 401, 401, 0, 0, 0, 404, 0, 403, 401, 401, 401}
	davWrite  = row{401, 401, 401, 401, 403, 0, 0, 404, 0, 403, 401, 401, 401} // 0: the success status
	anyUser   = row{401, 401, 401, 401, 0, 0, 0, 0, 0, 403, 401, 401, 401}
	nobody    = row{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200}
	tusOwner  = row{401, 401, 401, 401, 404, 0, 404, 404, 404, 404, 401, 401, 401}
	phAsset   = row{401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 403, 401, 200}
	phAssetID = row{401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 404, 401, 200} // another commit's asset: 404, as if unknown
	phPulling = row{401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401}
)

// fill replaces the 0 cells of r with ok.
func fill(r row, ok int) row {
	for i := range r {
		if r[i] == 0 {
			r[i] = ok
		}
	}
	return r
}

// authzActor is how one actor presents itself.
type authzActor struct {
	idx      int
	user, pw string // Basic
	header   string // Authorization, when not Basic
	// failing actors count as failed logins: each of their requests comes
	// from a fresh loopback address and names a fresh user often enough
	// that throttling (10 failures per address or user name) never answers
	// in place of the status under test.
	failing bool
	// A web session: the cookie's value, the CSRF token to send ("": none)
	// and the Origin header.
	session, csrf, origin string
	// crossSite: the request comes from another site's page (Origin and
	// Sec-Fetch-Site say so), whatever credentials it carries.
	crossSite bool
}

// authzEnv is the server and the fixtures of the matrix.
type authzEnv struct {
	t  *testing.T
	ps *phServer

	mu      sync.Mutex
	nextIP  int
	guesses []*guessUser // pool for badPW and revoked
	actors  [nActors]*authzActor
	clients map[string]*http.Client
	// lastMethod is the method of each actor's last request.
	lastMethod [nActors]string

	targetID, asset1, commit1, commit2 string
	signedURL, tamperedURL             string
	finUpload                          string // a complete upload of editor, for progress and finalize
}

type guessUser struct {
	name, revokedPW string
	failures        int
}

const (
	secret     = "CONFIDENTIAL-ALPHA-4711"
	hiddenName = "roster-alpha-7.xlsx" // a file of alpha no request names
	targetName = "alpha-intake"
	finName    = "fin-secret-9.txt"
	pwSuffix   = " password 123"
)

// clientFrom returns an HTTP client whose connections come from ip.
func (e *authzEnv) clientFrom(ip string) *http.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clients[ip]; ok {
		return c
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	e.clients[ip] = c
	e.t.Cleanup(c.CloseIdleConnections)
	return c
}

// freshIP is a loopback address no request came from yet.
func (e *authzEnv) freshIP() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextIP++
	return fmt.Sprintf("127.%d.%d.%d", 100+e.nextIP/65536, e.nextIP/256%256, e.nextIP%256)
}

// guess returns a user of the pool with few failures, making one if needed.
func (e *authzEnv) guess() *guessUser {
	e.mu.Lock()
	for _, g := range e.guesses {
		if g.failures < 8 {
			g.failures++
			e.mu.Unlock()
			return g
		}
	}
	n := len(e.guesses)
	e.mu.Unlock()
	g := &guessUser{name: fmt.Sprintf("guess%d", n), failures: 1}
	data := e.ps.data
	mustWharf(e.t, data, g.name+pwSuffix+"\n", "user", "add", g.name, "--password-stdin")
	mustWharf(e.t, data, "", "space", "grant", "alpha", g.name, "viewer")
	g.revokedPW = mustWharf(e.t, data, "", "apppass", "create", g.name, "--label", "old-laptop")
	mustWharf(e.t, data, "", "apppass", "revoke", g.name, "old-laptop")
	e.mu.Lock()
	e.guesses = append(e.guesses, g)
	e.mu.Unlock()
	return g
}

// authorize sets a's credentials on r and returns the client to send it with.
func (e *authzEnv) authorize(a *authzActor, r *http.Request) *http.Client {
	ip := fmt.Sprintf("127.0.1.%d", 10+a.idx)
	switch {
	case a.idx == badPW:
		r.SetBasicAuth(e.guess().name, "not the password at all")
	case a.idx == revoked:
		g := e.guess()
		r.SetBasicAuth(g.name, g.revokedPW)
	case a.user != "":
		r.SetBasicAuth(a.user, a.pw)
	case a.header != "":
		r.Header.Set("Authorization", a.header)
	case a.session != "":
		r.AddCookie(&http.Cookie{Name: "wharf_session", Value: a.session})
		r.Header.Set("Origin", a.origin)
		if a.csrf != "" {
			r.Header.Set("X-CSRF-Token", a.csrf)
		}
	}
	if a.crossSite {
		r.Header.Set("Origin", "https://evil.example")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	if a.failing {
		ip = e.freshIP()
	}
	return e.clientFrom(ip)
}

// call sends req (a path on the server, or an absolute URL) as a.
func (e *authzEnv) call(a *authzActor, req davReq) (int, http.Header, string) {
	e.t.Helper()
	u := req.path
	if strings.HasPrefix(u, "/") {
		u = e.ps.URL + u
	}
	var body io.Reader = http.NoBody
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequestWithContext(e.t.Context(), req.method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	resp, err := e.authorize(a, r).Do(r)
	if err != nil {
		e.t.Fatalf("%s %s as %s: %v", req.method, req.path, actorNames[a.idx], err)
	}
	e.mu.Lock()
	e.lastMethod[a.idx] = req.method
	e.mu.Unlock()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// as sends req as a and fails the test unless the status is want.
func (e *authzEnv) as(a int, want int, req davReq) (http.Header, string) {
	e.t.Helper()
	status, h, body := e.call(e.actors[a], req)
	if status != want {
		e.t.Fatalf("setup: %s %s as %s: %d, want %d\n%s", req.method, req.path, actorNames[a], status, want, body)
	}
	return h, body
}

// tusNew creates an upload of size bytes at path of alpha as actor a.
func (e *authzEnv) tusNew(a int, path string, size int) string {
	e.t.Helper()
	meta := "space " + base64.StdEncoding.EncodeToString([]byte("alpha")) + ",path " + base64.StdEncoding.EncodeToString([]byte(path))
	h, _ := e.as(a, 201, davReq{method: "POST", path: "/tus/", headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta}})
	loc := h.Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:]
}

// lockBody is a LOCK request body.
const lockBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
	`<D:locktype><D:write/></D:locktype><D:owner><D:href>authz</D:href></D:owner></D:lockinfo>`

// commitFiles commits paths of alpha to the target as admin.
func (e *authzEnv) commitFiles(paths ...string) commitResp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"paths": paths})
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, got := e.call(e.actors[admin], davReq{method: "POST", path: "/api/v1/targets/" + e.targetID + "/commits",
			body: string(b), headers: map[string]string{"Content-Type": "application/json"}})
		if status == http.StatusCreated {
			var c commitResp
			if err := json.Unmarshal([]byte(got), &c); err != nil || len(c.Assets) != len(paths) || c.Token == "" {
				e.t.Fatalf("commit %v: %s", paths, got)
			}
			return c
		}
		if status == http.StatusConflict || status >= 500 || time.Now().After(deadline) {
			e.t.Fatalf("commit %v: %d %s", paths, status, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func newAuthzEnv(t *testing.T) *authzEnv {
	ps := startPh(t)
	e := &authzEnv{t: t, ps: ps, clients: map[string]*http.Client{}}
	d := ps.data
	if got := mustWharf(t, d, "", "space", "create", "Alpha", "--owner", "admin"); got != "alpha" {
		t.Fatalf("space create Alpha: id %q", got)
	}
	mustWharf(t, d, "", "space", "create", "Beta", "--owner", "admin")
	for _, u := range []string{"viewer", "editor", "manager", "other"} {
		mustWharf(t, d, u+pwSuffix+"\n", "user", "add", u, "--password-stdin")
	}
	mustWharf(t, d, "", "space", "grant", "alpha", "viewer", "viewer")
	mustWharf(t, d, "", "space", "grant", "alpha", "editor", "editor")
	mustWharf(t, d, "", "space", "grant", "alpha", "manager", "manager")
	mustWharf(t, d, "", "space", "grant", "beta", "other", "editor")
	editorPW := mustWharf(t, d, "", "apppass", "create", "editor", "--label", "laptop")
	expiredTok := mustWharf(t, d, "", "token", "create", "editor", "--label", "short", "--ttl", "1s")
	expiresAt := time.Now().Add(time.Second)

	for i := range e.actors {
		e.actors[i] = &authzActor{idx: i}
	}
	e.actors[badPW].failing, e.actors[revoked].failing = true, true
	// Outside Phraseanet's API a pull token is an unknown bearer token: a
	// failed login.
	e.actors[pullOwn].failing, e.actors[pullOther].failing = true, true
	e.actors[expired].header = "Bearer " + expiredTok
	for i, u := range map[int]string{viewer: "viewer", manager: "manager", other: "other"} {
		e.actors[i].user, e.actors[i].pw = u, u+pwSuffix
	}
	e.actors[editor].user, e.actors[editor].pw = "editor", editorPW
	e.actors[basicX].user, e.actors[basicX].pw, e.actors[basicX].crossSite = "editor", editorPW, true
	e.login("editor", "editor"+pwSuffix)
	e.actors[admin].user, e.actors[admin].pw = "admin", davPW

	// The contents of alpha.
	const sp = "/dav/spaces/alpha/"
	e.as(admin, 201, davReq{method: "PUT", path: sp + "doc.txt", body: secret + " doc"})
	e.as(admin, 201, davReq{method: "PUT", path: sp + hiddenName, body: secret + " roster"})
	e.as(admin, 201, davReq{method: "MKCOL", path: sp + "partner"})
	e.as(admin, 201, davReq{method: "MKCOL", path: sp + "to-dam"})
	e.as(admin, 201, davReq{method: "PUT", path: sp + "to-dam/c1.txt", body: secret + " c1"})
	e.as(admin, 201, davReq{method: "PUT", path: sp + "to-dam/c2.txt", body: "c2"})
	e.as(admin, 201, davReq{method: "PUT", path: "/dav/spaces/beta/b.txt", body: "beta"})

	// A pull target on alpha and two commits: their AssetTokens, a signed
	// download URL of commit 1's asset and a tampered copy of it.
	out := mustWharf(t, d, "", "target", "add", targetName, "--space", "alpha", "--folder", "to-dam", "--destination", "42",
		"--mode", "pull", "--public-url", "http://"+ps.addr)
	e.targetID = field(out, "id")
	e.actors[pullOwn].header = "Bearer " + e.pullToken(field(out, "client_id"), field(out, "client_secret"))
	e.as(admin, 201, davReq{method: "MKCOL", path: "/dav/spaces/beta/to-dam"})
	out = mustWharf(t, d, "", "target", "add", "beta-intake", "--space", "beta", "--folder", "to-dam", "--destination", "43",
		"--mode", "pull", "--public-url", "http://"+ps.addr)
	e.actors[pullOther].header = "Bearer " + e.pullToken(field(out, "client_id"), field(out, "client_secret"))
	c1, c2 := e.commitFiles("to-dam/c1.txt"), e.commitFiles("to-dam/c2.txt")
	e.commit1, e.commit2, e.asset1 = c1.ID, c2.ID, c1.Assets[0].ID
	e.actors[assetOwn].header = "AssetToken " + c1.Token
	e.actors[assetOther].header = "AssetToken " + c2.Token
	_, meta := e.as(assetOwn, 200, davReq{method: "GET", path: "/assets/" + e.asset1})
	var m struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(meta), &m); err != nil || m.URL == "" {
		t.Fatalf("GET /assets/%s: no url in %s", e.asset1, meta)
	}
	e.signedURL = m.URL
	u, err := url.Parse(m.URL)
	if err != nil || len(u.Query()) == 0 {
		t.Fatalf("signed url %q has no query", m.URL)
	}
	q, longest := u.Query(), ""
	for k, vs := range q {
		if len(vs[0]) > len(q.Get(longest)) {
			longest = k
		}
	}
	sig := []byte(q.Get(longest)) // the signature: the longest parameter
	if sig[len(sig)-1] == 'A' {
		sig[len(sig)-1] = 'B'
	} else {
		sig[len(sig)-1] = 'A'
	}
	q.Set(longest, string(sig))
	u.RawQuery = q.Encode()
	e.tamperedURL = u.String()

	// An upload token of editor for alpha/partner/.
	_, tok := e.as(editor, 201, davReq{method: "POST", path: "/api/v1/upload-tokens",
		body: `{"space":"alpha","prefix":"partner"}`, headers: map[string]string{"Content-Type": "application/json"}})
	var ut struct {
		Token string `json:"token"`
	}
	if json.Unmarshal([]byte(tok), &ut); ut.Token == "" {
		t.Fatalf("upload token: %s", tok)
	}
	e.actors[upTok].header = "Bearer " + ut.Token

	// A finished upload of editor.
	e.finUpload = e.tusNew(editor, "partner/"+finName, len(secret))
	e.as(editor, 204, davReq{method: "PATCH", path: "/tus/" + e.finUpload, body: secret, headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})

	time.Sleep(time.Until(expiresAt) + 100*time.Millisecond)
	return e
}

// field is the value of a "name=value" line of a command's output.
func field(out, name string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			return v
		}
	}
	return ""
}

// postJSON POSTs in as JSON to path on the server, without credentials,
// decodes a 200 answer into out, and returns the response (its body read).
func (e *authzEnv) postJSON(path string, in, out any) *http.Response {
	e.t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(e.ps.URL+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("POST %s: %d %v", path, resp.StatusCode, err)
	}
	return resp
}

// pullToken gets a pull token with a target's client credentials, as
// Phraseanet does.
func (e *authzEnv) pullToken(id, secret string) string {
	e.t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	e.postJSON("/oauth/v2/token", map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret}, &tok)
	if tok.AccessToken == "" {
		e.t.Fatalf("pull token for client %q: none in the answer", id)
	}
	return tok.AccessToken
}

// login logs user in to the web interface and gives the session to the
// cookie actor, and its cookie alone to the forged actor.
func (e *authzEnv) login(user, pw string) {
	e.t.Helper()
	var s struct {
		CSRF string `json:"csrf"`
	}
	resp := e.postJSON("/api/v1/session", map[string]string{"user": user, "password": pw}, &s)
	var secret string
	for _, c := range resp.Cookies() {
		if c.Name == "wharf_session" {
			secret = c.Value
		}
	}
	if secret == "" || s.CSRF == "" {
		e.t.Fatalf("login as %s: cookie %q, CSRF token %q", user, secret, s.CSRF)
	}
	e.actors[cookie].session, e.actors[cookie].csrf, e.actors[cookie].origin = secret, s.CSRF, e.ps.URL
	e.actors[forged].session, e.actors[forged].origin = secret, "https://evil.example"
}

// cookieColumns fills the cookie and forged cells of want from editor's
// cell: method is what the forged actor sent.
func cookieColumns(want row, method string) row {
	want[cookie], want[forged] = want[editor], want[editor]
	if method != "GET" && method != "HEAD" && method != "OPTIONS" {
		want[forged] = http.StatusForbidden
	}
	return want
}

// crossSiteColumn fills the basicX cell of want from editor's, whose
// credentials it sends: the same on GET, HEAD and OPTIONS, and 403 on any
// other method wherever it goes, since no surface may act on what another
// site's page makes a browser send with its cached credentials.
func crossSiteColumn(want row, method string) row {
	want[basicX] = want[editor]
	if method != "GET" && method != "HEAD" && method != "OPTIONS" {
		want[basicX] = http.StatusForbidden
	}
	return want
}

// pullColumns fills the pull-token cells of want: pull, or anon's.
func pullColumns(want row, pull *[2]int) row {
	want[pullOwn], want[pullOther] = want[anon], want[anon]
	if pull != nil {
		want[pullOwn], want[pullOther] = pull[0], pull[1]
	}
	return want
}

// surface is one row of the matrix.
type surface struct {
	name string
	want row
	// run performs the request as a and returns the status and body.
	run func(e *authzEnv, a *authzActor) (int, string)
	// capability: the URL itself authorizes, so a 2xx body may carry
	// alpha's bytes to anyone who holds it.
	capability bool
	// owners, when set, are the only actors whose 2xx bodies may name
	// alpha's files; by default those with a role in alpha (and the
	// AssetToken of the commit, on Phraseanet's API).
	owners []int
	// markers are extra strings no non-owner may see.
	markers []string
	// pull: the statuses of pullOwn and pullOther, when not 401.
	pull *[2]int
}

// req makes a run function of a request, built per actor (for paths that
// must be fresh) by mk.
func req(mk func(e *authzEnv, a *authzActor) davReq) func(*authzEnv, *authzActor) (int, string) {
	return func(e *authzEnv, a *authzActor) (int, string) {
		status, _, body := e.call(a, mk(e, a))
		return status, body
	}
}

// fixed is req for a request that is the same for every actor.
func fixed(r davReq) func(*authzEnv, *authzActor) (int, string) {
	return req(func(*authzEnv, *authzActor) davReq { return r })
}

func hdr(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// fresh is a file of alpha made by admin for a's request alone.
func fresh(e *authzEnv, a *authzActor, prefix string) string {
	p := "/dav/spaces/alpha/" + prefix + "-" + actorNames[a.idx] + ".txt"
	e.as(admin, 201, davReq{method: "PUT", path: p, body: secret + " " + prefix})
	return p
}

var tusHdr = []string{"Tus-Resumable", "1.0.0"}

func authzSurfaces() []surface {
	const doc = "/dav/spaces/alpha/doc.txt"
	const propfind = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`
	const proppatch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:W="urn:example:authz"><D:set><D:prop>` +
		`<W:note>x</W:note></D:prop></D:set></D:propertyupdate>`
	tusMeta := func(path string) string {
		return "space " + base64.StdEncoding.EncodeToString([]byte("alpha")) + ",path " + base64.StdEncoding.EncodeToString([]byte(path))
	}
	editorUpload := func(e *authzEnv, a *authzActor) string {
		return "/tus/" + e.tusNew(editor, "partner/up-"+actorNames[a.idx]+"-"+strconv.Itoa(e.nextIP)+".bin", 10)
	}
	return []surface{
		// WebDAV on a file (and the root) of alpha.
		{name: "dav GET", want: fill(davRead, 200), run: fixed(davReq{method: "GET", path: doc})},
		{name: "dav PUT", want: fill(davWrite, 204), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "PUT", path: fresh(e, a, "put"), body: "overwritten"}
		})},
		{name: "dav PROPFIND file", want: fill(davRead, 207), run: fixed(davReq{method: "PROPFIND", path: doc, body: propfind, headers: hdr("Depth", "0")})},
		{name: "dav PROPFIND root d1", want: fill(davRead, 207), run: fixed(davReq{method: "PROPFIND", path: "/dav/spaces/alpha/", headers: hdr("Depth", "1")})},
		{name: "dav PROPFIND /spaces/", want: fill(anyUser, 207), markers: []string{"/dav/spaces/alpha/"},
			run: fixed(davReq{method: "PROPFIND", path: "/dav/spaces/", headers: hdr("Depth", "1")})},
		{name: "dav PROPPATCH", want: fill(davWrite, 207), run: fixed(davReq{method: "PROPPATCH", path: doc, body: proppatch})},
		{name: "dav MKCOL", want: fill(davWrite, 201), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "MKCOL", path: "/dav/spaces/alpha/mk-" + actorNames[a.idx]}
		})},
		{name: "dav DELETE", want: fill(davWrite, 204), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "DELETE", path: fresh(e, a, "del")}
		})},
		{name: "dav COPY", want: fill(davWrite, 201), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "COPY", path: doc, headers: hdr("Destination", e.ps.URL+"/dav/spaces/alpha/cp-"+actorNames[a.idx]+".txt")}
		})},
		{name: "dav MOVE", want: fill(davWrite, 201), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "MOVE", path: fresh(e, a, "mv"), headers: hdr("Destination", e.ps.URL+"/dav/spaces/alpha/mvd-"+actorNames[a.idx]+".txt")}
		})},
		{name: "dav LOCK", want: fill(davWrite, 200), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "LOCK", path: fresh(e, a, "lk"), body: lockBody, headers: hdr("Depth", "0", "Timeout", "Second-600")}
		})},
		// The lock is editor's: only editor may remove it.
		{name: "dav UNLOCK (editor's)", want: row{401, 401, 401, 401, 403, 204, 403, 404, 403, 403, 401, 401, 401},
			run: req(func(e *authzEnv, a *authzActor) davReq {
				p := fresh(e, a, "ul")
				h, _ := e.as(editor, 200, davReq{method: "LOCK", path: p, body: lockBody, headers: hdr("Depth", "0", "Timeout", "Second-600")})
				return davReq{method: "UNLOCK", path: p, headers: hdr("Lock-Token", h.Get("Lock-Token"))}
			})},

		// tus.
		{name: "tus create A/partner/", want: row{401, 401, 401, 401, 403, 201, 201, 404, 201, 201, 401, 401, 401},
			run: req(func(e *authzEnv, a *authzActor) davReq {
				return davReq{method: "POST", path: "/tus/", headers: hdr("Tus-Resumable", "1.0.0", "Upload-Length", "10",
					"Upload-Metadata", tusMeta("partner/t-"+actorNames[a.idx]+".bin"))}
			})},
		{name: "tus create A/ (no prefix)", want: row{401, 401, 401, 401, 403, 201, 201, 404, 201, 403, 401, 401, 401},
			run: req(func(e *authzEnv, a *authzActor) davReq {
				return davReq{method: "POST", path: "/tus/", headers: hdr("Tus-Resumable", "1.0.0", "Upload-Length", "10",
					"Upload-Metadata", tusMeta("t-"+actorNames[a.idx]+".bin"))}
			})},
		{name: "tus HEAD (editor's)", want: fill(tusOwner, 200), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "HEAD", path: editorUpload(e, a), headers: hdr(tusHdr...)}
		})},
		{name: "tus PATCH (editor's)", want: fill(tusOwner, 204), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "PATCH", path: editorUpload(e, a), body: "abc", headers: hdr("Tus-Resumable", "1.0.0",
				"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")}
		})},
		{name: "tus DELETE (editor's)", want: fill(tusOwner, 204), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "DELETE", path: editorUpload(e, a), headers: hdr(tusHdr...)}
		})},

		// JSON API.
		{name: "GET /api/v1/me", want: fill(anyUser, 200), run: fixed(davReq{method: "GET", path: "/api/v1/me"}),
			markers: []string{`"alpha"`}},
		{name: "GET targets", want: fill(anyUser, 200), run: fixed(davReq{method: "GET", path: "/api/v1/targets"})},
		{name: "GET target commits", want: fill(davRead, 200), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "GET", path: "/api/v1/targets/" + e.targetID + "/commits"}
		})},
		{name: "POST target commits", want: fill(davWrite, 201), run: req(func(e *authzEnv, a *authzActor) davReq {
			f := "cm-" + actorNames[a.idx] + ".txt"
			e.as(admin, 201, davReq{method: "PUT", path: "/dav/spaces/alpha/to-dam/" + f, body: "commit me"})
			return davReq{method: "POST", path: "/api/v1/targets/" + e.targetID + "/commits", body: `{"paths":["to-dam/` + f + `"]}`,
				headers: hdr("Content-Type", "application/json")}
		})},
		{name: "POST upload-tokens", want: fill(davWrite, 201), run: fixed(davReq{method: "POST", path: "/api/v1/upload-tokens",
			body: `{"space":"alpha","prefix":"partner"}`, headers: hdr("Content-Type", "application/json")})},
		// The web interface's JSON API and the metrics.
		{name: "GET web nodes", want: fill(davRead, 200), run: fixed(davReq{method: "GET", path: "/api/v1/spaces/alpha/nodes/"})},
		{name: "POST web mkdir", want: fill(davWrite, 201), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "POST", path: "/api/v1/spaces/alpha/mkdir", body: `{"path":"web-` + actorNames[a.idx] + `"}`,
				headers: hdr("Content-Type", "application/json")}
		})},
		{name: "GET web admin users", want: row{401, 401, 401, 401, 403, 403, 403, 403, 200, 403, 401, 401, 401},
			run: fixed(davReq{method: "GET", path: "/api/v1/admin/users"})},
		{name: "GET metrics", want: row{401, 401, 401, 401, 403, 403, 403, 403, 200, 403, 401, 401, 401},
			run: fixed(davReq{method: "GET", path: "/metrics"})},
		{name: "GET upload progress", want: fill(davRead, 200), run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "GET", path: "/api/v1/uploads/" + e.finUpload + "/progress", headers: hdr("Accept", "application/json")}
		})},
		// Non-owners, the upload token of the owner included, get 200 with
		// the upload "rejected", status 404.
		{name: "POST finalize (editor's)", want: fill(row{401, 401, 401, 401, 0, 0, 0, 0, 0, 0, 401, 401, 401}, 200), owners: []int{editor}, markers: []string{finName},
			run: req(func(e *authzEnv, a *authzActor) davReq {
				return davReq{method: "POST", path: "/api/v1/uploads/finalize", body: `{"uploads":["` + e.finUpload + `"]}`,
					headers: hdr("Content-Type", "application/json")}
			})},

		// Signed download URLs authorize by themselves. Before the ack
		// rows below: an acknowledged commit's frozen files are released,
		// after which its download URLs answer 404.
		{name: "signed URL", capability: true, want: row{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 403, 200},
			run: req(func(e *authzEnv, a *authzActor) davReq {
				if a.idx == tampered {
					return davReq{method: "GET", path: e.tamperedURL}
				}
				return davReq{method: "GET", path: e.signedURL}
			})},

		// Phraseanet's API: AssetToken only.
		{name: "ph GET asset", want: phAssetID, run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "GET", path: "/assets/" + e.asset1}
		})},
		{name: "ph GET asset download", want: phAssetID, run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "GET", path: "/assets/" + e.asset1 + "/download"}
		})},
		{name: "ph GET commit", want: phAsset, pull: &[2]int{200, 403}, run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "GET", path: "/commits/" + e.commit1}
		})},
		{name: "ph GET commits list", want: phPulling, pull: &[2]int{200, 403}, run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "GET", path: "/commits?target=" + e.targetID}
		})},
		{name: "ph POST asset ack", want: phAssetID, run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "POST", path: "/assets/" + e.asset1 + "/ack"}
		})},
		{name: "ph POST commit ack", want: phAsset, run: req(func(e *authzEnv, a *authzActor) davReq {
			return davReq{method: "POST", path: "/commits/" + e.commit1 + "/ack"}
		})},

		// Unauthenticated probes.
		{name: "OPTIONS dav file", want: nobody, run: fixed(davReq{method: "OPTIONS", path: doc})},
		{name: "OPTIONS /tus/", want: nobody, run: fixed(davReq{method: "OPTIONS", path: "/tus/"})},
		{name: "GET /healthz", want: nobody, run: fixed(davReq{method: "GET", path: "/healthz"})},
		{name: "GET /readyz", want: nobody, run: fixed(davReq{method: "GET", path: "/readyz"})},
	}
}

// cell is what one actor got on one surface.
type cell struct {
	status int
	leak   string // what leaked, if anything
}

// TestAuthzMatrix: every surface × every actor, exact statuses, no leak.
func TestAuthzMatrix(t *testing.T) {
	e := newAuthzEnv(t)
	surfaces := authzSurfaces()
	got := make([][nActors]cell, len(surfaces))
	baseMarkers := []string{secret, hiddenName, targetName}
	roleInA := map[int]bool{viewer: true, editor: true, manager: true, admin: true, cookie: true, forged: true, basicX: true}

	for i := range surfaces {
		s := &surfaces[i]
		if slices.Contains(s.owners, editor) {
			s.owners = append(s.owners, cookie, forged, basicX)
		}
		for a := range nActors {
			status, body := s.run(e, e.actors[a])
			if a == forged {
				s.want = cookieColumns(s.want, e.lastMethod[forged])
				s.want = pullColumns(s.want, s.pull)
			}
			if a == basicX {
				s.want = crossSiteColumn(s.want, e.lastMethod[basicX])
			}
			c := cell{status: status}
			owner := roleInA[a] || (a == assetOwn || a == pullOwn) && strings.HasPrefix(s.name, "ph ")
			if s.owners != nil {
				owner = false
				for _, o := range s.owners {
					owner = owner || o == a
				}
			}
			if status >= 400 || !owner && !(s.capability && status < 300) {
				for _, m := range append(append([]string(nil), baseMarkers...), s.markers...) {
					if strings.Contains(body, m) {
						c.leak = m
					}
				}
			}
			got[i][a] = c
		}
	}

	// The events socket: everyone subscribes to everything, then admin
	// writes in alpha and then in beta. Those with a role in alpha see the
	// first; the others must see nothing of alpha (other, who is in beta,
	// sees beta's event, so their socket is known to work).
	evWant := row{401, 401, 401, 401, 101, 101, 101, 101, 101, 403, 401, 401, 401, 101, 403, 401, 401, 403}
	evGot := e.eventsRow(roleInA)
	surfaces = append(surfaces, surface{name: "events socket", want: evWant})
	got = append(got, evGot)
	// The progress socket of editor's finished upload: the handshake's
	// status as for its JSON GET, and its first message leaks nothing.
	progWant := fill(davRead, 101)
	progWant[forged] = http.StatusForbidden // a websocket from another site
	progWant[basicX] = http.StatusForbidden
	progWant = pullColumns(progWant, nil)
	surfaces = append(surfaces, surface{name: "progress socket", want: progWant})
	got = append(got, e.progressRow(roleInA, append([]string{finName}, baseMarkers...)))

	var bad []string
	for i, s := range surfaces {
		for a := range nActors {
			c := got[i][a]
			if c.status != s.want[a] {
				bad = append(bad, fmt.Sprintf("%s as %s: got %d, want %d", s.name, actorNames[a], c.status, s.want[a]))
			}
			if c.leak != "" {
				bad = append(bad, fmt.Sprintf("%s as %s: %d answer leaks %q", s.name, actorNames[a], c.status, c.leak))
			}
		}
	}
	t.Logf("matrix (go test -v shows it):\n%s", matrix(surfaces, got))
	if len(bad) > 0 {
		t.Errorf("authorization matrix: %d wrong cells\n%s\n\n%s", len(bad), strings.Join(bad, "\n"), matrix(surfaces, got))
	}
}

// matrix renders what every actor got; a wrong cell reads got≠want, a leak
// gets a trailing "L".
func matrix(surfaces []surface, got [][nActors]cell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s", "")
	for _, n := range actorNames {
		fmt.Fprintf(&b, " %-7s", n)
	}
	b.WriteString("\n")
	for i, s := range surfaces {
		fmt.Fprintf(&b, "%-26s", s.name)
		for a := range nActors {
			c := got[i][a]
			v := strconv.Itoa(c.status)
			if c.status != s.want[a] {
				v += "≠" + strconv.Itoa(s.want[a])
			}
			if c.leak != "" {
				v += "L"
			}
			fmt.Fprintf(&b, " %-7s", v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// dialAs opens the websocket at path as actor a and sets got's status:
// 101 and the connection, or the refusal's status and nil.
func (e *authzEnv) dialAs(ctx context.Context, a int, path string, got *cell) *websocket.Conn {
	e.t.Helper()
	r, _ := http.NewRequest("GET", e.ps.URL, nil)
	client := e.authorize(e.actors[a], r)
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ps.URL, "http")+path,
		&websocket.DialOptions{HTTPClient: client, HTTPHeader: r.Header})
	if err != nil {
		if resp == nil {
			e.t.Fatalf("websocket %s as %s: %v", path, actorNames[a], err)
		}
		got.status = resp.StatusCode
		return nil
	}
	got.status = http.StatusSwitchingProtocols
	return c
}

// progressRow dials the progress socket of the finished upload as every
// actor and reports, per actor, the status of the handshake and whether
// its first message shows one of markers to an actor without a role in
// alpha.
func (e *authzEnv) progressRow(roleInA map[int]bool, markers []string) [nActors]cell {
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	var out [nActors]cell
	for a := range nActors {
		c := e.dialAs(ctx, a, "/api/v1/uploads/"+e.finUpload+"/progress", &out[a])
		if c == nil {
			continue
		}
		rctx, stop := context.WithTimeout(ctx, 5*time.Second)
		_, msg, err := c.Read(rctx)
		stop()
		c.CloseNow()
		if err != nil {
			out[a].leak = "socket silent: " + err.Error()
			continue
		}
		if !roleInA[a] {
			for _, m := range markers {
				if strings.Contains(string(msg), m) {
					out[a].leak = m
				}
			}
		}
	}
	return out
}

// eventsRow dials the events socket as every actor and reports, per actor,
// the status of the handshake and whether an event of alpha leaked.
func (e *authzEnv) eventsRow(roleInA map[int]bool) [nActors]cell {
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	var out [nActors]cell
	conns := map[int]*websocket.Conn{}
	for a := range nActors {
		c := e.dialAs(ctx, a, "/api/v1/events", &out[a])
		if c == nil {
			continue
		}
		e.t.Cleanup(func() { c.CloseNow() })
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"s","filter":{}}`)); err != nil {
			e.t.Fatal(err)
		}
		var ans struct {
			RequestID string `json:"requestId"`
			Status    int    `json:"status"`
		}
		if err := wsjson.Read(ctx, c, &ans); err != nil || ans.Status != 200 {
			e.t.Fatalf("subscribe as %s: %+v %v", actorNames[a], ans, err)
		}
		conns[a] = c
	}
	e.as(admin, 201, davReq{method: "PUT", path: "/dav/spaces/alpha/ev-" + secret + ".txt", body: secret})
	e.as(admin, 201, davReq{method: "PUT", path: "/dav/spaces/beta/ev-beta.txt", body: "beta"})
	for a, c := range conns {
		// Read until the event this actor must see last: beta's for
		// other, alpha's for the others (admin sees both, alpha first).
		waitFor := "alpha"
		if !roleInA[a] {
			waitFor = "beta"
		}
		for {
			var m struct {
				Event *struct {
					Type, Space, Path string
				} `json:"event"`
			}
			rctx, stop := context.WithTimeout(ctx, 5*time.Second)
			err := wsjson.Read(rctx, c, &m)
			stop()
			if err != nil {
				out[a].leak = "socket silent: " + err.Error()
				if roleInA[a] {
					out[a].leak = "no event of alpha: " + err.Error()
				}
				break
			}
			if m.Event == nil {
				continue
			}
			if m.Event.Space == "alpha" && !roleInA[a] {
				out[a].leak = "event " + m.Event.Type + " " + m.Event.Path
			}
			if m.Event.Space == waitFor && strings.HasPrefix(m.Event.Path, "ev-") {
				break
			}
		}
	}
	return out
}
