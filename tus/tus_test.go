package tus

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestOptions(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxSize = 1000 })
	resp, _ := f.do(t, "", http.MethodOptions, "/tus/", nil, "Origin: https://app.example")
	expectStatus(t, "OPTIONS", resp, "", http.StatusOK)
	ext := resp.Header.Get("Tus-Extension")
	for _, e := range []string{"creation", "creation-with-upload", "creation-defer-length", "termination", "concatenation", "checksum", "expiration"} {
		if !strings.Contains(","+ext+",", ","+e+",") {
			t.Errorf("Tus-Extension %q lacks %s", ext, e)
		}
	}
	for k, want := range map[string]string{"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0",
		"Tus-Checksum-Algorithm": "sha1,md5,sha256", "Tus-Max-Size": "1000"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Upload-Checksum") || !strings.Contains(got, "Prefer") {
		t.Errorf("Access-Control-Allow-Headers = %q", got)
	}
	resp, _ = f.do(t, "alice", http.MethodHead, "/tus/nope", nil, "Origin: https://app.example")
	expectStatus(t, "HEAD of an unknown upload", resp, "", http.StatusNotFound)
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Progress-Location") || !strings.Contains(got, "OC-FileId") {
		t.Errorf("Access-Control-Expose-Headers = %q", got)
	}
}

func TestCreationAndResume(t *testing.T) {
	f := newFixture(t, nil)
	content := []byte("hello, tus world")
	url := f.create(t, "alice", "dir/a.txt", len(content))

	resp, _ := f.do(t, "alice", http.MethodHead, url, nil)
	expectStatus(t, "HEAD", resp, "", http.StatusOK)
	if resp.Header.Get("Upload-Offset") != "0" || resp.Header.Get("Upload-Length") != itoa(len(content)) {
		t.Errorf("HEAD: offset %q length %q", resp.Header.Get("Upload-Offset"), resp.Header.Get("Upload-Length"))
	}
	if exp, err := http.ParseTime(resp.Header.Get("Upload-Expires")); err != nil || !exp.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Errorf("Upload-Expires = %q", resp.Header.Get("Upload-Expires"))
	}

	resp, body := f.patch(t, "alice", url, 0, content[:5])
	expectStatus(t, "first PATCH", resp, body, http.StatusNoContent)
	if resp.Header.Get("Upload-Offset") != "5" {
		t.Errorf("Upload-Offset = %q, want 5", resp.Header.Get("Upload-Offset"))
	}
	resp, body = f.patch(t, "alice", url, 3, content[3:])
	expectStatus(t, "PATCH at a wrong offset", resp, body, http.StatusConflict)
	resp, body = f.patch(t, "alice", url, 5, content[5:], "Tus-Resumable: 0.2.0")
	expectStatus(t, "PATCH with another tus version", resp, body, http.StatusPreconditionFailed)

	resp, body = f.patch(t, "alice", url, 5, content[5:])
	expectStatus(t, "final PATCH", resp, body, http.StatusNoContent)
	if resp.Header.Get("Upload-Offset") != itoa(len(content)) || resp.Header.Get("ETag") == "" || resp.Header.Get("OC-FileId") != "4242" {
		t.Errorf("final PATCH headers: %v", resp.Header)
	}
	job := f.pipe.job(t, idOf(url))
	if job.Space != "s" || job.Path != "dir/a.txt" || job.Size != int64(len(content)) || job.SHA256 != sha256Hex(content) ||
		job.UserID != f.users["alice"].User.ID || job.User != "alice" {
		t.Errorf("job = %+v", job)
	}
	if got, err := os.ReadFile(job.Staged); err != nil || string(got) != string(content) {
		t.Errorf("staged file: %q, %v", got, err)
	}

	// Answered from the record from now on.
	resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
	expectStatus(t, "HEAD after done", resp, "", http.StatusOK)
	if resp.Header.Get("Upload-Offset") != itoa(len(content)) || resp.Header.Get("Upload-Length") != itoa(len(content)) ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("HEAD after done: %v", resp.Header)
	}
	resp, body = f.patch(t, "alice", url, 5, content[5:])
	expectStatus(t, "repeated final PATCH", resp, body, http.StatusNoContent)
	if f.pipe.submits != 1 {
		t.Errorf("%d jobs submitted, want 1", f.pipe.submits)
	}
}

