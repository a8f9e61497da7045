package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Trash and versions (issue 20), through the real binary: WebDAV deletes
// and overwrites, the JSON API and the command line, retention, quota
// pressure, and kill -9 in the middle of it all.

type trashJSON struct {
	Items []struct {
		ID        string `json:"id"`
		Path      string `json:"path"`
		Dir       bool   `json:"dir"`
		Size      int64  `json:"size"`
		DeletedBy string `json:"deleted_by"`
	} `json:"items"`
	Retained struct {
		TrashBytes   int64 `json:"trash_bytes"`
		VersionBytes int64 `json:"version_bytes"`
		TrashDays    int   `json:"trash_days"`
	} `json:"retained"`
}

func (in *instance) trashOf(t *testing.T, spaceID, user, pass string) trashJSON {
	t.Helper()
	st, _, body := in.send(user, pass, davReq{method: "GET", path: "/api/v1/spaces/" + spaceID + "/trash"})
	if st != 200 {
		t.Fatalf("GET trash of %s as %s: %d %s", spaceID, user, st, body)
	}
	var out trashJSON
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("trash JSON %s: %v", body, err)
	}
	return out
}

// trashID returns the id of the newest trash item at path p.
func (tj trashJSON) id(p string) string {
	for _, it := range tj.Items {
		if it.Path == p {
			return it.ID
		}
	}
	return ""
}

func (in *instance) getFile(t *testing.T, p string) (int, string) {
	t.Helper()
	st, _, body := in.send("admin", davPW, davReq{method: "GET", path: "/dav/spaces/files/" + p})
	return st, body
}

