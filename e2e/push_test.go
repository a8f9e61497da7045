package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharfhq/wharf/e2e/phrasesim"
)

// cliUser runs the client commands (login, push, pull) of the binary as a
// user whose home, config and cache directories are temporary, so nothing
// touches the real ones.
type cliUser struct {
	t    *testing.T
	home string
	env  []string
}

func newCLIUser(t *testing.T) *cliUser {
	home := t.TempDir()
	env := append(cleanEnv(), "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	return &cliUser{t: t, home: home, env: env}
}

func (u *cliUser) command(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = u.env
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

func (u *cliUser) run(stdin string, args ...string) cmdResult {
	u.t.Helper()
	cmd := u.command(stdin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		u.t.Fatalf("wharf %v did not finish within 3 minutes\nstdout: %s\nstderr: %s", args, out.String(), errb.String())
	}
	res := cmdResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("wharf %v: %v", args, err)
	}
	return res
}

// pushEvent is one JSON line of "wharf push --json".
type pushEvent struct {
	Event     string `json:"event"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	From      int64  `json:"from"`
	Offset    int64  `json:"offset"`
	Sent      int64  `json:"sent"`
	Resumed   bool   `json:"resumed"`
	SHA256    string `json:"sha256"`
	Reason    string `json:"reason"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	BytesSent int64  `json:"bytes_sent"`
	Done      int    `json:"done"`
	Skipped   int    `json:"skipped"`
	Rejected  int    `json:"rejected"`
	Failed    int    `json:"failed"`
}

// pushRun is one run of push --json: its events, stderr and exit status.
type pushRun struct {
	events []pushEvent
	stderr string
	code   int
}

func (r pushRun) String() string {
	var b strings.Builder
	for _, e := range r.events {
		if e.Event != "progress" && e.Event != "total" && e.Event != "skip" {
			fmt.Fprintf(&b, "%s %s from=%d resumed=%v %s%s%s\n", e.Event, e.Path, e.From, e.Resumed, e.Reason, e.Error, e.Message)
		}
	}
	return b.String() + "stderr: " + r.stderr
}

// by returns, per path, the events of kind.
func (r pushRun) by(kind string) map[string]pushEvent {
	m := map[string]pushEvent{}
	for _, e := range r.events {
		if e.Event == kind {
			m[e.Path] = e
		}
	}
	return m
}

// sentTo is the bytes this run acknowledged per file.
func (r pushRun) sentTo() map[string]int64 {
	m := map[string]int64{}
	for _, e := range r.events {
		if e.Event == "progress" {
			m[e.Path] += e.Sent
		}
	}
	return m
}

// pushJSON runs push --json and calls on for every event, with the process
// (to signal it).
func (u *cliUser) pushJSON(args []string, on func(pushEvent, *os.Process)) pushRun {
	u.t.Helper()
	cmd := u.command("", append([]string{"push", "--json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		u.t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var run pushRun
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ev pushEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			u.t.Errorf("push --json printed a line that is not JSON: %q", sc.Text())
			continue
		}
		run.events = append(run.events, ev)
		if on != nil {
			on(ev, cmd.Process)
		}
	}
	err = cmd.Wait()
	run.stderr = errb.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		run.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			run.code = -int(ws.Signal())
		}
	} else if err != nil {
		u.t.Fatal(err)
	}
	return run
}