func TestCreationWithUploadAndEmpty(t *testing.T) {
	f := newFixture(t, nil)
	content := []byte("all at once")
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", content, "Upload-Length: "+itoa(len(content)),
		meta("space", "s", "path", "whole.txt"), "Content-Type: application/offset+octet-stream")
	expectStatus(t, "creation-with-upload", resp, body, http.StatusCreated)
	id := idOf(locationPath(t, resp))
	if resp.Header.Get("Upload-Offset") != itoa(len(content)) || resp.Header.Get("Progress-Location") != "/api/v1/uploads/"+id+"/progress" {
		t.Errorf("headers: %v", resp.Header)
	}
	if j := f.pipe.job(t, id); j.SHA256 != sha256Hex(content) || j.Path != "whole.txt" {
		t.Errorf("job = %+v", j)
	}

	resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 0", meta("space", "s", "path", "empty"))
	expectStatus(t, "empty upload", resp, body, http.StatusCreated)
	id = idOf(locationPath(t, resp))
	if resp.Header.Get("Progress-Location") == "" {
		t.Error("empty upload: no Progress-Location")
	}
	if j := f.pipe.job(t, id); j.SHA256 != sha256Hex(nil) || j.Size != 0 {
		t.Errorf("empty job = %+v", j)
	}
}

func TestDeferLength(t *testing.T) {
	f := newFixture(t, nil)
	content := []byte("length unknown at first")
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Defer-Length: 1", meta("space", "s", "path", "deferred"))
	expectStatus(t, "create", resp, body, http.StatusCreated)
	url := locationPath(t, resp)
	resp, body = f.patch(t, "alice", url, 0, content[:4])
	expectStatus(t, "PATCH", resp, body, http.StatusNoContent)
	resp, body = f.patch(t, "alice", url, 4, content[4:], "Upload-Length: "+itoa(len(content)))
	expectStatus(t, "final PATCH declaring the length", resp, body, http.StatusNoContent)
	if j := f.pipe.job(t, idOf(url)); j.Size != int64(len(content)) || j.SHA256 != sha256Hex(content) {
		t.Errorf("job = %+v", j)
	}
}

func TestTermination(t *testing.T) {
	f := newFixture(t, nil)
	url := f.create(t, "alice", "gone.txt", 10)
	f.patch(t, "alice", url, 0, []byte("12345"))
	resp, body := f.do(t, "alice", http.MethodDelete, url, nil)
	expectStatus(t, "DELETE", resp, body, http.StatusNoContent)
	resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
	expectStatus(t, "HEAD after DELETE", resp, "", http.StatusNotFound)
	if fs := f.tusFiles(t); len(fs) != 0 {
		t.Errorf("files left: %v", fs)
	}
}

