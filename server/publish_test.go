package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/store"
)

const testAdminPW = "publish test password"

// publishServer runs a whole server (real SQLite, auth, tree, pipeline,
// tus, Phraseanet) on a loopback port over a temporary data directory, and
// opens the same directory beside it, as the command line does.
type publishServer struct {
	url string
	svc *Services
}

func startPublish(t *testing.T) *publishServer {
	t.Helper()
	dir := t.TempDir()
	ps := &publishServer{url: runServer(t, dir, slog.New(slog.DiscardHandler))}
	svc, err := Open(t.Context(), dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ps.svc = svc
	return ps
}

// runServer runs a whole server (Run) over dir on a loopback port, logging
// to log, until the test ends, and returns its base URL.
func runServer(tb testing.TB, dir string, log *slog.Logger) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Dir: dir, Listen: "127.0.0.1:0", AdminPassword: testAdminPW,
			Logger: log, Ready: func(a net.Addr) { addr <- a }})
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a.String()
	case err := <-done:
		cancel()
		tb.Fatalf("Run: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return url
}

// req sends a request with Authorization auth ("" for none; "admin" for
// the admin's Basic credentials) and returns status, headers and body.
func (ps *publishServer) req(t *testing.T, method, path, authz string, body []byte, hdr ...string) (int, http.Header, string) {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), method, ps.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case authz == "admin":
		r.SetBasicAuth("admin", testAdminPW)
	case authz != "":
		r.Header.Set("Authorization", authz)
	}
	if len(body) > 0 {
		r.Header.Set("Content-Type", "application/json") // unless hdr says otherwise
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionToken(t *testing.T) {
	ps := startPublish(t)
	st, _, body := ps.req(t, "POST", "/api/v1/auth/token", "", mustJSON(t, map[string]any{"user": "admin", "password": testAdminPW, "expires_in": 3600}))
	if st != http.StatusCreated {
		t.Fatalf("POST /api/v1/auth/token: %d %s", st, body)
	}
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
		User      string    `json:"user"`
	}
	json.Unmarshal([]byte(body), &tok)
	if tok.User != "admin" || !strings.HasPrefix(tok.Token, "wharf_") || time.Until(tok.ExpiresAt) > time.Hour || time.Until(tok.ExpiresAt) < 50*time.Minute {
		t.Errorf("session token answer %s: want admin's token expiring in an hour", body)
	}
	bearer := "Bearer " + tok.Token
	if st, _, body := ps.req(t, "GET", "/api/v1/me", bearer, nil); st != http.StatusOK || !strings.Contains(body, `"via":"token"`) {
		t.Errorf("GET /api/v1/me with the session token: %d %s", st, body)
	}
	// Basic works too, and a bearer token is no credential for a new one.
	if st, _, body := ps.req(t, "POST", "/api/v1/auth/token", "admin", nil); st != http.StatusCreated {
		t.Errorf("POST with Basic: %d %s", st, body)
	}
	if st, _, body := ps.req(t, "POST", "/api/v1/auth/token", bearer, nil); st != http.StatusUnauthorized {
		t.Errorf("POST with only a bearer token: %d %s, want 401", st, body)
	}
	if st, _, body := ps.req(t, "DELETE", "/api/v1/auth/token", bearer, nil); st != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/auth/token: %d %s", st, body)
	}
	if st, _, _ := ps.req(t, "GET", "/api/v1/me", bearer, nil); st != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me with a revoked session token: %d, want 401", st)
	}

	// Failed logins are throttled: 401 until the limit (10 failures of the
	// user name from this address; the revoked token above counts apart),
	// then 429.
	wrong := mustJSON(t, map[string]string{"user": "admin", "password": "not the password"})
	for i := range 10 {
		if st, _, body := ps.req(t, "POST", "/api/v1/auth/token", "", wrong); st != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d: %d %s, want 401", i+1, st, body)
		}
	}
	st, h, body := ps.req(t, "POST", "/api/v1/auth/token", "", wrong)
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("after 10 failures: %d (Retry-After %q) %s, want 429 with Retry-After", st, h.Get("Retry-After"), body)
	}
	if st, _, _ := ps.req(t, "POST", "/api/v1/auth/token", "admin", nil); st != http.StatusTooManyRequests {
		t.Errorf("the right password while throttled: %d, want 429", st)
	}
}