// login signs in as admin with the password on standard input (no
// terminal), or, when the server has no token endpoint yet, keeps a token
// made with "wharf token create".
func (u *cliUser) login(in *instance) {
	u.t.Helper()
	res := u.run("admin\n"+tusPW+"\n", "login", in.URL)
	if res.code != 0 && strings.Contains(res.stderr, "not supported") {
		u.t.Logf("the server has no POST /api/v1/auth/token yet: logging in with --token instead")
		tok := mustWharf(u.t, in.Data, "", "token", "create", "admin")
		res = u.run("", "login", in.URL, "--token", tok)
	}
	if res.code != 0 {
		u.t.Fatalf("login: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// makeTree writes n files under root/name: a few of several MiB, the rest
// small, one empty, in nested folders. It returns their SHA-256 by slash
// path relative to root.
func makeTree(t *testing.T, root, name string, n int, bigs int, bigSize int64) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for i := range n {
		var rel string
		var size int64
		switch {
		case i < bigs:
			rel, size = fmt.Sprintf("%s/zbig/b%02d.bin", name, i), bigSize
		case i == bigs:
			rel = name + "/empty.txt"
		default:
			rel = fmt.Sprintf("%s/d%d/sub%d/f%03d.dat", name, i%4, i%3, i)
			size = int64(1 + (i*7919)%(24<<10))
		}
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		sums[rel] = hex.EncodeToString(s[:])
	}
	return sums
}

// checkRemote GETs every file of sums under dir of space "files" and
// compares its SHA-256.
func checkRemote(t *testing.T, in *instance, dir string, sums map[string]string) {
	t.Helper()
	bad := 0
	for rel, want := range sums {
		resp := in.do(http.MethodGet, "/dav/spaces/files/"+dir+"/"+rel, "admin", tusPW, nil)
		h := sha256.New()
		io.Copy(h, resp.Body)
		resp.Body.Close()
		if got := hex.EncodeToString(h.Sum(nil)); resp.StatusCode != http.StatusOK || got != want {
			if bad++; bad <= 5 {
				t.Errorf("%s on the server: status %d, sha256 %s, want 200 and %s", rel, resp.StatusCode, got, want)
			}
		}
	}
	if bad > 5 {
		t.Errorf("… %d files wrong in all", bad)
	}
}

// TestPushResumesAfterClientKill pushes a 200-file tree 3 at a time. The
// first run is stopped with SIGINT (exit 130), the second killed with
// SIGKILL; the third completes. Files done by an earlier run are never sent
// again, the file in flight resumes from the server's offset on the same
// upload, and every file on the server has the local SHA-256.
func TestPushResumesAfterClientKill(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	u := newCLIUser(t)
	u.login(in)
	src := t.TempDir()
	sums := makeTree(t, src, "tree", 200, 3, 3<<20)
	args := []string{"--space", "files", "--to", "in", "--parallel", "3", "--chunk-size", "512K", filepath.Join(src, "tree")}
	slow := append([]string{"--limit-rate", "3M"}, args...)

	// Ctrl-C: stops cleanly with 130.
	var once sync.Once
	first := u.pushJSON(slow, func(ev pushEvent, p *os.Process) {
		if ev.Event == "done" && len(ev.Path) > 0 {
			once.Do(func() { time.AfterFunc(time.Second, func() { p.Signal(os.Interrupt) }) })
		}
	})
	if first.code != 130 {
		t.Fatalf("push after SIGINT: exit %d, want 130\n%s", first.code, first)
	}
	if !strings.Contains(first.stderr, "resume") {
		t.Errorf("push after SIGINT says nothing about resuming: %s", first.stderr)
	}

	// SIGKILL in the middle of a large file (they are walked last).
	killed := false
	second := u.pushJSON(slow, func(ev pushEvent, p *os.Process) {
		if ev.Event == "progress" && !killed && strings.Contains(ev.Path, "/zbig/") && ev.Offset >= 1<<20 && ev.Offset < ev.Size {
			p.Kill()
			killed = true
		}
	})
	if !killed || second.code != -int(syscall.SIGKILL) {
		t.Fatalf("second push was not killed midway (exit %d)\n%s", second.code, second)
	}

	third := u.pushJSON(args, nil)
	if third.code != 0 {
		t.Fatalf("third push: exit %d, want 0\n%s", third.code, third)
	}
	checkRemote(t, in, "in", sums)

	// Nothing twice: what an earlier run finished is skipped, not sent.
	earlier := map[string]bool{}
	for p := range first.by("done") {
		earlier[p] = true
	}
	for p := range second.by("done") {
		earlier[p] = true
	}
	skipped := third.by("skip")
	for p := range earlier {
		if _, ok := skipped[p]; !ok {
			t.Errorf("%s was done before the kill but the third run did not skip it", p)
		}
	}
	for p, ev := range third.by("upload") {
		if earlier[p] {
			t.Errorf("%s was done before the kill and was sent again: %+v", p, ev)
		}
	}
	// Only the rest: a file in flight at the kill resumes on its upload at
	// no less than what the killed run had acknowledged.
	acked := map[string]int64{}
	for _, e := range second.events {
		if e.Event == "progress" && !earlier[e.Path] {
			acked[e.Path] = e.Offset
		}
	}
	uploads := third.by("upload")
	resumed := 0
	for p, off := range acked {
		ev, ok := uploads[p]
		if !ok {
			continue // finished on the server before the kill: HEAD said so
		}
		if !ev.Resumed || ev.From < off {
			t.Errorf("%s: third run started at %d (resumed %v), want the same upload at >= %d", p, ev.From, ev.Resumed, off)
		}
		if ev.From > 0 {
			resumed++
		}
	}
	if resumed == 0 {
		t.Errorf("no file resumed in the middle after the kill (acknowledged before it: %v)\n%s", acked, third)
	}
	t.Logf("runs: %d + %d files done before the kill; third run sent %d files (%d resumed mid-file), skipped %d",
		len(first.by("done")), len(second.by("done")), len(uploads), resumed, len(skipped))
	var total, sent int64
	for p, n := range third.sentTo() {
		total += n
		if uploads[p].Size-uploads[p].From != n {
			t.Errorf("%s: third run sent %d bytes, want %d (size - resume offset)", p, n, uploads[p].Size-uploads[p].From)
		}
	}
	for _, e := range third.events {
		if e.Event == "summary" {
			sent = e.BytesSent
			if e.Done != 200 || e.Rejected != 0 || e.Failed != 0 {
				t.Errorf("summary: %+v, want 200 done", e)
			}
		}
	}
	if sent != total {
		t.Errorf("summary says %d bytes sent, progress events add up to %d", sent, total)
	}

	// The server saw each file created once, give or take the uploads a
	// signal caught between the server's 201 and the state file (at most
	// one per worker and interruption).
	if posts := strings.Count(in.output(), "method=POST path=/tus/ status=201"); posts < 200 || posts > 200+2*3 {
		t.Errorf("the server created %d tus uploads for 200 files, want 200 (at most 206)", posts)
	} else {
		t.Logf("the server created %d tus uploads for 200 files", posts)
	}

	// A fourth run sends nothing.
	fourth := u.pushJSON(args, nil)
	if fourth.code != 0 || len(fourth.by("upload")) != 0 || len(fourth.by("skip")) != 200 {
		t.Errorf("fourth push: exit %d, %d uploads, %d skipped; want 0, 0, 200\n%s", fourth.code, len(fourth.by("upload")), len(fourth.by("skip")), fourth)
	}
	checkFinalize(t, fourth)

	// A new run (other state) with the same files skips what the server
	// already holds with the same SHA-256.
	u2 := newCLIUser(t)
	u2.login(in)
	fresh := u2.pushJSON(args, nil)
	if fresh.code != 0 || len(fresh.by("upload")) != 0 {
		t.Errorf("push from a fresh cache: exit %d, %d uploads, want 0 and 0 (all on the server already)\n%s", fresh.code, len(fresh.by("upload")), fresh)
	}
	for p, ev := range fresh.by("skip") {
		if ev.Reason != "already on the server" {
			t.Errorf("%s skipped because %q, want \"already on the server\"", p, ev.Reason)
		}
	}
}

// checkFinalize logs, rather than fails, when the server has no finalize
// endpoint yet; otherwise it must have succeeded.
func checkFinalize(t *testing.T, r pushRun) {
	t.Helper()
	for _, e := range r.events {
		if e.Event != "finalize" {
			continue
		}
		switch {
		case strings.Contains(e.Message, "skipped"):
			t.Logf("finalize not checked: %s", e.Message)
		case strings.Contains(e.Message, "failed"):
			t.Errorf("finalize: %s", e.Message)
		}
		return
	}
	t.Errorf("push printed no finalize event\n%s", r)
}

// TestPushSurvivesServerKill kills the server (SIGKILL) while a push runs
// and starts it again on the same port: the client retries, and a rerun
// completes with every file intact.
func TestPushSurvivesServerKill(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	u := newCLIUser(t)
	u.login(in)
	src := t.TempDir()
	sums := makeTree(t, src, "tree", 60, 3, 4<<20)
	args := []string{"--space", "files", "--parallel", "3", "--chunk-size", "1M", filepath.Join(src, "tree")}

	var restarted chan *instance = make(chan *instance, 1)
	var once sync.Once
	first := u.pushJSON(append([]string{"--limit-rate", "4M"}, args...), func(ev pushEvent, _ *os.Process) {
		if ev.Event == "progress" && strings.Contains(ev.Path, "big/") && ev.Offset >= 2<<20 {
			once.Do(func() {
				old := in
				old.kill()
				go func() {
					time.Sleep(2 * time.Second) // down long enough for requests to fail
					restarted <- restartSamePort(t, old, true)
				}()
			})
		}
	})
	select {
	case in = <-restarted:
	case <-time.After(30 * time.Second):
		t.Fatal("the server was never killed: the push finished too fast")
	}
	if !strings.Contains(first.String(), "retry") {
		t.Errorf("the client did not report retrying while the server was down\n%s", first)
	}
	t.Logf("push during the server kill: exit %d", first.code)
	again := u.pushJSON(args, nil)
	if again.code != 0 {
		t.Fatalf("rerun after the server restart: exit %d\n%s", again.code, again)
	}
	if first.code == 0 && len(again.by("upload")) != 0 {
		t.Errorf("the first run completed, yet the rerun uploaded %d files\n%s", len(again.by("upload")), again)
	}
	checkRemote(t, in, "", sums)
}

// TestPushPrecheck: a bad name, an unreadable file and a push larger than
// the space's quota are all reported by one run, with exit 2, and nothing
// is uploaded.
func TestPushPrecheck(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	mustWharf(t, in.Data, "", "space", "create", "Small", "--quota", "64K", "--owner", "admin")
	u := newCLIUser(t)
	u.login(in)
	src := filepath.Join(t.TempDir(), "batch")
	for name, size := range map[string]int{"ok.bin": 100 << 10, "what?.txt": 10, "NUL.txt": 1, "trailing. ": 1} {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Unreadable: a dangling link always (root reads any mode), mode 000
	// when not root.
	if err := os.Symlink(filepath.Join(src, "gone"), filepath.Join(src, "dangling.jpg")); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		os.WriteFile(filepath.Join(src, "secret.txt"), []byte("x"), 0o000)
	}
	res := u.run("", "push", "--space", "small", src)
	if res.code != 2 {
		t.Fatalf("push: exit %d, want 2\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{`what?.txt: name contains '?'`, `NUL.txt: "NUL" is a reserved device name`,
		"trailing. : name ends with a dot or a space", "dangling.jpg: no such file or directory", "only 64.0 KiB free", "nothing uploaded"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("precheck output lacks %q:\n%s", want, res.stderr)
		}
	}
	if os.Geteuid() != 0 && !strings.Contains(res.stderr, "secret.txt: permission denied") {
		t.Errorf("precheck output lacks the unreadable file:\n%s", res.stderr)
	}
	status, _, body := in.send("admin", tusPW, davReq{method: "PROPFIND", path: "/dav/spaces/small/", headers: map[string]string{"Depth": "1"}})
	if status != http.StatusMultiStatus || strings.Count(body, "<D:response>") != 1 {
		t.Errorf("space after a failed precheck: %d, want only the root listed\n%s", status, body)
	}
	// Not logged in: exit 2 too.
	if res := newCLIUser(t).run("", "push", "--space", "files", src); res.code != 2 || !strings.Contains(res.stderr, "login") {
		t.Errorf("push without login: exit %d, want 2 and a hint to log in\n%s", res.code, res.stderr)
	}
}

// TestPushProgressOutput checks the three progress forms: plain lines on a
// pipe, JSON lines with --json, and bars redrawn in place on a terminal.
func TestPushProgressOutput(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	u := newCLIUser(t)
	u.login(in)
	src := t.TempDir()
	makeTree(t, src, "tree", 8, 2, 2<<20)
	args := func(to string) []string {
		return []string{"push", "--space", "files", "--to", to, "--limit-rate", "2M", "--chunk-size", "256K", filepath.Join(src, "tree")}
	}

	t.Run("pipe", func(t *testing.T) {
		res := u.run("", args("pipe")...)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if strings.Contains(res.stdout, "\x1b[") {
			t.Errorf("escape sequences on a pipe:\n%q", res.stdout)
		}
		for _, want := range []string{"upload tree/zbig/b00.bin (2.0 MiB)", "done tree/zbig/b00.bin", "total ", "/s, ETA ", "8 of 8 files done"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("plain output lacks %q:\n%s", want, res.stdout)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		r := u.pushJSON(args("json")[1:], nil)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r)
		}
		kinds := map[string]int{}
		for _, e := range r.events {
			kinds[e.Event]++
		}
		for _, k := range []string{"upload", "progress", "done", "total", "summary"} {
			if kinds[k] == 0 {
				t.Errorf("no %q event: %v", k, kinds)
			}
		}
		if kinds["done"] != 8 {
			t.Errorf("%d done events, want 8", kinds["done"])
		}
	})
	t.Run("terminal", func(t *testing.T) {
		out := runInPTY(t, u, args("tty")...)
		redraws := strings.Count(out, "\x1b[J")
		if redraws < 3 || !strings.Contains(out, "A\x1b[J") {
			t.Errorf("%d in-place redraws (cursor up + clear), want several:\n%q", redraws, out)
		}
		for _, want := range []string{"[####", "% tree/zbig/b0", "total ", "ETA", "8 of 8 files done"} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal output lacks %q:\n%q", want, out)
			}
		}
	})
}

