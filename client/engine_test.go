package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWindowsReserved(t *testing.T) {
	for stem, want := range map[string]bool{
		"CON": true, "con": true, "Nul": true, "aux ": true, "COM1": true, "lpt9": true,
		"COM0": false, "COM10": false, "LPT": false, "console": false, "": false, "CONS": false,
	} {
		if got := windowsReserved(stem); got != want {
			t.Errorf("windowsReserved(%q) = %v, want %v", stem, got, want)
		}
	}
}

// TestCollect walks a temporary tree: the files to send with their paths
// under the destination, the folders to create, and every problem at once.
func TestCollect(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("album/a.jpg", "aaa")
	write("album/sub/b.txt", "bb")
	os.MkdirAll(filepath.Join(root, "album", "empty"), 0o755)
	single := write("single.txt", "s")
	other := write("other/single.txt", "again") // same destination as single.txt
	missing := filepath.Join(root, "missing")

	files, dirs, abs, problems := collect([]string{filepath.Join(root, "album"), single, other, missing})

	var rels []string
	for _, f := range files {
		rels = append(rels, f.rel)
		if fi, err := os.Stat(f.abs); err != nil || fi.Size() != f.size || !fi.ModTime().Equal(f.mod) {
			t.Errorf("%s: size %d, mod %v do not match the file (%v)", f.rel, f.size, f.mod, err)
		}
	}
	if want := []string{"album/a.jpg", "album/sub/b.txt", "single.txt"}; !slices.Equal(rels, want) {
		t.Errorf("files %q, want %q", rels, want)
	}
	if want := []string{"album", "album/empty", "album/sub"}; !slices.Equal(dirs, want) {
		t.Errorf("dirs %q, want %q", dirs, want)
	}
	if len(abs) != 4 || abs[0] != filepath.Join(root, "album") {
		t.Errorf("abs %q, want the four arguments made absolute", abs)
	}
	wantProblems := []string{"same destination \"single.txt\"", "missing: "}
	if len(problems) != len(wantProblems) {
		t.Fatalf("problems %q, want %d", problems, len(wantProblems))
	}
	for i, w := range wantProblems {
		if !strings.Contains(problems[i], w) {
			t.Errorf("problem %d: %q, want it to say %q", i, problems[i], w)
		}
	}
}

func TestCollectNamesAndLinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the bad names cannot be created on Windows")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "dir")
	os.MkdirAll(filepath.Join(dir, "folder"), 0o755)
	os.WriteFile(filepath.Join(dir, "what?.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "target.txt"), []byte("t"), 0o644)
	if err := os.Symlink(filepath.Join(dir, "folder"), filepath.Join(dir, "link-to-folder")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	os.Symlink(filepath.Join(dir, "target.txt"), filepath.Join(dir, "link.txt"))

	files, _, _, problems := collect([]string{dir})
	var rels []string
	for _, f := range files {
		rels = append(rels, f.rel)
	}
	// A link to a file is sent as the file (with a bad name still sent:
	// the precheck refuses the whole push).
	if want := []string{"dir/link.txt", "dir/target.txt", "dir/what?.txt"}; !slices.Equal(rels, want) {
		t.Errorf("files %q, want %q", rels, want)
	}
	joined := strings.Join(problems, "\n")
	for _, want := range []string{"which Windows refuses", "a link to a folder is not followed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems do not say %q:\n%s", want, joined)
		}
	}
}

