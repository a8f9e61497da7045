package e2e

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTusAbuse: the real server, driven over HTTP, refuses what tus uploads
// used to allow before their last byte: a user with no role (or only
// viewer) cannot park bytes in partial uploads, whatever the length, and an
// editor whose role is revoked (or turned into viewer) in the middle of an
// upload can neither send more nor finish it, by PATCH or by concatenation.
func TestTusAbuse(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	const pw = "a long enough password"
	basic := func(user string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	for _, u := range []string{"nobody", "looker", "ed"} {
		mustWharf(t, data, pw+"\n", "user", "add", u, "--password-stdin")
	}
	mustWharf(t, data, "", "space", "grant", "files", "looker", "viewer")
	mustWharf(t, data, "", "space", "grant", "files", "ed", "editor")
	tusDir := filepath.Join(data, "uploads", "tus")
	parked := func() []string {
		es, err := os.ReadDir(tusDir)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	patch := func(user, id string, offset int, body string) (int, string) {
		st, _, b := in.pubReq("PATCH", "/tus/"+id, basic(user), []byte(body), "Tus-Resumable: 1.0.0",
			"Upload-Offset: "+strconv.Itoa(offset), "Content-Type: application/offset+octet-stream")
		return st, b
	}

	// No role, or only viewer: no partial upload, announced, deferred or
	// with its bytes in the creation request.
	chunk := strings.Repeat("x", 1<<20)
	for _, user := range []string{"nobody", "looker"} {
		for name, hdr := range map[string][]string{
			"announced": {"Upload-Length: 20971520"},
			"deferred":  {"Upload-Defer-Length: 1"},
			"with data": {"Upload-Length: 1048576", "Content-Type: application/offset+octet-stream"},
		} {
			var body []byte
			if name == "with data" {
				body = []byte(chunk)
			}
			st, _, b := in.pubReq("POST", "/tus/", basic(user), body,
				append([]string{"Tus-Resumable: 1.0.0", "Upload-Concat: partial"}, hdr...)...)
			if st != http.StatusForbidden {
				t.Errorf("%s's partial upload (%s): %d %s, want 403", user, name, st, b)
			}
		}
	}
	if files := parked(); len(files) != 0 {
		t.Errorf("refused partial uploads left %v in uploads/tus", files)
	}

	// An editor starts an upload and a partial upload, then loses the role.
	st, id, b := in.tusPost(basic("ed"), "files", "ed.bin", 10)
	if st != http.StatusCreated {
		t.Fatalf("ed's upload: %d %s", st, b)
	}
	if st, b := patch("ed", id, 0, "01234"); st != http.StatusNoContent {
		t.Fatalf("ed's first PATCH: %d %s", st, b)
	}
	st, h, b := in.pubReq("POST", "/tus/", basic("ed"), nil, "Tus-Resumable: 1.0.0", "Upload-Concat: partial", "Upload-Length: 3")
	if st != http.StatusCreated {
		t.Fatalf("ed's partial upload: %d %s", st, b)
	}
	part := h.Get("Location")
	if st, b := patch("ed", part[strings.LastIndex(part, "/")+1:], 0, "abc"); st != http.StatusNoContent {
		t.Fatalf("ed's partial PATCH: %d %s", st, b)
	}

	mustWharf(t, data, "", "space", "revoke", "files", "ed")
	if st, b := patch("ed", id, 5, "56789"); st != http.StatusForbidden {
		t.Errorf("final PATCH after the revocation: %d %s, want 403", st, b)
	}
	mustWharf(t, data, "", "space", "grant", "files", "ed", "viewer")
	if st, b := patch("ed", id, 5, "56"); st != http.StatusForbidden {
		t.Errorf("PATCH as a viewer: %d %s, want 403", st, b)
	}
	if st, b := patch("ed", id, 5, "56789"); st != http.StatusForbidden {
		t.Errorf("final PATCH as a viewer: %d %s, want 403", st, b)
	}
	meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte("joined.bin"))
	if st, _, b := in.pubReq("POST", "/tus/", basic("ed"), nil, "Tus-Resumable: 1.0.0",
		"Upload-Concat: final;"+part, "Upload-Metadata: "+meta); st != http.StatusForbidden {
		t.Errorf("final concatenation as a viewer: %d %s, want 403", st, b)
	}
	st, h, _ = in.pubReq("HEAD", "/tus/"+id, basic("ed"), nil, "Tus-Resumable: 1.0.0")
	if st != http.StatusOK || h.Get("Upload-Offset") != "5" {
		t.Errorf("HEAD of ed's upload: %d, offset %q; want 200, 5", st, h.Get("Upload-Offset"))
	}
	for _, p := range []string{"ed.bin", "joined.bin"} {
		if st, _, _ := in.pubReq("HEAD", "/dav/spaces/files/"+p, adminBasic(), nil); st != http.StatusNotFound {
			t.Errorf("HEAD /dav/spaces/files/%s: %d, want 404 (nothing installed)", p, st)
		}
	}

	// Editor again, the same upload finishes.
	mustWharf(t, data, "", "space", "grant", "files", "ed", "editor")
	if st, b := patch("ed", id, 5, "56789"); st != http.StatusNoContent {
		t.Fatalf("final PATCH as an editor again: %d %s", st, b)
	}
	if st, _, b := in.pubReq("GET", "/dav/spaces/files/ed.bin", adminBasic(), nil); st != http.StatusOK || b != "0123456789" {
		t.Errorf("GET ed.bin: %d %q", st, b)
	}
}

// TestTusPendingCap: --max-pending-upload-size caps what one user has in
// tus uploads not yet complete; the maximum upload size has a default.
func TestTusPendingCap(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_MAX_PENDING_UPLOAD_SIZE=1K")
	st, h, _ := in.pubReq("OPTIONS", "/tus/", "", nil)
	if st != http.StatusOK && st != http.StatusNoContent || h.Get("Tus-Max-Size") != "68719476736" {
		t.Errorf("OPTIONS /tus/: %d, Tus-Max-Size %q; want 64 GiB", st, h.Get("Tus-Max-Size"))
	}
	if st, _, b := in.tusPost(adminBasic(), "files", "big.bin", 1025); st != http.StatusRequestEntityTooLarge {
		t.Errorf("an upload larger than the cap: %d %s, want 413", st, b)
	}
	_, a, _ := in.tusPost(adminBasic(), "files", "a.bin", 800)
	_, b, _ := in.tusPost(adminBasic(), "files", "b.bin", 800)
	patch := func(id string, n int) int {
		st, _, _ := in.pubReq("PATCH", "/tus/"+id, adminBasic(), []byte(strings.Repeat("z", n)), "Tus-Resumable: 1.0.0",
			"Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
		return st
	}
	if st := patch(a, 700); st != http.StatusNoContent {
		t.Fatalf("700 bytes of 1024: %d", st)
	}
	if st := patch(b, 400); st != http.StatusRequestEntityTooLarge {
		t.Errorf("700+400 bytes of 1024: %d, want 413", st)
	}
	if st := patch(b, 300); st != http.StatusNoContent {
		t.Errorf("700+300 bytes of 1024: %d, want 204", st)
	}
}