// runInPTY runs the binary with a pseudo-terminal as stdout and stderr
// (opened through /dev/ptmx and its ioctls) and returns what it wrote.
func runInPTY(t *testing.T, u *cliUser, args ...string) string {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := u.command("", args...)
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, master) // ends with EIO once the child is gone
		close(copied)
	}()
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err = cmd.Wait()
	<-copied
	if err != nil {
		t.Fatalf("wharf %v on a terminal: %v\n%q", args, err, out.String())
	}
	return out.String()
}

// TestPull pulls a folder, is killed in the middle, and resumes the partial
// file with a Range request; every file matches the server's SHA-256.
func TestPull(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	u := newCLIUser(t)
	u.login(in)
	src := t.TempDir()
	sums := makeTree(t, src, "album", 12, 2, 6<<20)
	if r := u.run("", "push", "--space", "files", filepath.Join(src, "album")); r.code != 0 {
		t.Fatalf("push: exit %d\n%s", r.code, r.stderr)
	}
	dest := filepath.Join(t.TempDir(), "copy")
	url := in.URL + "/dav/spaces/files/album"

	// First try, slow, killed once a partial file has grown.
	cmd := u.command("", "pull", "--limit-rate", "4M", url, dest)
	var firstOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &firstOut, &firstOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var part string
	for part == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		parts, _ := filepath.Glob(filepath.Join(dest, "zbig", "*.part"))
		for _, p := range parts {
			if fi, err := os.Stat(p); err == nil && fi.Size() >= 1<<20 {
				part = p
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if part == "" {
		t.Fatalf("no partial file grew during the first pull:\n%s", firstOut.String())
	}

	res := u.run("", "pull", url, dest)
	if res.code != 0 {
		t.Fatalf("second pull: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, strings.TrimSuffix(part, ".part")+" (6.0 MiB, sha256 ") || !strings.Contains(res.stdout, ", resumed at ") {
		t.Errorf("second pull did not resume %s:\n%s", part, res.stdout)
	}
	for rel, want := range sums {
		p := filepath.Join(filepath.Dir(dest), "copy", strings.TrimPrefix(rel, "album/"))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != want {
			t.Errorf("%s: content differs from what was pushed", rel)
		}
	}
	if parts, _ := filepath.Glob(filepath.Join(dest, "*", "*.part")); len(parts) > 0 {
		t.Errorf("partial files left: %v", parts)
	}
}

// TestLoginLogout: login stores the token with mode 0600; logout revokes it
// on the server and forgets it.
func TestLoginLogout(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	u := newCLIUser(t)
	u.login(in)
	credPath := filepath.Join(u.home, "config", "wharf", "credentials.json")
	fi, err := os.Stat(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials.json mode %v, want 0600", fi.Mode().Perm())
	}
	var cf struct {
		Servers []struct{ URL, User, Token string }
	}
	b, _ := os.ReadFile(credPath)
	if err := json.Unmarshal(b, &cf); err != nil || len(cf.Servers) != 1 || cf.Servers[0].User != "admin" {
		t.Fatalf("credentials.json: %v %s", err, b)
	}
	tok := cf.Servers[0].Token
	me := func() int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, in.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := me(); s != http.StatusOK {
		t.Fatalf("GET /api/v1/me with the stored token: %d", s)
	}
	if r := u.run("admin\nwrong password\n", "login", in.URL); r.code != 2 {
		t.Errorf("login with a wrong password: exit %d, want 2\n%s", r.code, r.stderr)
	}
	if r := u.run("", "logout", in.URL); r.code != 0 {
		t.Fatalf("logout: exit %d\n%s", r.code, r.stderr)
	}
	b, _ = os.ReadFile(credPath)
	if strings.Contains(string(b), tok) {
		t.Errorf("the token is still stored after logout: %s", b)
	}
	if s := me(); s != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me with the token after logout: %d, want 401 (revoked)", s)
	}
}

// TestPushRejected: a file the space's policy refuses is reported as
// rejected with the server's reason, the others are uploaded, and the exit
// status is 1.
func TestPushRejected(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+tusPW)
	mustWharf(t, in.Data, "", "space", "policy", "files", "--max-file-size", "1K")
	u := newCLIUser(t)
	u.login(in)
	src := filepath.Join(t.TempDir(), "mixed")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "small.txt"), []byte("fits"), 0o644)
	os.WriteFile(filepath.Join(src, "large.bin"), make([]byte, 4<<10), 0o644)
	r := u.pushJSON([]string{"--space", "files", src}, nil)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r)
	}
	if _, ok := r.by("done")["mixed/small.txt"]; !ok {
		t.Errorf("small.txt not uploaded\n%s", r)
	}
	rej, ok := r.by("rejected")["mixed/large.bin"]
	if !ok || rej.Error == "" {
		t.Errorf("large.bin not reported rejected with a reason\n%s", r)
	}
	if status := spaceHeadStatus(t, in, "mixed/large.bin"); status != http.StatusNotFound {
		t.Errorf("the rejected file is in the space: HEAD %d", status)
	}
	t.Logf("rejected: %s", rej.Error)
}