func TestConcatenation(t *testing.T) {
	f := newFixture(t, nil)
	var urls []string
	for _, part := range []string{"first half, ", "second half"} {
		resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: "+itoa(len(part)), "Upload-Concat: partial")
		expectStatus(t, "create partial", resp, body, http.StatusCreated)
		u := locationPath(t, resp)
		resp, body = f.patch(t, "alice", u, 0, []byte(part))
		expectStatus(t, "PATCH partial", resp, body, http.StatusNoContent)
		urls = append(urls, u)
	}
	if f.pipe.submits != 0 {
		t.Fatal("a partial upload was submitted for processing")
	}
	// bob may not use alice's partial uploads.
	resp, body := f.do(t, "bob", http.MethodPost, "/tus/", nil, "Upload-Concat: final;"+strings.Join(urls, " "),
		meta("space", "s", "path", "joined.txt"))
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("bob concatenating alice's parts: %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Concat: final;"+f.srv.URL+urls[0]+" "+f.srv.URL+urls[1],
		meta("space", "s", "path", "joined.txt"))
	expectStatus(t, "create final", resp, body, http.StatusCreated)
	id := idOf(locationPath(t, resp))
	if resp.Header.Get("Progress-Location") == "" {
		t.Error("final upload: no Progress-Location")
	}
	j := f.pipe.job(t, id)
	if got, _ := os.ReadFile(j.Staged); string(got) != "first half, second half" || j.Path != "joined.txt" {
		t.Errorf("job %+v staged %q", j, got)
	}
	for _, u := range urls {
		if _, err := os.Stat(filepath.Join(f.cfg.UploadsDir, "tus", idOf(u))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partial %s left behind: %v", u, err)
		}
	}
}

func TestChecksum(t *testing.T) {
	f := newFixture(t, nil)
	content := []byte("checksummed content, three chunks")
	url := f.create(t, "alice", "sum.txt", len(content))
	s1 := sha1.Sum(content[:10])
	bad := sha1.Sum([]byte("something else"))

	resp, body := f.patch(t, "alice", url, 0, content[:10], "Upload-Checksum: sha1 "+b64(bad[:]))
	expectStatus(t, "PATCH with a wrong checksum", resp, body, 460)
	resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
	if resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("offset moved after 460: %q", resp.Header.Get("Upload-Offset"))
	}
	if fi, err := os.Stat(filepath.Join(f.cfg.UploadsDir, "tus", idOf(url))); err != nil || fi.Size() != 0 {
		t.Errorf("file after 460: %v %v", fi, err)
	}
	resp, body = f.patch(t, "alice", url, 0, content[:10], "Upload-Checksum: SHA-512 "+b64(s1[:]))
	expectStatus(t, "PATCH with an unknown algorithm", resp, body, http.StatusBadRequest)

	resp, body = f.patch(t, "alice", url, 0, content[:10], "Upload-Checksum: sha1 "+b64(s1[:]))
	expectStatus(t, "PATCH sha1", resp, body, http.StatusNoContent)
	m := md5.Sum(content[10:20])
	resp, body = f.patch(t, "alice", url, 10, content[10:20], "Upload-Checksum: md5 "+b64(m[:]))
	expectStatus(t, "PATCH md5", resp, body, http.StatusNoContent)
	s256 := sha256Sum(content[20:])
	resp, body = f.patch(t, "alice", url, 20, content[20:], "Upload-Checksum: sha256 "+b64(s256))
	expectStatus(t, "PATCH sha256", resp, body, http.StatusNoContent)
	if j := f.pipe.job(t, idOf(url)); j.SHA256 != sha256Hex(content) {
		t.Errorf("job sha256 %s, want %s", j.SHA256, sha256Hex(content))
	}
}

func TestWholeFileChecksum(t *testing.T) {
	f := newFixture(t, nil)
	content := []byte("whole-file checksum")
	s := sha1.Sum(content)
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: "+itoa(len(content)),
		meta("space", "s", "path", "w.txt", "checksum", "SHA1 "+b64(s[:])))
	expectStatus(t, "create", resp, body, http.StatusCreated)
	url := locationPath(t, resp)
	f.patch(t, "alice", url, 0, content)
	j := f.pipe.job(t, idOf(url))
	if len(j.Expect) != 1 || j.Expect[0].Algo != "sha1" || j.Expect[0].Hex != j.SHA1 || j.SHA1 == "" {
		t.Errorf("job = %+v", j)
	}
}

