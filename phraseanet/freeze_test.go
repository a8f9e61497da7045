package phraseanet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// fetchAsset reads an asset's JSON and downloads its url, as Phraseanet
// does; status is the download's.
func (f *fixture) fetchAsset(t *testing.T, c Commit, id string) (meta assetJSON, status int, body string) {
	t.Helper()
	st, js, _ := f.do(t, "GET", "/assets/"+id, "AssetToken "+c.Token, "", "")
	if st != http.StatusOK {
		t.Fatalf("GET /assets/%s: %d %s", id, st, js)
	}
	if err := json.Unmarshal([]byte(js), &meta); err != nil {
		t.Fatal(err)
	}
	status, body, _ = f.do(t, "GET", meta.URL, "", "", "")
	return meta, status, body
}

func TestCommitFreezesItsFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "commits")
	f := newFixture(t, func(c *Config) { c.Dir = dir })
	tg := f.target(t, TargetSpec{Name: "t", Mode: ModePull})
	const old = "the committed bytes"
	f.put(t, "a.txt", old)
	f.put(t, "b.txt", "second file")
	c, as := f.commit(t, tg.ID, "a.txt", "b.txt")
	if as[0].SHA256 != sum(old) || as[0].Size != int64(len(old)) || !as[0].Frozen {
		t.Fatalf("asset of a.txt: size %d sha %s frozen %v, want %d %s true", as[0].Size, as[0].SHA256, as[0].Frozen, len(old), sum(old))
	}
	frozen, err := os.Stat(filepath.Join(dir, c.ID, as[0].ID))
	if err != nil {
		t.Fatalf("no frozen copy: %v", err)
	}
	if file, _, err := f.tree.Open(f.ctx, "s", "a.txt"); err == nil {
		fi, _ := file.(*os.File).Stat()
		file.Close()
		if !os.SameFile(fi, frozen) {
			t.Errorf("the frozen copy is not a hard link of the file (same file system)")
		}
	}

	// Overwritten, moved and deleted in the space after the commit.
	f.put(t, "a.txt", "new bytes, longer than the committed ones")
	if _, err := f.tree.Move(f.ctx, "s", "b.txt", "s", "moved.txt", false); err != nil {
		t.Fatal(err)
	}
	if err := f.tree.Delete(f.ctx, "s", "moved.txt"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{old, "second file"} {
		meta, st, body := f.fetchAsset(t, c, as[i].ID)
		if st != http.StatusOK || body != want {
			t.Errorf("asset %d: download %d %q, want the committed %q", i, st, body, want)
		}
		if meta.Size != int64(len(body)) || meta.SHA256 != sum(body) {
			t.Errorf("asset %d: announced size %d sha256 %s; served %d bytes with sha256 %s", i, meta.Size, meta.SHA256, len(body), sum(body))
		}
	}
	// The legacy download too.
	if st, body, _ := f.do(t, "GET", "/assets/"+as[0].ID+"/download", "AssetToken "+c.Token, "", ""); st != 200 || body != old {
		t.Errorf("legacy download: %d %q, want %q", st, body, old)
	}

	// Still acknowledgeable; the after-ack action and the release follow.
	for _, a := range as {
		if st, body, _ := f.do(t, "POST", "/assets/"+a.ID+"/ack", "AssetToken "+c.Token, "application/json", `{"acknowledged":true}`); st != 200 || body != "true" {
			t.Fatalf("ack: %d %s", st, body)
		}
	}
	if got := f.getCommit(t, c.ID); got.AcknowledgedAt.IsZero() {
		t.Fatal("commit not acknowledged")
	}
	f.svc.sweep(f.ctx)
	if got := f.getCommit(t, c.ID); got.DisposedAt.IsZero() {
		t.Fatal("after-ack action not done")
	}
	if _, err := os.Stat(filepath.Join(dir, c.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("frozen files not released after the after-ack action: %v", err)
	}
}

func TestFrozenOrphansAreSwept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "commits")
	f := newFixture(t, func(c *Config) { c.Dir = dir })
	tg := f.target(t, TargetSpec{Name: "t", Mode: ModePull})
	f.put(t, "a.txt", "x")
	live, _ := f.commit(t, tg.ID, "a.txt")
	orphan := filepath.Join(dir, "crashed-before-recording")
	young := filepath.Join(dir, "being-made-elsewhere")
	for _, d := range []string{orphan, young} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := f.clock.Now().Add(-time.Hour)
	if err := os.Chtimes(orphan, old, old); err != nil {
		t.Fatal(err)
	}
	n, err := f.svc.sweepFrozen(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 removed", n, err)
	}
	for d, want := range map[string]bool{orphan: false, young: true, filepath.Join(dir, live.ID): true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

func TestJunkNeverCommitted(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Dir = filepath.Join(t.TempDir(), "commits") })
	tg := f.target(t, TargetSpec{Name: "drop", Mode: ModePull, Folder: "in"})
	junkNames := []string{"in/.DS_Store", "in/._photo.jpg", "in/Thumbs.db", "in/desktop.ini", "in/~$report.docx",
		"in/.~lock.report.odt#", "in/.notes.txt.swp", "in/notes.txt~", "in/.#notes.txt", "in/movie.mp4.part",
		"in/big.zip.crdownload", "in/__MACOSX/photo.jpg", "in/sub/THUMBS.DB"}
	for _, p := range junkNames {
		f.put(t, p, "junk")
	}
	f.put(t, "in/photo.jpg", "a photo")
	f.put(t, "in/sub/report.docx", "a report")
	if n, err := f.svc.RunSchedule(f.ctx, tg.ID); err != nil || n != 1 {
		t.Fatalf("RunSchedule: %d, %v", n, err)
	}
	_, assets, err := f.svc.Commits(f.ctx, tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, as := range assets {
		for _, a := range as {
			got = append(got, a.Path)
		}
	}
	slices.Sort(got)
	if want := []string{"in/photo.jpg", "in/sub/report.docx"}; !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
	// Asked for by name, junk is left out too; only junk is refused.
	if _, _, err := f.svc.CreateCommit(f.ctx, CommitRequest{TargetID: tg.ID, Paths: []string{"in/.DS_Store"}}); !errors.Is(err, ErrBadInput) {
		t.Errorf("commit of .DS_Store alone: %v, want ErrBadInput", err)
	}

	// A target told to exclude nothing takes them.
	all := f.target(t, TargetSpec{Name: "all", Mode: ModePull, Folder: "in", Exclude: []string{"none"}})
	if _, as, err := f.svc.CreateCommit(f.ctx, CommitRequest{TargetID: all.ID, Paths: []string{"in/.DS_Store"}}); err != nil || len(as) != 1 {
		t.Errorf("exclude none: %v, %d assets", err, len(as))
	}
	// Bad patterns are refused.
	if _, _, err := f.svc.AddTarget(f.ctx, TargetSpec{Name: "bad", SpaceID: "s", Mode: ModePull, Destination: "1", Exclude: []string{"[a"}}); !errors.Is(err, ErrBadInput) {
		t.Errorf("pattern [a: %v, want ErrBadInput", err)
	}
}

