package tus

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
)

// addUser registers a user without any role.
func (f *fixture) addUser(t *testing.T, name string) {
	t.Helper()
	u, err := f.auth.AddUser(t.Context(), name, "correct horse battery staple", false)
	if err != nil {
		t.Fatal(err)
	}
	f.users[name] = &auth.Principal{User: u}
}

// TestPartialNeedsWriter: a partial upload names no destination, yet only a
// user who may write to some space may create one; a viewer or a user with
// no role gets 403 and nothing is stored.
func TestPartialNeedsWriter(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser(t, "dave")
	for _, user := range []string{"dave", "carol"} {
		for _, hdr := range [][]string{{"Upload-Length: 5"}, {"Upload-Defer-Length: 1"}} {
			resp, body := f.do(t, user, http.MethodPost, "/tus/", nil, append(hdr, "Upload-Concat: partial")...)
			expectStatus(t, user+"'s partial upload ("+hdr[0]+")", resp, body, http.StatusForbidden)
		}
	}
	if files := f.tusFiles(t); len(files) != 0 {
		t.Errorf("refused partial uploads left %v", files)
	}
	resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 5", "Upload-Concat: partial")
	expectStatus(t, "an editor's partial upload", resp, body, http.StatusCreated)
}

// TestRevokedEditor: the role and the token are checked again at every
// PATCH and before the upload is submitted: an editor whose role is revoked
// (or turned into viewer) between two PATCHes, or while the last one
// arrives, gets 403 and nothing is processed; a revoked token gets 401.
func TestRevokedEditor(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	grant := func(user string, role auth.Role) {
		t.Helper()
		if err := f.auth.Grant(ctx, "s", user, role); err != nil {
			t.Fatal(err)
		}
	}
	url := f.create(t, "alice", "dir/a.txt", 10)
	resp, body := f.patch(t, "alice", url, 0, []byte("01234"))
	expectStatus(t, "first PATCH", resp, body, http.StatusNoContent)
	if err := f.auth.Revoke(ctx, "s", "alice"); err != nil {
		t.Fatal(err)
	}
	resp, body = f.patch(t, "alice", url, 5, []byte("56"))
	expectStatus(t, "PATCH after the revocation", resp, body, http.StatusForbidden)
	resp, body = f.patch(t, "alice", url, 5, []byte("56789"))
	expectStatus(t, "final PATCH after the revocation", resp, body, http.StatusForbidden)
	f.stored(t, "alice", url, 5)
	// Another user still gets 404, as before.
	resp, body = f.patch(t, "bob", url, 5, []byte("56789"))
	expectStatus(t, "bob's PATCH", resp, body, http.StatusNotFound)

	// Viewer is no better than nothing.
	grant("alice", auth.Viewer)
	resp, body = f.patch(t, "alice", url, 5, []byte("56789"))
	expectStatus(t, "final PATCH as a viewer", resp, body, http.StatusForbidden)
	if f.pipe.submits != 0 {
		t.Fatalf("%d jobs submitted for a revoked editor", f.pipe.submits)
	}

	// Revoked while the last chunk arrives: the submission is refused,
	// and so is the one HEAD would make of the complete upload.
	url = f.create(t, "bob", "dir/b.txt", 10)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPatch, f.srv.URL+url, pr)
	req.ContentLength = 10
	for k, v := range map[string]string{"Tus-Resumable": "1.0.0", "X-Test-User": "bob", "Upload-Offset": "0",
		"Content-Type": "application/offset+octet-stream"} {
		req.Header.Set(k, v)
	}
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	pw.Write([]byte("01234"))
	for deadline := time.Now().Add(5 * time.Second); ; {
		f.h.charging.Lock()
		_, writing := f.h.charges[idOf(url)]
		f.h.charging.Unlock()
		if writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the PATCH never reached the data store")
		}
		time.Sleep(5 * time.Millisecond)
	}
	grant("bob", auth.Viewer)
	pw.Write([]byte("56789"))
	pw.Close()
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PATCH during which the role was revoked: %v, want 403", resp)
	} else {
		resp.Body.Close()
	}
	resp, _ = f.do(t, "bob", http.MethodHead, url, nil)
	expectStatus(t, "HEAD of the complete upload of a viewer", resp, "", http.StatusForbidden)
	if f.pipe.submits != 0 {
		t.Fatalf("%d jobs submitted for a revoked editor", f.pipe.submits)
	}
	grant("bob", auth.Editor)
	resp, _ = f.do(t, "bob", http.MethodHead, url, nil)
	expectStatus(t, "HEAD once an editor again", resp, "", http.StatusOK)
	if f.pipe.submits != 1 {
		t.Errorf("%d jobs submitted, want 1", f.pipe.submits)
	}

	// Partial uploads: no writer role anywhere, no more bytes, and the
	// final upload is a creation like any other.
	resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 4", "Upload-Concat: partial")
	expectStatus(t, "partial upload as a viewer", resp, body, http.StatusForbidden)
	grant("alice", auth.Editor)
	resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: 4", "Upload-Concat: partial")
	expectStatus(t, "partial upload as an editor", resp, body, http.StatusCreated)
	part := locationPath(t, resp)
	resp, body = f.patch(t, "alice", part, 0, []byte("ab"))
	expectStatus(t, "PATCH of the partial upload", resp, body, http.StatusNoContent)
	grant("alice", auth.Viewer)
	resp, body = f.patch(t, "alice", part, 2, []byte("cd"))
	expectStatus(t, "PATCH of the partial upload as a viewer", resp, body, http.StatusForbidden)
	grant("alice", auth.Editor)
	resp, body = f.patch(t, "alice", part, 2, []byte("cd"))
	expectStatus(t, "PATCH of the partial upload as an editor again", resp, body, http.StatusNoContent)
	grant("alice", auth.Viewer)
	resp, body = f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Concat: final;"+part, meta("space", "s", "path", "joined"))
	expectStatus(t, "final upload as a viewer", resp, body, http.StatusForbidden)

	// A token revoked between two PATCHes.
	grant("alice", auth.Editor)
	tok := f.uploadToken(t, "partner", 0, 0)
	url = f.create(t, "partner", "dir/c.txt", 4)
	resp, body = f.patch(t, "partner", url, 0, []byte("ab"))
	expectStatus(t, "the token's first PATCH", resp, body, http.StatusNoContent)
	if err := f.auth.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	resp, body = f.patch(t, "partner", url, 2, []byte("cd"))
	expectStatus(t, "PATCH with a revoked token", resp, body, http.StatusUnauthorized)
	if !strings.Contains(body, "revoked") {
		t.Errorf("401 body %q", body)
	}
	if f.pipe.submits != 1 {
		t.Errorf("%d jobs submitted, want 1", f.pipe.submits)
	}
}