func TestCreateRefusals(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxSize = 1 << 20 })
	if err := f.tree.SetQuota(t.Context(), "s", 1000); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user string
		hdr        []string
		want       int
	}{
		{"no credentials", "", []string{"Upload-Length: 10", meta("space", "s", "path", "x")}, http.StatusUnauthorized},
		{"viewer", "carol", []string{"Upload-Length: 10", meta("space", "s", "path", "x")}, http.StatusForbidden},
		{"no role in the space", "alice", []string{"Upload-Length: 10", meta("space", "t", "path", "x")}, http.StatusNotFound},
		{"no such space", "alice", []string{"Upload-Length: 10", meta("space", "nope", "path", "x")}, http.StatusNotFound},
		{"over the quota", "alice", []string{"Upload-Length: 998", meta("space", "s", "path", "x")}, http.StatusInsufficientStorage},
		{"too large", "alice", []string{"Upload-Length: 2000000", meta("space", "s", "path", "x")}, http.StatusRequestEntityTooLarge},
		{"dot-dot", "alice", []string{"Upload-Length: 10", meta("space", "s", "path", "dir/../x")}, http.StatusBadRequest},
		{"control character", "alice", []string{"Upload-Length: 10", meta("space", "s", "path", "a\x01b")}, http.StatusBadRequest},
		{"no path", "alice", []string{"Upload-Length: 10", meta("space", "s")}, http.StatusBadRequest},
		{"missing folder", "alice", []string{"Upload-Length: 10", meta("space", "s", "path", "nodir/x")}, http.StatusConflict},
		{"onto a folder", "alice", []string{"Upload-Length: 10", meta("space", "s", "path", "dir")}, http.StatusConflict},
		{"old tus version", "alice", []string{"Upload-Length: 10", meta("space", "s", "path", "x"), "Tus-Resumable: 0.2.2"}, http.StatusPreconditionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, tc.user, http.MethodPost, "/tus/", nil, tc.hdr...)
			expectStatus(t, "POST", resp, body, tc.want)
			if tc.want != http.StatusPreconditionFailed && tc.want != http.StatusRequestEntityTooLarge && strings.HasPrefix(body, "ERR_") {
				t.Errorf("message is not plain: %q", body)
			}
			if fs := f.tusFiles(t); len(fs) != 0 {
				t.Errorf("files left in uploads/tus: %v", fs)
			}
		})
	}
	if n, _ := f.db.PendingUploadBytes(t.Context(), "s", ""); n != 0 {
		t.Errorf("refused uploads were recorded: %d bytes pending", n)
	}
	// Within the quota it works; a second one beyond what is left does not.
	f.create(t, "alice", "fits", 600)
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 600", meta("space", "s", "path", "fits2"))
	expectStatus(t, "second upload past the quota", resp, body, http.StatusInsufficientStorage)
}

func TestOwnerOnly(t *testing.T) {
	f := newFixture(t, nil)
	url := f.create(t, "alice", "mine", 10)
	for _, m := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
		var resp *http.Response
		var body string
		if m == http.MethodPatch {
			resp, body = f.patch(t, "bob", url, 0, []byte("12345"))
		} else {
			resp, body = f.do(t, "bob", m, url, nil)
		}
		expectStatus(t, "bob's "+m, resp, body, http.StatusNotFound)
	}
	resp, _ := f.do(t, "alice", http.MethodHead, url, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "0" {
		t.Errorf("alice's HEAD after bob's attempts: %d offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
}

func TestProcessingThenRejected(t *testing.T) {
	f := newFixture(t, nil)
	f.pipe.mode = "hold"
	content := []byte("to be rejected")
	url := f.create(t, "alice", "bad.exe", len(content))
	id := idOf(url)

	type result struct {
		resp *http.Response
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, body := f.patch(t, "alice", url, 0, content)
		done <- result{resp, body}
	}()
	// Wait until the job is submitted, then HEAD must not wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, err := f.pipe.Status(t.Context(), id); err == nil && st.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job never submitted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	resp, _ := f.do(t, "alice", http.MethodHead, url, nil)
	if took := time.Since(start); took > time.Second {
		t.Errorf("HEAD during processing took %v", took)
	}
	expectStatus(t, "HEAD during processing", resp, "", http.StatusLocked)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("423 without Retry-After")
	}
	resp, body := f.patch(t, "alice", url, 0, content)
	expectStatus(t, "repeated PATCH during processing", resp, body, http.StatusLocked)

	f.pipe.finish(id, true)
	r := <-done
	expectStatus(t, "final PATCH", r.resp, r.body, http.StatusUnprocessableEntity)
	if got, want := r.resp.Header.Get("Upload-Offset"), strconv.Itoa(len(content)); got != want {
		t.Errorf("422 Upload-Offset %q, want %q", got, want)
	}
	var got struct{ Error, Step string }
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || got.Step != "policy" || got.Error != "type not allowed" {
		t.Errorf("422 body %q: %+v %v", r.body, got, err)
	}
	resp, body = f.patch(t, "alice", url, 0, content)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("PATCH after rejection: %d, want 4xx", resp.StatusCode)
	}
	expectStatus(t, "PATCH after rejection", resp, body, http.StatusGone)
	if !strings.Contains(body, "type not allowed") {
		t.Errorf("410 body %q lacks the reason", body)
	}
	resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
	expectStatus(t, "HEAD after rejection", resp, "", http.StatusGone)
}

