package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLinksBrowser opens a folder link and a drop link in Chromium with
// Playwright (e2e/ui/links.mjs), without an account: the folder's listing
// and a subfolder, then a file dropped through the drop page's tus client,
// which must land in the folder; then, signed in, a link made, opened and
// revoked in the folder view's Share dialog, and a search. Skipped loudly without node, Chromium or
// playwright-core (failing under CI=true), as TestUIBrowser is.
func TestLinksBrowser(t *testing.T) {
	node, _ := uiScript(t)
	script, err := filepath.Abs(filepath.Join("ui", "links.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+uiPW)
	expect := func(want int, req davReq) string {
		t.Helper()
		st, _, body := in.send("admin", uiPW, req)
		if st != want {
			t.Fatalf("%s %s: %d, want %d: %s", req.method, req.path, st, want, body)
		}
		return body
	}
	expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/photos"})
	expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/photos/sub"})
	expect(201, davReq{method: "PUT", path: "/dav/spaces/files/photos/a.txt", body: "a"})
	expect(201, davReq{method: "PUT", path: "/dav/spaces/files/photos/R%C3%A9sum%C3%A9.txt", body: "cv"})
	expect(201, davReq{method: "PUT", path: "/dav/spaces/files/photos/sub/b.txt", body: "b"})
	expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/inbox"})
	expect(201, davReq{method: "PUT", path: "/dav/spaces/files/inbox/already-there.txt", body: "private"})
	folder, _ := linkCreate(t, in, "", "files", "photos")
	drop, _ := linkCreate(t, in, "", "files", "inbox", "--upload-only")

	dropped := filepath.Join(t.TempDir(), "from-the-browser.txt")
	if err := os.WriteFile(dropped, []byte("dropped in a browser\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("WHARF_UI_SCREENSHOTS")
	if out == "" {
		out = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, "--folder", folder, "--drop", drop, "--file", dropped, "--out", out,
		"--chromium", chromiumPath, "--url", in.URL, "--user", "admin")
	cmd.Env = append(cleanEnv(), "UI_PASSWORD="+uiPW)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last uiMessage
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Errorf("links.mjs printed %q", sc.Text())
		}
		if last.Event == "step" {
			t.Logf("%s", last.Name)
		}
	}
	err = cmd.Wait()
	if last.Event != "done" {
		t.Fatalf("links.mjs: %v; %s: %s\nproblems: %s\nstderr: %s\nserver:\n%s", err, last.Event, last.Message,
			strings.Join(last.Problems, "\n"), stderr.String(), tail(in.output(), 30))
	}
	if body := expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/from-the-browser.txt"}); body != "dropped in a browser\n" {
		t.Errorf("the dropped file holds %q", body)
	}
}
