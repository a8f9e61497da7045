package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tus-js-client tests drive Wharf's /tus/ endpoint with the real
// JavaScript client, run by node from e2e/tusjs (upload.mjs, with the
// version pinned in package-lock.json): the way a browser or Node
// integration uploads, including resumption from a stored upload URL across
// a server restart.

const (
	tusjsVersion = "4.3.1" // must match e2e/tusjs/package.json
	tusPW        = "tus-js-client test password"
	tusFileSize  = 50 << 20
)

// Exit statuses of upload.mjs.
const (
	jsOK        = 0
	jsFailed    = 1
	jsAborted   = 3
	jsNoStored  = 4
	jsUsageExit = 2
)

// TestTusJSResume: tus-js-client uploads 50 MiB in 5 MiB chunks and stops
// after 20 MiB with the upload URL stored; the server restarts; a second run
// resumes from the stored URL (HEAD, then PATCH from 20 MiB, no new upload),
// and the file in the space has the right content and SHA-256.
func TestTusJSResume(t *testing.T) {
	js := tusJS(t)
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+tusPW)
	src, sum := writeRandomFile(t, tusFileSize)
	const target = "big/resume.bin"
	davMkcol(t, in, "big/")

	up := js.upload(src, target, "--chunk-size", strconv.Itoa(5<<20), "--retry-delays", "0,500,1000,2000")
	first, code := up.run(t, in, "--abort-after", strconv.Itoa(20<<20))
	if code != jsAborted {
		t.Fatalf("first run (stop after 20 MiB): exit %d, want %d (aborted with the URL stored)\n%s\nserver:\n%s", code, jsAborted, first, in.output())
	}
	if first.BytesAccepted != 20<<20 {
		t.Errorf("first run stopped at %d acknowledged bytes, want %d", first.BytesAccepted, 20<<20)
	}
	if n := first.count("POST"); n != 1 {
		t.Errorf("first run sent %d POSTs, want 1:\n%s", n, first)
	}
	if status := spaceHeadStatus(t, in, target); status != http.StatusNotFound {
		t.Errorf("GET of the unfinished upload's target: %d, want 404 (nothing visible before the last byte)", status)
	}

	in = restartSamePort(t, in, false)

	res, code := up.run(t, in, "--resume")
	if code != jsOK {
		t.Fatalf("resumed run: exit %d, want 0\n%s\nserver:\n%s", code, res, in.output())
	}
	if res.ResumedFrom == nil || *res.ResumedFrom != 20<<20 {
		t.Errorf("resumed from offset %v, want %d (HEAD after the restart)", fmtOffset(res.ResumedFrom), 20<<20)
	}
	if n := res.count("POST"); n != 0 {
		t.Errorf("resumed run created %d new uploads, want 0:\n%s", n, res)
	}
	if res.URL != first.URL {
		t.Errorf("resumed run used %s, want the stored %s", res.URL, first.URL)
	}
	checkFinalAnswer(t, res)
	checkSpaceFile(t, in, target, sum)
	checkProcessedOnce(t, in, res)
}