func TestAccepted(t *testing.T) {
	t.Run("Prefer respond-async", func(t *testing.T) {
		f := newFixture(t, nil)
		f.pipe.mode = "hold"
		url := f.create(t, "alice", "async", 3)
		resp, body := f.patch(t, "alice", url, 0, []byte("abc"), "Prefer: respond-async")
		expectStatus(t, "PATCH", resp, body, http.StatusAccepted)
		if resp.Header.Get("Preference-Applied") != "respond-async" || resp.Header.Get("Progress-Location") != "/api/v1/uploads/"+idOf(url)+"/progress" {
			t.Errorf("headers: %v", resp.Header)
		}
		// The outcome shows on HEAD once the job ends.
		f.pipe.finish(idOf(url), false)
		resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "3" || resp.Header.Get("OC-FileId") != "4242" {
			t.Errorf("HEAD after the job: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("ProcessingWait", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.ProcessingWait = 100 * time.Millisecond })
		f.pipe.mode = "hold"
		url := f.create(t, "alice", "slow", 3)
		resp, body := f.patch(t, "alice", url, 0, []byte("abc"))
		expectStatus(t, "PATCH", resp, body, http.StatusAccepted)
		if resp.Header.Get("Preference-Applied") != "" || resp.Header.Get("Progress-Location") == "" {
			t.Errorf("headers: %v", resp.Header)
		}
	})
	t.Run("submission fails", func(t *testing.T) {
		f := newFixture(t, nil)
		f.pipe.submitErr = errors.New("disk on fire")
		url := f.create(t, "alice", "unlucky", 3)
		resp, body := f.patch(t, "alice", url, 0, []byte("abc"))
		expectStatus(t, "PATCH", resp, body, http.StatusLocked)
		resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
		expectStatus(t, "HEAD while the pipeline fails", resp, "", http.StatusLocked)
		f.pipe.mu.Lock()
		f.pipe.submitErr = nil
		f.pipe.mu.Unlock()
		resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
		expectStatus(t, "HEAD once the pipeline works", resp, "", http.StatusOK)
		if f.pipe.job(t, idOf(url)).SHA256 != sha256Hex([]byte("abc")) {
			t.Error("resubmitted job has a wrong hash")
		}
	})
}

func TestResumeAfterRestart(t *testing.T) {
	f := newFixture(t, nil)
	content := []byte(strings.Repeat("0123456789", 100))
	url := f.create(t, "alice", "big.bin", len(content))
	id := idOf(url)
	resp, body := f.patch(t, "alice", url, 0, content[:400])
	expectStatus(t, "PATCH", resp, body, http.StatusNoContent)

	// A crash after 100 more bytes reached the file but before they were
	// recorded.
	bin := filepath.Join(f.cfg.UploadsDir, "tus", id)
	fh, err := os.OpenFile(bin, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write(content[400:500])
	fh.Close()
	// Scribble over what the hash state covers: if the end re-read it, the
	// hash would be wrong.
	fh, _ = os.OpenFile(bin, os.O_WRONLY, 0)
	fh.WriteAt([]byte("XXXXXXXXXX"), 0)
	fh.Close()

	f.start(t) // a new Handler on the same directories and database
	resp, _ = f.do(t, "alice", http.MethodHead, url, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "500" {
		t.Fatalf("HEAD after restart: %d offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	resp, body = f.patch(t, "alice", url, 500, content[500:])
	expectStatus(t, "final PATCH after restart", resp, body, http.StatusNoContent)
	if got := f.pipe.job(t, id).SHA256; got != sha256Hex(content) {
		t.Errorf("sha256 %s, want %s (the covered part was read again, or the tail was not)", got, sha256Hex(content))
	}
	u, err := f.db.Upload(t.Context(), id)
	if err != nil || u.Hashed != int64(len(content)) || u.State != store.UploadDone {
		t.Errorf("record: %+v %v", u, err)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, nil)
	url := f.create(t, "alice", "abandoned", 10)
	f.patch(t, "alice", url, 0, []byte("12345"))
	keep := f.create(t, "alice", "fresh", 10)
	orphan := filepath.Join(f.cfg.UploadsDir, "tus", strings.Repeat("ab", 16))
	os.WriteFile(orphan, []byte("x"), 0o600)
	os.WriteFile(orphan+".info", []byte("{}"), 0o600)
	other := filepath.Join(f.cfg.UploadsDir, "tus", "README")
	os.WriteFile(other, []byte("x"), 0o600)

	f.clock.Advance(23 * time.Hour)
	f.patch(t, "alice", keep, 0, []byte("1")) // activity extends the expiry
	f.clock.Advance(2 * time.Hour)
	f.h.Sweep(t.Context())

	resp, _ := f.do(t, "alice", http.MethodHead, url, nil)
	expectStatus(t, "HEAD on an expired upload", resp, "", http.StatusNotFound)
	resp, _ = f.do(t, "alice", http.MethodHead, keep, nil)
	expectStatus(t, "HEAD on an active upload", resp, "", http.StatusOK)
	files := strings.Join(f.tusFiles(t), " ")
	for _, gone := range []string{idOf(url), filepath.Base(orphan)} {
		if strings.Contains(files, gone) {
			t.Errorf("%s still in uploads/tus: %s", gone, files)
		}
	}
	if !strings.Contains(files, idOf(keep)) || !strings.Contains(files, "README") {
		t.Errorf("sweep removed too much: %s", files)
	}
}

func TestOCISCreation(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.tree.Mkdir(t.Context(), "s", "dir/sub"); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "alice", http.MethodPost, "/dav/spaces/s/dir/", nil, "Upload-Length: 4", meta("filename", "sub/../../x"))
	expectStatus(t, "filename with ..", resp, body, http.StatusBadRequest)
	resp, body = f.do(t, "alice", http.MethodPost, "/dav/spaces/s/dir/", nil, "Upload-Length: 4", meta("filename", "sub/new.txt"))
	expectStatus(t, "oCIS creation", resp, body, http.StatusCreated)
	url := locationPath(t, resp)
	if !strings.HasPrefix(url, "/tus/") {
		t.Fatalf("Location %q", url)
	}
	resp, body = f.patch(t, "alice", url, 0, []byte("data"))
	expectStatus(t, "PATCH", resp, body, http.StatusNoContent)
	if j := f.pipe.job(t, idOf(url)); j.Space != "s" || j.Path != "dir/sub/new.txt" {
		t.Errorf("job = %+v", j)
	}
	resp, body = f.do(t, "bob", http.MethodPost, "/dav/spaces/t/", nil, "Upload-Length: 4", meta("filename", "y"))
	expectStatus(t, "oCIS creation at a space root", resp, body, http.StatusCreated)
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