// TestPushStateRoundTrip: what a run saves, the next run of the same push
// finds; another push starts empty.
func TestPushStateRoundTrip(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	t.Setenv("LocalAppData", cache)
	abs := []string{"/data/album", "/data/single.txt"}
	st, err := loadPushState("https://wharf.example", "s1", "inbox", abs)
	if err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	files := []pushFile{{rel: "album/a.jpg", size: 10, mod: mod}, {rel: "single.txt", size: 5, mod: mod}}
	if need := st.reconcile(files); need != 15 {
		t.Errorf("a new state needs %d bytes, want 15", need)
	}
	if err := st.update("album/a.jpg", func(s *fileState) { s.URL, s.Offset = "https://wharf.example/tus/1", 4 }); err != nil {
		t.Fatal(err)
	}
	if err := st.update("single.txt", func(s *fileState) { s.Done, s.SHA256 = true, "abc" }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(st.path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("state file %s: %v, %v; want mode 0600", st.path, fi, err)
	}

	again, err := loadPushState("https://wharf.example", "s1", "inbox", abs)
	if err != nil {
		t.Fatal(err)
	}
	if again.path != st.path {
		t.Errorf("the same push has another state file: %s, %s", again.path, st.path)
	}
	if got := again.get("album/a.jpg"); got.URL != "https://wharf.example/tus/1" || got.Offset != 4 || !got.ModTime.Equal(mod) {
		t.Errorf("album/a.jpg reloaded as %+v", got)
	}
	if got := again.get("single.txt"); !got.Done || got.SHA256 != "abc" {
		t.Errorf("single.txt reloaded as %+v", got)
	}
	// Unchanged files keep their state; a changed one starts over.
	changed := slices.Clone(files)
	changed[0].size = 11
	if need := again.reconcile(changed); need != 11 {
		t.Errorf("after a change %d bytes are needed, want 11 (the changed file, from its start)", need)
	}
	if got := again.get("album/a.jpg"); got.URL != "" || got.Offset != 0 {
		t.Errorf("the changed file kept its upload: %+v", got)
	}

	other, err := loadPushState("https://wharf.example", "s1", "elsewhere", abs)
	if err != nil {
		t.Fatal(err)
	}
	if other.path == st.path || len(other.Files) != 0 {
		t.Errorf("another destination shares the state: %s, %d files", other.path, len(other.Files))
	}

	// A state file that is not JSON is started over, not an error.
	if err := os.WriteFile(st.path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken, err := loadPushState("https://wharf.example", "s1", "inbox", abs)
	if err != nil || len(broken.Files) != 0 {
		t.Errorf("unreadable state: %v, %d files; want a fresh state", err, len(broken.Files))
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	none := newLimiter(0)
	start := time.Now()
	for range 100 {
		if err := none.wait(ctx, 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("no limit waited %v", d)
	}

	// 1000 B/s: the first 100 bytes go at once, each next 100 bytes 0.1 s
	// after the previous.
	l := newLimiter(1000)
	start = time.Now()
	for range 4 {
		if err := l.wait(ctx, 100); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 290*time.Millisecond || d > 2*time.Second {
		t.Errorf("4 x 100 bytes at 1000 B/s took %v, want about 0.3 s", d)
	}

	// Waiting ends with the context.
	slow := newLimiter(1)
	slow.wait(ctx, 3600) // the next bytes may go in an hour
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := slow.wait(cctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with an ended context: %v", err)
	}
}

// TestReporterJSON: with --json every event is one JSON object per line,
// and the summary counts what was reported.
func TestReporterJSON(t *testing.T) {
	var buf bytes.Buffer
	a := pushFile{rel: "a.jpg", size: 300}
	b := pushFile{rel: "sub/b.txt", size: 20}
	c := pushFile{rel: "c.bin", size: 7}
	d := pushFile{rel: "d.bin", size: 1}
	r := newReporter(&buf, ProgressJSON, []pushFile{a, b, c, d})
	r.skip(d, "already on the server", "dd")
	r.start(a, 100, true)
	r.advance(a, 300, 200)
	r.finish(a, "done", "", "aa")
	r.start(b, 0, false)
	r.retry(b, errors.New("connection reset"))
	r.finish(b, "rejected", "virus found", "scan")
	r.finish(c, "failed", "giving up", "")
	r.note("finalize", "commit c1 sent")
	r.summary()

	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", line, err)
		}
		events = append(events, ev)
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev["event"].(string))
	}
	if want := []string{"skip", "upload", "progress", "done", "upload", "retry", "rejected", "failed", "finalize", "summary"}; !slices.Equal(kinds, want) {
		t.Fatalf("events %q, want %q", kinds, want)
	}
	check := func(i int, key string, want any) {
		t.Helper()
		if got := events[i][key]; got != want {
			t.Errorf("%s event: %s = %v (%T), want %v", kinds[i], key, got, got, want)
		}
	}
	check(0, "path", "d.bin")
	check(0, "reason", "already on the server")
	check(0, "sha256", "dd")
	check(1, "from", float64(100))
	check(1, "resumed", true)
	check(2, "offset", float64(300))
	check(2, "sent", float64(200))
	check(3, "sha256", "aa")
	check(5, "error", "connection reset")
	check(6, "error", "virus found")
	check(6, "step", "scan")
	check(7, "error", "giving up")
	check(8, "message", "commit c1 sent")
	check(9, "files", float64(4))
	check(9, "done", float64(2))
	check(9, "skipped", float64(1))
	check(9, "rejected", float64(1))
	check(9, "failed", float64(1))
	check(9, "bytes_sent", float64(200))
}

func TestReporterPlain(t *testing.T) {
	var buf bytes.Buffer
	a := pushFile{rel: "a.jpg", size: 3 << 20}
	r := newReporter(&buf, ProgressPlain, []pushFile{a})
	r.start(a, 1<<20, true)
	r.finish(a, "done", "", "aa")
	out := buf.String()
	for _, want := range []string{"upload a.jpg (3.0 MiB, resuming at 1.0 MiB)\n", "done a.jpg (3.0 MiB, sha256 aa)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCredentials: what login keeps, push and pull find again; the file is
// the user's alone.
func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	t.Setenv("AppData", dir)
	cf, p, err := LoadCredentials()
	if err != nil || len(cf.Servers) != 0 {
		t.Fatalf("no file yet: %v, %d servers", err, len(cf.Servers))
	}
	cf.Put(Credential{URL: "https://a.example", User: "ann", Token: "t1"})
	if got, ok := cf.Find(""); !ok || got.User != "ann" {
		t.Errorf("the only server: %+v, %v", got, ok)
	}
	cf.Put(Credential{URL: "https://b.example", User: "bob", Token: "t2"})
	cf.Put(Credential{URL: "https://a.example", User: "ann", Token: "t3"})
	if err := cf.Save(p); err != nil {
		t.Fatal(err)
	}
	back, p2, err := LoadCredentials()
	if err != nil || p2 != p {
		t.Fatalf("reload: %v, %s", err, p2)
	}
	if len(back.Servers) != 2 {
		t.Errorf("%d servers, want 2 (a login again replaces the entry)", len(back.Servers))
	}
	if got, ok := back.Find("https://a.example"); !ok || got.Token != "t3" {
		t.Errorf("a.example: %+v, %v", got, ok)
	}
	if _, ok := back.Find(""); ok {
		t.Error("with two servers, Find(\"\") picked one")
	}
	if fi, err := os.Stat(p); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("%s: %v, %v; want mode 0600", p, fi, err)
	}
	os.WriteFile(p, []byte("nope"), 0o600)
	if _, _, err := LoadCredentials(); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("a broken file: %v", err)
	}
}