// TestTusKillDuringUpload: the server is killed (SIGKILL) in the middle of a
// PATCH. After a restart HEAD reports an offset between what the server had
// acknowledged and what the client had sent, nothing is visible in the space,
// and tus-js-client resumes from that offset to a complete file.
func TestTusKillDuringUpload(t *testing.T) {
	js := tusJS(t)
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+tusPW)
	src, sum := writeRandomFile(t, tusFileSize)
	const target = "killed.bin"

	// 10 MiB chunks at 25 MiB/s: the kill at 22 MiB lands inside the third
	// PATCH, about a second before the upload could finish.
	up := js.upload(src, target, "--chunk-size", strconv.Itoa(10<<20))
	killed := false
	first, code := up.run(t, in, "--rate", strconv.Itoa(25<<20), "--retry-delays", "", "--progress-every", strconv.Itoa(1<<20),
		func(ev jsEvent) {
			if ev.Event == "progress" && ev.BytesSent >= 22<<20 && !killed {
				in.kill()
				killed = true
			}
		})
	if !killed {
		t.Fatalf("the client never reported 22 MiB sent (exit %d):\n%s\nserver:\n%s", code, first, in.output())
	}
	if code != jsFailed || first.Event != "error" {
		t.Fatalf("first run: exit %d, want %d (connection lost)\n%s", code, jsFailed, first)
	}
	if first.URL == "" {
		t.Fatalf("first run reported no upload URL:\n%s", first)
	}
	t.Logf("killed with %d bytes acknowledged and %d sent", first.BytesAccepted, first.BytesSent)

	in = restartSamePort(t, in, true)

	if status := spaceHeadStatus(t, in, target); status != http.StatusNotFound {
		t.Errorf("GET of the interrupted upload's target: %d, want 404", status)
	}
	status, offset, length := headUpload(t, in, first.URL)
	if status != http.StatusOK {
		t.Fatalf("HEAD %s after the restart: %d, want 200\nserver:\n%s", first.URL, status, in.output())
	}
	if length != tusFileSize {
		t.Errorf("HEAD: Upload-Length %d, want %d", length, tusFileSize)
	}
	if offset < first.BytesAccepted || offset > first.BytesSent {
		t.Errorf("HEAD: Upload-Offset %d, want between %d (acknowledged before the kill) and %d (sent)",
			offset, first.BytesAccepted, first.BytesSent)
	}

	res, code := up.run(t, in, "--resume", "--retry-delays", "0,500,1000,2000")
	if code != jsOK {
		t.Fatalf("resumed run: exit %d, want 0\n%s\nserver:\n%s", code, res, in.output())
	}
	if res.ResumedFrom == nil || *res.ResumedFrom != offset {
		t.Errorf("tus-js-client resumed from %s, want %d (what HEAD said)", fmtOffset(res.ResumedFrom), offset)
	}
	if n := res.count("POST"); n != 0 {
		t.Errorf("resumed run created %d new uploads, want 0:\n%s", n, res)
	}
	checkFinalAnswer(t, res)
	checkSpaceFile(t, in, target, sum)
	checkProcessedOnce(t, in, res)
}