// TestPushToPhraseanet: "wharf push --target" hands what it uploaded to
// Phraseanet as one commit, which the simulator ingests byte-identical and
// acknowledges; pushing again changes nothing.
func TestPushToPhraseanet(t *testing.T) {
	ps := startPh(t)
	files := phFiles(t, "pushed-")
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(files))
	kv := ps.addTarget(t, "dam", pushArgs(sim)...)

	src := t.TempDir()
	args := []string{"push", "--space", "files", "--to", phFolder, "--target", kv["id"], "--form", "metadata-2=From wharf push"}
	for _, f := range files {
		p := filepath.Join(src, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	u := newCLIUser(t)
	if res := u.run("admin\n"+davPW+"\n", "login", ps.URL); res.code != 0 {
		t.Fatalf("login: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := u.run("", args...); res.code != 0 {
		t.Fatalf("push --target: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	recs := waitIngested(t, sim, ps, files, 30*time.Second)
	for _, r := range recs {
		if fmt.Sprint(r.FormData["metadata-2"]) != "From wharf push" {
			t.Errorf("%s reached Phraseanet with form data %v", r.Name, r.FormData)
		}
	}
	states := ps.commitStates(t, kv["id"])
	if len(states) != 1 {
		t.Fatalf("commits after one push: %v, want exactly one", states)
	}
	for id := range states {
		ps.waitState(t, kv["id"], id, "acknowledged", 30*time.Second)
	}
	if res := u.run("", args...); res.code != 0 {
		t.Fatalf("second push: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if states := ps.commitStates(t, kv["id"]); len(states) != 1 {
		t.Errorf("commits after pushing the same files again: %v, want still one", states)
	}
}
