package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// linkCreate runs "wharf link create" and returns the URL (its last line)
// and the link's id (from what it says on stderr).
func linkCreate(t *testing.T, in *instance, stdin string, args ...string) (string, string) {
	t.Helper()
	res := wharf(t, in.Data, stdin, append([]string{"link", "create", "--public-url", in.URL}, args...)...)
	if res.code != 0 {
		t.Fatalf("wharf link create %v: exit %d\n%s", args, res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	u := lines[len(lines)-1]
	if !strings.HasPrefix(u, in.URL+"/s/") {
		t.Fatalf("wharf link create printed %q, want a URL under %s/s/", u, in.URL)
	}
	m := regexp.MustCompile(`link ([a-z0-9]{12})`).FindStringSubmatch(res.stderr)
	if m == nil {
		t.Fatalf("no link id in %q", res.stderr)
	}
	// 192 bits in base64url: 32 characters.
	if secret := strings.TrimPrefix(u, in.URL+"/s/"); len(secret) < 22 {
		t.Fatalf("secret %q is shorter than 128 bits", secret)
	}
	return u, m[1]
}

// linkGet sends a request without credentials to a full URL.
func linkGet(t *testing.T, method, u string, body io.Reader, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestLinkRead: a read link to a file answers the file to anyone (Range
// too) and keeps working after the file is renamed and moved; a folder
// link answers a listing, its files and a zip of it, and nothing outside
// it; the link's URL is unguessable and never sent on as a Referer.
func TestLinkRead(t *testing.T) {
	in := davServer(t)
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/docs"})
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/docs/sub"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/docs/a.txt", body: "hello link"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/docs/sub/b.bin", body: "bee bytes"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/outside.txt", body: "not shared"})

	fileURL, _ := linkCreate(t, in, "", "files", "docs/a.txt")
	st, h, body := linkGet(t, "GET", fileURL, nil)
	if st != 200 || string(body) != "hello link" {
		t.Fatalf("GET file link: %d %q", st, body)
	}
	if h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", h.Get("Referrer-Policy"))
	}
	if st, _, body := linkGet(t, "GET", fileURL, nil, "Range: bytes=1-3"); st != 206 || string(body) != "ell" {
		t.Errorf("Range: %d %q, want 206 \"ell\"", st, body)
	}
	// A file link reaches nothing else.
	if st, _, _ := linkGet(t, "GET", fileURL+"/x", nil); st != 404 {
		t.Errorf("below a file link: %d, want 404", st)
	}
	// Renamed and moved: the link follows the file.
	in.expect(201, davReq{method: "MOVE", path: "/dav/spaces/files/docs/a.txt", headers: map[string]string{"Destination": in.URL + "/dav/spaces/files/docs/sub/renamed.txt"}})
	if st, _, body := linkGet(t, "GET", fileURL, nil); st != 200 || string(body) != "hello link" {
		t.Fatalf("GET file link after rename: %d %q", st, body)
	}

	dirURL, _ := linkCreate(t, in, "", "files", "docs", "--label", "For the printer")
	st, _, body = linkGet(t, "GET", dirURL+"/", nil, "Accept: text/html")
	if st != 200 || !strings.Contains(string(body), "sub/") || !strings.Contains(string(body), "For the printer") {
		t.Fatalf("listing: %d %s", st, body)
	}
	if strings.Contains(string(body), "outside.txt") {
		t.Errorf("the listing shows a file outside the link")
	}
	if st, _, body := linkGet(t, "GET", dirURL+"/sub/b.bin", nil); st != 200 || string(body) != "bee bytes" {
		t.Errorf("file below a folder link: %d %q", st, body)
	}
	if st, _, _ := linkGet(t, "GET", dirURL+"/..%2foutside.txt", nil); st == 200 {
		t.Errorf("an escaped .. reached outside the link")
	}
	for _, how := range []struct{ suffix, hdr string }{{"?download=zip", ""}, {"", "Accept: application/zip"}} {
		var hdr []string
		if how.hdr != "" {
			hdr = append(hdr, how.hdr)
		}
		st, h, body := linkGet(t, "GET", dirURL+how.suffix, nil, hdr...)
		if st != 200 || h.Get("Content-Type") != "application/zip" {
			t.Fatalf("zip %q%q: %d %s", how.suffix, how.hdr, st, h.Get("Content-Type"))
		}
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("zip: %v", err)
		}
		got := map[string]string{}
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, "/") {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			got[f.Name] = string(b)
		}
		want := map[string]string{"docs/sub/b.bin": "bee bytes", "docs/sub/renamed.txt": "hello link"}
		if len(got) != len(want) || got["docs/sub/b.bin"] != want["docs/sub/b.bin"] || got["docs/sub/renamed.txt"] != want["docs/sub/renamed.txt"] {
			t.Errorf("zip holds %v, want %v", got, want)
		}
	}
	// A guessed secret is nobody's.
	if st, _, _ := linkGet(t, "GET", in.URL+"/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil); st != 404 {
		t.Errorf("a made-up link: %d, want 404", st)
	}
}

