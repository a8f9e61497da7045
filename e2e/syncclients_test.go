package e2e

// The ownCloud and Nextcloud desktop clients' command-line builds
// (owncloudcmd, nextcloudcmd), driven round after round as a scheduler
// would, against a real server. What each request did is read from the
// server's access log.

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/clamdtest"
)

// syncTool is one of the two clients and how it is pointed at a space.
type syncTool struct {
	name, pkg string
	// tus: the client uploads through tus (ownCloud), else by PUT and
	// chunked uploads (Nextcloud).
	tus bool
	// resumes: the next run of the client continues an upload a killed
	// run left half-way. The ownCloud client 2.11 keeps no tus upload
	// URL between runs (it resumes only within a run, after a timeout),
	// so it starts over.
	resumes bool
	args    func(url, space string) []string // after the common options, ending with the local dir's place
}

var syncTools = []syncTool{
	{name: "owncloudcmd", pkg: "owncloud-client-cmd", tus: true, args: func(u, space string) []string {
		// The legacy mount, with the space as the folder to sync.
		return []string{"LOCAL", u + "/remote.php/webdav/" + space}
	}},
	{name: "nextcloudcmd", pkg: "nextcloud-desktop-cmd", resumes: true, args: func(u, space string) []string {
		// remote.php/dav/files/USER/, found from the server URL.
		return []string{"--path", "/" + space, "LOCAL", u}
	}},
}

// bigSize is the size of the large file: SYNC_BIG_MB megabytes; by
// default 200 MB under CI and 24 MB on a developer's machine.
func bigSize(t *testing.T) int64 {
	mb := 24
	if os.Getenv("CI") == "true" {
		mb = 200
	}
	if v := os.Getenv("SYNC_BIG_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SYNC_BIG_MB=%q: want a number of megabytes", v)
		}
		mb = n
	}
	return int64(mb) << 20
}

// accessLine is one request of the server's access log.
type accessLine struct {
	method, path, user string
	status             int
	bytesIn            int64
}

var accessRE = regexp.MustCompile(`msg=request .*?method=(\S+) path=("(?:[^"\\]|\\.)*"|\S+) status=(\d+) bytes_in=(\d+) .*?user=(\S*)`)

func parseAccess(s string) []accessLine {
	var out []accessLine
	for _, line := range strings.Split(s, "\n") {
		m := accessRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		p := m[2]
		if strings.HasPrefix(p, `"`) {
			if q, err := strconv.Unquote(p); err == nil {
				p = q
			}
		}
		st, _ := strconv.Atoi(m[3])
		n, _ := strconv.ParseInt(m[4], 10, 64)
		out = append(out, accessLine{method: m[1], path: p, status: st, bytesIn: n, user: m[5]})
	}
	return out
}

// syncRun is what one run of a client did.
type syncRun struct {
	out  string
	code int
	reqs []accessLine
}

// count is the number of requests on files (WebDAV, tus, chunks) with one
// of the methods.
func (r syncRun) count(methods ...string) int {
	n := 0
	for _, l := range r.reqs {
		if !strings.HasPrefix(l.path, "/remote.php/") && !strings.HasPrefix(l.path, "/tus/") {
			continue
		}
		for _, m := range methods {
			if l.method == m {
				n++
			}
		}
	}
	return n
}

func (r syncRun) uploaded() int64 {
	var n int64
	for _, l := range r.reqs {
		if l.method == "PUT" || l.method == "POST" || l.method == "PATCH" {
			n += l.bytesIn
		}
	}
	return n
}

func (r syncRun) summary() string {
	var b strings.Builder
	for _, l := range r.reqs {
		fmt.Fprintf(&b, "  %s %s %d in=%d user=%s\n", l.method, l.path, l.status, l.bytesIn, l.user)
	}
	return b.String()
}

// syncServer is the sync tests' server: restartable on the same data
// directory and address, so that the clients, which keep the server's URL,
// find it again.
type syncServer struct {
	*instance
	addr string
}

func startSync(t *testing.T) *syncServer {
	t.Helper()
	ss := &syncServer{addr: freeAddr(t)}
	ss.instance = ss.start(t, t.TempDir())
	return ss
}

// start runs wharf on data and ss's address with the extra environment.
// Running requests get 1 s to finish when it is stopped: a restart cuts an
// upload in flight, as a crash or an impatient service manager does.
func (ss *syncServer) start(t *testing.T, data string, env ...string) *instance {
	t.Helper()
	in := start(t, data, append([]string{"WHARF_ADMIN_PASSWORD=" + syncPW, "WHARF_LISTEN=" + ss.addr,
		"WHARF_SHUTDOWN_TIMEOUT=1s"}, env...)...)
	if in.URL != "http://"+ss.addr {
		t.Fatalf("wharf listens on %s, want %s", in.URL, ss.addr)
	}
	return in
}

// restart stops the server (SIGTERM) and starts it again on the same data
// and address with the extra environment env (none: the plain set-up).
func (ss *syncServer) restart(t *testing.T, env ...string) {
	t.Helper()
	ss.stop()
	ss.startAgain(t, env...)
}

// startAgain starts the stopped server again on the same data and address.
func (ss *syncServer) startAgain(t *testing.T, env ...string) {
	t.Helper()
	ss.instance = ss.start(t, ss.Data, env...)
}

