package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// put uploads body to path of space files as admin and returns the status.
func (in *instance) put(path string, body []byte) int {
	req, err := http.NewRequestWithContext(in.t.Context(), "PUT", in.URL+"/dav/spaces/files/"+path, bytes.NewReader(body))
	if err != nil {
		in.t.Fatal(err)
	}
	req.SetBasicAuth("admin", davPW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // the test ended meanwhile
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// indexedFiles reads the files of a data directory's index: path -> sha256.
func indexedFiles(t *testing.T, data string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "wharf.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT space_id || '/' || path, sha256 FROM nodes WHERE is_dir = 0")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, s string
		if err := rows.Scan(&p, &s); err != nil {
			t.Fatal(err)
		}
		out[p] = s
	}
	return out
}

// TestBackupDuringUploads: a backup taken while files keep arriving over
// WebDAV restores to a working server that serves every file its index
// lists with the right bytes, and holds every file acknowledged before the
// backup began.
func TestBackupDuringUploads(t *testing.T) {
	in := davServer(t)
	var mu sync.Mutex
	versions := map[string]map[string]bool{} // path -> sha256 of every version sent
	acked := map[string]string{}             // path -> sha256 of the last acknowledged version
	send := func(p string, size int) {
		b := make([]byte, size)
		rand.Read(b)
		mu.Lock()
		if versions[p] == nil {
			versions[p] = map[string]bool{}
		}
		versions[p][sum(b)] = true
		mu.Unlock()
		if st := in.put(p, b); st == http.StatusCreated || st == http.StatusNoContent {
			mu.Lock()
			acked[p] = sum(b)
			mu.Unlock()
		}
	}
	for i := range 30 {
		send(fmt.Sprintf("seed-%02d.bin", i), 1000+i*997)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during sync.Map
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("live-%d-%04d.bin", w, i)
				if i%3 == 0 {
					p = fmt.Sprintf("seed-%02d.bin", i%30) // replace a file the backup may be linking
				}
				send(p, 20<<10+i*101)
				during.Store(p, true)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	before := map[string]string{}
	for p, s := range acked {
		before[p] = s
	}
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "backup")
	out := mustWharf(t, in.Data, "", "backup", backup)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	n := 0
	during.Range(func(any, any) bool { n++; return true })
	if n < 5 {
		t.Fatalf("only %d uploads ran around the backup: the test did not test a busy server", n)
	}
	t.Logf("backup: %s (%d uploads ran beside it)", out, n)
	if !strings.Contains(out, "skipped: uploads/") {
		t.Errorf("backup does not say it skipped uploads/: %q", out)
	}
	if res := wharf(t, in.Data, "", "backup", backup); res.code == 0 || !strings.Contains(res.stderr, "not empty") {
		t.Errorf("a second backup into the same directory: exit %d, %q; want a refusal", res.code, res.stderr)
	}

	var m struct{ Files, Bytes int64 }
	b, err := os.ReadFile(filepath.Join(backup, "BACKUP.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}

	// Restore into a new directory; a running server's one is refused.
	if res := wharf(t, in.Data, "", "restore", backup); res.code == 0 || !strings.Contains(res.stderr, "not empty") {
		t.Errorf("restore over the running server's data: exit %d, %q; want a refusal", res.code, res.stderr)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	mustWharf(t, restored, "", "restore", "--verify", backup)
	if res := wharf(t, restored, "", "check", "--verify-hashes"); res.code != 0 {
		t.Errorf("check of the restored data: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	index := indexedFiles(t, restored)
	if int64(len(index)) != m.Files {
		t.Errorf("restored index has %d files, BACKUP.json says %d", len(index), m.Files)
	}
	for p, s := range before {
		if _, ok := index["files/"+p]; !ok {
			t.Errorf("%s was acknowledged (sha256 %s) before the backup began but is not in it", p, s[:12])
		}
	}
	in2 := start(t, restored, "WHARF_ADMIN_PASSWORD=unused")
	var total int64
	for p, want := range index {
		rel := strings.TrimPrefix(p, "files/")
		resp := in2.do("GET", "/dav/spaces/files/"+rel, "admin", davPW, nil)
		body := readAll(t, resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s from the restored server = %d", rel, resp.StatusCode)
			continue
		}
		total += int64(len(body))
		got := sum([]byte(body))
		if got != want {
			t.Errorf("%s: restored bytes have sha256 %s, the index says %s", rel, got[:12], want[:12])
		}
		if !versions[rel][got] {
			t.Errorf("%s: restored bytes are no version the client ever sent", rel)
		}
	}
	if total != m.Bytes {
		t.Errorf("restored files hold %d bytes, BACKUP.json says %d", total, m.Bytes)
	}
}

// TestCheck: a clean data directory passes; each kind of damage is
// reported; --repair fixes it and the next check passes. The server runs
// throughout.
func TestCheck(t *testing.T) {
	in := davServer(t)
	if in.put("a.txt", []byte("aaaa")) != 201 || in.put("b.txt", []byte("bbbb")) != 201 ||
		in.put("c.txt", []byte("cccc")) != 201 || in.put("keep.txt", []byte("keep")) != 201 {
		t.Fatal("setup PUTs failed")
	}
	if res := wharf(t, in.Data, "", "check", "--verify-hashes"); res.code != 0 || res.stdout != "" {
		t.Fatalf("check of a clean directory: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	files := filepath.Join(in.Data, "spaces", "files")
	// a.txt: its file is gone; stray.txt: a file nobody indexed.
	must(t, os.Remove(filepath.Join(files, "a.txt")))
	must(t, os.WriteFile(filepath.Join(files, "stray.txt"), []byte("stray"), 0o600))
	// c.txt: same size and mtime, other bytes (only hashing sees it).
	fi, err := os.Stat(filepath.Join(files, "c.txt"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(files, "c.txt"), []byte("CCCC"), 0o600))
	must(t, os.Chtimes(filepath.Join(files, "c.txt"), time.Time{}, fi.ModTime()))
	// b.txt: its index row dropped (the file stays, used bytes drift).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(in.Data, "wharf.db")+"?_pragma=busy_timeout(5000)")
	must(t, err)
	_, err = db.Exec("DELETE FROM nodes WHERE space_id = 'files' AND path = 'b.txt'")
	db.Close()
	must(t, err)
	// An upload file without its record.
	must(t, os.MkdirAll(filepath.Join(in.Data, "uploads", "tus"), 0o700))
	must(t, os.WriteFile(filepath.Join(in.Data, "uploads", "tus", strings.Repeat("ab", 16)), []byte("x"), 0o600))

	wantLines := []string{
		"missing: files/a.txt",
		"not indexed: files/b.txt",
		"not indexed: files/stray.txt",
		"used bytes: files:",
		"orphaned upload file: uploads/tus/" + strings.Repeat("ab", 16),
	}
	res := wharf(t, in.Data, "", "check")
	if res.code != 1 {
		t.Errorf("check of damaged data: exit %d, want 1", res.code)
	}
	for _, w := range wantLines {
		if !hasLine(res.stdout, w) {
			t.Errorf("check did not report %q:\n%s", w, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "c.txt") {
		t.Errorf("check without --verify-hashes read c.txt's bytes:\n%s", res.stdout)
	}
	res = wharf(t, in.Data, "", "check", "--verify-hashes")
	if res.code != 1 || !hasLine(res.stdout, "sha256: files/c.txt") {
		t.Errorf("check --verify-hashes: exit %d, want 1 and c.txt's sha256 reported:\n%s", res.code, res.stdout)
	}
	if n := len(strings.Split(strings.TrimSpace(res.stdout), "\n")); n != len(wantLines)+1 {
		t.Errorf("check --verify-hashes printed %d lines, want %d (one per problem):\n%s", n, len(wantLines)+1, res.stdout)
	}

	res = wharf(t, in.Data, "", "check", "--repair", "--verify-hashes")
	if res.code != 0 || !strings.Contains(res.stdout, "fixed: ") {
		t.Fatalf("check --repair: exit %d, want 0 with what was fixed\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = wharf(t, in.Data, "", "check", "--verify-hashes")
	if res.code != 0 {
		t.Fatalf("check after --repair: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The repaired index is what the server serves.
	for p, want := range map[string]int{"a.txt": 404, "b.txt": 200, "stray.txt": 200, "keep.txt": 200} {
		if resp := in.do("GET", "/dav/spaces/files/"+p, "admin", davPW, nil); resp.StatusCode != want {
			t.Errorf("GET %s after repair = %d, want %d", p, resp.StatusCode, want)
		}
	}
}

func hasLine(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