// restartSamePort stops in (SIGKILL if kill, else SIGTERM) and starts the server
// again on the same data directory and the same port: the upload URL
// tus-js-client stored names that port.
func restartSamePort(t *testing.T, in *instance, kill bool) *instance {
	t.Helper()
	if kill {
		in.kill()
	} else if code := in.stop(); code != 0 {
		t.Errorf("wharf serve exited %d after SIGTERM:\n%s", code, in.output())
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The port was just released; Go listeners set SO_REUSEADDR, so
	// connections left in TIME_WAIT do not keep it busy.
	return start(t, in.Data, "WHARF_ADMIN_PASSWORD="+tusPW, "WHARF_LISTEN="+u.Host)
}

// checkFinalAnswer checks the answer to the last PATCH as the contract has
// it: 204 once processing is done, with ETag and OC-FileId.
func checkFinalAnswer(t *testing.T, res jsEvent) {
	t.Helper()
	if res.Status != http.StatusNoContent {
		t.Errorf("last PATCH answered %d, want 204 (processing done)\n%s", res.Status, res)
	}
	for _, h := range []string{"etag", "oc-fileid"} {
		if res.header(h) == "" {
			t.Errorf("last PATCH answer has no %s header: %v", h, res.Headers)
		}
	}
}

// checkSpaceFile checks that the space holds the uploaded file: its content
// read back with GET, and the SHA-256 Wharf reports in oc:checksums.
func checkSpaceFile(t *testing.T, in *instance, target, sum string) {
	t.Helper()
	resp := in.do(http.MethodGet, "/dav/spaces/files/"+target, "admin", tusPW, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200", target, resp.StatusCode)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum || n != tusFileSize {
		t.Errorf("GET %s: %d bytes with SHA-256 %s, want %d bytes with %s", target, n, got, tusFileSize, sum)
	}
	status, _, body := in.send("admin", tusPW, davReq{method: "PROPFIND", path: "/dav/spaces/files/" + target,
		headers: map[string]string{"Depth": "0", "Content-Type": "application/xml"},
		body:    `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><oc:checksums/></D:prop></D:propfind>`})
	if status != http.StatusMultiStatus || !strings.Contains(strings.ToLower(body), "sha256:"+sum) {
		t.Errorf("PROPFIND %s oc:checksums: %d, want 207 with SHA256:%s\n%s", target, status, sum, body)
	}
}

// checkProcessedOnce is where the test will check that postprocessing ran
// exactly once for the upload, through GET /api/v1/uploads/<id>/progress
// (Accept: application/json).
//
// TODO(tus): once the progress endpoint exists and its JSON is settled,
// decode it here and assert: state finished (not aborted), no step failed,
// and each step reported finished exactly once — a resumed or repeated final
// PATCH must not start a second job. Until then it checks nothing and says so.
func checkProcessedOnce(t *testing.T, in *instance, res jsEvent) {
	t.Helper()
	u, err := url.Parse(res.URL)
	if err != nil || path.Base(u.Path) == "" {
		t.Errorf("upload URL %q: no upload id", res.URL)
		return
	}
	id := path.Base(u.Path)
	if loc := res.header("progress-location"); loc != "" && loc != "/api/v1/uploads/"+id+"/progress" {
		t.Errorf("Progress-Location %q, want /api/v1/uploads/%s/progress", loc, id)
	}
	// One processing run, finished, and it made the very file the last
	// PATCH reported.
	status, _, body := in.send("admin", tusPW, davReq{method: "GET", path: "/api/v1/uploads/" + id + "/progress",
		headers: map[string]string{"Accept": "application/json"}})
	var st struct {
		State  string `json:"state"`
		FileID int64  `json:"fileId"`
		ETag   string `json:"etag"`
	}
	if err := json.Unmarshal([]byte(body), &st); status != http.StatusOK || err != nil {
		t.Fatalf("progress of %s: %d %s", id, status, body)
	}
	if st.State != "done" || strconv.FormatInt(st.FileID, 10) != res.header("oc-fileid") || st.ETag != res.header("etag") {
		t.Errorf("progress of %s: %s; want done with file %s, ETag %s", id, body, res.header("oc-fileid"), res.header("etag"))
	}
}

// ---- driving upload.mjs

// tusjs is upload.mjs, ready to run.
type tusjs struct {
	node, script string
}

var tusjsSetup struct {
	once sync.Once
	err  error
}

// tusJS returns the node program and upload.mjs, installing e2e/tusjs's
// locked dependencies with "npm ci" first (once per test binary) when they
// are missing. Without node, or when npm ci fails, the test is skipped
// loudly, and fails under CI=true.
func tusJS(t *testing.T) tusjs {
	t.Helper()
	node := requireTool(t, "node", "nodejs")
	dir, err := filepath.Abs("tusjs")
	if err != nil {
		t.Fatal(err)
	}
	tusjsSetup.once.Do(func() {
		if installedVersion(dir) == tusjsVersion {
			return
		}
		npm, lerr := exec.LookPath("npm")
		if lerr != nil {
			tusjsSetup.err = fmt.Errorf("e2e/tusjs/node_modules is missing and npm is not installed (apt-get install npm)")
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: npm ci in %s\n", dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tusjsSetup.err = fmt.Errorf("npm ci in e2e/tusjs: %v\n%s", err, out)
			return
		}
		if v := installedVersion(dir); v != tusjsVersion {
			tusjsSetup.err = fmt.Errorf("after npm ci, e2e/tusjs has tus-js-client %q, want %s", v, tusjsVersion)
		}
	})
	if tusjsSetup.err != nil {
		msg := tusjsSetup.err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	return tusjs{node: node, script: filepath.Join(dir, "upload.mjs")}
}

// installedVersion is the version of tus-js-client in dir/node_modules, or
// "" if there is none.
func installedVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "tus-js-client", "package.json"))
	if err != nil {
		return ""
	}
	var p struct{ Version string }
	json.Unmarshal(b, &p)
	return p.Version
}

// tusUpload is one file to upload to space "files"; its URL storage lives
// next to the file, so successive runs resume.
type tusUpload struct {
	js   tusjs
	args []string
}

// upload prepares uploading src to target with upload.mjs options args.
func (js tusjs) upload(src, target string, args ...string) *tusUpload {
	u := &tusUpload{js: js}
	u.args = append([]string{
		"--file", src,
		"--storage", filepath.Join(filepath.Dir(src), "tus-urls.json"),
		"--user", "admin",
		"--meta", "space=files",
		"--meta", "path=" + target,
		"--timeout", "150",
	}, args...)
	return u
}

