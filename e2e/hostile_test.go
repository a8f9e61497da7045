package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Hostile input (issue 8): paths that try to leave a space, XML bombs,
// malformed headers, slow clients and password guessing. Every refusal has
// an exact status and a plain message; nothing outside the data directory
// is ever read or written; the server never answers 500 or panics.

const (
	hostilePW   = "hostile admin password"
	sentinelTxt = "SENTINEL-OUTSIDE-THE-DATA-DIR-5f2c"
)

// hostileEnv is a server with a sentinel file outside its data directory.
type hostileEnv struct {
	*instance
	sentinelDir, sentinel string
	sentinelMTime         time.Time
}

func newHostile(t *testing.T, env ...string) *hostileEnv {
	t.Helper()
	data := t.TempDir()
	sdir := t.TempDir()
	sentinel := filepath.Join(sdir, "sentinel.txt")
	if err := os.WriteFile(sentinel, []byte(sentinelTxt), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(sentinel, old, old)
	in := start(t, data, append([]string{"WHARF_ADMIN_PASSWORD=" + hostilePW}, env...)...)
	e := &hostileEnv{instance: in, sentinelDir: sdir, sentinel: sentinel, sentinelMTime: old}
	t.Cleanup(e.checkSentinel)
	return e
}

// checkSentinel fails the test if anything outside the data directory was
// changed or created, or if the server panicked.
func (e *hostileEnv) checkSentinel() {
	t := e.t
	b, err := os.ReadFile(e.sentinel)
	fi, serr := os.Stat(e.sentinel)
	switch {
	case err != nil || serr != nil:
		t.Errorf("sentinel: %v %v", err, serr)
	case string(b) != sentinelTxt:
		t.Errorf("the sentinel outside the data dir was modified: %q", b)
	case !fi.ModTime().Equal(e.sentinelMTime):
		t.Errorf("the sentinel's mtime changed: %v", fi.ModTime())
	}
	ents, _ := os.ReadDir(e.sentinelDir)
	if len(ents) != 1 {
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		t.Errorf("files appeared beside the sentinel: %v", names)
	}
	if out := e.output(); strings.Contains(out, "panic") {
		t.Errorf("the server log mentions a panic:\n%s", lastLines(out, 40))
	}
}

// raw sends one request byte for byte as given (target unnormalised, so
// "..", "%2e" and "%00" reach the server as written) on a fresh connection,
// as user:pass, and returns the status, headers and body.
func (e *hostileEnv) raw(user, pass, method, target string, hdr map[string]string, body string) (int, http.Header, string) {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.URL, "http://"), 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, strings.TrimPrefix(e.URL, "http://"))
	if user != "" {
		fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if _, ok := hdr["Content-Length"]; !ok && hdr["Transfer-Encoding"] == "" && method != "GET" && method != "HEAD" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	// The body is sent while the answer is read: a server may refuse a
	// large body early and close the connection on it.
	go io.WriteString(conn, body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(rb)
}

// admin is raw as the admin user.
func (e *hostileEnv) admin(method, target string, hdr map[string]string, body string) (int, http.Header, string) {
	e.t.Helper()
	return e.raw("admin", hostilePW, method, target, hdr, body)
}

// tree lists every file and directory under the data dir's spaces/, with
// file contents, for before/after comparisons.
func (e *hostileEnv) tree() string {
	var out []string
	root := filepath.Join(e.Data, "spaces")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		line := rel
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			line += " -> " + tgt
		case d.IsDir():
			line += "/"
		default:
			b, _ := os.ReadFile(p)
			line += " " + strconv.Quote(string(b))
		}
		out = append(out, line)
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// hostileCase is one request and the status it must get.
type hostileCase struct {
	name, method, target string
	hdr                  map[string]string
	body                 string
	want                 int
}

// run sends each case as admin and checks the status, that no answer
// carries the sentinel, and that nothing answers 500.
func (e *hostileEnv) run(t *testing.T, cases []hostileCase) {
	t.Helper()
	for _, c := range cases {
		status, _, body := e.admin(c.method, c.target, c.hdr, c.body)
		if strings.Contains(body, sentinelTxt) {
			t.Errorf("%s: %s %s returned the sentinel's content", c.name, c.method, c.target)
		}
		if status != c.want {
			t.Errorf("%s: %s %.120s: %d, want %d\n%.300s", c.name, c.method, c.target, status, c.want, body)
		}
	}
}

const F = "/dav/spaces/files/"

// jsonType is the header of a JSON body, which the API requires.
var jsonType = map[string]string{"Content-Type": "application/json"}

// TestHostilePaths: no path, however encoded, leads outside a space, on
// any surface that takes one.
func TestHostilePaths(t *testing.T) {
	e := newHostile(t)
	mustWharf(t, e.Data, "a good long viewer password\n", "user", "add", "vic", "--password-stdin")
	mustWharf(t, e.Data, "", "space", "grant", "files", "vic", "viewer")
	if st, _, _ := e.admin("MKCOL", F+"real", nil, ""); st != 201 {
		t.Fatalf("MKCOL real: %d", st)
	}
	if st, _, _ := e.admin("PUT", F+"real/ok.txt", nil, "ok"); st != 201 {
		t.Fatalf("PUT real/ok.txt: %d", st)
	}
	before := e.tree()

	rel, _ := filepath.Rel(filepath.Join(e.Data, "spaces", "files"), e.sentinel)
	long := strings.Repeat("n", 256)
	// contained: a path that stays inside the space once its encoding is
	// read, naming nothing there (404, or 409 for a missing parent).
	hostile := []struct {
		name, seg string
		contained bool
	}{
		{"literal dot-dot", rel, false},
		{"literal dot-dot below a folder", "real/../../" + rel, false},
		{"dot", "./real/ok.txt", false},
		{"encoded dot-dot", strings.ReplaceAll(rel, "..", "%2e%2e"), false},
		{"encoded slash", strings.ReplaceAll(rel, "/", "%2f"), false},
		{"backslashes", strings.ReplaceAll(rel, "/", "%5c"), false},
		{"literal backslash", `..\..\sentinel.txt`, false},
		{"NUL", "real/ok.txt%00.jpg", false},
		{"overlong UTF-8 dot-dot", "%c0%ae%c0%ae/%c0%ae%c0%ae/x", false},
		{"invalid UTF-8", "%ff%fe.txt", false},
		{"control character", "a%0ab", false},
		{"name over 255 bytes", long, false},
		{"drive letter", "C:/x", false},
		{"absolute path in the space", "%2f" + strings.TrimPrefix(e.sentinel, "/"), true},
	}
	var cases []hostileCase
	for _, h := range hostile {
		missing, noParent := 400, 400
		if h.contained {
			missing, noParent = 404, 409
		}
		cases = append(cases,
			hostileCase{h.name, "GET", F + h.seg, nil, "", missing},
			hostileCase{h.name, "PUT", F + h.seg, nil, "overwritten", noParent},
			hostileCase{h.name, "PROPFIND", F + h.seg, map[string]string{"Depth": "1"}, "", missing},
			hostileCase{h.name, "MKCOL", F + h.seg, nil, "", noParent},
			hostileCase{h.name, "DELETE", F + h.seg, nil, "", missing},
			hostileCase{h.name, "MOVE", F + h.seg, map[string]string{"Destination": F + "moved"}, "", missing},
			hostileCase{h.name, "COPY", F + h.seg, map[string]string{"Destination": F + "copied"}, "", missing},
			hostileCase{h.name + " in an oCIS-style creation URL", "POST", F + h.seg + "/",
				map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": "filename " + b64("x")}, "", noParent},
		)
		if !strings.HasPrefix(h.seg, "./") { // a Destination "./x" is plainly x
			cases = append(cases,
				hostileCase{h.name + " as Destination of MOVE", "MOVE", F + "real/ok.txt", map[string]string{"Destination": F + h.seg}, "", noParent},
				hostileCase{h.name + " as Destination of COPY", "COPY", F + "real/ok.txt", map[string]string{"Destination": F + h.seg}, "", noParent},
			)
		}
	}
	// Paths inside tus metadata, the JSON API and the web UI's API.
	meta := func(kv ...string) map[string]string {
		var parts []string
		for i := 0; i < len(kv); i += 2 {
			parts = append(parts, kv[i]+" "+b64(kv[i+1]))
		}
		return map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": strings.Join(parts, ",")}
	}
	for _, p := range []string{rel, "real/../../x", `..\x`, "a\x00b", "\xc0\xae\xc0\xae/x", "\xff", long, "C:/x", "real/./../../x"} {
		cases = append(cases,
			hostileCase{"tus path " + strconv.Quote(p), "POST", "/tus/", meta("space", "files", "path", p), "", 400},
			hostileCase{"tus filename " + strconv.Quote(p), "POST", "/tus/", meta("space", "files", "filename", p), "", 400},
			hostileCase{"tus dir " + strconv.Quote(p), "POST", "/tus/", meta("space", "files", "dir", p, "filename", "x"), "", 400},
		)
		if p != "C:/x" { // below a folder, "C:" is a plain (missing) folder name
			cases = append(cases, hostileCase{"oCIS filename " + strconv.Quote(p), "POST", F + "real/", meta("filename", p), "", 400})
		}
		if utf8.ValidString(p) { // JSON cannot carry invalid UTF-8: decoders make it U+FFFD
			cases = append(cases, hostileCase{"upload token prefix " + strconv.Quote(p), "POST", "/api/v1/upload-tokens", jsonType,
				fmt.Sprintf(`{"space":"files","prefix":%s}`, jsonString(p)), 400})
		}
	}
	cases = append(cases,
		hostileCase{"tus space dot-dot", "POST", "/tus/", meta("space", "../files", "path", "x"), "", 404},
		hostileCase{"tus space of a path", "POST", "/tus/", meta("space", "files/real", "path", "x"), "", 404},
		hostileCase{"tus missing folder", "POST", "/tus/", meta("space", "files", "path", "etc/passwd"), "", 409},
		hostileCase{"tus bad base64 space", "POST", "/tus/", map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "3",
			"Upload-Metadata": "space !!!,path " + b64("x")}, "", 400},
		hostileCase{"tus duplicate path", "POST", "/tus/", map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "3",
			"Upload-Metadata": "space " + b64("files") + ",path " + b64("a") + ",path " + b64("b")}, "", 400},
		hostileCase{"metadata encoded slash", "GET", "/api/v1/metadata/files/" + strings.ReplaceAll(rel, "/", "%2f"), nil, "", 400},
		hostileCase{"metadata dot-dot", "GET", "/api/v1/metadata/files/" + rel, nil, "", 400},
		hostileCase{"metadata encoded dot-dot", "GET", "/api/v1/metadata/files/%2e%2e/x", nil, "", 400},
		hostileCase{"metadata NUL", "GET", "/api/v1/metadata/files/real/ok.txt%00", nil, "", 400},
		hostileCase{"metadata missing", "GET", "/api/v1/metadata/files/nothing-here", nil, "", 404},
		hostileCase{"metadata other space", "GET", "/api/v1/metadata/nospace/x", nil, "", 404},
		hostileCase{"upload token space dot-dot", "POST", "/api/v1/upload-tokens", jsonType, `{"space":"../files","prefix":"x"}`, 404},
		hostileCase{"finalize dot-dot upload id", "POST", "/api/v1/uploads/finalize", jsonType, `{"uploads":["../../x","%2e%2e"]}`, 200},
		hostileCase{"tus upload id dot-dot", "HEAD", "/tus/..%2f..%2fsentinel.txt", map[string]string{"Tus-Resumable": "1.0.0"}, "", 400},
		hostileCase{"progress id dot-dot", "GET", "/api/v1/uploads/..%2f..%2fx/progress", map[string]string{"Accept": "application/json"}, "", 400},
		hostileCase{"missing file", "GET", F + "real/missing.txt", nil, "", 404},
		hostileCase{"unknown space", "GET", "/dav/spaces/nospace/x", nil, "", 404},
		hostileCase{"Destination in an unknown space", "COPY", F + "real/ok.txt", map[string]string{"Destination": "/dav/spaces/nospace/x"}, "", 404},
	)
	// The web UI's API, once it is served.
	if st, _, _ := e.admin("GET", "/api/v1/spaces", nil, ""); st == 200 {
		for _, h := range hostile {
			sp, want := "/api/v1/spaces/files/", 400
			if h.contained {
				want = 404
			}
			cases = append(cases,
				hostileCase{"web nodes " + h.name, "GET", sp + "nodes/" + h.seg, nil, "", want},
				hostileCase{"web download " + h.name, "GET", sp + "download/" + h.seg, nil, "", want},
				hostileCase{"web delete " + h.name, "DELETE", sp + "nodes/" + h.seg, nil, "", want},
			)
		}
		for _, p := range []string{rel, "real/../../x", `..\x`, "a\x00b", long} {
			sp := "/api/v1/spaces/files/"
			cases = append(cases,
				hostileCase{"web mkdir " + strconv.Quote(p), "POST", sp + "mkdir", jsonType, fmt.Sprintf(`{"path":%s,"parents":true}`, jsonString(p)), 400},
				hostileCase{"web move to " + strconv.Quote(p), "POST", sp + "move", jsonType, fmt.Sprintf(`{"from":"real/ok.txt","to":%s}`, jsonString(p)), 400},
				hostileCase{"web move from " + strconv.Quote(p), "POST", sp + "move", jsonType, fmt.Sprintf(`{"from":%s,"to":"x"}`, jsonString(p)), 400},
			)
		}
		cases = append(cases,
			hostileCase{"web move to another space by dot-dot", "POST", "/api/v1/spaces/files/move", jsonType, `{"from":"real/ok.txt","to":"x","toSpace":"../files"}`, 404},
			hostileCase{"web nodes unknown space", "GET", "/api/v1/spaces/nospace/nodes/", nil, "", 404},
		)
	} else {
		t.Logf("NOTE: the web UI's API (/api/v1/spaces/...) is not served by this build (GET /api/v1/spaces: %d); its paths were not tested", st)
	}
	e.run(t, cases)
	if after := e.tree(); after != before {
		t.Errorf("hostile requests changed the space:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A viewer is refused writes with 403, a path it may not see with 404.
	for _, c := range []hostileCase{
		{"viewer PUT", "PUT", F + "real/v.txt", nil, "x", 403},
		{"viewer MKCOL", "MKCOL", F + "v", nil, "", 403},
		{"viewer DELETE", "DELETE", F + "real/ok.txt", nil, "", 403},
		{"viewer MOVE", "MOVE", F + "real/ok.txt", map[string]string{"Destination": F + "v"}, "", 403},
		{"viewer COPY", "COPY", F + "real/ok.txt", map[string]string{"Destination": F + "v"}, "", 403},
		{"viewer tus", "POST", "/tus/", meta("space", "files", "path", "v.txt"), "", 403},
	} {
		if st, _, body := e.raw("vic", "a good long viewer password", c.method, c.target, c.hdr, c.body); st != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, st, c.want, body)
		}
	}
	if after := e.tree(); after != before {
		t.Errorf("a viewer changed the space:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	t.Run("windows names", func(t *testing.T) {
		// Reserved on Windows, ordinary on the server's file system: they
		// are stored under exactly their own name inside the space and
		// alias nothing.
		for _, n := range []string{"CON", "aux.txt", "trail.", "trail%20", "LPT1.log", "nul"} {
			if st, _, body := e.admin("PUT", F+n, nil, "win "+n); st != 201 {
				t.Errorf("PUT %s: %d %s", n, st, body)
			}
		}
		for n, want := range map[string]string{"CON": "win CON", "trail.": "win trail.", "trail ": "win trail%20", "nul": "win nul"} {
			b, err := os.ReadFile(filepath.Join(e.Data, "spaces", "files", n))
			if err != nil || string(b) != want {
				t.Errorf("spaces/files/%q: %q %v, want %q", n, b, err, want)
			}
		}
		for _, n := range []string{"con", "trail", "aux.TXT"} {
			if st, _, _ := e.admin("GET", F+n, nil, ""); st != 404 {
				t.Errorf("GET %s: %d, want 404 (no aliasing)", n, st)
			}
		}
	})

	t.Run("symlinks", func(t *testing.T) { hostileSymlinks(t, e) })
}

