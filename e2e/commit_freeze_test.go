package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/e2e/phrasesim"
)

// What Phraseanet gets is what was committed, and finalize is a gate
// (issue 18), against the real binary and the simulated Phraseanet.

// TestCommitFrozenAgainstLaterEdits: a file overwritten after its commit
// is ingested with the committed bytes (the simulator checks them against
// the announced size and sha256 and against what the test uploaded), a
// file deleted after its commit still is, and the commit ends
// acknowledged, its frozen copies released.
func TestCommitFrozenAgainstLaterEdits(t *testing.T) {
	ps := startPh(t)
	files := []phFile{{"kept.bin", randomBytes(t, 200<<10)}, {"overwritten.txt", []byte("the committed version")},
		{"deleted.png", testPNG(t, 32, 32)}}
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(files))
	kv := ps.addTarget(t, "dam", "--mode", "pull")
	ps.put(t, files)
	// Two commits, so that the deleted file's cannot hide what becomes of
	// the overwritten one's.
	c := ps.commit(t, kv["id"], files[:2], nil)
	gone := ps.commit(t, kv["id"], files[2:], nil)

	// Later edits in the space, before Phraseanet comes.
	p := func(name string) string {
		return (&url.URL{Path: "/dav/spaces/files/" + phFolder + "/" + name}).EscapedPath()
	}
	ps.expect(http.StatusNoContent, davReq{method: "PUT", path: p("overwritten.txt"), body: "a new and much longer version of the file, not committed"})
	ps.expect(http.StatusNoContent, davReq{method: "DELETE", path: p("deleted.png")})
	frozen := filepath.Join(ps.data, "commits", c.ID)
	if _, err := os.Stat(frozen); err != nil {
		t.Errorf("the commit's own area %s: %v", frozen, err)
	}

	startPull(t, sim, kv)
	waitIngested(t, sim, ps, files, 30*time.Second)
	ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
	ps.waitState(t, kv["id"], gone.ID, "acknowledged", 10*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(frozen); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frozen files of the acknowledged commit still in %s", frozen)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The space keeps the new version.
	_, body := ps.expect(http.StatusOK, davReq{method: "GET", path: p("overwritten.txt")})
	if !strings.HasPrefix(body, "a new and much longer") {
		t.Errorf("the space's file: %q", body)
	}
}

// targetCommits is GET /api/v1/targets/{id}/commits, decoded.
type targetCommit struct {
	ID       string         `json:"id"`
	UserID   int64          `json:"userId"`
	FormData map[string]any `json:"formData"`
	Assets   []struct {
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
	} `json:"assets"`
}

func targetCommits(t *testing.T, in *instance, target string) []targetCommit {
	t.Helper()
	_, body := in.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/targets/" + target + "/commits"})
	var out []targetCommit
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET commits: %v: %s", err, body)
	}
	return out
}

