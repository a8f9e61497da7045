package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"
)

// TestRclone copies a tree with awkward names through rclone's owncloud
// vendor (X-OC-Mtime, OC-Checksum, oc:checksums), then checks it with
// "rclone check" (hashes), compares mtimes, and syncs again expecting no
// transfer.
func TestRclone(t *testing.T) {
	rclone := requireTool(t, "rclone", "rclone")
	const pw = "rclone test password"
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+pw)

	src := t.TempDir()
	old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	files := map[string]string{
		"plain.txt":                  "hello",
		"with space.txt":             "spaces",
		"100%.txt":                   "percent",
		"#hash.txt":                  "hash",
		"a+b=c.txt":                  "plus",
		"emoji 🚢.txt":                "ship",
		"empty.txt":                  "",
		"d\u00e9j\u00e0 NFC.txt":     "nfc",
		"u\u0308ber NFD.txt":         "nfd",
		"sub dir/nested/deep.bin":    strings.Repeat("x", 300_000),
		"sub dir/ü/ö.txt":            "umlauts",
		"sub dir/question?mark.txt":  "question",
		"sub dir/semi;colon&amp.txt": "semicolon",
	}
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	obscured := runRclone(t, rclone, nil, false, "obscure", pw)
	env := []string{
		"RCLONE_CONFIG_WHARF_TYPE=webdav",
		"RCLONE_CONFIG_WHARF_URL=" + in.URL + "/dav/spaces/files/",
		"RCLONE_CONFIG_WHARF_VENDOR=owncloud",
		"RCLONE_CONFIG_WHARF_USER=admin",
		"RCLONE_CONFIG_WHARF_PASS=" + strings.TrimSpace(obscured),
		"RCLONE_CONFIG=" + filepath.Join(t.TempDir(), "none.conf"),
	}
	runRclone(t, rclone, env, false, "copy", src, "wharf:tree")
	// check compares sizes and SHA-1s (the only hash besides MD5 that the
	// owncloud vendor reads from oc:checksums); it fails on a difference
	// and says so when it finds no common hash.
	checked := runRclone(t, rclone, env, true, "check", src, "wharf:tree")
	if strings.Contains(checked, "hash") && strings.Contains(checked, "not using") ||
		!strings.Contains(checked, fmt.Sprintf("%d matching files", len(files))) {
		t.Errorf("rclone check did not verify every file by hash:\n%s", checked)
	}

	listing := runRclone(t, rclone, env, false, "lsl", "wharf:tree")
	if got := strings.Count(listing, "\n"); got != len(files) {
		t.Errorf("rclone lsl lists %d files, want %d:\n%s", got, len(files), listing)
	}
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		if !strings.Contains(line, "2021-03-04 05:06:07") {
			t.Errorf("mtime not preserved: %q", line)
		}
	}
	remote := runRclone(t, rclone, env, false, "hashsum", "sha1", "wharf:tree")
	local := runRclone(t, rclone, env, false, "hashsum", "sha1", src)
	if sortLines(remote) != sortLines(local) {
		t.Errorf("SHA-1s differ:\nserver:\n%s\nlocal:\n%s", remote, local)
	}

	again := runRclone(t, rclone, env, true, "sync", "-v", src, "wharf:tree")
	if strings.Contains(again, "Copied") || strings.Contains(again, "Updated modification time") {
		t.Errorf("second sync transferred something:\n%s", again)
	}
}

// runRclone runs rclone and returns its stdout, or with log its stderr.
func runRclone(t *testing.T, rclone string, env []string, log bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rclone, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rclone %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	// Results go to stdout, the log (check's summary, sync -v) to stderr.
	if log {
		return stderr.String()
	}
	return stdout.String()
}

// sortLines sorts s's lines, in NFC: the server names a file the local
// side spells in NFD in NFC.
func sortLines(s string) string {
	lines := strings.Split(norm.NFC.String(strings.TrimSpace(s)), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
