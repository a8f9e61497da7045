package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The browser test drives the web UI in Debian's Chromium, headless, with
// Playwright (e2e/ui/ui.mjs, playwright-core pinned in its
// package-lock.json), the way a person would: sign in, make a folder,
// upload two files through the UI's tus client, reload in the middle of
// the big one and finish it from where the server had got to, watch a file
// added over WebDAV appear, rename, delete, make an app password and use
// it, change the password, look at the admin page and every main view at
// 360 px, sign out. Any console error, page error or CSP violation fails
// it. Screenshots of each page go to $WHARF_UI_SCREENSHOTS, else to a
// temporary directory; the test prints where.

const (
	playwrightVersion = "1.64.1" // must match e2e/ui/package.json
	uiPW              = "browser test password 1"
	uiNewPW           = "browser test password 2"
	uiBigSize         = 30 << 20
	chromiumPath      = "/usr/bin/chromium"
)

var uiSetup struct {
	once sync.Once
	err  error
}

// uiScript returns node and ui.mjs, running "npm ci" in e2e/ui first when
// playwright-core is missing. Without node, Chromium or the package the
// test is skipped loudly, and fails under CI=true.
func uiScript(t *testing.T) (node, script string) {
	t.Helper()
	node = requireTool(t, "node", "nodejs")
	if _, err := os.Stat(chromiumPath); err != nil {
		requireTool(t, "chromium", "chromium")
	}
	dir, err := filepath.Abs("ui")
	if err != nil {
		t.Fatal(err)
	}
	uiSetup.once.Do(func() {
		if packageVersion(dir, "playwright-core") == playwrightVersion {
			return
		}
		npm, lerr := exec.LookPath("npm")
		if lerr != nil {
			uiSetup.err = fmt.Errorf("e2e/ui/node_modules is missing and npm is not installed (apt-get install npm)")
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: npm ci in %s\n", dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			uiSetup.err = fmt.Errorf("npm ci in e2e/ui: %v\n%s", err, out)
			return
		}
		if v := packageVersion(dir, "playwright-core"); v != playwrightVersion {
			uiSetup.err = fmt.Errorf("after npm ci, e2e/ui has playwright-core %q, want %s", v, playwrightVersion)
		}
	})
	if uiSetup.err != nil {
		msg := uiSetup.err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	return node, filepath.Join(dir, "ui.mjs")
}

// packageVersion is the version of npm package name installed in
// dir/node_modules, or "".
func packageVersion(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
	if err != nil {
		return ""
	}
	var p struct{ Version string }
	json.Unmarshal(b, &p)
	return p.Version
}

// uiMessage is a line ui.mjs prints.
type uiMessage struct {
	Event       string   `json:"event"`
	Name        string   `json:"name"`
	Ask         string   `json:"ask"`
	URL         string   `json:"url"`
	Path        string   `json:"path"`
	User        string   `json:"user"`
	Password    string   `json:"password"`
	Offset      int64    `json:"offset"`
	FirstPatch  int64    `json:"firstPatch"`
	Message     string   `json:"message"`
	Problems    []string `json:"problems"`
	Screenshots []string `json:"screenshots"`
}

func TestUIBrowser(t *testing.T) {
	node, script := uiScript(t)
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+uiPW)
	// A pull-mode Phraseanet target, for the Phraseanet page and the
	// "Send to Phraseanet" dialog (its commits wait for Phraseanet to poll).
	mustWharf(t, data, "", "target", "add", "DAM", "--space", "files", "--mode", "pull", "--destination", "42", "--public-url", in.URL)

	files := t.TempDir()
	big := filepath.Join(files, "big.bin")
	bigSum := writeRandomAt(t, big, uiBigSize)
	photo := filepath.Join(files, "photo.png")
	writePNG(t, photo)

	out := os.Getenv("WHARF_UI_SCREENSHOTS")
	if out == "" {
		out = t.TempDir()
	}
	t.Logf("screenshots: %s", out)
	fmt.Fprintf(os.Stderr, "e2e: %s screenshots in %s\n", t.Name(), out)

	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, "--url", in.URL, "--user", "admin", "--new-password", uiNewPW,
		"--big", big, "--small", photo, "--out", out, "--chromium", chromiumPath)
	cmd.Env = append(cleanEnv(), "UI_PASSWORD="+uiPW)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	answer := func(v any) {
		b, _ := json.Marshal(v)
		stdin.Write(append(b, '\n'))
	}

	var last uiMessage
	var resumed *uiMessage
	var headOffset int64 = -1
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m uiMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("ui.mjs printed %q: %v", sc.Text(), err)
			continue
		}
		last = m
		switch m.Event {
		case "step":
			t.Logf("%5.1fs %s", time.Since(begin).Seconds(), m.Name)
		case "resumed":
			resumed = &m
		case "ask":
			switch m.Ask {
			case "head":
				// Where the server stands on the big upload, the page
				// having been reloaded in the middle of it.
				u, err := url.Parse(m.URL)
				if err != nil {
					t.Fatal(err)
				}
				status, h, _ := in.send("admin", uiPW, davReq{method: http.MethodHead, path: u.Path, headers: map[string]string{"Tus-Resumable": "1.0.0"}})
				offset, err := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
				if status != http.StatusOK || err != nil {
					answer(map[string]string{"error": fmt.Sprintf("HEAD %s: %d, Upload-Offset %q", m.URL, status, h.Get("Upload-Offset"))})
					continue
				}
				headOffset = offset
				answer(map[string]int64{"offset": offset})
			case "dav-put":
				status, _, body := in.send("admin", uiPW, davReq{method: http.MethodPut, path: "/dav/spaces/files/" + m.Path, body: "added by WebDAV while the folder was open\n"})
				if status != http.StatusCreated {
					answer(map[string]string{"error": fmt.Sprintf("PUT %s: %d %s", m.Path, status, body)})
					continue
				}
				answer(map[string]int{"status": status})
			case "dav-list":
				paths, err := davTree(in, "/dav/spaces/files/"+m.Path)
				if err != nil {
					answer(map[string]string{"error": err.Error()})
					continue
				}
				answer(map[string][]string{"paths": paths})
			case "app-password":
				status, _, _ := in.send(m.User, m.Password, davReq{method: "PROPFIND", path: "/dav/", headers: map[string]string{"Depth": "1"}})
				answer(map[string]int{"status": status})
			default:
				answer(map[string]string{"error": "unknown question " + m.Ask})
			}
		}
	}
	stdin.Close()
	err = cmd.Wait()
	elapsed := time.Since(begin)
	if ctx.Err() != nil {
		t.Fatalf("ui.mjs did not finish within 150 s (last: %+v)\nstderr: %s\nserver:\n%s", last, stderr.String(), tail(in.output(), 40))
	}
	if last.Event != "done" {
		t.Fatalf("ui.mjs: %v; last line %q: %s\nproblems: %s\nstderr: %s\nserver:\n%s", err, last.Event, last.Message,
			strings.Join(last.Problems, "\n"), stderr.String(), tail(in.output(), 40))
	}
	t.Logf("browser run took %.1fs; %d screenshots in %s", elapsed.Seconds(), len(last.Screenshots), out)

	// The reload left part of the big file on the server, and the upload
	// went on from there rather than from 0.
	if headOffset <= 0 || headOffset >= uiBigSize {
		t.Errorf("after the reload the server held %d bytes of %d: want some but not all", headOffset, uiBigSize)
	}
	if resumed == nil || resumed.FirstPatch != headOffset {
		t.Errorf("resumed upload: %+v; want its first PATCH at offset %d", resumed, headOffset)
	}
	// Six uploads made: photo.png and big.bin (resumed, not restarted),
	// the two dropped files and the two of the folder.
	if n := strings.Count(in.output(), "method=POST path=/tus/ status=201"); n != 6 {
		t.Errorf("the server created %d tus uploads, want 6 (photo.png and big.bin, resumed not restarted; 2 dropped; 2 in a folder)", n)
	}
	checkUIFile(t, in, "incoming/dropped-2.txt", sum([]byte("dropped two\n")))
	checkUIFile(t, in, "incoming/album/day 2/notes.txt", sum([]byte("notes\n")))
	checkUIFile(t, in, "incoming/big.bin", bigSum)
	if status, _, _ := in.send("admin", uiNewPW, davReq{method: "PROPFIND", path: "/dav/", headers: map[string]string{"Depth": "0"}}); status != http.StatusMultiStatus {
		t.Errorf("PROPFIND /dav/ with the password changed in the UI: %d, want 207", status)
	}
	if elapsed > 60*time.Second {
		t.Logf("warning: the browser run took %.0fs, more than the 60 s it is meant to", elapsed.Seconds())
	}
}

