package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pubReq sends a request with the Authorization header authz ("" for
// none) and returns the status, headers and body.
func (in *instance) pubReq(method, path, authz string, body []byte, hdr ...string) (int, http.Header, string) {
	in.t.Helper()
	r, err := http.NewRequestWithContext(in.t.Context(), method, in.URL+path, bytes.NewReader(body))
	if err != nil {
		in.t.Fatal(err)
	}
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	if len(body) > 0 && strings.HasPrefix(path, "/api/") {
		r.Header.Set("Content-Type", "application/json") // a script of the API; hdr may say otherwise
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func adminBasic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+davPW))
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tusPost creates a tus upload of size bytes at space/path with authz and
// returns the status, the upload id and the body.
func (in *instance) tusPost(authz, spaceID, path string, size int) (int, string, string) {
	in.t.Helper()
	meta := "space " + base64.StdEncoding.EncodeToString([]byte(spaceID)) + ",path " + base64.StdEncoding.EncodeToString([]byte(path))
	st, h, body := in.pubReq("POST", "/tus/", authz, nil, "Tus-Resumable: 1.0.0", "Upload-Length: "+strconv.Itoa(size), "Upload-Metadata: "+meta)
	loc := h.Get("Location")
	return st, loc[strings.LastIndex(loc, "/")+1:], body
}

// tusPut uploads data to space/path over tus (create, one PATCH that waits
// for processing) and returns the upload id.
func (in *instance) tusPut(authz, spaceID, path string, data []byte) string {
	in.t.Helper()
	st, id, body := in.tusPost(authz, spaceID, path, len(data))
	if st != http.StatusCreated {
		in.t.Fatalf("tus create %s/%s: %d %s", spaceID, path, st, body)
	}
	st, _, body = in.pubReq("PATCH", "/tus/"+id, authz, data, "Tus-Resumable: 1.0.0", "Upload-Offset: 0",
		"Content-Type: application/offset+octet-stream")
	if st != http.StatusNoContent {
		in.t.Fatalf("tus PATCH %s: %d %s", id, st, body)
	}
	return id
}

// TestPublishSessionToken: a password gives a session token that works as
// Bearer until revoked; wrong passwords are refused, then throttled.
func TestPublishSessionToken(t *testing.T) {
	in := davServer(t)
	st, _, body := in.pubReq("POST", "/api/v1/auth/token", "", jsonBody(t, map[string]string{"user": "admin", "password": davPW}))
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
		User      string    `json:"user"`
	}
	if err := json.Unmarshal([]byte(body), &tok); st != http.StatusCreated || err != nil || tok.Token == "" || tok.User != "admin" {
		t.Fatalf("POST /api/v1/auth/token: %d %s", st, body)
	}
	if d := time.Until(tok.ExpiresAt); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("session token expires in %s, want 30 days", d)
	}
	bearer := "Bearer " + tok.Token
	if st, _, body := in.pubReq("GET", "/api/v1/me", bearer, nil); st != http.StatusOK || !strings.Contains(body, `"user":"admin"`) {
		t.Errorf("GET /api/v1/me with the session token: %d %s", st, body)
	}
	if st, _, body := in.pubReq("PROPFIND", "/dav/spaces/files/", bearer, nil, "Depth: 0"); st != http.StatusMultiStatus {
		t.Errorf("PROPFIND with the session token: %d %s", st, body)
	}
	if st, _, body := in.pubReq("DELETE", "/api/v1/auth/token", bearer, nil); st != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/auth/token: %d %s", st, body)
	}
	if st, _, body := in.pubReq("GET", "/api/v1/me", bearer, nil); st != http.StatusUnauthorized {
		t.Errorf("revoked session token: %d %s, want 401", st, body)
	}

	wrong := jsonBody(t, map[string]string{"user": "admin", "password": "wrong password"})
	if st, _, body := in.pubReq("POST", "/api/v1/auth/token", "", wrong); st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s, want 401", st, body)
	}
	for i := 0; ; i++ {
		st, h, body := in.pubReq("POST", "/api/v1/auth/token", "", wrong)
		if st == http.StatusTooManyRequests {
			if h.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			break
		}
		if st != http.StatusUnauthorized || i > 10 {
			t.Fatalf("wrong password #%d: %d %s, want 401 then 429", i+2, st, body)
		}
	}
}

