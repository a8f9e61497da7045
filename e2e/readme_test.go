package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's tour is runnable as pasted: this test runs the shell blocks
// marked <!-- tour --> (and <!-- tour: needs rclone -->, when rclone is
// installed) in order, in one bash, against a fresh server, the way a
// reader does after "make install" and "wharf serve": wharf on the PATH,
// a HOME of its own (the data directory is its ~/.local/share/wharf, the
// default), no WHARF_ variables. The only changes to the text are the
// addresses: the server's loopback port for 127.0.0.1:8080, and a closed
// loopback port for the placeholder Phraseanet host the text tells the
// reader to replace.

// tourMarker starts a runnable block: the line before its opening fence.
var tourMarker = regexp.MustCompile(`^<!-- tour(?:: needs (\w+))? -->$`)

type tourBlock struct {
	line  int    // of the opening fence in README.md
	needs string // a program the block needs, "" for none beyond bash, curl, coreutils
	text  string
}

func tourBlocks(t *testing.T) []tourBlock {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var blocks []tourBlock
	for i := 0; i < len(lines); i++ {
		m := tourMarker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
			t.Fatalf("README.md:%d: %s is not followed by a ```sh block", i+1, lines[i])
		}
		blk := tourBlock{line: i + 2, needs: m[1]}
		var body []string
		for i += 2; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		blk.text = strings.Join(body, "\n")
		blocks = append(blocks, blk)
	}
	return blocks
}

func TestReadmeTour(t *testing.T) {
	requireTool(t, "bash", "bash")
	requireTool(t, "curl", "curl")
	blocks := tourBlocks(t)
	if len(blocks) < 8 {
		t.Fatalf("README.md has %d tour blocks; the tour has at least 8", len(blocks))
	}
	home := t.TempDir()
	data := filepath.Join(home, ".local", "share", "wharf")
	in := start(t, data, "HOME="+home)

	var script strings.Builder
	script.WriteString("set -euo pipefail\ncd ~\n")
	for _, b := range blocks {
		if b.needs != "" {
			if _, err := exec.LookPath(b.needs); err != nil {
				requireTool(t, b.needs, b.needs) // skips loudly, fails under CI=true
			}
		}
		text := strings.NewReplacer("http://127.0.0.1:8080", in.URL, "https://dam.example.org", "http://127.0.0.1:9").Replace(b.text)
		script.WriteString("echo '== README.md line " + strconv.Itoa(b.line) + "' >&2\n" + text + "\n")
	}

	env := []string{"HOME=" + home, "PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range cleanEnv() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "HOME" && k != "PATH" && !strings.HasPrefix(k, "XDG_") && !strings.HasPrefix(k, "RCLONE_") {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = home, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("the tour fails: %v\nstdout:\n%s\nstderr (== marks each block):\n%s\nserver:\n%s", err, out.String(), errb.String(), in.output())
	}

	tour := filepath.Join(home, "wharf-tour")
	checks := []struct {
		what string
		ok   bool
	}{
		{"the tus upload is in the space", fileSize(filepath.Join(data, "spaces", "team-photos", "big.mov")) == 20000000},
		{"the WebDAV upload is in the space", fileSize(filepath.Join(data, "spaces", "team-photos", "holiday.jpg")) > 0},
		{"push put the folder in the space", fileSize(filepath.Join(data, "spaces", "team-photos", "shoots", "2026-11", "shoot", "holiday.jpg")) > 0},
		{"pull brought it back", fileSize(filepath.Join(tour, "copy", "shoot", "holiday.jpg")) > 0},
		{"restore made a data directory", fileSize(filepath.Join(tour, "restored", "wharf.db")) > 0},
		{"target test printed the pull URI on the server's URL", strings.Contains(out.String(), "pull_uri="+in.URL+"/commits?target=")},
		{"the space id was printed", strings.Contains(out.String(), "team-photos\n")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("after the tour: not so that %s\nstdout:\n%s\nstderr:\n%s", c.what, out.String(), errb.String())
		}
	}
}

// TestReadmeInstall: the install the tour starts with does what it says,
// checked as a dry run (make -n) so the test writes nothing.
func TestReadmeInstall(t *testing.T) {
	makeBin := requireTool(t, "make", "make")
	prefix := filepath.Join(t.TempDir(), "local")
	cmd := exec.CommandContext(t.Context(), makeBin, "-n", "install", "PREFIX="+prefix)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bin/wharf '"+filepath.Join(prefix, "bin", "wharf")+"'") {
		t.Errorf("make -n install PREFIX=%s: %v\n%s", prefix, err, out)
	}
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}