// TestTrashDeleteRestore: a WebDAV DELETE of a locked folder puts it in the
// trash (lock released as before); it is listed by the API and the command
// line, restored by the API and by the command line, refused onto a taken
// place (409) and restored elsewhere; purged by managers only.
func TestTrashDeleteRestore(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "editor password 123\n", "user", "add", "eve", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", "files", "eve", "editor")

	in.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/docs"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/docs/a.txt", body: "alpha"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/docs/b.txt", body: "bravo"})
	token := in.lock("/dav/spaces/files/docs/a.txt", http.StatusOK)
	if st, _, _ := in.send("eve", "editor password 123", davReq{method: "DELETE", path: "/dav/spaces/files/docs"}); st != http.StatusLocked {
		t.Fatalf("DELETE of a folder holding a locked file without its token: %d, want 423", st)
	}
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/files/docs",
		headers: map[string]string{"If": "</dav/spaces/files/docs/a.txt> (<" + token + ">)"}})
	if st, _ := in.getFile(t, "docs/a.txt"); st != 404 {
		t.Fatalf("GET a trashed file: %d, want 404", st)
	}
	tj := in.trashOf(t, "files", "eve", "editor password 123")
	id := tj.id("docs")
	if id == "" || len(tj.Items) != 1 || !tj.Items[0].Dir || tj.Items[0].Size != 10 || tj.Items[0].DeletedBy != "admin" || tj.Retained.TrashBytes != 10 {
		t.Fatalf("trash after DELETE: %+v", tj)
	}
	if _, body := in.expect(200, davReq{method: "GET", path: "/api/v1/spaces"}); !strings.Contains(body, `"used":0,"retained":10`) {
		t.Errorf("GET /api/v1/spaces after the delete: %s, want used 0 and retained 10", body)
	}
	if out := mustWharf(t, in.Data, "", "trash", "list", "files"); !strings.HasPrefix(out, id+" ") || !strings.HasSuffix(out, "docs/") {
		t.Errorf("wharf trash list: %q, want one line, %s first", out, id)
	}

	// Restore by the API, as an editor: the files, and no stale lock.
	st, _, body := in.send("eve", "editor password 123", davReq{method: "POST", path: "/api/v1/spaces/files/trash/" + id + "/restore"})
	if st != 200 || !strings.Contains(body, `"path":"docs"`) {
		t.Fatalf("restore: %d %s", st, body)
	}
	if st, got := in.getFile(t, "docs/a.txt"); st != 200 || got != "alpha" {
		t.Fatalf("docs/a.txt after restore: %d %q", st, got)
	}
	// The old lock went with the delete: a new one is granted.
	tok := in.lock("/dav/spaces/files/docs/a.txt", http.StatusOK)
	in.expect(http.StatusNoContent, davReq{method: "UNLOCK", path: "/dav/spaces/files/docs/a.txt", headers: map[string]string{"Lock-Token": "<" + tok + ">"}})

	// Conflict: the place is taken again.
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/files/docs/b.txt"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/docs/b.txt", body: "new bravo"})
	id = in.trashOf(t, "files", "admin", davPW).id("docs/b.txt")
	st, _, body = in.send("admin", davPW, davReq{method: "POST", path: "/api/v1/spaces/files/trash/" + id + "/restore"})
	if st != http.StatusConflict {
		t.Fatalf("restore onto a taken place: %d %s, want 409", st, body)
	}
	if res := wharf(t, in.Data, "", "trash", "restore", "files", id); res.code == 0 {
		t.Errorf("wharf trash restore onto a taken place succeeded: %s", res.stdout)
	}
	mustWharf(t, in.Data, "", "trash", "restore", "files", id, "--to", "docs/b (old).txt")
	for p, want := range map[string]string{"docs/b.txt": "new bravo", "docs/b%20(old).txt": "bravo"} {
		if st, got := in.getFile(t, p); st != 200 || got != want {
			t.Errorf("GET %s: %d %q, want %q", p, st, got, want)
		}
	}

	// Purge: managers only.
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/files/docs/a.txt"})
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/files/docs/b.txt"})
	tj = in.trashOf(t, "files", "admin", davPW)
	idA := tj.id("docs/a.txt")
	if st, _, _ := in.send("eve", "editor password 123", davReq{method: "DELETE", path: "/api/v1/spaces/files/trash/" + idA}); st != 403 {
		t.Errorf("purge by an editor: %d, want 403", st)
	}
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/api/v1/spaces/files/trash/" + idA})
	if tj = in.trashOf(t, "files", "admin", davPW); len(tj.Items) != 1 || tj.id("docs/a.txt") != "" {
		t.Errorf("trash after purging one: %+v", tj.Items)
	}
	if out := mustWharf(t, in.Data, "", "trash", "purge", "files"); out != "purged 1" {
		t.Errorf("wharf trash purge: %q", out)
	}
	if tj = in.trashOf(t, "files", "admin", davPW); len(tj.Items) != 0 || tj.Retained.TrashBytes != 0 {
		t.Errorf("trash after purging all: %+v", tj)
	}
	if n := countEntries(t, filepath.Join(in.Data, "trash", "files")); n != 0 {
		t.Errorf("trash/files holds %d entries after purging all", n)
	}
	if code := in.stop(); code != 0 {
		t.Fatalf("wharf serve exited %d", code)
	}
	if res := wharf(t, in.Data, "", "check", "--verify-hashes"); res.code != 0 || res.stdout != "" {
		t.Errorf("wharf check: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// openDBWrite opens a stopped instance's database for writing, to age
// records as days passing would.
func openDBWrite(t *testing.T, data string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "wharf.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func countEntries(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestTrashRetention: an item older than the space's days goes at the
// janitor's next run (at start, then hourly); the setting is the command
// line's.
func TestTrashRetention(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/old.txt", body: "old"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/young.txt", body: "young"})
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/files/old.txt"})
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/files/young.txt"})
	in.stop()
	out := mustWharf(t, data, "", "space", "retention", "files", "--trash-days", "7")
	if !strings.HasPrefix(out, "trash-days 7\n") || !strings.Contains(out, "trash 8 B in 2 items") {
		t.Errorf("wharf space retention: %q", out)
	}
	// Eight days pass for old.txt: its deletion time is moved back.
	db := openDBWrite(t, data)
	if _, err := db.ExecContext(t.Context(), "UPDATE trash SET deleted_at = deleted_at - ? WHERE path = 'old.txt'", int64(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	in = start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	deadline := time.Now().Add(30 * time.Second)
	for {
		tj := in.trashOf(t, "files", "admin", davPW)
		if len(tj.Items) == 1 && tj.Items[0].Path == "young.txt" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the janitor did not purge old.txt: %+v\n%s", tj.Items, lastLines(in.output(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.stop()
	if res := wharf(t, data, "", "check"); res.code != 0 || res.stdout != "" {
		t.Errorf("wharf check: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestTrashQuotaPressure: trashed bytes count against the quota until a
// write needs the room; then the oldest trash goes first.
func TestTrashQuotaPressure(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "", "space", "create", "small", "--quota", "1K", "--owner", "admin")
	put := func(p string, n int, want int) {
		t.Helper()
		in.expect(want, davReq{method: "PUT", path: "/dav/spaces/small/" + p, body: strings.Repeat("x", n)})
	}
	put("a", 400, http.StatusCreated)
	put("b", 400, http.StatusCreated)
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/small/a"})
	in.expect(http.StatusNoContent, davReq{method: "DELETE", path: "/dav/spaces/small/b"})
	if tj := in.trashOf(t, "small", "admin", davPW); tj.Retained.TrashBytes != 800 {
		t.Fatalf("trash holds %d bytes, want 800", tj.Retained.TrashBytes)
	}
	put("c", 500, http.StatusCreated) // 500 + 800 > 1024: a goes
	tj := in.trashOf(t, "small", "admin", davPW)
	if len(tj.Items) != 1 || tj.Items[0].Path != "b" {
		t.Fatalf("trash after a write needing room: %+v, want only b", tj.Items)
	}
	put("d", 600, http.StatusInsufficientStorage) // the visible bytes alone: 1100 > 1024
	put("c", 900, http.StatusNoContent)           // overwrite: b goes, and the old c cannot be kept as a version
	tj = in.trashOf(t, "small", "admin", davPW)
	if len(tj.Items) != 0 || tj.Retained.VersionBytes != 0 {
		t.Errorf("after an overwrite needing all the room: %+v", tj)
	}
}

type versionsJSON struct {
	Versions []struct {
		ID     string `json:"id"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
		By     string `json:"replaced_by"`
	} `json:"versions"`
}

// TestVersionsRestore: overwrites by WebDAV PUT and by tus keep the old
// contents as versions, listed by the API and the command line, downloaded,
// restored by both; nothing is processed again.
func TestVersionsRestore(t *testing.T) {
	in := davServer(t)
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/v.txt", body: "one"})
	in.expect(http.StatusNoContent, davReq{method: "PUT", path: "/dav/spaces/files/v.txt", body: "two"})
	// The third content over tus, to the same path.
	three := "three, by tus"
	id := tusCreate(t, in, len(three), map[string]string{"space": "files", "path": "v.txt"})
	in.expect(http.StatusNoContent, davReq{method: "PATCH", path: "/tus/" + id, body: three, headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})
	if st, got := in.getFile(t, "v.txt"); st != 200 || got != three {
		t.Fatalf("v.txt after the tus upload: %d %q", st, got)
	}
	list := func() versionsJSON {
		t.Helper()
		_, body := in.expect(200, davReq{method: "GET", path: "/api/v1/spaces/files/versions?path=v.txt"})
		var vj versionsJSON
		if err := json.Unmarshal([]byte(body), &vj); err != nil {
			t.Fatal(err)
		}
		return vj
	}
	vj := list()
	if len(vj.Versions) != 2 || vj.Versions[0].SHA256 != sum([]byte("two")) || vj.Versions[1].SHA256 != sum([]byte("one")) || vj.Versions[0].By != "admin" {
		t.Fatalf("versions: %+v, want two then one", vj.Versions)
	}
	lines := strings.Split(mustWharf(t, in.Data, "", "versions", "list", "files", "v.txt"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], vj.Versions[0].ID+" ") || !strings.HasSuffix(lines[1], sum([]byte("one"))) {
		t.Errorf("wharf versions list: %q", lines)
	}
	if _, body := in.expect(200, davReq{method: "GET", path: "/api/v1/spaces/files/versions/" + vj.Versions[1].ID + "?path=v.txt"}); body != "one" {
		t.Errorf("download of version one: %q", body)
	}
	// Restore one by the API: it is the content, three a version.
	in.expect(200, davReq{method: "POST", path: "/api/v1/spaces/files/versions/" + vj.Versions[1].ID + "/restore?path=v.txt"})
	if _, got := in.getFile(t, "v.txt"); got != "one" {
		t.Fatalf("v.txt after restoring one: %q", got)
	}
	vj = list()
	if len(vj.Versions) != 2 || vj.Versions[0].SHA256 != sum([]byte(three)) {
		t.Fatalf("versions after the restore: %+v", vj.Versions)
	}
	// And back to three by the command line.
	mustWharf(t, in.Data, "", "versions", "restore", "files", "v.txt", vj.Versions[0].ID)
	if _, got := in.getFile(t, "v.txt"); got != three {
		t.Fatalf("v.txt after wharf versions restore: %q", got)
	}
	if st, _, _ := in.send("admin", davPW, davReq{method: "POST", path: "/api/v1/spaces/files/versions/1-000000000000/restore?path=v.txt"}); st != 404 {
		t.Errorf("restoring an unknown version: %d, want 404", st)
	}
	if code := in.stop(); code != 0 {
		t.Fatalf("wharf serve exited %d", code)
	}
	if res := wharf(t, in.Data, "", "check", "--verify-hashes"); res.code != 0 || res.stdout != "" {
		t.Errorf("wharf check: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestCrashTrash: deletes, restores, purges, overwrites and version
// restores from concurrent clients, the server killed with SIGKILL at a
// random moment, restarted. Nothing not purged is lost: every file is in
// its space or its trash, every acknowledged overwrite's old content is a
// version or the content; wharf check --verify-hashes finds nothing.
// WHARF_CRASH_TRIALS sets the number of trials (default 3; make soak runs
// 100). Each trial logs one line; the test ends with a summary of what
// the kills interrupted and what the restarts recovered.
func TestCrashTrash(t *testing.T) {
	trials := 3
	if v, err := strconv.Atoi(os.Getenv("WHARF_CRASH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	st := crashTrashStats{recoveredBy: map[string]int{}}
	started := time.Now()
	for i := range trials {
		// A version restore is over in milliseconds and rarely in flight
		// at a random moment: every fourth trial aims its kill at one.
		aim := i%4 == 2 // the third of make test's three, too
		ok := t.Run(fmt.Sprintf("trial%03d", i+1), func(t *testing.T) { crashTrashTrial(t, &st, aim) })
		st.trials++
		if !ok {
			st.failed++
		}
	}
	var phases []string
	for op := range trashOps {
		phases = append(phases, fmt.Sprintf("%s %d", trashOpNames[op], st.killDuring[op]))
	}
	t.Logf("crash trash: %d trials in %s, %d failed; kills with a request in flight (a kill counts under each kind in flight): %s; "+
		"with none in flight %d; things recovered at the restarts: %d (deletes put back %d, restores put back in the trash %d, "+
		"leftovers of purges removed %d, replaced contents put back %d)",
		st.trials, time.Since(started).Round(time.Second), st.failed, strings.Join(phases, ", "), st.killIdle, st.recovered,
		st.recoveredBy["its delete did not complete"], st.recoveredBy["its restore did not complete"],
		st.recoveredBy["(purged)"], st.recoveredBy["its replacement did not complete"])
}

// The kinds of request TestCrashTrash's clients send, to say what a kill
// interrupted.
const (
	opDelete = iota
	opRestore
	opPurge
	opOverwrite
	opVersionRestore
	trashOps
)

var trashOpNames = [trashOps]string{"delete", "restore", "purge", "overwrite", "version restore"}

// crashTrashStats are the counts TestCrashTrash reports.
type crashTrashStats struct {
	trials, failed int
	// killDuring counts the kills that landed while a request of each
	// kind was in flight; killIdle those that found none.
	killDuring [trashOps]int
	killIdle   int
	recovered  int // "recovered after a crash" lines at the restarts
	// recoveredBy counts those lines by what they undid or finished.
	recoveredBy map[string]int
}

func crashTrashTrial(t *testing.T, stats *crashTrashStats, aimAtVersionRestore bool) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	const nDirs, nFiles = 6, 5
	contents := map[string]string{} // path -> first content
	for d := range nDirs {
		in.expect(http.StatusCreated, davReq{method: "MKCOL", path: fmt.Sprintf("/dav/spaces/files/d%d", d)})
		for f := range nFiles {
			p := fmt.Sprintf("d%d/f%d.bin", d, f)
			c := fmt.Sprintf("%s %x", p, rand.Uint64())
			contents[p] = c
			in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/" + p, body: c})
		}
	}
	// Folders d0 and d1 are purged by a client; the others must survive.
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(ctx context.Context, method, path, body string) (int, string) {
		r, _ := http.NewRequestWithContext(ctx, method, in.URL+path, strings.NewReader(body))
		r.SetBasicAuth("admin", davPW)
		resp, err := client.Do(r)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	// op is do for a request of kind k, counted while in flight.
	var inflight [trashOps]atomic.Int32
	op := func(ctx context.Context, k int, method, path, body string) (int, string) {
		inflight[k].Add(1)
		defer inflight[k].Add(-1)
		return do(ctx, method, path, body)
	}
	var mu sync.Mutex
	written := map[string][]string{} // path -> contents acknowledged, in order
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	// Delete and restore folders d2..d5, again and again.
	for d := 2; d < nDirs; d++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				p := fmt.Sprintf("d%d", d)
				if st, _ := op(ctx, opDelete, "DELETE", "/dav/spaces/files/"+p, ""); st != 204 {
					continue
				}
				st, body := do(ctx, "GET", "/api/v1/spaces/files/trash", "")
				if st != 200 {
					continue
				}
				var tj trashJSON
				json.Unmarshal([]byte(body), &tj)
				if id := tj.id(p); id != "" {
					op(ctx, opRestore, "POST", "/api/v1/spaces/files/trash/"+id+"/restore", "")
				}
			}
		})
	}
	// Delete and purge d0, d1.
	wg.Go(func() {
		for _, p := range []string{"d0", "d1"} {
			if st, _ := op(ctx, opDelete, "DELETE", "/dav/spaces/files/"+p, ""); st != 204 {
				return
			}
		}
		st, body := do(ctx, "GET", "/api/v1/spaces/files/trash", "")
		var tj trashJSON
		if st != 200 || json.Unmarshal([]byte(body), &tj) != nil {
			return
		}
		for _, p := range []string{"d0", "d1"} {
			op(ctx, opPurge, "DELETE", "/api/v1/spaces/files/trash/"+tj.id(p), "")
		}
	})
	// Overwrite files of d2/, restoring versions now and then.
	wg.Go(func() {
		for k := 0; ctx.Err() == nil; k++ {
			p := fmt.Sprintf("d2/f%d.bin", k%nFiles)
			c := fmt.Sprintf("%s version %d %x", p, k, rand.Uint64())
			st, _ := op(ctx, opOverwrite, "PUT", "/dav/spaces/files/"+(&url.URL{Path: p}).EscapedPath(), c)
			if st == 201 || st == 204 {
				mu.Lock()
				written[p] = append(written[p], c)
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
			if k%4 == 3 {
				st, body := do(ctx, "GET", "/api/v1/spaces/files/versions?path="+p, "")
				var vj versionsJSON
				if st == 200 && json.Unmarshal([]byte(body), &vj) == nil && len(vj.Versions) > 0 {
					op(ctx, opVersionRestore, "POST", "/api/v1/spaces/files/versions/"+vj.Versions[len(vj.Versions)-1].ID+"/restore?path="+p, "")
				}
			}
		}
	})
	delay := time.Duration(20+rand.IntN(600)) * time.Millisecond
	time.Sleep(delay)
	if aimAtVersionRestore {
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && inflight[opVersionRestore].Load() == 0; {
			time.Sleep(50 * time.Microsecond)
		}
	}
	var during []string
	for k := range trashOps {
		if inflight[k].Load() > 0 {
			during = append(during, trashOpNames[k])
		}
	}
	in.kill()
	cancel()
	wg.Wait()
	for k := range trashOps {
		if slices.Contains(during, trashOpNames[k]) {
			stats.killDuring[k]++
		}
	}
	if len(during) == 0 {
		stats.killIdle++
		during = []string{"nothing"}
	}

	in = start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	// Every first content of d2..d5 is somewhere: in the space, in the
	// trash, or (d2, overwritten) a version.
	tj := in.trashOf(t, "files", "admin", davPW)
	inTrash := map[string]bool{}
	for _, it := range tj.Items {
		inTrash[it.Path] = true
	}
	for p, first := range contents {
		dir := p[:2]
		if dir == "d0" || dir == "d1" {
			continue
		}
		st, got := in.getFile(t, p)
		switch {
		case st == 200 && dir != "d2" && got != first:
			t.Errorf("%s holds %q, want %q", p, got, first)
		case st == 200:
		case st == 404 && (inTrash[dir] || inTrash[p]):
		default:
			t.Errorf("%s: GET %d, and not in the trash (%v)", p, st, tj.Items)
		}
		if dir == "d2" && st == 200 {
			// Every acknowledged content but the current one is a version
			// (ten are kept; this trial writes fewer per file).
			st, _, body := in.send("admin", davPW, davReq{method: "GET", path: "/api/v1/spaces/files/versions?path=" + p})
			var vj versionsJSON
			json.Unmarshal([]byte(body), &vj)
			have := map[string]bool{sum([]byte(got)): true}
			for _, v := range vj.Versions {
				have[v.SHA256] = true
			}
			mu.Lock()
			all := append([]string{first}, written[p]...)
			mu.Unlock()
			if len(all) <= 10 {
				for _, c := range all {
					if !have[sum([]byte(c))] {
						t.Errorf("%s: content %q lost (GET versions %d)", p, c, st)
					}
				}
			}
		}
	}
	recovered := strings.Count(in.output(), "recovered after a crash")
	stats.recovered += recovered
	for _, r := range []string{"its delete did not complete", "its restore did not complete", "(purged)", "its replacement did not complete"} {
		stats.recoveredBy[r] += strings.Count(in.output(), r)
	}
	if code := in.stop(); code != 0 {
		t.Errorf("wharf serve exited %d after SIGTERM", code)
	}
	if res := wharf(t, data, "", "check", "--verify-hashes"); res.code != 0 || res.stdout != "" {
		t.Errorf("wharf check --verify-hashes after the kill at %s: exit %d\n%s%s", delay, res.code, res.stdout, res.stderr)
	}
	t.Logf("killed after %s during %s; trash holds %d items; %d things recovered at the restart",
		delay, strings.Join(during, ", "), len(tj.Items), recovered)
	for _, line := range strings.Split(in.output(), "\n") {
		if strings.Contains(line, "recovered after a crash") {
			t.Log(line)
		}
	}
}

// TestUITrash: in headless Chromium (e2e/ui/trash.mjs), the trash view
// restores a file deleted over WebDAV, and the versions dialog restores
// a file's earlier content. Skipped loudly without node, Chromium or
// Playwright (fails under CI=true), as TestUIBrowser.
func TestUITrash(t *testing.T) {
	node, script := uiScript(t)
	script = filepath.Join(filepath.Dir(script), "trash.mjs")
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+uiPW)
	put := func(p, body string, want int) {
		t.Helper()
		if st, _, b := in.send("admin", uiPW, davReq{method: "PUT", path: "/dav/spaces/files/" + p, body: body}); st != want {
			t.Fatalf("PUT %s: %d %s", p, st, b)
		}
	}
	if st, _, _ := in.send("admin", uiPW, davReq{method: "MKCOL", path: "/dav/spaces/files/docs"}); st != 201 {
		t.Fatalf("MKCOL: %d", st)
	}
	put("docs/a.txt", "alpha", 201)
	put("docs/b.txt", "bravo one", 201)
	put("docs/b.txt", "bravo two", 204)
	if st, _, _ := in.send("admin", uiPW, davReq{method: "DELETE", path: "/dav/spaces/files/docs/a.txt"}); st != 204 {
		t.Fatalf("DELETE: %d", st)
	}
	out := os.Getenv("WHARF_UI_SCREENSHOTS")
	if out == "" {
		out = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, "--url", in.URL, "--user", "admin", "--out", out, "--chromium", chromiumPath)
	cmd.Env = append(cleanEnv(), "UI_PASSWORD="+uiPW)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("trash.mjs:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("trash.mjs: %v\n%s\nserver:\n%s", err, stderr.String(), lastLines(in.output(), 30))
	}
	for p, want := range map[string]string{"docs/a.txt": "alpha", "docs/b.txt": "bravo one"} {
		if st, _, got := in.send("admin", uiPW, davReq{method: "GET", path: "/dav/spaces/files/" + p}); st != 200 || got != want {
			t.Errorf("GET %s after the browser: %d %q, want %q", p, st, got, want)
		}
	}
}