// TestDropFolderSkipsJunk: a scheduled target never commits the
// operating system's junk dropped next to the real files by WebDAV; the
// commit of the real file names the user who PUT it (the target names no
// publisher) and carries that user's e-mail address.
func TestDropFolderSkipsJunk(t *testing.T) {
	ps := startPh(t)
	mustWharf(t, ps.data, "editor password 123\n", "user", "add", "eve", "--password-stdin", "--email", "eve@example.org")
	mustWharf(t, ps.data, "", "space", "grant", "files", "eve", "editor")
	kv := ps.addTarget(t, "drop", "--mode", "pull", "--every", "1s")
	ps.put(t, []phFile{{".DS_Store", []byte("Bud1 finder junk")}, {"._photo.jpg", []byte("AppleDouble")},
		{"Thumbs.db", []byte("thumbs")}, {"~$report.docx", []byte("lock")}})
	if st, _, body := ps.send("eve", "editor password 123", davReq{method: "PUT", path: "/dav/spaces/files/" + phFolder + "/photo.jpg",
		body: string(testPNG(t, 16, 16))}); st != http.StatusCreated {
		t.Fatalf("eve's PUT: %d %s", st, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	var cs []targetCommit
	for {
		if cs = targetCommits(t, ps.instance, kv["id"]); len(cs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled commit within 20 s\n%s", lastLines(ps.output(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got []string
	for _, c := range cs {
		for _, a := range c.Assets {
			got = append(got, a.Path)
		}
	}
	if want := []string{phFolder + "/photo.jpg"}; !slices.Equal(got, want) {
		t.Errorf("committed %q, want only %q", got, want)
	}
	if c := cs[0]; c.UserID == 0 || c.FormData["phraseanet_submiter_email"] != "eve@example.org" {
		t.Errorf("the scheduled commit names publisher %d with form data %v; want eve, who PUT the file, and her phraseanet_submiter_email",
			c.UserID, c.FormData)
	}
}

// TestSchedulerWaitsForFinalize: a partner's upload (upload token) into a
// scheduled target's folder is not taken by the scheduler, however many
// runs pass, until the partner finalizes it: then it goes in the
// finalization's own commit with its form data and metadata. Finalizing
// again answers the same; finalizing with other metadata is a conflict.
func TestSchedulerWaitsForFinalize(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW)
	mustWharf(t, in.Data, "", "user", "email", "admin", "admin@example.org")
	out := mustWharf(t, in.Data, "", "target", "add", "drop", "--space", "files", "--folder", "partner", "--mode", "pull",
		"--destination", "1", "--every", "1s", "--public-url", in.URL)
	var target string
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id="); ok {
			target = v
		}
	}
	in.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/partner"})
	st, _, body := in.pubReq("POST", "/api/v1/upload-tokens", adminBasic(), jsonBody(t, map[string]any{"space": "files", "prefix": "partner"}))
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); st != http.StatusCreated || err != nil || tok.Token == "" {
		t.Fatalf("upload token: %d %s", st, body)
	}
	bearer := "Bearer " + tok.Token
	id := in.tusPut(bearer, "files", "partner/shot.jpg", testPNG(t, 20, 20))

	// The scheduler runs every second; it must leave the file alone.
	lastRun := func() string {
		_, body := in.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/targets"})
		var ts []struct {
			ID        string `json:"id"`
			LastRunAt string `json:"lastRunAt"`
		}
		json.Unmarshal([]byte(body), &ts)
		for _, t := range ts {
			if t.ID == target {
				return t.LastRunAt
			}
		}
		return ""
	}
	runs, prev := 0, lastRun()
	deadline := time.Now().Add(30 * time.Second)
	for runs < 3 {
		if now := lastRun(); now != prev {
			runs, prev = runs+1, now
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler ran %d times in 30 s", runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cs := targetCommits(t, in, target); len(cs) != 0 {
		t.Fatalf("after %d scheduler runs, the unfinalized upload is in commits %+v", runs, cs)
	}

	req := map[string]any{"uploads": []string{id}, "target": "drop", "form": map[string]any{"title": "Shoot"},
		"metadata": map[string]any{"credit": "ACME"}}
	st, _, first := in.pubReq("POST", "/api/v1/uploads/finalize", bearer, jsonBody(t, req))
	var ans publishAnswer
	if err := json.Unmarshal([]byte(first), &ans); st != http.StatusOK || err != nil || ans.Commit == nil {
		t.Fatalf("finalize: %d %s, want 200 with a commit", st, first)
	}
	cs := targetCommits(t, in, target)
	if len(cs) != 1 || cs[0].ID != ans.Commit.ID || cs[0].FormData["title"] != "Shoot" {
		t.Fatalf("commits %+v, want only the finalization's %s with its form", cs, ans.Commit.ID)
	}
	if cs[0].FormData["phraseanet_submiter_email"] != "admin@example.org" {
		t.Errorf("form data %v: want the publisher's phraseanet_submiter_email", cs[0].FormData)
	}
	if st, _, again := in.pubReq("POST", "/api/v1/uploads/finalize", bearer, jsonBody(t, req)); st != http.StatusOK || again != first {
		t.Errorf("the same finalization again: %d %s", st, again)
	}
	// Same metadata, keys in another order: the same request.
	req["metadata"] = json.RawMessage(`{ "credit" : "ACME" }`)
	if st, _, again := in.pubReq("POST", "/api/v1/uploads/finalize", bearer, jsonBody(t, req)); st != http.StatusOK || again != first {
		t.Errorf("the same finalization, spelled differently: %d %s", st, again)
	}
	req["metadata"] = map[string]any{"credit": "Someone else"}
	if st, _, body := in.pubReq("POST", "/api/v1/uploads/finalize", bearer, jsonBody(t, req)); st != http.StatusConflict {
		t.Errorf("finalize again with other metadata: %d %s, want 409", st, body)
	}
	st, _, body = in.pubReq("GET", "/api/v1/metadata/files/partner/shot.jpg", adminBasic(), nil)
	if st != http.StatusOK || !strings.Contains(body, `"credit":"ACME"`) {
		t.Errorf("metadata after the refused finalization: %d %s", st, body)
	}
}

// TestCheckCommitsArea: `wharf check` reports the folders of the commits
// area no live commit needs, and --repair removes them; a live commit's
// frozen files stay.
func TestCheckCommitsArea(t *testing.T) {
	ps := startPh(t)
	kv := ps.addTarget(t, "dam", "--mode", "pull")
	files := []phFile{{"a.txt", []byte("committed")}}
	ps.put(t, files)
	c := ps.commit(t, kv["id"], files, nil)
	// Stopped, so that its janitor does not clean up first.
	ps.stop()
	stray := filepath.Join(ps.data, "commits", "left-by-a-crash")
	if err := os.MkdirAll(stray, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stray, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stray, old, old); err != nil {
		t.Fatal(err)
	}
	res := wharf(t, ps.data, "", "check")
	if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "orphaned commit files: commits/left-by-a-crash") ||
		strings.Contains(res.stdout+res.stderr, c.ID) {
		t.Errorf("check: exit %d\n%s%s\nwant the stray folder reported, not the live commit", res.code, res.stdout, res.stderr)
	}
	res = wharf(t, ps.data, "", "check", "--repair")
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("check --repair left %s: %v\n%s%s", stray, err, res.stdout, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(ps.data, "commits", c.ID)); err != nil {
		t.Errorf("check --repair removed the live commit's files: %v", err)
	}
}