// hostileSymlinks places symbolic links pointing outside the space into
// it by hand, while the server is stopped and while it runs, and checks
// that no request follows them.
func hostileSymlinks(t *testing.T, e *hostileEnv) {
	spaceDir := filepath.Join(e.Data, "spaces", "files")
	link := func(name, target string) {
		t.Helper()
		os.RemoveAll(filepath.Join(spaceDir, name))
		if err := os.Symlink(target, filepath.Join(spaceDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	probe := func(when string) {
		t.Helper()
		e.run(t, []hostileCase{
			{when + ": GET file link", "GET", F + "link.txt", nil, "", 404},
			{when + ": GET through dir link", "GET", F + "linkdir/sentinel.txt", nil, "", 404},
			{when + ": GET through nested dir link", "GET", F + "real/up/sentinel.txt", nil, "", 404},
			{when + ": PROPFIND dir link", "PROPFIND", F + "linkdir/", map[string]string{"Depth": "1"}, "", 404},
			{when + ": PUT through dir link", "PUT", F + "linkdir/new.txt", nil, "new", 409},
			{when + ": PUT through nested dir link", "PUT", F + "real/up/new.txt", nil, "new", 409},
			{when + ": MKCOL through dir link", "MKCOL", F + "linkdir/sub", nil, "", 409},
			{when + ": DELETE dir link", "DELETE", F + "linkdir", nil, "", 404},
			{when + ": DELETE through dir link", "DELETE", F + "linkdir/sentinel.txt", nil, "", 404},
			{when + ": MOVE file link", "MOVE", F + "link.txt", map[string]string{"Destination": F + "stolen.txt"}, "", 404},
			{when + ": COPY file link", "COPY", F + "link.txt", map[string]string{"Destination": F + "stolen.txt"}, "", 404},
			{when + ": COPY onto link target", "COPY", F + "real/ok.txt", map[string]string{"Destination": F + "linkdir/sentinel.txt"}, "", 409},
			{when + ": tus into dir link", "POST", "/tus/", map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "3",
				"Upload-Metadata": "space " + b64("files") + ",path " + b64("linkdir/new.txt")}, "", 409},
		})
		_, _, list := e.admin("PROPFIND", F, map[string]string{"Depth": "1"}, "")
		if strings.Contains(list, "link") || strings.Contains(list, "sentinel") {
			t.Errorf("%s: PROPFIND lists a link:\n%s", when, list)
		}
		if _, _, body := e.admin("GET", "/api/v1/metadata/files/link.txt", nil, ""); strings.Contains(body, sentinelTxt) {
			t.Errorf("%s: metadata of the link returned the sentinel", when)
		}
	}

	// Placed while the server is stopped, then a check and a restart.
	e.stop()
	link("link.txt", e.sentinel)
	link("linkdir", e.sentinelDir)
	link("real/up", e.sentinelDir)
	res := wharf(t, e.Data, "", "check", "--repair")
	if strings.Contains(res.stdout+res.stderr, sentinelTxt) {
		t.Errorf("wharf check printed the sentinel")
	}
	e.instance = start(t, e.Data)
	probe("placed while stopped")

	// Placed while it runs, over names the index knows.
	if st, _, _ := e.admin("PUT", F+"swap.txt", nil, "indexed"); st != 201 {
		t.Fatalf("PUT swap.txt: %d", st)
	}
	if st, _, _ := e.admin("MKCOL", F+"swapdir", nil, ""); st != 201 {
		t.Fatalf("MKCOL swapdir: %d", st)
	}
	link("swap.txt", e.sentinel)
	link("swapdir", e.sentinelDir)
	probe("placed while running")
	for _, c := range []hostileCase{
		// The index still has these names; the disk has links that os.Root
		// will not follow: to a client the file or folder is not there.
		{"GET indexed name now a link", "GET", F + "swap.txt", nil, "", 404},
		{"GET through indexed dir now a link", "GET", F + "swapdir/sentinel.txt", nil, "", 404},
		{"PUT into indexed dir now a link", "PUT", F + "swapdir/new.txt", nil, "new", 409},
		{"MKCOL in indexed dir now a link", "MKCOL", F + "swapdir/sub", nil, "", 409},
		// DELETE removes the link itself (unlinkat does not follow it).
		{"DELETE indexed dir now a link", "DELETE", F + "swapdir", nil, "", 204},
	} {
		st, _, body := e.admin(c.method, c.target, c.hdr, c.body)
		if strings.Contains(body, sentinelTxt) || st != c.want {
			t.Errorf("%s: %d, want %d; %.200s", c.name, st, c.want, body)
		}
	}
	// PUT over a file link replaces the link itself, never its target.
	if st, _, _ := e.admin("PUT", F+"link.txt", nil, "replaced"); st != 201 && st != 204 {
		t.Errorf("PUT over a link: %d", st)
	}
	if fi, err := os.Lstat(filepath.Join(spaceDir, "link.txt")); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
		t.Errorf("PUT over a link left a link: %v %v", fi, err)
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// vmHWM is the server process's peak resident memory, in KiB.
func (in *instance) vmHWM(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", in.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestHostileXML: entity expansion, external entities, deep nesting and
// huge bodies are refused (400/413) without the server's memory growing.
func TestHostileXML(t *testing.T) {
	e := newHostile(t)
	if st, _, _ := e.admin("PUT", F+"f.txt", nil, "x"); st != 201 {
		t.Fatalf("PUT: %d", st)
	}
	const decl = `<?xml version="1.0" encoding="utf-8"?>`
	laughs := `<!DOCTYPE l [<!ENTITY a "lollollollollollollollollollol">` +
		`<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">` +
		`<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">` +
		`<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>`
	xxe := `<!DOCTYPE x [<!ENTITY x SYSTEM "file://` + e.sentinel + `">]>`
	deep := strings.Repeat("<a>", 100000) + strings.Repeat("</a>", 100000)
	deepLock := strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000) // under LOCK's 64 KiB
	propfind := func(prolog, inner string) string {
		return decl + prolog + `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>` + inner + `</D:displayname></D:prop></D:propfind>`
	}
	proppatch := func(prolog, inner string) string {
		return decl + prolog + `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>` + inner + `</Z:p></D:prop></D:set></D:propertyupdate>`
	}
	lock := func(prolog, inner string) string {
		return decl + prolog + `<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>` + inner + `</D:owner></D:lockinfo>`
	}
	huge := strings.Repeat(" ", 8<<20) // 8 MiB of whitespace, over every XML limit
	d0 := map[string]string{"Depth": "0", "Content-Type": "application/xml"}
	xml := map[string]string{"Content-Type": "application/xml"}

	hwm0 := e.vmHWM(t)
	var cases []hostileCase
	for range 3 { // repeated, so that a leak would show in the peak
		cases = append(cases,
			hostileCase{"billion laughs PROPFIND", "PROPFIND", F, d0, propfind(laughs, "&g;"), 400},
			hostileCase{"billion laughs PROPPATCH", "PROPPATCH", F + "f.txt", xml, proppatch(laughs, "&g;"), 400},
			hostileCase{"billion laughs LOCK", "LOCK", F + "f.txt", xml, lock(laughs, "&g;"), 400},
			hostileCase{"external entity PROPFIND", "PROPFIND", F, d0, propfind(xxe, "&x;"), 400},
			hostileCase{"external entity PROPPATCH", "PROPPATCH", F + "f.txt", xml, proppatch(xxe, "&x;"), 400},
			hostileCase{"external entity LOCK", "LOCK", F + "f.txt", xml, lock(xxe, "&x;"), 400},
			hostileCase{"100k levels PROPFIND", "PROPFIND", F, d0, propfind("", deep), 400},
			hostileCase{"100k levels PROPPATCH", "PROPPATCH", F + "f.txt", xml, proppatch("", deep), 400},
			hostileCase{"100k levels LOCK", "LOCK", F + "f.txt", xml, lock("", deep), 413},
			hostileCase{"5k levels LOCK", "LOCK", F + "f.txt", xml, lock("", deepLock), 400},
			hostileCase{"huge PROPFIND", "PROPFIND", F, d0, propfind("", "x") + huge, 413},
			hostileCase{"huge PROPPATCH", "PROPPATCH", F + "f.txt", xml, proppatch("", "x") + huge, 413},
			hostileCase{"huge LOCK", "LOCK", F + "f.txt", xml, lock("", "x") + huge, 413},
		)
	}
	e.run(t, cases)
	// A huge body sent with Expect: 100-continue is refused before it is
	// sent: the client gets the final status at once.
	for _, m := range []string{"PROPFIND", "PROPPATCH", "LOCK"} {
		st, _, _ := e.admin(m, F+"f.txt", map[string]string{"Depth": "0", "Expect": "100-continue", "Content-Length": "50000000"}, "")
		if st != 413 {
			t.Errorf("%s with Expect: 100-continue and 50 MB announced: %d, want 413", m, st)
		}
	}
	// JSON API bodies.
	bigJSON := `{"label":"` + strings.Repeat("x", 5<<20) + `"}`
	for _, c := range []hostileCase{
		{"huge session body", "POST", "/api/v1/auth/token", map[string]string{"Content-Type": "application/json"}, bigJSON, 413},
		{"huge upload token body", "POST", "/api/v1/upload-tokens", map[string]string{"Content-Type": "application/json"}, bigJSON, 413},
		{"huge finalize body", "POST", "/api/v1/uploads/finalize", map[string]string{"Content-Type": "application/json"}, bigJSON, 413},
	} {
		e.run(t, []hostileCase{c})
	}
	if st, _, _ := e.admin("GET", "/api/v1/spaces", nil, ""); st == 200 {
		e.run(t, []hostileCase{
			{"huge mkdir body", "POST", "/api/v1/spaces/files/mkdir", map[string]string{"Content-Type": "application/json"}, bigJSON, 413},
			{"huge move body", "POST", "/api/v1/spaces/files/move", map[string]string{"Content-Type": "application/json"}, bigJSON, 413},
			{"huge web session body", "POST", "/api/v1/session", map[string]string{"Content-Type": "application/json"}, bigJSON, 413},
		})
	}
	// The events socket: a message over its 16 KiB limit closes the
	// socket with 1009 (message too big) instead of being buffered.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/api/v1/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Basic " + b64("admin:"+hostilePW)}}})
	if err != nil {
		t.Fatalf("events socket: %v", err)
	}
	defer ws.CloseNow()
	hugeMsg := `{"action":"subscribe","requestId":"` + strings.Repeat("x", 1<<20) + `"}`
	werr := ws.Write(ctx, websocket.MessageText, []byte(hugeMsg))
	_, _, rerr := ws.Read(ctx)
	if websocket.CloseStatus(rerr) != websocket.StatusMessageTooBig {
		t.Errorf("1 MiB events message: write %v, read %v; want the socket closed with 1009", werr, rerr)
	}
	hwm1 := e.vmHWM(t)
	t.Logf("VmHWM before %d KiB, after %d KiB (+%d KiB)", hwm0, hwm1, hwm1-hwm0)
	// The bodies add up to well over 100 MB; a parser that buffered or
	// expanded them would show it. 48 MiB leaves room for buffers and GC.
	if hwm1-hwm0 > 48<<10 {
		t.Errorf("peak memory grew by %d KiB over hostile XML and JSON", hwm1-hwm0)
	}
	// The property was never set, the file never locked.
	if st, _, body := e.admin("PROPFIND", F+"f.txt", d0, ""); st != 207 || strings.Contains(body, "lockdiscovery><D:activelock") || strings.Contains(body, "urn:z") {
		t.Errorf("PROPFIND after the hostile bodies: %d\n%s", st, body)
	}
}

// TestHostileHeaders: malformed, huge and contradictory headers get a
// plain 4xx (or a documented 5xx for a Destination on another server),
// never a 500 or a panic, and change nothing.
func TestHostileHeaders(t *testing.T) {
	e := newHostile(t)
	for _, p := range []string{"f.txt", "g.txt"} {
		if st, _, _ := e.admin("PUT", F+p, nil, "original"); st != 201 {
			t.Fatalf("PUT %s: %d", p, st)
		}
	}
	host := strings.TrimPrefix(e.URL, "http://")
	lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	ifList := strings.Repeat("(<urn:uuid:x>) ", 2000)
	h := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tusNew := func(kv ...string) map[string]string {
		m := h("Tus-Resumable", "1.0.0", "Upload-Length", "3", "Upload-Metadata", "space "+b64("files")+",path "+b64("t.txt"))
		for k, v := range h(kv...) {
			m[k] = v
		}
		return m
	}
	cases := []hostileCase{
		{"If garbage", "PUT", F + "f.txt", h("If", "garbage"), "new", 400},
		{"If unterminated", "PUT", F + "f.txt", h("If", "(<opaquelocktoken:x"), "new", 400},
		{"If nested brackets", "PUT", F + "f.txt", h("If", "(<"+strings.Repeat("<", 30000)), "new", 400},
		{"If 2000 lists", "PUT", F + "f.txt", h("If", ifList), "new", 400},
		{"If over the header limit", "PUT", F + "f.txt", h("If", ifList+ifList+ifList), "new", 431},
		{"If unknown token", "PUT", F + "f.txt", h("If", "(<opaquelocktoken:00000000-0000-0000-0000-000000000000>)"), "new", 412},
		{"Destination other host", "COPY", F + "f.txt", h("Destination", "http://elsewhere.example"+F+"x"), "", 502},
		{"Destination other space", "COPY", F + "f.txt", h("Destination", "/dav/spaces/nospace/x"), "", 404},
		{"Destination outside /dav/", "COPY", F + "f.txt", h("Destination", "/etc/passwd"), "", 502},
		{"Destination outside /dav/ on this host", "MOVE", F + "f.txt", h("Destination", "http://"+host+"/api/v1/me"), "", 502},
		{"Destination not a URL", "COPY", F + "f.txt", h("Destination", "not a url"), "", 400},
		{"Destination colons", "COPY", F + "f.txt", h("Destination", "::::"), "", 400},
		{"Destination scheme", "COPY", F + "f.txt", h("Destination", "file:///etc/passwd"), "", 400},
		{"Destination network path", "COPY", F + "f.txt", h("Destination", "//"+host+F+"x"), "", 400},
		{"Destination query", "COPY", F + "f.txt", h("Destination", F+"x?y=1"), "", 400},
		{"Destination empty", "COPY", F + "f.txt", h("Destination", ""), "", 400},
		{"Destination huge", "COPY", F + "f.txt", h("Destination", F+strings.Repeat("a/", 20000)), "", 400},
		{"Depth garbage PROPFIND", "PROPFIND", F, h("Depth", "banana"), "", 400},
		{"Depth 2 PROPFIND", "PROPFIND", F, h("Depth", "2"), "", 400},
		{"Depth infinity PROPFIND not allowed", "PROPFIND", F, h("Depth", "infinity"), "", 403},
		{"Depth garbage COPY", "COPY", F + "f.txt", h("Destination", F+"c.txt", "Depth", "1"), "", 400},
		{"Depth garbage LOCK", "LOCK", F + "f.txt", h("Depth", "banana", "Content-Type", "application/xml"), lockBody, 400},
		{"Overwrite garbage", "COPY", F + "f.txt", h("Destination", F+"g.txt", "Overwrite", "maybe"), "", 400},
		{"Overwrite F onto an existing file", "COPY", F + "f.txt", h("Destination", F+"g.txt", "Overwrite", "F"), "", 412},
		{"Content-Range on PUT", "PUT", F + "f.txt", h("Content-Range", "bytes 0-2/100"), "new", 501},
		{"Content-Range garbage on PUT", "PUT", F + "f.txt", h("Content-Range", "garbage"), "new", 501},
		{"tus Upload-Length negative", "POST", "/tus/", tusNew("Upload-Length", "-1"), "", 400},
		{"tus Upload-Length huge", "POST", "/tus/", tusNew("Upload-Length", "99999999999999999999999"), "", 400},
		{"tus Upload-Length not a number", "POST", "/tus/", tusNew("Upload-Length", "abc"), "", 400},
		{"tus Upload-Metadata bad base64", "POST", "/tus/", tusNew("Upload-Metadata", "space "+b64("files")+",path %%%"), "", 400},
		{"tus Upload-Metadata duplicate keys", "POST", "/tus/", tusNew("Upload-Metadata", "space "+b64("files")+",path "+b64("a")+",path "+b64("b")), "", 400},
		{"tus Upload-Metadata two spaces", "POST", "/tus/", tusNew("Upload-Metadata", "space "+b64("files")+",path "+b64("a")+" "+b64("b")), "", 400},
		{"tus Upload-Metadata huge", "POST", "/tus/", tusNew("Upload-Metadata", "space "+b64("files")+",path "+b64("a")+",x "+b64(strings.Repeat("x", 30000))), "", 400},
		{"tus Upload-Checksum unknown algorithm", "POST", "/tus/", tusNew("Upload-Checksum", "crc99 AAAA"), "", 400},
		{"tus Upload-Checksum bad base64", "POST", "/tus/", tusNew("Upload-Checksum", "sha1 !!!"), "", 400},
		{"OC-Checksum bad hex", "PUT", F + "f.txt", h("OC-Checksum", "SHA1:zz"), "new", 400},
		{"X-OC-Mtime garbage", "PUT", F + "f.txt", h("X-OC-Mtime", "yesterday"), "new", 400},
		{"X-Expected-Entity-Length negative", "PUT", F + "f.txt", h("Transfer-Encoding", "chunked", "Content-Length", "", "X-Expected-Entity-Length", "-5"), "0\r\n\r\n", 400},
	}
	// Content-Length "" in a map means: none (the chunked body above).
	e.run(t, fixChunked(cases))
	// Prefer is a preference: garbage is ignored (RFC 7240 §2), not refused.
	for _, v := range []string{",,;;;===garbage", strings.Repeat(";", 30000), "respond-async=\"\\\""} {
		st, _, body := e.admin("PUT", F+"p.txt", h("Prefer", v), "prefer")
		if st != 201 && st != 204 {
			t.Errorf("Prefer %.20q: %d %s", v, st, body)
		}
	}
	// tus Upload-Offset on a real upload.
	st, hd, _ := e.admin("POST", "/tus/", tusNew("Upload-Length", "3"), "")
	if st != 201 {
		t.Fatalf("tus creation: %d", st)
	}
	loc := strings.TrimPrefix(hd.Get("Location"), e.URL)
	patch := func(kv ...string) map[string]string {
		m := h("Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")
		for k, v := range h(kv...) {
			m[k] = v
		}
		return m
	}
	e.run(t, []hostileCase{
		{"tus Upload-Offset negative", "PATCH", loc, patch("Upload-Offset", "-1"), "abc", 400},
		{"tus Upload-Offset huge", "PATCH", loc, patch("Upload-Offset", "99999999999999999999"), "abc", 400},
		{"tus Upload-Offset not a number", "PATCH", loc, patch("Upload-Offset", "abc"), "abc", 400},
		{"tus Upload-Offset beyond", "PATCH", loc, patch("Upload-Offset", "2"), "abc", 409},
		{"tus Upload-Checksum unknown algorithm on PATCH", "PATCH", loc, patch("Upload-Checksum", "crc99 AAAA"), "abc", 400},
		{"tus Upload-Checksum bad base64 on PATCH", "PATCH", loc, patch("Upload-Checksum", "sha1 !!!"), "abc", 400},
		{"tus body longer than Upload-Length", "PATCH", loc, patch(), "abcdef", 413},
		{"tus wrong Content-Type", "PATCH", loc, patch("Content-Type", "text/plain"), "abc", 415},
	})
	// Timeout is advisory (RFC 4918 §10.7): garbage and huge values get
	// the server's maximum (1h), never more, never an error.
	for i, v := range []string{"banana", "Second-99999999999999999999999", "Infinite, Second-4100000000", "Second--5"} {
		st, hd, body := e.admin("LOCK", F+fmt.Sprintf("lock%d.txt", i), h("Timeout", v, "Content-Type", "application/xml"), lockBody)
		if st != 201 {
			t.Errorf("LOCK with Timeout %q: %d %s", v, st, body)
			continue
		}
		if !strings.Contains(body, "<D:timeout>Second-3600</D:timeout>") {
			t.Errorf("LOCK with Timeout %q granted other than Second-3600:\n%s", v, body)
		}
		_ = hd
	}
	// Nothing changed the files.
	for _, p := range []string{"f.txt", "g.txt"} {
		if b, _ := os.ReadFile(filepath.Join(e.Data, "spaces", "files", p)); string(b) != "original" {
			t.Errorf("%s is now %q", p, b)
		}
	}
	for _, p := range []string{"c.txt", "x", "t.txt"} {
		if _, err := os.Lstat(filepath.Join(e.Data, "spaces", "files", p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
}

// fixChunked drops the Content-Length of cases that send a chunked body.
func fixChunked(cases []hostileCase) []hostileCase {
	for _, c := range cases {
		if c.hdr["Content-Length"] == "" {
			if _, ok := c.hdr["Content-Length"]; ok {
				delete(c.hdr, "Content-Length")
				c.hdr["Transfer-Encoding"] = "chunked"
			}
		}
	}
	return cases
}

// openBody starts a request whose body the caller sends: it returns the
// connection after the headers (Content-Length announced) are written.
func (e *hostileEnv) openBody(user, pass, method, target string, hdr map[string]string, length int) net.Conn {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.URL, "http://"), 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, length)
	fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// trickle sends body one byte every gap until the server stops reading or
// answers; it returns the status (0: the connection was closed without
// one) and how long it took.
func trickle(conn net.Conn, body string, gap time.Duration) (int, time.Duration) {
	start := time.Now()
	done := make(chan int, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for i := 0; i < len(body); i++ {
		select {
		case st := <-done:
			return st, time.Since(start)
		case <-time.After(gap):
		}
		if _, err := conn.Write([]byte{body[i]}); err != nil {
			break
		}
	}
	return <-done, time.Since(start)
}

// TestHostileSlowClients: headers that trickle are cut by the header
// timeout, bodies that trickle or stall by the body timeout, while a slow
// but steady upload goes through; each user has a bounded number of
// uploads in flight.
func TestHostileSlowClients(t *testing.T) {
	e := newHostile(t, "WHARF_BODY_TIMEOUT=2s", "WHARF_MAX_UPLOADS_PER_USER=2")
	mustWharf(t, e.Data, "a good long editor password\n", "user", "add", "ed", "--password-stdin")
	mustWharf(t, e.Data, "", "space", "grant", "files", "ed", "editor")

	// Slowloris: a header byte every 2 s. The server's ReadHeaderTimeout
	// (15 s) closes the connection; it runs while the rest goes on.
	loris := make(chan time.Duration, 1)
	go func() {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
		if err != nil {
			loris <- -1
			return
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		closed := make(chan struct{})
		go func() {
			conn.SetReadDeadline(time.Now().Add(40 * time.Second))
			io.Copy(io.Discard, conn)
			close(closed)
		}()
		for {
			select {
			case <-closed:
				loris <- time.Since(start)
				return
			case <-time.After(2 * time.Second):
				if time.Since(start) > 40*time.Second {
					loris <- -1
					return
				}
				conn.Write([]byte("X"))
			}
		}
	}()

	t.Run("trickling PUT is cut", func(t *testing.T) {
		conn := e.openBody("admin", hostilePW, "PUT", F+"trickle.bin", nil, 100)
		st, took := trickle(conn, strings.Repeat("t", 100), time.Second)
		t.Logf("trickling PUT: status %d after %v", st, took)
		if (st != 408 && st != 0) || took > 8*time.Second {
			t.Errorf("PUT sending a byte a second: status %d after %v, want 408 or a closed connection within the 2s window", st, took)
		}
	})
	t.Run("stalled PUT is cut", func(t *testing.T) {
		conn := e.openBody("admin", hostilePW, "PUT", F+"stall.bin", nil, 100)
		conn.Write([]byte("0123456789"))
		st, took := trickle(conn, "", 0)
		if (st != 408 && st != 0) || took > 8*time.Second {
			t.Errorf("PUT stalled after 10 bytes: status %d after %v", st, took)
		}
	})
	t.Run("trickling tus PATCH is cut", func(t *testing.T) {
		st, hd, _ := e.admin("POST", "/tus/", map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "100",
			"Upload-Metadata": "space " + b64("files") + ",path " + b64("tus-trickle.bin")}, "")
		if st != 201 {
			t.Fatalf("tus creation: %d", st)
		}
		conn := e.openBody("admin", hostilePW, "PATCH", strings.TrimPrefix(hd.Get("Location"), e.URL),
			map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}, 100)
		st, took := trickle(conn, strings.Repeat("t", 100), time.Second)
		t.Logf("trickling PATCH: status %d after %v", st, took)
		if (st != 408 && st != 0) || took > 8*time.Second {
			t.Errorf("PATCH sending a byte a second: status %d after %v", st, took)
		}
	})
	t.Run("slow but steady PUT goes through", func(t *testing.T) {
		const chunk, n = 20 << 10, 6 // 20 KiB a second for 6 s: 3 windows
		body := strings.Repeat("s", chunk*n)
		conn := e.openBody("admin", hostilePW, "PUT", F+"steady.bin", nil, len(body))
		for i := range n {
			if _, err := io.WriteString(conn, body[i*chunk:(i+1)*chunk]); err != nil {
				t.Fatalf("after %d chunks: %v", i, err)
			}
			time.Sleep(time.Second)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("steady PUT: %v %v", resp, err)
		}
		if b, _ := os.ReadFile(filepath.Join(e.Data, "spaces", "files", "steady.bin")); string(b) != body {
			t.Errorf("steady.bin has %d bytes, want %d", len(b), len(body))
		}
	})
	for _, p := range []string{"trickle.bin", "stall.bin", "tus-trickle.bin"} {
		if _, err := os.Lstat(filepath.Join(e.Data, "spaces", "files", p)); err == nil {
			t.Errorf("%s was created from a cut body", p)
		}
	}

	t.Run("uploads per user", func(t *testing.T) {
		// Two uploads of admin in flight, kept alive by steady bytes.
		const size = 200 << 10
		stop := make(chan struct{})
		var conns []net.Conn
		fed := make(chan struct{}, 2)
		for i := range 2 {
			conn := e.openBody("admin", hostilePW, "PUT", F+fmt.Sprintf("held%d.bin", i), nil, size)
			conns = append(conns, conn)
			go func() {
				sent := 0
				for sent < size-(10<<10) {
					select {
					case <-stop:
						io.WriteString(conn, strings.Repeat("h", size-sent))
						fed <- struct{}{}
						return
					case <-time.After(200 * time.Millisecond):
					}
					io.WriteString(conn, strings.Repeat("h", 10<<10))
					sent += 10 << 10
				}
				<-stop
				io.WriteString(conn, strings.Repeat("h", size-sent))
				fed <- struct{}{}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		for _, c := range []struct {
			name, method, target string
			hdr                  map[string]string
		}{
			{"third PUT", "PUT", F + "third.bin", nil},
			{"tus creation with a body", "POST", "/tus/", map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "5",
				"Content-Type": "application/offset+octet-stream", "Upload-Metadata": "space " + b64("files") + ",path " + b64("third-tus.bin")}},
		} {
			st, hd, body := e.admin(c.method, c.target, c.hdr, "third")
			if st != 429 || hd.Get("Retry-After") == "" || !strings.Contains(body, "too many uploads") {
				t.Errorf("%s while two are in flight: %d Retry-After %q %q", c.name, st, hd.Get("Retry-After"), body)
			}
		}
		// Reads and another user's uploads are not counted.
		if st, _, _ := e.admin("GET", F+"steady.bin", nil, ""); st != 200 {
			t.Errorf("GET while two uploads are in flight: %d", st)
		}
		if st, _, body := e.raw("ed", "a good long editor password", "PUT", F+"ed.bin", nil, "ed"); st != 201 {
			t.Errorf("another user's PUT: %d %s", st, body)
		}
		close(stop)
		for i, conn := range conns {
			<-fed
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != 201 {
				t.Errorf("held upload %d: %v %v", i, resp, err)
			}
		}
		if st, _, body := e.admin("PUT", F+"after.bin", nil, "after"); st != 201 {
			t.Errorf("PUT once the others finished: %d %s", st, body)
		}
		if _, err := os.Lstat(filepath.Join(e.Data, "spaces", "files", "third.bin")); err == nil {
			t.Errorf("the refused upload was created")
		}
	})

	took := <-loris
	t.Logf("slowloris connection closed after %v", took)
	if took < 0 || took > 25*time.Second {
		t.Errorf("a connection sending a header byte every 2s was not closed within 25s (%v)", took)
	}
}

// from is an HTTP client whose connections come from loopback address ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 30 * time.Second}
}

// login tries user:pass from ip on one of the login surfaces and returns
// the status, Retry-After and body.
func (e *hostileEnv) login(ip, surface, user, pass string) (int, string, string) {
	e.t.Helper()
	var req *http.Request
	switch surface {
	case "basic":
		req, _ = http.NewRequest("GET", e.URL+"/api/v1/me", nil)
		req.SetBasicAuth(user, pass)
	case "token":
		req, _ = http.NewRequest("POST", e.URL+"/api/v1/auth/token", strings.NewReader(fmt.Sprintf(`{"user":%s,"password":%s}`, jsonString(user), jsonString(pass))))
		req.Header.Set("Content-Type", "application/json")
	case "cookie":
		req, _ = http.NewRequest("POST", e.URL+"/api/v1/session", strings.NewReader(fmt.Sprintf(`{"user":%s,"password":%s}`, jsonString(user), jsonString(pass))))
		req.Header.Set("Content-Type", "application/json")
	case "dav":
		req, _ = http.NewRequest("PROPFIND", e.URL+F, nil)
		req.Header.Set("Depth", "0")
		req.SetBasicAuth(user, pass)
	}
	resp, err := from(ip).Do(req)
	if err != nil {
		e.t.Fatalf("login %s from %s: %v", surface, ip, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestHostileBruteForce: failed logins are throttled per user name, per
// user name and address, and per address (by the user names that failed
// there) on every login surface, with 429 and Retry-After; while
// throttled, the right password gets the same answer as a wrong one.
// (TestThrottleNoisyNeighbour has the clients that share an address.)
func TestHostileBruteForce(t *testing.T) {
	e := newHostile(t)
	const edPW = "a good long editor password"
	mustWharf(t, e.Data, edPW+"\n", "user", "add", "ed", "--password-stdin")
	mustWharf(t, e.Data, "", "space", "grant", "files", "ed", "editor")
	surfaces := []string{"basic", "token", "dav"}
	if st, _, _ := e.login("127.0.0.9", "cookie", "", ""); st != 404 && st != 405 {
		surfaces = append(surfaces, "cookie")
	} else {
		t.Log("NOTE: no cookie login at /api/v1/session in this build")
	}
	wantThrottled := func(what string, st int, ra, body string) {
		t.Helper()
		secs, err := strconv.Atoi(ra)
		if st != 429 || err != nil || secs < 1 || secs > 15*60 || !strings.Contains(body, "too many failed logins") {
			t.Errorf("%s: %d Retry-After %q %q, want 429 with Retry-After in (0, 900]", what, st, ra, body)
		}
	}

	// One user, one address: ten wrong passwords, then 429 for a wrong
	// and for the right one alike, on every surface.
	for i := range 10 {
		s := surfaces[i%len(surfaces)]
		if st, _, _ := e.login("127.0.0.2", s, "admin", fmt.Sprintf("wrong %d", i)); st != 401 {
			t.Fatalf("wrong password %d (%s): %d, want 401", i, s, st)
		}
	}
	for _, s := range surfaces {
		stW, raW, bodyW := e.login("127.0.0.2", s, "admin", "wrong again")
		stR, raR, bodyR := e.login("127.0.0.2", s, "admin", hostilePW)
		wantThrottled(s+" wrong password while throttled", stW, raW, bodyW)
		wantThrottled(s+" right password while throttled", stR, raR, bodyR)
		if stW != stR || bodyW != bodyR {
			t.Errorf("%s: the right password's answer differs from a wrong one's while throttled: %d %q vs %d %q", s, stR, bodyR, stW, bodyW)
		}
	}
	// The user name is throttled from a fresh address too...
	st, ra, body := e.login("127.0.0.3", "basic", "admin", hostilePW)
	wantThrottled("the throttled user from another address", st, ra, body)
	// ...but not another user from that address: the failures are
	// admin's, not the address's guessing at accounts.
	if st, _, body := e.login("127.0.0.2", "basic", "ed", edPW); st != 200 {
		t.Errorf("another user from the address admin's password failed on: %d %s, want 200", st, body)
	}
	// Another user from another address is not affected.
	if st, _, body := e.login("127.0.0.4", "basic", "ed", edPW); st != 200 {
		t.Errorf("an unrelated login: %d %s", st, body)
	}

	// Many user names from one address: the address is throttled, also
	// for a real user with the right password (who never logged in from
	// there).
	for i := range 10 {
		if st, _, _ := e.login("127.0.0.5", "token", fmt.Sprintf("nobody%d", i), "guess"); st != 401 {
			t.Fatalf("guess %d: %d, want 401", i, st)
		}
	}
	st, ra, body = e.login("127.0.0.5", "token", "ed", edPW)
	wantThrottled("a real user from an address that guessed ten names", st, ra, body)

	// One user name from many addresses: the name is throttled.
	for i := range 10 {
		if st, _, _ := e.login(fmt.Sprintf("127.0.1.%d", i+1), "dav", "ed", "wrong"); st != 401 {
			t.Fatalf("wrong password for ed from address %d: %d", i, st)
		}
	}
	st, ra, body = e.login("127.0.2.1", "basic", "ed", edPW)
	wantThrottled("ed after ten failures from ten addresses", st, ra, body)
	if n := strings.Count(e.output(), "login throttled"); n == 0 {
		t.Errorf("no throttled login was logged")
	}
	// The end of the window (15 minutes) is not waited for here; the auth
	// package's tests cover it with a fake clock.
}