// TestPublishUploadToken: an upload token limited to files/partner/, 10 MiB
// and 2 files uploads there and nowhere else, is refused over its limits,
// once expired or revoked, and for anything but tus.
func TestPublishUploadToken(t *testing.T) {
	in := davServer(t)
	in.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/partner"})
	st, _, body := in.pubReq("POST", "/api/v1/upload-tokens", adminBasic(), jsonBody(t, map[string]any{
		"space": "files", "prefix": "partner/", "max_bytes": 10 << 20, "max_files": 2, "expires_in": 3600}))
	var tok struct {
		ID, Token, Space, Prefix, TusURL string
		MaxBytes, MaxFiles               int64
		ExpiresAt                        time.Time
	}
	if err := json.Unmarshal([]byte(body), &tok); st != http.StatusCreated || err != nil || tok.Token == "" {
		t.Fatalf("POST /api/v1/upload-tokens: %d %s", st, body)
	}
	if tok.Space != "files" || tok.Prefix != "partner" || tok.MaxBytes != 10<<20 || tok.MaxFiles != 2 || tok.TusURL != in.URL+"/tus/" {
		t.Errorf("upload token answer %s", body)
	}
	bearer := "Bearer " + tok.Token

	data := bytes.Repeat([]byte("partner bytes "), 1000)
	id := in.tusPut(bearer, "files", "partner/report.txt", data)
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/files/partner/report.txt"}); got != string(data) {
		t.Errorf("the partner's file differs in the space")
	}
	if st, _, body := in.pubReq("GET", "/api/v1/uploads/"+id+"/progress", bearer, nil, "Accept: application/json"); st != http.StatusOK || !strings.Contains(body, `"state":"done"`) {
		t.Errorf("progress of the token's own upload: %d %s", st, body)
	}
	st, _, body = in.tusPost(bearer, "files", "elsewhere.txt", 10)
	if st != http.StatusForbidden || !strings.Contains(body, "this upload token only allows uploads under files/partner") {
		t.Errorf("outside the prefix: %d %s, want 403 naming files/partner", st, body)
	}
	if st, _, body := in.tusPost(bearer, "files", "partner/huge.bin", 10<<20); st != http.StatusRequestEntityTooLarge {
		t.Errorf("over 10 MiB in all: %d %s, want 413", st, body)
	}
	if st, _, body := in.tusPost(bearer, "files", "partner/second.txt", 10); st != http.StatusCreated {
		t.Errorf("second file: %d %s", st, body)
	}
	if st, _, body := in.tusPost(bearer, "files", "partner/third.txt", 10); st != http.StatusForbidden {
		t.Errorf("third file of 2: %d %s, want 403", st, body)
	}
	for _, c := range []struct{ method, path string }{
		{"PROPFIND", "/dav/spaces/files/"},
		{"GET", "/dav/spaces/files/partner/report.txt"},
		{"PUT", "/dav/spaces/files/partner/put.txt"},
		{"GET", "/api/v1/me"},
		{"GET", "/api/v1/upload-tokens"},
	} {
		if st, _, body := in.pubReq(c.method, c.path, bearer, []byte("x")); st != http.StatusForbidden {
			t.Errorf("%s %s with the upload token: %d %s, want 403", c.method, c.path, st, body)
		}
	}
	// Not a credential for a session.
	if st, _, body := in.pubReq("POST", "/api/v1/auth/token", bearer, nil); st != http.StatusUnauthorized {
		t.Errorf("POST /api/v1/auth/token with the upload token: %d %s, want 401", st, body)
	}

	st, _, body = in.pubReq("GET", "/api/v1/upload-tokens", adminBasic(), nil)
	if st != http.StatusOK || !strings.Contains(body, `"id":"`+tok.ID+`"`) || !strings.Contains(body, `"usedFiles":2`) {
		t.Errorf("GET /api/v1/upload-tokens: %d %s", st, body)
	}
	if st, _, body := in.pubReq("DELETE", "/api/v1/upload-tokens/"+tok.ID, adminBasic(), nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if st, _, body := in.tusPost(bearer, "files", "partner/after.txt", 1); st != http.StatusUnauthorized {
		t.Errorf("revoked upload token: %d %s, want 401", st, body)
	}

	st, _, body = in.pubReq("POST", "/api/v1/upload-tokens", adminBasic(), jsonBody(t, map[string]any{"space": "files", "prefix": "partner", "expires_in": 1}))
	if err := json.Unmarshal([]byte(body), &tok); st != http.StatusCreated || err != nil {
		t.Fatalf("short upload token: %d %s", st, body)
	}
	time.Sleep(time.Until(tok.ExpiresAt) + 100*time.Millisecond)
	if st, _, body := in.tusPost("Bearer "+tok.Token, "files", "partner/late.txt", 1); st != http.StatusUnauthorized {
		t.Errorf("expired upload token: %d %s, want 401", st, body)
	}
}