// TestBackupCarriesFrozenCommits: a commit not yet acknowledged, whose file
// was overwritten after it, is restored from a backup with its committed
// bytes: the restored server serves them to Phraseanet.
func TestBackupCarriesFrozenCommits(t *testing.T) {
	ps := startPh(t)
	files := []phFile{{"a.txt", []byte("the committed bytes")}}
	kv := ps.addTarget(t, "dam", "--mode", "pull")
	ps.put(t, files)
	c := ps.commit(t, kv["id"], files, nil)
	ps.expect(http.StatusNoContent, davReq{method: "PUT", path: "/dav/spaces/files/" + phFolder + "/a.txt", body: "overwritten"})
	backup := filepath.Join(t.TempDir(), "backup")
	mustWharf(t, ps.data, "", "backup", backup)
	ps.stop()
	ps.data = filepath.Join(t.TempDir(), "restored")
	mustWharf(t, ps.data, "", "restore", "--verify", backup)
	if _, err := os.Stat(filepath.Join(ps.data, "commits", c.ID)); err != nil {
		t.Fatalf("the restored data has no frozen files of commit %s: %v", c.ID, err)
	}
	ps.restart(t)
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(files))
	startPull(t, sim, kv)
	waitIngested(t, sim, ps, files, 30*time.Second)
}
