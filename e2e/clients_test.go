package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// davReq is one WebDAV request of a replayed client sequence.
type davReq struct {
	method, path string
	headers      map[string]string
	body         string
	chunked      bool // send the body with Transfer-Encoding: chunked
}

// send performs req as user:pass and returns the status, headers and body.
func (in *instance) send(user, pass string, req davReq) (int, http.Header, string) {
	in.t.Helper()
	var body io.Reader = strings.NewReader(req.body)
	if req.chunked {
		body = io.MultiReader(strings.NewReader(req.body)) // unknown length: chunked
	}
	r, err := http.NewRequestWithContext(in.t.Context(), req.method, in.URL+req.path, body)
	if err != nil {
		in.t.Fatal(err)
	}
	if req.body == "" && !req.chunked {
		r.Body, r.ContentLength = http.NoBody, 0
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	if user != "" {
		r.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		in.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const davPW = "client sequences password"

func davServer(t *testing.T) *instance {
	return start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW)
}

// expect sends req as admin and fails the test unless the status is want.
func (in *instance) expect(want int, req davReq) (http.Header, string) {
	in.t.Helper()
	status, h, body := in.send("admin", davPW, req)
	if status != want {
		in.t.Fatalf("%s %s: %d, want %d\n%s", req.method, req.path, status, want, body)
	}
	return h, body
}

var lockTokenHeader = regexp.MustCompile(`^<(opaquelocktoken:[0-9a-f-]{36})>$`)

func (in *instance) lock(path string, want int) string {
	in.t.Helper()
	h, _ := in.expect(want, davReq{method: "LOCK", path: path, headers: map[string]string{"Depth": "0", "Timeout": "Second-3600", "Content-Type": "application/xml"},
		body: `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>me</D:href></D:owner></D:lockinfo>`})
	m := lockTokenHeader.FindStringSubmatch(h.Get("Lock-Token"))
	if m == nil {
		in.t.Fatalf("LOCK %s: Lock-Token %q is not an opaquelocktoken", path, h.Get("Lock-Token"))
	}
	return m[1]
}

const win32Patch = `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>` +
	`<Z:Win32CreationTime>Mon, 02 Jan 2023 10:00:00 GMT</Z:Win32CreationTime>` +
	`<Z:Win32LastAccessTime>Tue, 03 Jan 2023 10:00:00 GMT</Z:Win32LastAccessTime>` +
	`<Z:Win32LastModifiedTime>Wed, 04 Jan 2023 10:00:00 GMT</Z:Win32LastModifiedTime>` +
	`<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>` +
	`</D:prop></D:set></D:propertyupdate>`

// TestWindowsExplorerSave replays Explorer's save: PUT 0 bytes, LOCK, PUT
// the body, PROPPATCH the Win32 times, UNLOCK; and the Win32 PROPPATCH on a
// folder.
func TestWindowsExplorerSave(t *testing.T) {
	in := davServer(t)
	const f = "/dav/spaces/files/report.txt"
	in.expect(201, davReq{method: "PUT", path: f})
	tok := in.lock(f, 200)
	in.expect(204, davReq{method: "PUT", path: f, body: "quarterly numbers", headers: map[string]string{"If": "(<" + tok + ">)"}})
	_, body := in.expect(207, davReq{method: "PROPPATCH", path: f, body: win32Patch, headers: map[string]string{"If": "(<" + tok + ">)", "Content-Type": "text/xml"}})
	if strings.Count(body, "200 OK") < 1 || strings.Contains(body, "403") || strings.Contains(body, "424") {
		t.Fatalf("Win32 PROPPATCH on a file: want 200 for every property:\n%s", body)
	}
	in.expect(204, davReq{method: "UNLOCK", path: f, headers: map[string]string{"Lock-Token": "<" + tok + ">"}})
	_, body = in.expect(207, davReq{method: "PROPFIND", path: f, headers: map[string]string{"Depth": "0"},
		body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getcontentlength/></D:prop></D:propfind>`})
	if !strings.Contains(body, "Wed, 04 Jan 2023 10:00:00 GMT") || !strings.Contains(body, ">17<") {
		t.Errorf("after the save, PROPFIND shows:\n%s\nwant mtime Wed, 04 Jan 2023 10:00:00 GMT and 17 bytes", body)
	}
	if _, got := in.expect(200, davReq{method: "GET", path: f}); got != "quarterly numbers" {
		t.Errorf("GET after save = %q", got)
	}

	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/New folder"})
	_, body = in.expect(207, davReq{method: "PROPPATCH", path: "/dav/spaces/files/New folder/", body: win32Patch, headers: map[string]string{"Content-Type": "text/xml"}})
	if strings.Contains(body, "403") || strings.Contains(body, "424") || !strings.Contains(body, "200 OK") {
		t.Fatalf("Win32 PROPPATCH on a folder: want 200 for every property:\n%s", body)
	}
}

// TestOfficeReplaceLockedOriginal replays Office's save: the original is
// locked, a temp file is locked and written, then MOVEd over the original
// with only the temp file's token.
func TestOfficeReplaceLockedOriginal(t *testing.T) {
	in := davServer(t)
	const doc, tmp = "/dav/spaces/files/budget.xlsx", "/dav/spaces/files/~$budget.tmp"
	in.expect(201, davReq{method: "PUT", path: doc, body: "version 1"})
	orig := in.lock(doc, 200)
	tt := in.lock(tmp, 201) // locking an unmapped URL creates it
	in.expect(204, davReq{method: "PUT", path: tmp, body: "version 2", headers: map[string]string{"If": "(<" + tt + ">)"}})
	in.expect(204, davReq{method: "MOVE", path: tmp, headers: map[string]string{
		"Destination": in.URL + doc, "If": "(<" + tt + ">)"}})
	if _, got := in.expect(200, davReq{method: "GET", path: doc}); got != "version 2" {
		t.Errorf("after MOVE over the original: %q, want version 2", got)
	}
	in.expect(404, davReq{method: "GET", path: tmp})
	in.expect(204, davReq{method: "UNLOCK", path: doc, headers: map[string]string{"Lock-Token": "<" + orig + ">"}})
}

// TestFinderChunkedPut: Finder's chunked PUT with X-Expected-Entity-Length,
// a lying empty body refused, and the quota checked from the header.
func TestFinderChunkedPut(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "", "space", "create", "Small", "--quota", "1K", "--owner", "admin")
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/photo.jpg", body: "jpegdata", chunked: true,
		headers: map[string]string{"X-Expected-Entity-Length": "8"}})
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/photo.jpg"}); got != "jpegdata" {
		t.Errorf("chunked PUT stored %q", got)
	}
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/._photo.jpg", body: "appledouble", chunked: true,
		headers: map[string]string{"X-Expected-Entity-Length": "11"}})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/.DS_Store", body: "ds", chunked: true})
	status, _, body := in.send("admin", davPW, davReq{method: "PUT", path: "/dav/spaces/files/empty.jpg", chunked: true,
		headers: map[string]string{"X-Expected-Entity-Length": "5"}})
	if status < 400 || status >= 500 {
		t.Errorf("empty chunked body announcing 5 bytes: %d %s, want a 4xx", status, body)
	}
	in.expect(404, davReq{method: "GET", path: "/dav/spaces/files/empty.jpg"})
	in.expect(507, davReq{method: "PUT", path: "/dav/spaces/small/big.bin", body: strings.Repeat("x", 10), chunked: true,
		headers: map[string]string{"X-Expected-Entity-Length": "4096"}})
	in.expect(507, davReq{method: "PUT", path: "/dav/spaces/small/big.bin", body: strings.Repeat("x", 2048)})
	// NFD from the Mac and NFC from Linux name one file.
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/u\u0308ber.txt", body: "nfd"})
	in.expect(204, davReq{method: "PUT", path: "/dav/spaces/files/\u00fcber.txt", body: "nfc"})
}

// TestGvfsMountWalk: gvfs checks OPTIONS, then PROPFINDs upward and mounts
// at the highest collection that answers as WebDAV.
func TestGvfsMountWalk(t *testing.T) {
	in := davServer(t)
	for _, p := range []string{"/dav/spaces/files/", "/dav/spaces/", "/dav/"} {
		status, h, _ := in.send("", "", davReq{method: "OPTIONS", path: p})
		if status != 200 || !strings.Contains(h.Get("DAV"), "2") {
			t.Errorf("OPTIONS %s: %d DAV=%q", p, status, h.Get("DAV"))
		}
		_, body := in.expect(207, davReq{method: "PROPFIND", path: p, headers: map[string]string{"Depth": "1"}})
		if !strings.Contains(body, "collection") {
			t.Errorf("PROPFIND %s is not a collection:\n%s", p, body)
		}
	}
	_, body := in.expect(207, davReq{method: "PROPFIND", path: "/dav/spaces/", headers: map[string]string{"Depth": "1"}})
	if !strings.Contains(body, "/dav/spaces/files/") {
		t.Errorf("/dav/spaces/ does not list the files space:\n%s", body)
	}
	// Collections work without their trailing slash too.
	in.expect(207, davReq{method: "PROPFIND", path: "/dav/spaces/files", headers: map[string]string{"Depth": "0"}})
	// gvfs replaces with If-Match and PUTs empty files without a length.
	h, _ := in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/a.txt", body: "one"})
	in.expect(412, davReq{method: "PUT", path: "/dav/spaces/files/a.txt", body: "two", headers: map[string]string{"If-Match": `"stale"`}})
	in.expect(204, davReq{method: "PUT", path: "/dav/spaces/files/a.txt", body: "two", headers: map[string]string{"If-Match": h.Get("ETag")}})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/empty", chunked: true})
}

// TestRoles: viewers read, editors write, others do not see the space.
func TestRoles(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "viewer password 123\n", "user", "add", "vic", "--password-stdin")
	mustWharf(t, in.Data, "editor password 123\n", "user", "add", "eve", "--password-stdin")
	mustWharf(t, in.Data, "outsider password 1\n", "user", "add", "olga", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", "files", "vic", "viewer")
	mustWharf(t, in.Data, "", "space", "grant", "files", "eve", "editor")
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/doc.txt", body: "doc"})

	cases := []struct {
		user, pass string
		req        davReq
		want       int
	}{
		{"vic", "viewer password 123", davReq{method: "GET", path: "/dav/spaces/files/doc.txt"}, 200},
		{"vic", "viewer password 123", davReq{method: "PROPFIND", path: "/dav/spaces/files/", headers: map[string]string{"Depth": "1"}}, 207},
		{"vic", "viewer password 123", davReq{method: "PUT", path: "/dav/spaces/files/x.txt", body: "x"}, 403},
		{"vic", "viewer password 123", davReq{method: "DELETE", path: "/dav/spaces/files/doc.txt"}, 403},
		{"vic", "viewer password 123", davReq{method: "MKCOL", path: "/dav/spaces/files/d"}, 403},
		{"eve", "editor password 123", davReq{method: "PUT", path: "/dav/spaces/files/x.txt", body: "x"}, 201},
		{"eve", "editor password 123", davReq{method: "DELETE", path: "/dav/spaces/files/x.txt"}, 204},
		{"olga", "outsider password 1", davReq{method: "GET", path: "/dav/spaces/files/doc.txt"}, 404},
		{"olga", "outsider password 1", davReq{method: "PROPFIND", path: "/dav/spaces/files/", headers: map[string]string{"Depth": "0"}}, 404},
		{"olga", "outsider password 1", davReq{method: "PUT", path: "/dav/spaces/files/y.txt", body: "y"}, 404},
	}
	for _, c := range cases {
		if status, _, body := in.send(c.user, c.pass, c.req); status != c.want {
			t.Errorf("%s %s %s: %d, want %d\n%s", c.user, c.req.method, c.req.path, status, c.want, body)
		}
	}
	if status, _, body := in.send("olga", "outsider password 1", davReq{method: "PROPFIND", path: "/dav/spaces/", headers: map[string]string{"Depth": "1"}}); status != 207 || strings.Contains(body, "/dav/spaces/files/") {
		t.Errorf("olga's /dav/spaces/ listing (%d) shows the files space:\n%s", status, body)
	}
}

// TestDAVStateSurvivesRestart: locks and dead properties (on a file and on
// a folder) are in SQLite before they are acknowledged, so they outlive a
// server killed without warning.
func TestDAVStateSurvivesRestart(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	const f, dir = "/dav/spaces/files/contract.odt", "/dav/spaces/files/Legal/"
	in.expect(201, davReq{method: "PUT", path: f, body: "signed"})
	in.expect(201, davReq{method: "MKCOL", path: dir})
	tok := in.lock(f, 200)
	const patch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:W="urn:example:wharf"><D:set><D:prop>` +
		`<W:reviewer>Ada &amp; Grace</W:reviewer></D:prop></D:set></D:propertyupdate>`
	in.expect(207, davReq{method: "PROPPATCH", path: f, body: patch, headers: map[string]string{"If": "(<" + tok + ">)"}})
	in.expect(207, davReq{method: "PROPPATCH", path: dir, body: patch})

	in.kill()
	in = start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)

	const ask = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:W="urn:example:wharf"><D:prop>` +
		`<D:lockdiscovery/><W:reviewer/></D:prop></D:propfind>`
	for _, p := range []string{f, dir} {
		_, body := in.expect(207, davReq{method: "PROPFIND", path: p, body: ask, headers: map[string]string{"Depth": "0"}})
		if !strings.Contains(body, "Ada &amp; Grace") {
			t.Errorf("dead property of %s lost in the restart:\n%s", p, body)
		}
		if p == f && (!strings.Contains(body, tok) || !strings.Contains(body, ">me</href>")) {
			t.Errorf("lock on %s (token %s, owner me) lost in the restart:\n%s", p, tok, body)
		}
	}
	in.expect(423, davReq{method: "PUT", path: f, body: "forged"})
	in.expect(204, davReq{method: "PUT", path: f, body: "countersigned", headers: map[string]string{"If": "(<" + tok + ">)"}})
	in.expect(204, davReq{method: "UNLOCK", path: f, headers: map[string]string{"Lock-Token": "<" + tok + ">"}})
	in.expect(204, davReq{method: "PUT", path: f, body: "amended"})
}

// TestOCChecksum: ownCloud clients send OC-Checksum with a PUT; a mismatch
// keeps nothing, and oc:checksums then gives the SHA-1 they can check.
func TestOCChecksum(t *testing.T) {
	in := davServer(t)
	const f = "/dav/spaces/files/sum.txt"
	const sha1Hello = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d" // "hello"
	_, body := in.expect(400, davReq{method: "PUT", path: f, body: "hellO", headers: map[string]string{"OC-Checksum": "SHA1:" + sha1Hello}})
	if !strings.Contains(body, "checksum") {
		t.Errorf("checksum mismatch explained as %q", body)
	}
	in.expect(404, davReq{method: "GET", path: f})
	in.expect(201, davReq{method: "PUT", path: f, body: "hello", headers: map[string]string{"OC-Checksum": "MD5:5d41402abc4b2a76b9719d911017c592"}})
	in.expect(204, davReq{method: "PUT", path: f, body: "hello", headers: map[string]string{"OC-Checksum": "SHA1:" + sha1Hello}})
	_, body = in.expect(207, davReq{method: "PROPFIND", path: f, headers: map[string]string{"Depth": "0"},
		body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><oc:checksums/></D:prop></D:propfind>`})
	if !strings.Contains(body, "SHA1:"+sha1Hello) || !strings.Contains(body, "SHA256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824") {
		t.Errorf("oc:checksums after a verified PUT:\n%s", body)
	}
	in.expect(400, davReq{method: "PUT", path: f, body: "x", headers: map[string]string{"OC-Checksum": "SHA1:zz"}})
}