func TestScheduledCommitNamesPublisher(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Dir = filepath.Join(t.TempDir(), "commits") })
	if err := f.auth.SetEmail(f.ctx, "alice", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	tg := f.target(t, TargetSpec{Name: "drop", Mode: ModePull, Publisher: "alice"})
	f.put(t, "a.jpg", "put by WebDAV: uploader unknown")
	if n, err := f.svc.RunSchedule(f.ctx, tg.ID); err != nil || n != 1 {
		t.Fatalf("RunSchedule: %d, %v", n, err)
	}
	cs, _, err := f.svc.Commits(f.ctx, tg.ID)
	if err != nil || len(cs) != 1 {
		t.Fatal(cs, err)
	}
	alice, err := f.db.UserByName(f.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].UserID != alice.ID {
		t.Errorf("publisher %d, want alice (%d)", cs[0].UserID, alice.ID)
	}
	var form map[string]any
	json.Unmarshal([]byte(cs[0].FormData), &form)
	if form[submitterKey] != "alice@example.org" {
		t.Errorf("form %v: want %s alice@example.org", form, submitterKey)
	}
	if _, _, err := f.svc.AddTarget(f.ctx, TargetSpec{Name: "x", SpaceID: "s", Mode: ModePull, Destination: "1", Publisher: "nobody"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("unknown publisher: %v, want ErrBadInput", err)
	}
}

// TestScheduledCommitNamesUploader: a file the pipeline installs from a
// WebDAV PUT (no tus upload on record) is committed on schedule in the
// name of the user who sent it, with that user's e-mail address when there
// is one; a file nobody is known to have uploaded goes as "0", without an
// address, when the target names no publisher, and under the target's
// publisher when it names one, as does a file whose uploader's account was
// removed.
func TestScheduledCommitNamesUploader(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Dir = filepath.Join(t.TempDir(), "commits") })
	if err := f.auth.SetEmail(f.ctx, "alice", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	runner, err := postproc.New(postproc.Config{DB: f.db, Tree: f.tree, Workers: 1,
		QuarantineDir: filepath.Join(dir, "quarantine"), ThumbsDir: filepath.Join(dir, "thumbs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runner.Close() })
	users := map[string]int64{}
	for _, name := range []string{"alice", "bob", "carol"} {
		u, err := f.db.UserByName(f.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		users[name] = u.ID
	}
	// putAs installs p as dav's PUT handler does: staged, then the quick
	// steps of the pipeline, in the name of the authenticated user.
	putAs := func(user, p, content string) {
		t.Helper()
		f.mkdirAll(t, path.Dir(p))
		sf, err := f.tree.Stage(f.ctx, "s", p, strings.NewReader(content), space.PutOptions{ExpectedSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = runner.Process(f.ctx, postproc.Job{ID: "put-" + user + "-" + path.Base(p), Space: "s", Path: sf.Path,
			Staged: sf.Name, Size: sf.Size, SHA256: sf.Sums.SHA256, MTime: sf.MTime, Quick: true,
			UserID: users[user], User: user})
		if err != nil {
			t.Fatal(err)
		}
	}
	putAs("alice", "drop/a.jpg", "alice's photo")
	putAs("bob", "drop/b.txt", "bob's notes")
	f.put(t, "drop/c.txt", "placed without an upload")
	putAs("carol", "named/d.txt", "carol's file; carol is removed")
	f.put(t, "named/e.txt", "placed without an upload")

	publishers := func(tg Target) map[int64]map[string]any {
		t.Helper()
		if _, err := f.svc.RunSchedule(f.ctx, tg.ID); err != nil {
			t.Fatalf("RunSchedule %s: %v", tg.Name, err)
		}
		cs, assets, err := f.svc.Commits(f.ctx, tg.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]map[string]any{}
		for _, c := range cs {
			var form map[string]any
			if err := json.Unmarshal([]byte(c.FormData), &form); err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, a := range assets[c.ID] {
				paths = append(paths, a.Path)
			}
			form["paths"] = strings.Join(paths, " ")
			if _, dup := out[c.UserID]; dup {
				t.Errorf("%s: two commits name publisher %d", tg.Name, c.UserID)
			}
			out[c.UserID] = form
		}
		return out
	}

	got := publishers(f.target(t, TargetSpec{Name: "drop", Mode: ModePull, Folder: "drop"}))
	if len(got) != 3 {
		t.Errorf("drop: commits by publisher %v, want alice's, bob's and nobody's", got)
	}
	if c := got[users["alice"]]; c["paths"] != "drop/a.jpg" || c[submitterKey] != "alice@example.org" {
		t.Errorf("alice's commit %v: want drop/a.jpg with %s alice@example.org", c, submitterKey)
	}
	if c, ok := got[users["bob"]]; !ok || c["paths"] != "drop/b.txt" || c[submitterKey] != nil {
		t.Errorf("bob's commit %v (%v): want drop/b.txt without an e-mail address (bob has none)", c, ok)
	}
	if c, ok := got[0]; !ok || c["paths"] != "drop/c.txt" || c[submitterKey] != nil {
		t.Errorf("nobody's commit %v (%v): want drop/c.txt as \"0\", without an e-mail address", c, ok)
	}

	if err := f.auth.RemoveUser(f.ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	got = publishers(f.target(t, TargetSpec{Name: "named", Mode: ModePull, Folder: "named", Publisher: "alice"}))
	if c, ok := got[users["alice"]]; len(got) != 1 || !ok || c["paths"] != "named/d.txt named/e.txt" || c[submitterKey] != "alice@example.org" {
		t.Errorf("named: commits by publisher %v; want one by the target's publisher alice, with her address, of both files", got)
	}
}

// TestFreezeAcrossFileSystems: with the commits area on another file
// system than the spaces, hard links are impossible and the files are
// copied; the commit is as frozen.
func TestFreezeAcrossFileSystems(t *testing.T) {
	other, err := os.MkdirTemp("/dev/shm", "wharf-commits-")
	if err != nil {
		t.Skipf("no /dev/shm to put the commits area on another file system: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	f := newFixture(t, func(c *Config) { c.Dir = other })
	tg := f.target(t, TargetSpec{Name: "t", Mode: ModePull})
	f.put(t, "a.txt", "committed")
	c, as := f.commit(t, tg.ID, "a.txt")
	file, _, err := f.tree.Open(f.ctx, "s", "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	space, err := file.(*os.File).Stat()
	file.Close()
	if err != nil {
		t.Fatal(err)
	}
	frozen, err := os.Stat(filepath.Join(other, c.ID, as[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(space, frozen) {
		t.Skip("/dev/shm is on the file system of the test's data directory: nothing to copy")
	}
	f.put(t, "a.txt", "overwritten after the commit")
	if _, st, body := f.fetchAsset(t, c, as[0].ID); st != 200 || body != "committed" || as[0].SHA256 != sum("committed") {
		t.Errorf("download %d %q (asset sha %s), want the committed bytes", st, body, as[0].SHA256)
	}
}