// TestLinkRefused: expired, revoked, used up, deleted target, and a
// creator who lost the role: all answer 404 (410 for used up); a wrong
// password is refused, then throttled for that link.
func TestLinkRefused(t *testing.T) {
	in := davServer(t)
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/a.txt", body: "content"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/gone.txt", body: "soon gone"})

	// Expiry, through the API (seconds are allowed there too).
	st, _, body := in.pubReq("POST", "/api/v1/links", adminBasic(), []byte(`{"space":"files","path":"a.txt","expires":"2s"}`))
	if st != 201 {
		t.Fatalf("POST /api/v1/links: %d %s", st, body)
	}
	var made struct{ ID, URL string }
	if err := json.Unmarshal([]byte(body), &made); err != nil || made.URL == "" {
		t.Fatalf("answer %s: %v", body, err)
	}
	if st, _, _ := linkGet(t, "GET", made.URL, nil); st != 200 {
		t.Fatalf("fresh link: %d", st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, _ := linkGet(t, "GET", made.URL, nil)
		if st == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired link still answers %d", st)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Revoked by URL.
	u, _ := linkCreate(t, in, "", "files", "a.txt")
	mustWharf(t, in.Data, "", "link", "revoke", u)
	if st, _, _ := linkGet(t, "GET", u, nil); st != 404 {
		t.Errorf("revoked link: %d, want 404", st)
	}

	// Download limit.
	u, _ = linkCreate(t, in, "", "files", "a.txt", "--max-downloads", "1")
	if st, _, _ := linkGet(t, "GET", u, nil); st != 200 {
		t.Fatalf("first download: %d", st)
	}
	if st, _, _ := linkGet(t, "GET", u, nil); st != 410 {
		t.Errorf("second download over a limit of 1: %d, want 410", st)
	}

	// The node goes, the link goes.
	u, _ = linkCreate(t, in, "", "files", "gone.txt")
	in.expect(204, davReq{method: "DELETE", path: "/dav/spaces/files/gone.txt"})
	if st, _, _ := linkGet(t, "GET", u, nil); st != 404 {
		t.Errorf("link to a deleted file: %d, want 404", st)
	}

	// The creator loses the role it needs: the link dies.
	mustWharf(t, in.Data, "editor password 1\n", "user", "add", "ed", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", "files", "ed", "editor")
	u, _ = linkCreate(t, in, "", "files", "a.txt", "--user", "ed")
	if st, _, _ := linkGet(t, "GET", u, nil); st != 200 {
		t.Fatalf("ed's link: %d", st)
	}
	mustWharf(t, in.Data, "", "space", "grant", "files", "ed", "viewer")
	if st, _, _ := linkGet(t, "GET", u, nil); st != 404 {
		t.Errorf("link of a creator now viewer: %d, want 404", st)
	}
	// An editor may not make a drop link (managers only).
	if res := wharf(t, in.Data, "", "link", "create", "--public-url", in.URL, "--user", "ed", "--upload-only", "files", ""); res.code == 0 {
		t.Errorf("a viewer made a drop link")
	}

	// Password: none or wrong is 401, right is 200, many wrong ones 429,
	// after which even the right one waits.
	u, _ = linkCreate(t, in, "link pass 1\n", "files", "a.txt", "--password-stdin")
	basic := func(pw string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(":"+pw))
	}
	if st, h, _ := linkGet(t, "GET", u, nil); st != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no password: %d %q, want 401 with a challenge", st, h.Get("WWW-Authenticate"))
	}
	if st, _, body := linkGet(t, "GET", u, nil, basic("link pass 1")); st != 200 || string(body) != "content" {
		t.Errorf("right password: %d %q", st, body)
	}
	throttled := false
	for i := 0; i < 15 && !throttled; i++ {
		st, _, _ := linkGet(t, "GET", u, nil, basic("wrong guess"))
		switch st {
		case 401:
		case 429:
			throttled = true
		default:
			t.Fatalf("wrong password: %d", st)
		}
	}
	if !throttled {
		t.Fatalf("15 wrong passwords and no 429")
	}
	if st, h, _ := linkGet(t, "GET", u, nil, basic("link pass 1")); st != 429 || h.Get("Retry-After") == "" {
		t.Errorf("right password during the throttle: %d, want 429 with Retry-After", st)
	}
	// The browser's form: a cookie admits it once the password is right.
	u2, _ := linkCreate(t, in, "form pass 1\n", "files", "a.txt", "--password-stdin")
	st, h, _ := linkGet(t, "POST", u2, strings.NewReader(url.Values{"password": {"form pass 1"}}.Encode()),
		"Content-Type: application/x-www-form-urlencoded", "Accept: text/html")
	if st != 303 || len(h.Values("Set-Cookie")) == 0 {
		t.Fatalf("password form: %d, cookies %q", st, h.Values("Set-Cookie"))
	}
	cookie := strings.Split(h.Get("Set-Cookie"), ";")[0]
	if st, _, body := linkGet(t, "GET", u2, nil, "Cookie: "+cookie); st != 200 || string(body) != "content" {
		t.Errorf("with the cookie: %d %q", st, body)
	}
}