// checkUIFile checks the SHA-256 of a file in space "files".
func checkUIFile(t *testing.T, in *instance, p, sum string) {
	t.Helper()
	status, _, body := in.send("admin", uiNewPW, davReq{method: "PROPFIND", path: "/dav/spaces/files/" + p,
		headers: map[string]string{"Depth": "0", "Content-Type": "application/xml"},
		body:    `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><oc:checksums/></D:prop></D:propfind>`})
	if status != http.StatusMultiStatus || !strings.Contains(strings.ToLower(body), "sha256:"+sum) {
		t.Errorf("PROPFIND %s oc:checksums: %d, want 207 with SHA256:%s\n%s", p, status, sum, body)
	}
}

// writeRandomAt writes size random bytes to p and returns their hex SHA-256.
func writeRandomAt(t *testing.T, p string, size int64) string {
	t.Helper()
	src, sum := writeRandomFile(t, size)
	if err := os.Rename(src, p); err != nil {
		t.Fatal(err)
	}
	return sum
}

// writePNG writes a small gradient image, from which processing makes a
// thumbnail.
func writePNG(t *testing.T, p string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(x * 255 / 320), uint8(y * 255 / 240), 160, 255})
		}
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var hrefPattern = regexp.MustCompile(`<D:href>([^<]*)</D:href>`)

// davTree lists what is below the WebDAV folder dir (a path ending in
// "/"), one PROPFIND of Depth 1 per folder: the paths relative to dir,
// folders ending in "/", sorted.
func davTree(in *instance, dir string) ([]string, error) {
	var out []string
	var walk func(d string) error
	walk = func(d string) error {
		status, _, body := in.send("admin", uiPW, davReq{method: "PROPFIND", path: d, headers: map[string]string{"Depth": "1"}})
		if status != http.StatusMultiStatus {
			return fmt.Errorf("PROPFIND %s: %d", d, status)
		}
		for _, m := range hrefPattern.FindAllStringSubmatch(body, -1) {
			p, err := url.PathUnescape(m[1])
			if err != nil {
				return err
			}
			if p == d {
				continue
			}
			out = append(out, strings.TrimPrefix(p, dir))
			if strings.HasSuffix(p, "/") {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := walk(dir)
	sort.Strings(out)
	return out, err
}