// syncer runs one client for one user on one local folder.
type syncer struct {
	t          *testing.T
	in         *syncServer
	tool       syncTool
	bin        string
	local      string
	user, pass string
	space      string
	home       string
	exclude    string
	extra      []string // options for the next runs (e.g. --uplimit)
}

func newSyncer(t *testing.T, in *syncServer, tool syncTool, bin, user, pass, space string) *syncer {
	s := &syncer{t: t, in: in, tool: tool, bin: bin, local: t.TempDir(), user: user, pass: pass, space: space, home: t.TempDir()}
	// An empty exclude list: the tests choose their names themselves (the
	// clients still skip their own journal files).
	s.exclude = filepath.Join(s.home, "exclude.lst")
	if err := os.WriteFile(s.exclude, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *syncer) command(ctx context.Context) *exec.Cmd {
	args := append([]string{"--non-interactive", "--exclude", s.exclude, "-u", s.user, "-p", s.pass}, s.extra...)
	for _, a := range s.tool.args(s.in.URL, s.space) {
		if a == "LOCAL" {
			a = s.local
		}
		args = append(args, a)
	}
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(cleanEnv(), "HOME="+s.home, "XDG_CONFIG_HOME="+filepath.Join(s.home, ".config"), "QT_QPA_PLATFORM=offscreen")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// mark is where the access log stands now.
func (s *syncer) mark() int { return len(s.in.output()) }

// since is the requests logged after mark, once a request sent now has
// been logged too (the log is written in the order requests finish).
func (s *syncer) since(mark int) []accessLine {
	s.t.Helper()
	probe := "/healthz?probe=" + strconv.FormatInt(time.Now().UnixNano(), 36)
	resp := s.in.do("GET", probe, "", "", nil)
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := s.in.output()[mark:]
		if i := strings.Index(out, "path=/healthz"); i >= 0 && strings.Contains(out, "path=/healthz") {
			var reqs []accessLine
			for _, l := range parseAccess(out) {
				if l.path != "/healthz" {
					reqs = append(reqs, l)
				}
			}
			return reqs
		}
		if time.Now().After(deadline) {
			s.t.Fatal("the probe request never reached the access log")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs the client once to its end.
func (s *syncer) run() syncRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 5*time.Minute)
	defer cancel()
	m := s.mark()
	cmd := s.command(ctx)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	r := syncRun{out: string(out)}
	if ctx.Err() != nil {
		s.t.Fatalf("%s did not finish within 5 minutes\nrequests:\n%s\noutput (tail):\n%s", s.tool.name, syncRun{reqs: s.since(m)}.summary(), tail(r.out, 60))
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("%s: %v", s.tool.name, err)
	}
	r.reqs = s.since(m)
	return r
}

// mustRun runs the client and fails the test unless it succeeded.
func (s *syncer) mustRun(what string) syncRun {
	s.t.Helper()
	r := s.run()
	if r.code != 0 {
		s.t.Fatalf("%s (%s): exit %d\nrequests:\n%s\noutput (tail):\n%s", s.tool.name, what, r.code, r.summary(), tail(r.out, 40))
	}
	return r
}

// clientFile reports whether name is one of the clients' own files in the
// sync folder.
func clientFile(name string) bool {
	return strings.HasPrefix(name, "._sync_") || strings.HasPrefix(name, ".sync_") ||
		strings.HasPrefix(name, ".owncloudsync.log") || strings.HasPrefix(name, ".csync_journal")
}

// treeOf maps the relative paths below root to the SHA-256 of each file
// ("dir" for folders), leaving out the clients' files.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if clientFile(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			tree[filepath.ToSlash(rel)] = "dir"
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		tree[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func sumOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// diffTrees says how got differs from want, "" if not at all.
func diffTrees(got, want map[string]string) string {
	var d []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			d = append(d, "missing "+p)
		} else if g != w {
			d = append(d, "different "+p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			d = append(d, "unexpected "+p)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// withDirs adds the folders above each path of tree.
func withDirs(tree map[string]string) map[string]string {
	out := map[string]string{}
	for p, v := range tree {
		out[p] = v
		for dir := filepath.ToSlash(filepath.Dir(p)); dir != "."; dir = filepath.ToSlash(filepath.Dir(dir)) {
			out[dir] = "dir"
		}
	}
	return out
}

// davPut writes a file over WebDAV as admin, making its folders.
func davPut(t *testing.T, in *instance, space, p string, body io.Reader) {
	t.Helper()
	parts := strings.Split(p, "/")
	esc := make([]string, len(parts))
	for i, e := range parts {
		esc[i] = url.PathEscape(e)
	}
	for i := 1; i < len(parts); i++ {
		resp := in.do("MKCOL", "/dav/spaces/"+space+"/"+strings.Join(esc[:i], "/"), "admin", syncPW, nil)
		resp.Body.Close()
	}
	resp := in.do("PUT", "/dav/spaces/"+space+"/"+strings.Join(esc, "/"), "admin", syncPW, body)
	if resp.StatusCode != 201 && resp.StatusCode != 204 {
		t.Fatalf("PUT %s: %s %s", p, resp.Status, readAll(t, resp.Body))
	}
	resp.Body.Close()
}

// bigReader is n deterministic pseudo-random bytes.
func bigReader(seed uint64, n int64) io.Reader {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return io.LimitReader(readerFunc(func(p []byte) (int, error) {
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return len(p), nil
	}), n)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func bigSum(seed uint64, n int64) string {
	h := sha256.New()
	io.Copy(h, bigReader(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

const syncPW = "sync clients password 1"

// The tree every test starts from: nested folders, names with spaces,
// unicode in both normal forms, and the characters URLs must escape.
var syncSeed = map[string]string{
	"docs/readme.txt":                     "read me",
	"docs/old name.txt":                   "to be renamed",
	"a/b/c/deep.txt":                      "deep down",
	"a/b/move me.txt":                     "to be moved",
	"trash/gone.txt":                      "to be deleted locally",
	"old folder/x.txt":                    "a folder deleted locally",
	"Ünïcödé/日本語 ファイル.txt":                "unicode",
	"Ünïcödé/u\u0308ber NFD.txt":          "decomposed",
	"awkward/100% #1 & 'q' (a+b=c);x.txt": "awkward",
	"awkward/emoji 🚢.txt":                 "ship",
	"srv-mod.txt":                         "the server will change this",
	"api-del.txt":                         "the web API will delete this",
	"conflict.txt":                        "base version",
	"ren dir/r1.txt":                      "in a folder renamed locally",
	"ren dir/sub/r2.txt":                  "deeper in the folder renamed locally",
	"mv dir/m.txt":                        "in a folder moved locally",
	"srv dir/s1.txt":                      "in a folder renamed on the server",
	"srv dir/sub/s2.txt":                  "deeper in the folder renamed on the server",
}

// TestSyncClients drives each client through the rounds a desktop would
// go through.
func TestSyncClients(t *testing.T) {
	for _, tool := range syncTools {
		t.Run(tool.name, func(t *testing.T) {
			bin := requireTool(t, tool.name, tool.pkg)
			testSyncClient(t, tool, bin)
		})
	}
}

func testSyncClient(t *testing.T, tool syncTool, bin string) {
	in := startSync(t)
	big := bigSize(t)
	const space = "files"
	for p, body := range syncSeed {
		davPut(t, in.instance, space, p, strings.NewReader(body))
	}
	davPut(t, in.instance, space, "big/large.bin", bigReader(1, big))
	want := map[string]string{}
	for p, body := range syncSeed {
		want[p] = sumOf(body)
	}
	want["big/large.bin"] = bigSum(1, big)
	// Wharf keeps names in NFC, whatever form they came in.
	want["Ünïcödé/\u00fcber NFD.txt"] = want["Ünïcödé/u\u0308ber NFD.txt"]
	delete(want, "Ünïcödé/u\u0308ber NFD.txt")
	want = withDirs(want)
	serverTree := func() map[string]string { return treeOf(t, filepath.Join(in.Data, "spaces", space)) }

	// An editor's client, signing in with an app password.
	mustWharf(t, in.Data, "editor password 123\n", "user", "add", "eve", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", space, "eve", "editor")
	evePW := mustWharf(t, in.Data, "", "apppass", "create", "eve", "--label", "laptop")
	eve := newSyncer(t, in, tool, bin, "eve", evePW, space)

	// 1. First sync down: byte-identical.
	start := time.Now()
	r := eve.mustRun("first sync")
	t.Logf("first sync of %d files (%d MB large file) took %v", len(syncSeed)+1, big>>20, time.Since(start).Round(time.Millisecond))
	if d := diffTrees(treeOf(t, eve.local), want); d != "" {
		t.Fatalf("after the first sync, the local tree differs:\n%s\nrequests:\n%s", d, r.summary())
	}

	// 2. Nothing changed: nothing transferred.
	r = eve.mustRun("idle sync")
	if n := r.count("GET", "PUT", "POST", "PATCH", "MOVE", "DELETE", "MKCOL"); n != 0 {
		t.Errorf("a sync with nothing changed made %d transfers:\n%s", n, r.summary())
	}

	// 3. Changes both ways in one round.
	L := func(p string) string { return filepath.Join(eve.local, filepath.FromSlash(p)) }
	must(t, os.MkdirAll(L("local new"), 0o755))
	must(t, os.WriteFile(L("local new/fresh.txt"), []byte("made locally"), 0o644))
	must(t, os.WriteFile(L("docs/readme.txt"), []byte("read me, edited locally"), 0o644))
	must(t, os.Rename(L("docs/old name.txt"), L("docs/new name.txt")))
	must(t, os.Rename(L("a/b/move me.txt"), L("moved.txt")))
	must(t, os.Remove(L("trash/gone.txt")))
	must(t, os.RemoveAll(L("old folder")))
	must(t, os.Rename(L("ren dir"), L("renamed dir")))
	must(t, os.Rename(L("mv dir"), L("docs/mv dir")))
	photo := exifPhoto(t, "Canon", "EOS R5", "2024:05:06 07:08:09")
	must(t, os.WriteFile(L("photo.jpg"), photo, 0o644))
	if st, _, body := in.send("admin", syncPW, davReq{method: "MOVE", path: "/dav/spaces/" + space + "/srv%20dir",
		headers: map[string]string{"Destination": in.URL + "/dav/spaces/" + space + "/srv%20renamed"}}); st != http.StatusCreated {
		t.Fatalf("WebDAV MOVE of a folder: %d %s", st, body)
	}
	davPut(t, in.instance, space, "server new/srv.txt", strings.NewReader("made on the server"))
	davPut(t, in.instance, space, "srv-mod.txt", strings.NewReader("changed on the server"))
	if resp := in.do("DELETE", "/api/v1/spaces/"+space+"/nodes/api-del.txt", "admin", syncPW, nil); resp.StatusCode/100 != 2 {
		t.Fatalf("web API delete: %s %s", resp.Status, readAll(t, resp.Body))
	}
	r = eve.mustRun("two-way sync")
	for _, p := range []string{"docs/old name.txt", "a/b/move me.txt", "trash/gone.txt", "old folder/x.txt", "old folder", "api-del.txt"} {
		delete(want, p)
	}
	for from, to := range map[string]string{"ren dir": "renamed dir", "mv dir": "docs/mv dir", "srv dir": "srv renamed"} {
		for p, v := range want {
			if p == from || strings.HasPrefix(p, from+"/") {
				delete(want, p)
				want[to+strings.TrimPrefix(p, from)] = v
			}
		}
	}
	want["photo.jpg"] = sumOf(string(photo))
	want["local new"] = "dir"
	want["local new/fresh.txt"] = sumOf("made locally")
	want["docs/readme.txt"] = sumOf("read me, edited locally")
	want["docs/new name.txt"] = sumOf("to be renamed")
	want["moved.txt"] = sumOf("to be moved")
	want["server new"] = "dir"
	want["server new/srv.txt"] = sumOf("made on the server")
	want["srv-mod.txt"] = sumOf("changed on the server")
	if d := diffTrees(treeOf(t, eve.local), want); d != "" {
		t.Errorf("after the two-way sync, the local tree differs:\n%s\nrequests:\n%s", d, r.summary())
	}
	if d := diffTrees(serverTree(), want); d != "" {
		t.Errorf("after the two-way sync, the server's tree differs:\n%s\nrequests:\n%s", d, r.summary())
	}
	// The renamed and moved files and folders went as one MOVE each (so
	// file ids carried them), and nothing in them was uploaded again: the
	// uploads are the three new or changed files.
	var moved []string
	for _, l := range r.reqs {
		if l.method == "MOVE" && strings.HasPrefix(l.path, "/remote.php/") {
			p := strings.TrimSuffix(l.path, "/")
			for _, root := range []string{"/remote.php/webdav/", "/remote.php/dav/files/eve/"} {
				p = strings.TrimPrefix(p, root+space+"/")
			}
			moved = append(moved, p)
		}
	}
	sort.Strings(moved)
	if w := []string{"a/b/move me.txt", "docs/old name.txt", "mv dir", "ren dir"}; !slices.Equal(moved, w) {
		t.Errorf("MOVEs of %q, want one of each renamed or moved file and folder %q:\n%s", moved, w, r.summary())
	}
	if tool.tus {
		if n := r.count("PUT"); n != 0 {
			t.Errorf("ownCloud client uploaded by PUT (%d), not through tus:\n%s", n, r.summary())
		}
		if n := r.count("POST"); n != 3 {
			t.Errorf("ownCloud client made %d tus creations, want one per new or changed file (3):\n%s", n, r.summary())
		}
	} else if n := r.count("PUT", "POST"); n != 3 {
		t.Errorf("Nextcloud client made %d uploads, want one per new or changed file (3):\n%s", n, r.summary())
	}
	// The folder renamed on the server was renamed locally, not fetched again.
	for _, l := range r.reqs {
		if l.method == "GET" && (strings.Contains(l.path, "/srv dir/") || strings.Contains(l.path, "/srv renamed/")) {
			t.Errorf("the folder renamed on the server was downloaded again: GET %s", l.path)
		}
	}
	// The photo went through processing like any upload: its checksum,
	// EXIF metadata and thumbnail are known.
	checkProcessed(t, in.instance, space, "photo.jpg", sumOf(string(photo)))
	r = eve.mustRun("idle sync after changes")
	if n := r.count("GET", "PUT", "POST", "PATCH", "MOVE", "DELETE", "MKCOL"); n != 0 {
		t.Errorf("a sync after a settled round made %d transfers:\n%s", n, r.summary())
	}

	// What the client deleted is in the space's trash, deleted by its
	// user, and restorable: the next sync brings it back.
	var trashed []string
	tj := in.trashOf(t, space, "eve", evePW)
	for _, it := range tj.Items {
		trashed = append(trashed, fmt.Sprintf("%s dir=%v size=%d by=%s", it.Path, it.Dir, it.Size, it.DeletedBy))
	}
	sort.Strings(trashed)
	wantTrash := []string{
		fmt.Sprintf("api-del.txt dir=false size=%d by=admin", len(syncSeed["api-del.txt"])),
		fmt.Sprintf("old folder dir=true size=%d by=eve", len(syncSeed["old folder/x.txt"])),
		fmt.Sprintf("trash/gone.txt dir=false size=%d by=eve", len(syncSeed["trash/gone.txt"])),
	}
	if !slices.Equal(trashed, wantTrash) {
		t.Errorf("the space's trash after the client's deletes:\n got %q\nwant %q", trashed, wantTrash)
	}
	if id := tj.id("trash/gone.txt"); id == "" {
		t.Error("the file the client deleted is not in the trash")
	} else if st, _, body := in.send("eve", evePW, davReq{method: "POST", path: "/api/v1/spaces/" + space + "/trash/" + id + "/restore"}); st != 200 {
		t.Errorf("restoring what the client deleted: %d %s", st, body)
	} else {
		want["trash/gone.txt"] = sumOf(syncSeed["trash/gone.txt"])
		r = eve.mustRun("sync after a restore from the trash")
		if d := diffTrees(treeOf(t, eve.local), want); d != "" {
			t.Errorf("after restoring from the trash, the local tree differs:\n%s\nrequests:\n%s", d, r.summary())
		}
		if n, up := r.count("GET"), r.count("PUT", "POST", "PATCH", "MOVE", "DELETE", "MKCOL"); n != 1 || up != 0 {
			t.Errorf("the sync after a restore made %d GETs (want 1) and %d other transfers (want 0):\n%s", n, up, r.summary())
		}
	}

	// 4. A conflict keeps both versions.
	davPut(t, in.instance, space, "conflict.txt", strings.NewReader("edited on the server"))
	must(t, os.WriteFile(L("conflict.txt"), []byte("edited locally, too"), 0o644))
	r = eve.run()
	found := map[string]bool{}
	es, _ := os.ReadDir(eve.local)
	for _, e := range es {
		if strings.HasPrefix(e.Name(), "conflict") {
			b, _ := os.ReadFile(L(e.Name()))
			found[string(b)] = true
		}
	}
	if !found["edited on the server"] || !found["edited locally, too"] {
		t.Errorf("after a conflict, the local folder holds %v, want both versions\nrequests:\n%s\noutput:\n%s", found, r.summary(), tail(r.out, 20))
	}
	if b, err := os.ReadFile(filepath.Join(in.Data, "spaces", space, "conflict.txt")); err != nil || string(b) == "base version" {
		t.Errorf("server's conflict.txt: %q, %v", b, err)
	}
	// The user resolves it (a conflict copy left behind is an error on
	// every later run).
	for _, e := range es {
		if strings.HasPrefix(e.Name(), "conflict") && e.Name() != "conflict.txt" {
			must(t, os.Remove(L(e.Name())))
		}
	}

	// 5. A file the space refuses is reported and not retried on every run.
	mustWharf(t, in.Data, "", "space", "policy", space, "--deny-names", "*.exe")
	must(t, os.WriteFile(L("tool.exe"), []byte("MZ refused by policy"), 0o644))
	r = eve.run()
	if r.code == 0 && !strings.Contains(strings.ToLower(r.out), "tool.exe") {
		t.Errorf("the refused file was not reported:\n%s", tail(r.out, 20))
	}
	if _, err := os.Stat(filepath.Join(in.Data, "spaces", space, "tool.exe")); err == nil {
		t.Error("the refused file is in the space")
	}
	tries := func(r syncRun, name string) int {
		n := 0
		for _, l := range r.reqs {
			if strings.Contains(l.path, name) || l.method == "POST" || l.method == "PUT" {
				n++
			}
		}
		return n
	}
	if tries(r, "tool.exe") == 0 {
		t.Errorf("the client did not even try the refused file:\n%s", r.summary())
	}
	r2 := eve.run()
	if n := tries(r2, "tool.exe"); n != 0 {
		t.Errorf("the refused file was tried again at once (%d requests):\n%s", n, r2.summary())
	}
	mustWharf(t, in.Data, "", "space", "policy", space, "--clear")
	must(t, os.Remove(L("tool.exe")))

	// 6. A file the virus scanner refuses: the server restarted with
	// clamd (one signature, EICAR's).
	in.restart(t, "WHARF_CLAMD=unix:"+clamdtest.Start(t))
	quarantined := func() int {
		es, err := os.ReadDir(filepath.Join(in.Data, "quarantine"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return len(es)
	}
	q0 := quarantined()
	must(t, os.WriteFile(L("eicar.com"), clamdtest.EICAR, 0o644))
	r = eve.run()
	if r.code == 0 || !strings.Contains(r.out, "eicar.com") {
		t.Errorf("the infected file was not reported (exit %d):\n%s", r.code, tail(r.out, 20))
	}
	if _, err := os.Stat(filepath.Join(in.Data, "spaces", space, "eicar.com")); err == nil {
		t.Error("the infected file is in the space")
	}
	if n := tries(r, "eicar.com"); n != 1 {
		t.Errorf("the client sent the infected file %d times in its run, want once:\n%s", n, r.summary())
	}
	if q := quarantined(); q != q0+1 {
		t.Errorf("quarantine holds %d uploads after the infected one, %d before", q, q0)
	}
	r2 = eve.run()
	if n := tries(r2, "eicar.com"); n != 0 {
		t.Errorf("the infected file was tried again at once (%d requests):\n%s", n, r2.summary())
	}
	must(t, os.Remove(L("eicar.com")))

	// 7. An interrupted large upload resumes: the client killed, then
	// Wharf restarted (back to the plain set-up) during an upload.
	testSyncResume(t, eve, space, big)
	testSyncRestart(t, eve, space, big)

	// 8. A viewer's client syncs down and never uploads.
	mustWharf(t, in.Data, "viewer password 123\n", "user", "add", "vic", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", space, "vic", "viewer")
	vic := newSyncer(t, in, tool, bin, "vic", "viewer password 123", space)
	vic.mustRun("viewer's first sync")
	before := serverTree()
	if d := diffTrees(treeOf(t, vic.local), before); d != "" {
		t.Errorf("the viewer's copy differs from the server:\n%s", d)
	}
	V := func(p string) string { return filepath.Join(vic.local, filepath.FromSlash(p)) }
	must(t, os.WriteFile(V("viewer.txt"), []byte("a viewer's file"), 0o644))
	must(t, os.WriteFile(V("docs/readme.txt"), []byte("a viewer's edit"), 0o644))
	must(t, os.Mkdir(V("viewer folder"), 0o755))
	for i := range 2 {
		r := vic.run()
		for _, l := range r.reqs {
			switch l.method {
			case "PUT", "POST", "PATCH", "MOVE", "DELETE", "MKCOL", "PROPPATCH":
				t.Errorf("viewer's client, run %d: %s %s (%d)", i+1, l.method, l.path, l.status)
			}
		}
	}
	if d := diffTrees(serverTree(), before); d != "" {
		t.Errorf("the viewer changed the server:\n%s", d)
	}
}

// checkProcessed waits until processing has looked at the JPEG p (the
// exifPhoto of a Canon EOS R5) and checks what it found, as the web API
// shows it: the file's SHA-256, its EXIF metadata and its thumbnail.
func checkProcessed(t *testing.T, in *instance, space, p, sum string) {
	t.Helper()
	type meta struct {
		MIME      string `json:"mime"`
		SHA256    string `json:"sha256"`
		Extracted bool   `json:"extracted"`
		Make      string `json:"make"`
		Model     string `json:"model"`
		Captured  string `json:"captured"`
		Thumbnail bool   `json:"thumbnail"`
	}
	var node struct {
		SHA256 string `json:"sha256"`
		Thumb  string `json:"thumb"`
		Meta   meta   `json:"meta"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _, js := in.send("admin", syncPW, davReq{method: "GET", path: "/api/v1/spaces/" + space + "/nodes/" + url.PathEscape(p)})
		var out struct {
			Node json.RawMessage `json:"node"`
		}
		if st != 200 || json.Unmarshal([]byte(js), &out) != nil || json.Unmarshal(out.Node, &node) != nil {
			t.Fatalf("GET the node of %s: %d %s", p, st, js)
		}
		if node.Meta.Extracted || time.Now().After(deadline) {
			break
		}
	}
	want := meta{MIME: "image/jpeg", SHA256: sum, Extracted: true, Make: "Canon", Model: "EOS R5", Captured: "2024-05-06T07:08:09", Thumbnail: true}
	if node.Meta != want || node.SHA256 != sum || node.Thumb == "" {
		t.Fatalf("%s uploaded by the client was not processed:\n got %+v (node sha256 %s, thumb %q)\nwant %+v", p, node.Meta, node.SHA256, node.Thumb, want)
	}
	if st, h, _ := in.send("admin", syncPW, davReq{method: "GET", path: node.Thumb}); st != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Errorf("thumbnail of %s: %d %s", p, st, h.Get("Content-Type"))
	}
}

// cutPoint is how much of a size-byte upload the server must hold before
// the tests interrupt it: a third, or for a chunked upload the first chunk
// (Nextcloud 3.7 starts with 10 MB chunks and sizes the next one from the
// throughput, at --uplimit 8000 the whole rest of the file, so only the
// first chunk is ever held alone).
func cutPoint(tool syncTool, size int64) int64 {
	if tool.tus {
		return size / 3
	}
	return min(size/3, 10_000_000)
}

// uploadsHeld is the bytes of unfinished uploads the server keeps in data:
// tus bytes and whole chunks, not the staging of a chunk in flight
// (".part-…") or of a PUT (".put-…").
func uploadsHeld(data string) int64 {
	var n int64
	filepath.WalkDir(filepath.Join(data, "uploads"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".info") && !strings.HasPrefix(d.Name(), ".") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// testSyncResume kills the client in the middle of a large upload and
// checks that the next run sends the rest, not the whole file again.
func testSyncResume(t *testing.T, s *syncer, space string, big int64) {
	in := s.in
	size := min(big, 48<<20)
	name := "resume.bin"
	f, err := os.Create(filepath.Join(s.local, name))
	must(t, err)
	_, err = io.Copy(f, bigReader(7, size))
	must(t, err)
	must(t, f.Close())

	// Slow enough to be caught half-way: about 6 s for 48 MB.
	s.extra = []string{"--uplimit", "8000"}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := s.command(ctx)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	must(t, cmd.Start())
	received := func() int64 { return uploadsHeld(in.Data) }
	deadline := time.Now().Add(5 * time.Minute)
	for received() < cutPoint(s.tool, size) {
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("the upload never reached %d of %d bytes (%d)", cutPoint(s.tool, size), size, received())
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	had := received()
	if _, err := os.Stat(filepath.Join(in.Data, "spaces", space, name)); err == nil {
		t.Errorf("part of %s is visible in the space before its upload ended", name)
	}
	s.extra = nil
	r := s.mustRun("sync after a killed upload")
	if got := treeOf(t, filepath.Join(in.Data, "spaces", space))[name]; got != bigSum(7, size) {
		t.Fatalf("after resuming, the server's %s is wrong (%q)\nrequests:\n%s", name, got, r.summary())
	}
	if !s.tool.resumes {
		// What is checked then: the upload the killed run left behind
		// never showed as a file (above), and the next run sent it whole.
		if sent := r.uploaded(); sent < size {
			t.Errorf("%s sent %d bytes of a %d-byte file, yet is not known to resume", s.tool.name, sent, size)
		}
		t.Logf("%s started over, as expected: %d bytes sent (%d were on the server when it was killed)", s.tool.name, r.uploaded(), had)
		return
	}
	if sent := r.uploaded(); sent >= size {
		t.Errorf("the upload started over: %d bytes sent for a %d-byte file (%d were on the server)\n%s", sent, size, had, r.summary())
	} else {
		t.Logf("resumed: %d of %d bytes sent again (%d were on the server when the client was killed)", sent, size, had)
	}
}

// testSyncRestart restarts Wharf (SIGTERM, running requests cut after 1 s,
// then the same data and address) while the client uploads a large file,
// and checks what the client sends once Wharf is back: the same run goes
// on (the clients retry a sync that failed on the network), and the
// bytes sent after the restart are only what was missing (Nextcloud), or
// the whole file once (ownCloud 2.11, see below).
func testSyncRestart(t *testing.T, s *syncer, space string, big int64) {
	in := s.in
	size := min(big, 48<<20)
	name := "restart.bin"
	f, err := os.Create(filepath.Join(s.local, name))
	must(t, err)
	_, err = io.Copy(f, bigReader(9, size))
	must(t, err)
	must(t, f.Close())
	held0 := uploadsHeld(in.Data)

	s.extra = []string{"--uplimit", "8000"}
	defer func() { s.extra = nil }()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := s.command(ctx)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	must(t, cmd.Start())
	done := make(chan struct{})
	var ended time.Time
	go func() { cmd.Wait(); ended = time.Now(); close(done) }()
	deadline := time.Now().Add(5 * time.Minute)
	for uploadsHeld(in.Data)-held0 < cutPoint(s.tool, size) {
		select {
		case <-done:
			t.Fatalf("%s ended before %d bytes of %s were uploaded (%d):\n%s", s.tool.name, cutPoint(s.tool, size), name, uploadsHeld(in.Data)-held0, tail(out.String(), 20))
		default:
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Fatalf("the upload never reached %d of %d bytes (%d)", cutPoint(s.tool, size), size, uploadsHeld(in.Data)-held0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.stop()
	had := uploadsHeld(in.Data) - held0
	if _, err := os.Stat(filepath.Join(in.Data, "spaces", space, name)); err == nil {
		t.Errorf("part of %s is visible in the space before its upload ended", name)
	}
	in.startAgain(t)
	restarted := time.Now()
	<-done
	if ctx.Err() != nil {
		t.Fatalf("%s did not end within 10 minutes", s.tool.name)
	}
	// Both clients end the run at once: the cut upload is a fatal error
	// ("Connection refused") that fails the sync, and a failed sync is not
	// run again (--max-sync-retries repeats only a sync that succeeded and
	// asked for another). The scheduler's next run finishes the upload.
	same := syncRun{out: out.String(), code: cmd.ProcessState.ExitCode(), reqs: s.since(0)}
	if same.code == 0 || same.uploaded() != 0 || !strings.Contains(same.out, name) {
		t.Errorf("%s, the run that saw the restart: exit %d, %d bytes sent after the restart; want a failure naming %s and nothing sent:\n%s\noutput (tail):\n%s",
			s.tool.name, same.code, same.uploaded(), name, same.summary(), tail(same.out, 15))
	}
	s.extra = nil
	next := s.mustRun("sync after a restart of wharf")
	if got := treeOf(t, filepath.Join(in.Data, "spaces", space))[name]; got != bigSum(9, size) {
		t.Fatalf("after the restart, the server's %s is wrong (%q)\nrequests:\n%s", name, got, next.summary())
	}
	sent := same.uploaded() + next.uploaded()
	if s.tool.resumes {
		// Nextcloud lists the chunks the server kept through the restart
		// and sends only the others.
		if sent != size-had {
			t.Errorf("%s sent %d bytes after the restart, want the %d the server did not have (of %d):\n%s", s.tool.name, sent, size-had, size, next.summary())
		}
	} else if sent != size {
		// ownCloud 2.11 sends the file in the tus creation request, so it
		// never learnt the upload's URL: it sends the whole file again,
		// once.
		t.Errorf("%s sent %d bytes after the restart, want the whole file once (%d):\n%s", s.tool.name, sent, size, next.summary())
	}
	t.Logf("%s: %d of %d bytes were on the server at the restart of wharf; %d sent after it (the run that saw it ended with exit %d, %v before wharf was back)",
		s.tool.name, had, size, sent, same.code, restarted.Sub(ended).Round(time.Millisecond))
}

// TestSyncLoginFlow: Login Flow v2 hands a client an app password once its
// user signed in on Wharf's page, and the password opens the sync mount.
func TestSyncLoginFlow(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+syncPW)
	resp := in.do("POST", "/index.php/login/v2", "", "", nil)
	var started struct {
		Poll  struct{ Token, Endpoint string }
		Login string
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&started) != nil || started.Poll.Token == "" {
		t.Fatalf("start: %s", resp.Status)
	}
	poll := func() *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", started.Poll.Endpoint, strings.NewReader("token="+url.QueryEscape(started.Poll.Token)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := poll(); resp.StatusCode != 404 {
		t.Fatalf("poll before sign-in: %s, want 404", resp.Status)
	}
	page, err := http.Get(started.Login)
	must(t, err)
	if body := readAll(t, page.Body); page.StatusCode != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("login page: %s", page.Status)
	}
	form := func(pw string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", started.Login, strings.NewReader(url.Values{"user": {"admin"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", in.URL)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := form("wrong password 123"); resp.StatusCode != 401 {
		t.Errorf("sign-in with a wrong password: %s", resp.Status)
	}
	if resp := poll(); resp.StatusCode != 404 {
		t.Fatalf("poll after a failed sign-in: %s, want 404", resp.Status)
	}
	if resp := form(syncPW); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %s %s", resp.Status, readAll(t, resp.Body))
	}
	resp = poll()
	var got struct{ Server, LoginName, AppPassword string }
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&got) != nil {
		t.Fatalf("poll after sign-in: %s", resp.Status)
	}
	if got.Server != in.URL || got.LoginName != "admin" || got.AppPassword == "" || got.AppPassword == syncPW {
		t.Errorf("credentials: %+v", got)
	}
	if resp := poll(); resp.StatusCode != 404 {
		t.Errorf("second poll: %s, want 404 (credentials are handed out once)", resp.Status)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "PROPFIND", in.URL+"/remote.php/dav/files/admin/", nil)
	req.SetBasicAuth("admin", got.AppPassword)
	req.Header.Set("Depth", "1")
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 207 || !strings.Contains(readAll(t, resp.Body), "/remote.php/dav/files/admin/files/") {
		t.Errorf("the app password does not open the sync mount: %s", resp.Status)
	}
	if list := mustWharf(t, in.Data, "", "apppass", "list", "admin"); !strings.Contains(list, "device-") {
		t.Errorf("the minted app password is not listed:\n%s", list)
	}
}

// TestPropPatchMTime: newer rclone releases (the owncloud and nextcloud
// vendors) set a file's time with a PROPPATCH of DAV:lastmodified in Unix
// seconds, alone or with the oc:checksums it knows; Debian's rclone 1.60
// does not send it yet, so the request is sent here as those releases
// write it, and Debian's rclone reads the result.
func TestPropPatchMTime(t *testing.T) {
	rclone := requireTool(t, "rclone", "rclone")
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+syncPW)
	davPut(t, in, "files", "touched.txt", strings.NewReader("touch me"))
	davPut(t, in, "files", "summed.txt", strings.NewReader("sum me"))
	sha1sum := "SHA1:" + fmt.Sprintf("%x", sha1.Sum([]byte("sum me")))
	bodies := map[string]string{
		"touched.txt": `<?xml version="1.0" encoding="utf-8" ?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>
<lastmodified xmlns="DAV:">1577934245</lastmodified>
</D:prop></D:set></D:propertyupdate>`,
		"summed.txt": `<?xml version="1.0" encoding="utf-8" ?>
<D:propertyupdate xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:set><D:prop>
<lastmodified xmlns="DAV:">1577934245</lastmodified>
<oc:checksums><oc:checksum>` + sha1sum + `</oc:checksum></oc:checksums>
</D:prop></D:set></D:propertyupdate>`,
	}
	for name, body := range bodies {
		resp := in.do("PROPPATCH", "/remote.php/webdav/files/"+name, "admin", syncPW, strings.NewReader(body))
		if got := readAll(t, resp.Body); resp.StatusCode != 207 || strings.Contains(got, "HTTP/1.1 4") {
			t.Errorf("PROPPATCH %s: %s\n%s", name, resp.Status, got)
		}
	}
	obscured := runRclone(t, rclone, nil, false, "obscure", syncPW)
	env := []string{
		"RCLONE_CONFIG_WHARF_TYPE=webdav",
		"RCLONE_CONFIG_WHARF_URL=" + in.URL + "/remote.php/webdav/files/",
		"RCLONE_CONFIG_WHARF_VENDOR=owncloud",
		"RCLONE_CONFIG_WHARF_USER=admin",
		"RCLONE_CONFIG_WHARF_PASS=" + strings.TrimSpace(obscured),
		"RCLONE_CONFIG=" + filepath.Join(t.TempDir(), "none.conf"),
	}
	listing := runRclone(t, rclone, env, false, "lsl", "wharf:")
	for name := range bodies {
		if !regexp.MustCompile(`2020-01-02 03:04:05\S* ` + regexp.QuoteMeta(name)).MatchString(listing) {
			t.Errorf("%s: time not set:\n%s", name, listing)
		}
	}
	// Checksums that contradict the file's are refused, and change nothing.
	resp := in.do("PROPPATCH", "/remote.php/webdav/files/summed.txt", "admin", syncPW, strings.NewReader(strings.ReplaceAll(
		strings.Replace(bodies["summed.txt"], sha1sum, "SHA256:"+strings.Repeat("0", 64), 1), "1577934245", "1000000000")))
	if got := readAll(t, resp.Body); !strings.Contains(got, "409") {
		t.Errorf("contradicting checksums: %s", got)
	}
	fi, err := os.Stat(filepath.Join(in.Data, "spaces", "files", "summed.txt"))
	if err != nil || !fi.ModTime().Equal(time.Unix(1577934245, 0)) {
		t.Errorf("the file's mtime on disk: %v, %v", fi, err)
	}
}