// tusCreate creates an upload of size bytes at space/path and returns the
// status, the upload id (on 201) and the body.
func (ps *publishServer) tusCreate(t *testing.T, authz, spaceID, path string, size int) (int, string, string) {
	t.Helper()
	meta := "space " + base64.StdEncoding.EncodeToString([]byte(spaceID)) + ",path " + base64.StdEncoding.EncodeToString([]byte(path))
	st, h, body := ps.req(t, "POST", "/tus/", authz, nil, "Tus-Resumable: 1.0.0", "Upload-Length: "+strconv.Itoa(size), "Upload-Metadata: "+meta)
	loc := h.Get("Location")
	return st, loc[strings.LastIndex(loc, "/")+1:], body
}

// tusUpload uploads data to space/path in one PATCH, waiting for processing.
func (ps *publishServer) tusUpload(t *testing.T, authz, spaceID, path string, data []byte) string {
	t.Helper()
	st, id, body := ps.tusCreate(t, authz, spaceID, path, len(data))
	if st != http.StatusCreated {
		t.Fatalf("create %s/%s: %d %s", spaceID, path, st, body)
	}
	st, _, body = ps.req(t, "PATCH", "/tus/"+id, authz, data, "Tus-Resumable: 1.0.0", "Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
	if st != http.StatusNoContent {
		t.Fatalf("PATCH %s: %d %s", id, st, body)
	}
	return id
}

func (ps *publishServer) uploadToken(t *testing.T, authz string, spec map[string]any) (int, map[string]any) {
	t.Helper()
	st, _, body := ps.req(t, "POST", "/api/v1/upload-tokens", authz, mustJSON(t, spec))
	var out map[string]any
	json.Unmarshal([]byte(body), &out)
	if st != http.StatusCreated {
		out = map[string]any{"body": body}
	}
	return st, out
}

func TestUploadToken(t *testing.T) {
	ps := startPublish(t)
	ctx := t.Context()
	if _, err := ps.svc.Tree.Mkdir(ctx, FirstSpace, "partner"); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.svc.Auth.AddUser(ctx, "vera", "vera's long password", false); err != nil {
		t.Fatal(err)
	}
	if err := ps.svc.Auth.Grant(ctx, FirstSpace, "vera", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	if st, out := ps.uploadToken(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("vera:vera's long password")),
		map[string]any{"space": FirstSpace, "prefix": "partner"}); st != http.StatusForbidden {
		t.Errorf("a viewer made an upload token: %d %v", st, out)
	}

	st, out := ps.uploadToken(t, "admin", map[string]any{"space": FirstSpace, "prefix": "/partner/", "max_bytes": 1000, "max_files": 2, "expires_in": 600})
	if st != http.StatusCreated {
		t.Fatalf("POST /api/v1/upload-tokens: %d %v", st, out)
	}
	if out["space"] != FirstSpace || out["prefix"] != "partner" || out["maxBytes"] != 1000.0 || out["maxFiles"] != 2.0 || out["tusURL"] != ps.url+"/tus/" {
		t.Errorf("upload token answer %v", out)
	}
	bearer := "Bearer " + out["token"].(string)
	tokenID := out["id"].(string)

	for _, c := range []struct {
		name, method, path string
		want               int
	}{
		{"me", "GET", "/api/v1/me", http.StatusForbidden},
		{"webdav", "PROPFIND", "/dav/spaces/files/", http.StatusForbidden},
		{"webdav get", "GET", "/dav/spaces/files/partner", http.StatusForbidden},
		{"more tokens", "POST", "/api/v1/upload-tokens", http.StatusForbidden},
		{"list tokens", "GET", "/api/v1/upload-tokens", http.StatusForbidden},
		{"session", "DELETE", "/api/v1/auth/token", http.StatusForbidden},
	} {
		if st, _, body := ps.req(t, c.method, c.path, bearer, nil); st != c.want {
			t.Errorf("%s: %s %s with the upload token: %d %s, want %d", c.name, c.method, c.path, st, body, c.want)
		}
	}

	st, _, body := ps.tusCreate(t, bearer, FirstSpace, "elsewhere.bin", 10)
	if st != http.StatusForbidden || !strings.Contains(body, "this upload token only allows uploads under files/partner") {
		t.Errorf("outside the prefix: %d %s", st, body)
	}
	if st, _, body := ps.tusCreate(t, bearer, FirstSpace, "partner/big.bin", 1001); st != http.StatusRequestEntityTooLarge {
		t.Errorf("over max_bytes: %d %s, want 413", st, body)
	}
	data := []byte("partner file one")
	id := ps.tusUpload(t, bearer, FirstSpace, "partner/one.txt", data)
	if st, _, body := ps.req(t, "GET", "/api/v1/uploads/"+id+"/progress", bearer, nil, "Accept: application/json"); st != http.StatusOK || !strings.Contains(body, `"state":"done"`) {
		t.Errorf("progress of its own upload: %d %s", st, body)
	}
	if n, err := ps.svc.Tree.Stat(ctx, FirstSpace, "partner/one.txt"); err != nil || n.Size != int64(len(data)) {
		t.Errorf("uploaded file: %+v, %v", n, err)
	}
	if st, _, body := ps.tusCreate(t, bearer, FirstSpace, "partner/two.txt", 10); st != http.StatusCreated {
		t.Errorf("second file: %d %s", st, body)
	}
	if st, _, body := ps.tusCreate(t, bearer, FirstSpace, "partner/three.txt", 10); st != http.StatusForbidden || !strings.Contains(body, "allows 2 files") {
		t.Errorf("third file over max_files 2: %d %s, want 403", st, body)
	}

	st, _, body = ps.req(t, "GET", "/api/v1/upload-tokens", "admin", nil)
	var list []map[string]any
	json.Unmarshal([]byte(body), &list)
	if st != http.StatusOK || len(list) != 1 || list[0]["usedFiles"] != 2.0 || list[0]["usedBytes"] != float64(len(data)+10) {
		t.Errorf("GET /api/v1/upload-tokens: %d %s", st, body)
	}
	if st, _, body := ps.req(t, "DELETE", "/api/v1/upload-tokens/"+tokenID, "admin", nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if st, _, body := ps.tusCreate(t, bearer, FirstSpace, "partner/four.txt", 1); st != http.StatusUnauthorized {
		t.Errorf("revoked token: %d %s, want 401", st, body)
	}
	if st, _, _ := ps.req(t, "DELETE", "/api/v1/upload-tokens/"+tokenID, "admin", nil); st != http.StatusNotFound {
		t.Errorf("revoking twice: %d, want 404", st)
	}

	// An expired token is refused.
	st, out = ps.uploadToken(t, "admin", map[string]any{"space": FirstSpace, "prefix": "partner", "expires_in": 1})
	if st != http.StatusCreated {
		t.Fatal(out)
	}
	time.Sleep(1100 * time.Millisecond)
	if st, _, body := ps.tusCreate(t, "Bearer "+out["token"].(string), FirstSpace, "partner/late.txt", 1); st != http.StatusUnauthorized {
		t.Errorf("expired token: %d %s, want 401", st, body)
	}
}

type finalizeAnswer struct {
	Files []struct {
		Upload, State, Space, Path, SHA256, Error, Step string
		Size                                            int64
		Status                                          int
	} `json:"files"`
	Commit *struct{ ID, State string } `json:"commit"`
}

func TestFinalize(t *testing.T) {
	ps := startPublish(t)
	ctx := t.Context()
	ph, err := phraseanet.New(phraseanet.Config{DB: ps.svc.DB, Tree: ps.svc.Tree, Auth: ps.svc.Auth})
	if err != nil {
		t.Fatal(err)
	}
	schema := []byte(`{"fields":[{"name":"title","required":true},{"name":"rating","type":"number"}]}`)
	tgt, _, err := ph.AddTarget(ctx, phraseanet.TargetSpec{Name: "dam", SpaceID: FirstSpace, Mode: phraseanet.ModePull, Destination: "1", FormSchema: schema})
	if err != nil {
		t.Fatal(err)
	}
	a, b := []byte("first file"), []byte("second, longer file")
	ida := ps.tusUpload(t, "admin", FirstSpace, "a.txt", a)
	idb := ps.tusUpload(t, "admin", FirstSpace, "b.txt", b)
	finalize := func(v map[string]any) (int, string) {
		st, _, body := ps.req(t, "POST", "/api/v1/uploads/finalize", "admin", mustJSON(t, v))
		return st, body
	}

	// Metadata only, with an id that is not the caller's.
	st, body := finalize(map[string]any{"uploads": []string{ida, "nosuchupload"}, "metadata": map[string]any{"credit": "ACME"}})
	var ans finalizeAnswer
	if err := json.Unmarshal([]byte(body), &ans); st != http.StatusOK || err != nil || len(ans.Files) != 2 || ans.Commit != nil {
		t.Fatalf("finalize: %d %s", st, body)
	}
	sum := sha256.Sum256(a)
	for _, f := range ans.Files {
		switch f.Upload {
		case ida:
			if f.State != "done" || f.Path != "a.txt" || f.Size != int64(len(a)) || f.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("finalized file %+v", f)
			}
		default:
			if f.State != "rejected" || f.Status != http.StatusNotFound {
				t.Errorf("unknown upload %+v, want rejected with status 404", f)
			}
		}
	}
	if st, _, body := ps.req(t, "GET", "/api/v1/metadata/files/a.txt", "admin", nil); st != http.StatusOK || !strings.Contains(body, `"metadata":{"credit":"ACME"}`) {
		t.Errorf("GET metadata: %d %s", st, body)
	}

	// With a target: the form is checked against its schema first.
	st, body = finalize(map[string]any{"uploads": []string{ida, idb}, "target": "dam", "form": map[string]any{"rating": "high"}})
	if st != http.StatusBadRequest || !strings.Contains(body, `"title":"required"`) || !strings.Contains(body, `"rating":"must be a number"`) {
		t.Errorf("bad form: %d %s, want 400 naming title and rating", st, body)
	}
	req := map[string]any{"uploads": []string{idb, ida}, "target": "dam", "form": map[string]any{"title": "Launch"}, "metadata": map[string]any{"k": 1}}
	st, first := finalize(req)
	ans = finalizeAnswer{}
	if err := json.Unmarshal([]byte(first), &ans); st != http.StatusOK || err != nil || ans.Commit == nil || ans.Commit.ID == "" {
		t.Fatalf("finalize with a target: %d %s", st, first)
	}
	cs, assets, err := ph.Commits(ctx, tgt.ID)
	if err != nil || len(cs) != 1 || cs[0].ID != ans.Commit.ID || len(assets[cs[0].ID]) != 2 {
		t.Fatalf("commits of the target: %+v, %v; want one commit of both files", cs, err)
	}
	if !strings.Contains(cs[0].FormData, `"title":"Launch"`) {
		t.Errorf("commit form data %s", cs[0].FormData)
	}
	st, again := finalize(req)
	if st != http.StatusOK || again != first {
		t.Errorf("finalizing again: %d\n%s\nwant the same answer\n%s", st, again, first)
	}
	if cs, _, _ := ph.Commits(ctx, tgt.ID); len(cs) != 1 {
		t.Errorf("%d commits after finalizing twice, want 1", len(cs))
	}

	// Metadata goes with the file.
	node, err := ps.svc.Tree.Stat(ctx, FirstSpace, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if js, err := ps.svc.DB.NodeMetadata(ctx, node.ID); err != nil || js != `{"k":1}` {
		t.Errorf("metadata of a.txt: %q, %v", js, err)
	}
	if err := ps.svc.Tree.Delete(ctx, FirstSpace, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if js, err := ps.svc.DB.NodeMetadata(ctx, node.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("metadata of a deleted file: %q, %v; want none", js, err)
	}
}
