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

// The shell examples of docs/ run as the README's tour does: every fenced
// block in docs/ names its language, and every shell block (sh, bash,
// shell, console, powershell, bat) is marked on the line before its fence,
//
//	<!-- docs: run -->              run by TestDocsExamples
//	<!-- docs: not run: REASON -->  left out, for REASON
//
// so that a new example is either run or consciously left out. The blocks
// marked run are run in the order of their files and lines, each in a bash
// of its own (set -euo pipefail) in one working directory, against one
// fresh server, with wharf on the PATH and a HOME of their own (the data
// directory is its ~/.local/share/wharf, the default). Before them,
// docsPrelude sets up what the examples assume the reader has: the user
// alice (her password in $PW, set for every block), the spaces files and photos, the files and
// folders the examples name; a command that asks for a user name and a
// password (wharf login) reads alice's, a line each, from its standard
// input. The only changes to the text are the addresses (docsAddresses).

var docsMarker = regexp.MustCompile(`^<!-- docs: (run|not run: .+) -->$`)

// shellLanguages are the fence languages of commands a reader types.
var shellLanguages = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "powershell": true, "bat": true}

type docsBlock struct {
	file string // relative to the repository's root
	line int    // of the opening fence
	lang string
	mark string // "run", "not run: …" or ""
	text string
}

// docsBlocks returns the fenced blocks of docs/ and docs/*/ and the
// mistakes in their marking.
func docsBlocks(t *testing.T) ([]docsBlock, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("..", "docs", "*", "*.md"))
	files = append(files, more...)
	var blocks []docsBlock
	var bad []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel("..", f)
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			l := strings.TrimSpace(lines[i])
			if !strings.HasPrefix(l, "```") {
				if docsMarker.MatchString(l) && (i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "```")) {
					bad = append(bad, rel+":"+strconv.Itoa(i+1)+": a docs marker not followed by a fenced block")
				}
				continue
			}
			blk := docsBlock{file: rel, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
			if i > 0 {
				if m := docsMarker.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
					blk.mark = m[1]
				}
			}
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, strings.TrimPrefix(lines[i], indent))
			}
			blk.text = strings.Join(body, "\n")
			where := rel + ":" + strconv.Itoa(blk.line)
			switch {
			case blk.lang == "":
				bad = append(bad, where+": a fenced block without a language (```sh for commands, ```text for the rest)")
			case shellLanguages[blk.lang] && blk.mark == "":
				bad = append(bad, where+": a shell block neither run nor left out: put <!-- docs: run --> or <!-- docs: not run: REASON --> on the line before it")
			case !shellLanguages[blk.lang] && blk.mark != "":
				bad = append(bad, where+": a docs marker on a "+blk.lang+" block (only shell blocks are run)")
			case blk.mark == "run" && blk.lang != "sh" && blk.lang != "bash":
				bad = append(bad, where+": only sh and bash blocks can run here")
			}
			blocks = append(blocks, blk)
		}
	}
	return blocks, bad
}

// TestDocsBlocksMarked: every shell block of docs/ is run or left out
// with a reason, every block names its language.
func TestDocsBlocksMarked(t *testing.T) {
	blocks, bad := docsBlocks(t)
	for _, b := range bad {
		t.Error(b)
	}
	run := 0
	for _, b := range blocks {
		if b.mark == "run" {
			run++
		}
	}
	if len(blocks) < 60 || run < 6 {
		t.Errorf("%d blocks in docs/, %d run: is the extraction broken?", len(blocks), run)
	}
}

// docsAddresses are the example addresses of docs/ and what the test
// serves them at: the server for the server (its loopback port for
// 127.0.0.1:8080, and the example host names), a closed loopback port for
// Phraseanet.
func docsAddresses(serverURL string) *strings.Replacer {
	return strings.NewReplacer(
		"http://127.0.0.1:8080", serverURL,
		"https://files.example.org", serverURL,
		"https://wharf.example.org", serverURL,
		"https://dam.example.org", "http://127.0.0.1:9",
	)
}

const docsPassword = "alice has a long passphrase"

// docsPrelude is what the examples assume the reader has set up.
const docsPrelude = `
wharf user add alice --password-stdin <<<"$PW" >/dev/null
wharf space create Photos >/dev/null
wharf space grant files alice editor
wharf space grant photos alice editor
for d in reports reports/2026 inbox; do
  curl -fsS -u "alice:$PW" -X MKCOL "$WHARF_TEST_URL/dav/spaces/files/$d"
done
curl -fsS -u "alice:$PW" -T /dev/null "$WHARF_TEST_URL/dav/spaces/files/reports/2026/summary.txt"
curl -fsS -u "alice:$PW" -X MKCOL "$WHARF_TEST_URL/dav/spaces/photos/to-dam"
head -c 300000 /dev/urandom > holiday.mov
mkdir -p ~/Pictures/spring && printf 'a photo\n' > ~/Pictures/spring/a.jpg
`

func TestDocsExamples(t *testing.T) {
	requireTool(t, "bash", "bash")
	requireTool(t, "curl", "curl")
	blocks, bad := docsBlocks(t)
	if len(bad) > 0 {
		t.Fatalf("docs/ blocks badly marked (TestDocsBlocksMarked):\n%s", strings.Join(bad, "\n"))
	}
	home := t.TempDir()
	data := filepath.Join(home, ".local", "share", "wharf")
	in := start(t, data, "HOME="+home)
	work := filepath.Join(home, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH"), "WHARF_TEST_URL=" + in.URL, "PW=" + docsPassword}
	for _, kv := range cleanEnv() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "HOME" && k != "PATH" && !strings.HasPrefix(k, "XDG_") && !strings.HasPrefix(k, "RCLONE_") {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bash := func(script string) (string, error) {
		cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
		cmd.Dir, cmd.Env = work, env
		cmd.Stdin = strings.NewReader("alice\n" + docsPassword + "\n")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := bash(docsPrelude); err != nil {
		t.Fatalf("the prelude fails: %v\n%s\nserver:\n%s", err, out, in.output())
	}
	addr := docsAddresses(in.URL)
	ran := 0
	for _, b := range blocks {
		if b.mark != "run" {
			continue
		}
		ran++
		out, err := bash(addr.Replace(b.text))
		if err != nil {
			t.Errorf("%s:%d fails: %v\n%s\n-- output:\n%s", b.file, b.line, err, b.text, out)
		} else if testing.Verbose() {
			t.Logf("%s:%d:\n%s", b.file, b.line, out)
		}
	}
	// What the examples did, as their readers would look for it.
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"api.md's mkdir made files/reports/2025", isDir(filepath.Join(data, "spaces", "files", "reports", "2025"))},
		{"https.md's ca export wrote the certificate", fileSize(filepath.Join(work, "wharf-ca.crt")) > 0},
		{"links.md's folder link gave the zip", fileSize(filepath.Join(work, "2026.zip")) > 0},
		{"push.md's push put the folder in photos", fileSize(filepath.Join(data, "spaces", "photos", "2026", "spring", "spring", "a.jpg")) == 8},
		{"push.md's pull brought it back", fileSize(filepath.Join(work, "spring", "spring", "a.jpg")) == 8},
		{"uploads.md's tus upload is in files", fileSize(filepath.Join(data, "spaces", "files", "holiday.mov")) == 300000},
	} {
		if !c.ok {
			t.Errorf("after the docs/ examples: not so that %s", c.what)
		}
	}
	if t.Failed() {
		t.Logf("server:\n%s", in.output())
	}
	t.Logf("%d docs/ blocks run", ran)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