// TestLinkDrop: a drop link shows a page with nothing of its folder,
// takes a tus upload at <link>/tus/ without any other credential, which is
// processed (the space's policy applies) and attributed to the link in
// events; the uploads of a link are not reachable through /tus/ or
// another link, and it stops taking uploads once revoked.
func TestLinkDrop(t *testing.T) {
	in := davServer(t)
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/inbox"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/inbox/already-there.txt", body: "private"})
	u, id := linkCreate(t, in, "", "files", "inbox", "--upload-only", "--label", "Send us your photos", "--max-uploads", "3")

	st, _, page := linkGet(t, "GET", u, nil, "Accept: text/html")
	if st != 200 || !strings.Contains(string(page), "Send us your photos") || !strings.Contains(string(page), "/tus.js") && !strings.Contains(string(page), "drop.js") {
		t.Fatalf("drop page: %d %s", st, page)
	}
	if strings.Contains(string(page), "already-there") {
		t.Errorf("the drop page shows the folder's files")
	}
	if st, _, body := linkGet(t, "GET", u+"/already-there.txt", nil); st != 404 || strings.Contains(string(body), "private") {
		t.Errorf("a file through a drop link: %d", st)
	}
	if _, h, body := linkGet(t, "GET", u+"?download=zip", nil); h.Get("Content-Type") == "application/zip" || strings.Contains(string(body), "already-there") {
		t.Errorf("a zip through a drop link: %s", h.Get("Content-Type"))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {adminBasic()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"s","filter":{"space":"files"}}`)); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		RequestID string `json:"requestId"`
		Status    int    `json:"status"`
		Event     *struct{ Type, Path, User string }
	}
	var a answer
	if err := wsjson.Read(ctx, ws, &a); err != nil || a.Status != 200 {
		t.Fatalf("subscribe: %+v %v", a, err)
	}

	content := "dropped by a stranger"
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte("photo.txt"))
	st, h, body := linkGet(t, "POST", u+"/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: "+strconv.Itoa(len(content)), "Upload-Metadata: "+meta)
	if st != 201 {
		t.Fatalf("tus creation through the link: %d %s", st, body)
	}
	loc := h.Get("Location")
	secretPath := strings.TrimPrefix(u, in.URL)
	if !strings.HasPrefix(loc, secretPath+"/tus/") {
		t.Fatalf("Location %q is not under the link's %s/tus/", loc, secretPath)
	}
	uploadID := loc[strings.LastIndex(loc, "/")+1:]
	// The upload is the link's: /tus/ with the creator's own credentials
	// does not reach it.
	if st, _, _ := in.pubReq("HEAD", "/tus/"+uploadID, adminBasic(), nil, "Tus-Resumable: 1.0.0"); st != 404 {
		t.Errorf("HEAD /tus/<link's upload> as the creator: %d, want 404", st)
	}
	st, _, body = linkGet(t, "PATCH", in.URL+loc, strings.NewReader(content), "Tus-Resumable: 1.0.0",
		"Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
	if st != 204 {
		t.Fatalf("PATCH through the link: %d %s", st, body)
	}
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/photo.txt"}); got != content {
		t.Errorf("dropped file holds %q", got)
	}
	// Events name the link as the uploader.
	seen := map[string]string{}
	for seen["node.created"] == "" {
		var a answer
		if err := wsjson.Read(ctx, ws, &a); err != nil {
			t.Fatalf("events: %v (seen %v)", err, seen)
		}
		if a.Event != nil && a.Event.Path == "inbox/photo.txt" {
			seen[a.Event.Type] = a.Event.User
		}
	}
	for typ, user := range seen {
		if user != "link:"+id {
			t.Errorf("%s by %q, want link:%s", typ, user, id)
		}
	}
	if seen["upload.created"] == "" {
		t.Errorf("no upload.created event seen: %v", seen)
	}

	// So does the file's metadata, with the link's creator.
	st, _, mdBody := in.pubReq("GET", "/api/v1/metadata/files/inbox/photo.txt", adminBasic(), nil)
	var md struct{ Metadata map[string]string }
	if st != 200 || json.Unmarshal([]byte(mdBody), &md) != nil || md.Metadata["uploadedBy"] != "link:"+id || md.Metadata["linkCreator"] != "admin" {
		t.Errorf("metadata of the dropped file: %d %s", st, mdBody)
	}

	// The space's policy applies to what a link brings: a denied name is
	// refused by processing and never appears.
	mustWharf(t, in.Data, "", "space", "policy", "files", "--deny-names", "*.exe")
	exe := "filename " + base64.StdEncoding.EncodeToString([]byte("tool.exe"))
	st, h, body = linkGet(t, "POST", u+"/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: 2", "Upload-Metadata: "+exe)
	if st == 201 {
		st, _, body = linkGet(t, "PATCH", in.URL+h.Get("Location"), strings.NewReader("MZ"), "Tus-Resumable: 1.0.0",
			"Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
	}
	if st != 422 && st != 403 {
		t.Errorf("a denied name through the link: %d %s, want 422 (processing refuses it) or 403", st, body)
	}
	t.Logf("denied name through the link: %d %s", st, strings.TrimSpace(string(body)))
	if st, _, _ := in.send("admin", davPW, davReq{method: "GET", path: "/dav/spaces/files/inbox/tool.exe"}); st != 404 {
		t.Errorf("the denied file is there: GET %d", st)
	}

	// A name climbing out of the folder is refused.
	bad := "filename " + base64.StdEncoding.EncodeToString([]byte("../escape.txt"))
	if st, _, _ := linkGet(t, "POST", u+"/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: 1", "Upload-Metadata: "+bad); st != 400 {
		t.Errorf("a name climbing out: %d, want 400", st)
	}
	mustWharf(t, in.Data, "", "link", "revoke", id)
	if st, _, _ := linkGet(t, "POST", u+"/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: 1", "Upload-Metadata: "+meta); st != 404 {
		t.Errorf("tus creation through a revoked link: %d, want 404", st)
	}
}

// TestSearchAuthorization: search finds names across the spaces a user may
// read, ignoring case and accents, and never a name in a space the user
// has no role in.
func TestSearchAuthorization(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "", "space", "create", "Secret", "--owner", "admin")
	var secretID string
	for _, line := range strings.Split(mustWharf(t, in.Data, "", "space", "list"), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "Secret" {
			secretID = f[0]
		}
	}
	if secretID == "" {
		t.Fatal("no Secret space in wharf space list")
	}
	mustWharf(t, in.Data, "viewer password 1\n", "user", "add", "vic", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", "files", "vic", "viewer")
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/Résumé Final.pdf", body: "cv"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/" + secretID + "/resume-of-the-boss.pdf", body: "secret"})

	search := func(authz, q string) []string {
		t.Helper()
		st, _, body := in.pubReq("GET", "/api/v1/search?q="+url.QueryEscape(q), authz, nil)
		if st != 200 {
			t.Fatalf("search %q: %d %s", q, st, body)
		}
		var out struct {
			Results []struct{ Space, Path string }
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.Results {
			got = append(got, r.Space+":"+r.Path)
		}
		return got
	}
	vic := "Basic " + base64.StdEncoding.EncodeToString([]byte("vic:viewer password 1"))
	if got := search(vic, "RESUME"); len(got) != 1 || got[0] != "files:Résumé Final.pdf" {
		t.Errorf("vic finds %q, want only files:Résumé Final.pdf", got)
	}
	if got := search(vic, "boss"); len(got) != 0 {
		t.Errorf("vic finds %q in a space she may not read", got)
	}
	if st, _, body := in.pubReq("GET", "/api/v1/search?q=boss&space="+secretID, vic, nil); st != 200 || strings.Contains(body, "boss") {
		t.Errorf("vic asking for the secret space by id: %d %s", st, body)
	}
	if got := search(adminBasic(), "resume"); len(got) != 2 {
		t.Errorf("admin finds %q, want both", got)
	}
	if st, _, _ := in.pubReq("GET", "/api/v1/search?q=x", "", nil); st != 401 {
		t.Errorf("anonymous search: %d, want 401", st)
	}
}

// TestLinkDropPhraseanet: a file dropped through a link and committed to a
// Phraseanet target names the link and its creator in its asset's data.
func TestLinkDropPhraseanet(t *testing.T) {
	ps := startPh(t)
	kv := ps.addTarget(t, "dam", "--mode", "pull")
	ps.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/" + phFolder})
	u, id := linkCreate(t, ps.instance, "", "files", phFolder, "--upload-only")
	content := "for the DAM"
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte("dropped.txt"))
	st, h, body := linkGet(t, "POST", u+"/tus/", strings.NewReader(content), "Tus-Resumable: 1.0.0",
		"Upload-Length: "+strconv.Itoa(len(content)), "Upload-Metadata: "+meta, "Content-Type: application/offset+octet-stream")
	if st != 201 || h.Get("Upload-Offset") != strconv.Itoa(len(content)) {
		t.Fatalf("creation with the bytes through the link: %d %q %s", st, h.Get("Upload-Offset"), body)
	}
	c := ps.commit(t, kv["id"], []phFile{{"dropped.txt", []byte(content)}}, nil)
	st, _, asset := ps.phReq(t, "GET", "/assets/"+c.Assets[0].ID, "AssetToken "+c.Token, "application/json", "")
	var a struct{ Data map[string]string }
	if st != 200 || json.Unmarshal([]byte(asset), &a) != nil || a.Data["uploadedBy"] != "link:"+id || a.Data["linkCreator"] != "admin" {
		t.Errorf("GET /assets/%s: %d %s; want data naming link:%s and admin", c.Assets[0].ID, st, asset, id)
	}
}