// jsEvent is one line upload.mjs prints; the last line of a run has the
// summary fields.
type jsEvent struct {
	Event         string `json:"event"`
	URL           string `json:"url"`
	BytesTotal    int64  `json:"bytesTotal"`
	BytesSent     int64  `json:"bytesSent"`
	BytesAccepted int64  `json:"bytesAccepted"`
	ResumedFrom   *int64 `json:"resumedFrom"`
	Requests      []struct {
		Method string `json:"method"`
		Status int    `json:"status"`
		Offset *int64 `json:"offset"`
	} `json:"requests"`
	Status  int            `json:"status"`
	Headers map[string]any `json:"headers"` // Node's: a string, or a list for repeated ones
	Body    string         `json:"body"`
	Message string         `json:"message"`
	Cause   string         `json:"cause"`

	raw   string
	trail []string // stderr of the run, for failure messages
}

func (e jsEvent) String() string {
	s := "tus-js-client: " + e.raw
	if len(e.trail) > 0 {
		s += "\nstderr: " + strings.Join(e.trail, "\n")
	}
	return s
}

// count is how many answers to method requests the run received.
func (e jsEvent) count(method string) int {
	n := 0
	for _, r := range e.Requests {
		if r.Method == method {
			n++
		}
	}
	return n
}

// header is a header of the last answer (name in lower case).
func (e jsEvent) header(name string) string {
	switch v := e.Headers[name].(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

func fmtOffset(p *int64) string {
	if p == nil {
		return "none (no HEAD)"
	}
	return strconv.FormatInt(*p, 10)
}

// run runs upload.mjs against in's /tus/ with the upload's arguments plus
// extra: strings are more options, a func(jsEvent) is called for every line
// as it arrives. It returns the last line and the exit status.
func (u *tusUpload) run(t *testing.T, in *instance, extra ...any) (jsEvent, int) {
	t.Helper()
	var onEvent func(jsEvent)
	args := append([]string{u.js.script, "--endpoint", in.URL + "/tus/"}, u.args...)
	for _, x := range extra {
		switch x := x.(type) {
		case string:
			args = append(args, x)
		case func(jsEvent):
			onEvent = x
		default:
			t.Fatalf("run: argument %v", x)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.js.node, args...)
	cmd.Env = append(cleanEnv(), "TUSJS_PASSWORD="+tusPW)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last jsEvent
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev jsEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Errorf("upload.mjs printed %q: %v", sc.Text(), err)
			continue
		}
		ev.raw = sc.Text()
		last = ev
		if onEvent != nil {
			onEvent(ev)
		}
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		t.Fatalf("upload.mjs did not finish within 3 minutes: %v\nlast line: %s\nstderr: %s", err, last.raw, stderr.String())
	}
	if code == jsUsageExit || code == jsNoStored || last.Event == "" {
		t.Fatalf("upload.mjs %v: exit %d\nlast line: %s\nstderr: %s", args[1:], code, last.raw, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		last.trail = strings.Split(s, "\n")
	}
	return last, code
}

// ---- plain HTTP helpers

// writeRandomFile writes size random bytes to a new file in a temporary
// directory and returns its path and hex SHA-256.
func writeRandomFile(t *testing.T, size int64) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

func davMkcol(t *testing.T, in *instance, dir string) {
	t.Helper()
	if status, _, body := in.send("admin", tusPW, davReq{method: "MKCOL", path: "/dav/spaces/files/" + dir}); status != http.StatusCreated {
		t.Fatalf("MKCOL %s: %d\n%s", dir, status, body)
	}
}

func spaceHeadStatus(t *testing.T, in *instance, target string) int {
	t.Helper()
	resp := in.do(http.MethodHead, "/dav/spaces/files/"+target, "admin", tusPW, nil)
	return resp.StatusCode
}

// headUpload sends a tus HEAD for uploadURL to in and returns the status,
// Upload-Offset and Upload-Length (-1 when absent).
func headUpload(t *testing.T, in *instance, uploadURL string) (status int, offset, length int64) {
	t.Helper()
	u, err := url.Parse(uploadURL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, in.URL+u.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.SetBasicAuth("admin", tusPW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("HEAD %s: %v", uploadURL, err)
	}
	resp.Body.Close()
	num := func(h string) int64 {
		n, err := strconv.ParseInt(resp.Header.Get(h), 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	return resp.StatusCode, num("Upload-Offset"), num("Upload-Length")
}