type publishAnswer struct {
	Files []struct {
		Upload, State, Path, SHA256, Error, Step string
		Size                                     int64
	} `json:"files"`
	Commit *struct{ ID, State string } `json:"commit"`
}

// TestPublishFinalize: uploads finalized with metadata and a Phraseanet
// target become one commit of both files; the metadata is on the files;
// finalizing again answers the same and makes no second commit.
func TestPublishFinalize(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW)
	out := mustWharf(t, in.Data, "", "target", "add", "dam", "--space", "files", "--mode", "pull", "--destination", "1", "--public-url", in.URL)
	var target string
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id="); ok {
			target = v
		}
	}
	if target == "" {
		t.Fatalf("target add printed no id:\n%s", out)
	}
	files := map[string][]byte{"shoot/a.txt": []byte("first file"), "shoot/b.txt": bytes.Repeat([]byte("b"), 70000)}
	in.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/shoot"})
	var ids []string
	for p, data := range files {
		ids = append(ids, in.tusPut(adminBasic(), "files", p, data))
	}
	req := jsonBody(t, map[string]any{"uploads": ids, "target": "dam", "form": map[string]any{"title": "Shoot"},
		"metadata": map[string]any{"credit": "ACME", "tags": []string{"a", "b"}}})
	st, _, first := in.pubReq("POST", "/api/v1/uploads/finalize", adminBasic(), req)
	var ans publishAnswer
	if err := json.Unmarshal([]byte(first), &ans); st != http.StatusOK || err != nil || len(ans.Files) != 2 || ans.Commit == nil {
		t.Fatalf("finalize: %d %s", st, first)
	}
	for _, f := range ans.Files {
		sum := sha256.Sum256(files[f.Path])
		if f.State != "done" || f.Size != int64(len(files[f.Path])) || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("finalized file %+v", f)
		}
	}
	st, _, body := in.pubReq("GET", "/api/v1/metadata/files/shoot/a.txt", adminBasic(), nil)
	if st != http.StatusOK || !strings.Contains(body, `"metadata":{"credit":"ACME","tags":["a","b"]}`) {
		t.Errorf("metadata of shoot/a.txt: %d %s", st, body)
	}

	st, _, again := in.pubReq("POST", "/api/v1/uploads/finalize", adminBasic(), req)
	if st != http.StatusOK || again != first {
		t.Errorf("finalizing again: %d\n%s\nwant\n%s", st, again, first)
	}
	st, _, body = in.pubReq("GET", "/api/v1/targets/"+target+"/commits", adminBasic(), nil)
	var commits []struct {
		ID       string
		FormData map[string]any
		Assets   []struct{ Path string }
	}
	if err := json.Unmarshal([]byte(body), &commits); st != http.StatusOK || err != nil {
		t.Fatalf("commits: %d %s", st, body)
	}
	if len(commits) != 1 || commits[0].ID != ans.Commit.ID || len(commits[0].Assets) != 2 || commits[0].FormData["title"] != "Shoot" {
		t.Errorf("commits of the target: %s; want one with both files and the form", body)
	}
}