// TestConcatForeignPart: a final upload naming another user's partial
// upload is answered exactly as one naming an unknown upload, whatever
// the other user's part is (complete, too large for the space, still
// receiving): nothing about it is computed first.
func TestConcatForeignPart(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tree.SetQuota(t.Context(), "s", 100); err != nil {
		t.Fatal(err)
	}
	partial := func(size, send int) string {
		resp, body := f.do(t, "alice", http.MethodPost, "/tus/", nil, "Upload-Length: "+itoa(size), "Upload-Concat: partial")
		expectStatus(t, "create a partial upload", resp, body, http.StatusCreated)
		u := locationPath(t, resp)
		resp, body = f.patch(t, "alice", u, 0, bytes.Repeat([]byte("a"), send))
		expectStatus(t, "PATCH the partial upload", resp, body, http.StatusNoContent)
		return u
	}
	big := partial(500, 500)   // larger than the space's quota
	halfway := partial(40, 20) // not complete
	unknown := "/tus/" + strings.Repeat("0f", 16)
	final := func(parts ...string) (int, string) {
		resp, body := f.do(t, "bob", http.MethodPost, "/tus/", nil, "Upload-Concat: final;"+strings.Join(parts, " "),
			meta("space", "s", "path", "joined.bin"))
		for _, p := range parts {
			body = strings.ReplaceAll(body, idOf(p), "<id>")
		}
		return resp.StatusCode, body
	}
	wantStatus, wantBody := final(unknown)
	if wantStatus != http.StatusNotFound {
		t.Fatalf("unknown part: %d %q, want 404", wantStatus, wantBody)
	}
	for name, parts := range map[string][]string{
		"alice's complete part": {big},
		"alice's unfinished":    {halfway},
		"alice's, absolute URL": {f.srv.URL + big},
		"unknown, then alice's": {unknown, big},
	} {
		if status, body := final(parts...); status != wantStatus || body != wantBody {
			t.Errorf("%s: %d %q, want %d %q as for an unknown part", name, status, body, wantStatus, wantBody)
		}
	}
	// One of bob's own with one of alice's: the same.
	resp, body := f.do(t, "bob", http.MethodPost, "/tus/", nil, "Upload-Length: 2", "Upload-Concat: partial")
	expectStatus(t, "bob's partial upload", resp, body, http.StatusCreated)
	own := locationPath(t, resp)
	f.patch(t, "bob", own, 0, []byte("bb"))
	if status, body := final(own, big); status != wantStatus || body != wantBody {
		t.Errorf("bob's and alice's: %d %q, want %d %q", status, body, wantStatus, wantBody)
	}
}
