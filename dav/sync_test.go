package dav

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
)

// serve sends one request through fn (a route's handler) as p.
func (f *propFixture) serve(fn http.HandlerFunc, p *auth.Principal, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	r = r.WithContext(auth.NewContext(r.Context(), p))
	w := httptest.NewRecorder()
	fn(w, r)
	return w
}

func TestSyncMount(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "a")
	f.mkdir(t, "a/b")
	file := f.put(t, "a/b/c.txt", "hello")
	props := propBody("<D:getetag/>", "<oc:id/>", "<oc:fileid/>", "<oc:permissions/>", "<oc:size/>", "<oc:data-fingerprint/>")

	// The root lists the caller's spaces as folders, read-only.
	for _, base := range []string{"/remote.php/dav/files/admin/", "/remote.php/webdav/"} {
		ms := parseMS(t, f.do(f.admin, "PROPFIND", base, props, "Depth", "1"))
		if got := strings.Join(ms.hrefs(), " "); got != base+" "+base+"files/ "+base+"other/" {
			t.Errorf("%s lists %s", base, got)
		}
		if p := ms.byHref(t, base).value(t, ocName("permissions")); p != "" {
			t.Errorf("%s: root permissions %q, want none", base, p)
		}
		if p := ms.byHref(t, base+"files/").value(t, ocName("permissions")); p != "RCK" {
			t.Errorf("%s: space root permissions %q, want RCK", base, p)
		}
	}
	ms := parseMS(t, f.do(f.viewer, "PROPFIND", "/remote.php/dav/files/vic/", props, "Depth", "1"))
	if got := strings.Join(ms.hrefs(), " "); got != "/remote.php/dav/files/vic/ /remote.php/dav/files/vic/files/" {
		t.Errorf("viewer's root lists %s", got)
	}
	if p := ms.byHref(t, "/remote.php/dav/files/vic/files/").value(t, ocName("permissions")); p != "" {
		t.Errorf("viewer's space root permissions %q, want none", p)
	}
	if w := f.do(f.admin, "PROPFIND", "/remote.php/dav/files/vic/", props, "Depth", "0"); w.Code != http.StatusNotFound {
		t.Errorf("another user's mount: %d, want 404", w.Code)
	}
	if w := f.do(f.admin, "MKCOL", "/remote.php/dav/files/admin/newspace", ""); w.Code/100 == 2 {
		t.Errorf("MKCOL at the root made something: %d", w.Code)
	}
	if w := f.do(f.admin, "PUT", "/remote.php/dav/files/admin/x.txt", "x"); w.Code/100 == 2 {
		t.Errorf("PUT at the root: %d", w.Code)
	}
	if w := f.do(f.viewer, "PUT", "/remote.php/dav/files/vic/files/x.txt", "x"); w.Code != http.StatusForbidden {
		t.Errorf("viewer's PUT: %d, want 403", w.Code)
	}

	// Below, each space's tree, the same as under /dav/spaces/.
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/remote.php/webdav/files/a/b/c.txt", props, "Depth", "0"))
	r := ms.byHref(t, "/remote.php/webdav/files/a/b/c.txt")
	id := r.value(t, ocName("id"))
	if id == "" || id != r.value(t, ocName("fileid")) || r.value(t, ocName("permissions")) != "RDNVW" {
		t.Errorf("file: id %q, fileid %q, permissions %q", id, r.value(t, ocName("fileid")), r.value(t, ocName("permissions")))
	}
	rootBefore := parseMS(t, f.do(f.admin, "PROPFIND", "/remote.php/webdav/", props, "Depth", "0")).Responses[0].value(t, davName("getetag"))
	if w := f.do(f.admin, "PUT", "/remote.php/webdav/files/a/b/c.txt", "changed", "X-OC-Mtime", "1600000000"); w.Code != http.StatusNoContent ||
		w.Header().Get("X-OC-Mtime") != "accepted" || w.Header().Get("OC-FileId") != id {
		t.Errorf("PUT: %d, headers %v", w.Code, w.Header())
	}
	if n, _ := f.tree.Stat(context.Background(), "files", "a/b/c.txt"); n.SHA1 == "" {
		t.Error("a PUT through the sync mount kept no SHA-1")
	}
	if got := parseMS(t, f.do(f.admin, "PROPFIND", "/remote.php/webdav/", props, "Depth", "0")).Responses[0].value(t, davName("getetag")); got == rootBefore {
		t.Error("the mount's root ETag did not change with a file three levels below")
	}
	// A rename keeps the id.
	if w := f.do(f.admin, "MOVE", "/remote.php/webdav/files/a/b/c.txt", "", "Destination", "http://example.com/remote.php/dav/files/admin/files/a/renamed.txt"); w.Code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", w.Code, w.Body)
	}
	n, err := f.tree.Stat(context.Background(), "files", "a/renamed.txt")
	if err != nil || n.ID != file.ID {
		t.Errorf("after MOVE: %+v, %v; id was %d", n, err, file.ID)
	}
	if !n.MTime.Equal(time.Unix(1600000000, 0)) {
		t.Errorf("mtime %v, want X-OC-Mtime's", n.MTime)
	}
}

func TestProppatchLastModified(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.put(t, "f.txt", "x")
	w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f.txt", patch(setOp("<lastmodified>1500000000</lastmodified>")))
	if w.Code != http.StatusMultiStatus || !strings.Contains(w.Body.String(), "200 OK") {
		t.Fatalf("PROPPATCH: %d %s", w.Code, w.Body)
	}
	n, _ := f.tree.Stat(context.Background(), "files", "f.txt")
	if !n.MTime.Equal(time.Unix(1500000000, 0)) {
		t.Errorf("mtime %v, want 1500000000", n.MTime)
	}
	if ps, _ := f.db.Props(context.Background(), n.ID); len(ps) != 0 {
		t.Errorf("lastmodified kept as a dead property too: %+v", ps)
	}
	if w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f.txt", patch(setOp("<lastmodified>yesterday</lastmodified>"))); !strings.Contains(w.Body.String(), "409") {
		t.Errorf("a bad time: %s", w.Body)
	}
}

func TestChunkedUpload(t *testing.T) {
	f := newPropFixture(t, Config{ChunkDir: t.TempDir()})
	up := "/remote.php/dav/uploads/admin/t-1"
	do := func(method, target, body string, hdr ...string) *httptest.ResponseRecorder {
		return f.serve(f.h.serveChunks, f.admin, method, target, body, hdr...)
	}
	if w := do("MKCOL", up, ""); w.Code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", w.Code, w.Body)
	}
	if w := do("MKCOL", up, ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("MKCOL again: %d", w.Code)
	}
	// Out of order; numbers sort as numbers.
	for _, c := range []struct{ name, body string }{{"10", "C"}, {"2", "B"}, {"1", "A"}} {
		if w := do("PUT", up+"/"+c.name, c.body); w.Code != http.StatusCreated {
			t.Fatalf("PUT chunk %s: %d %s", c.name, w.Code, w.Body)
		}
	}
	ms := parseMS(t, do("PROPFIND", up, "", "Depth", "1"))
	if len(ms.Responses) != 4 {
		t.Errorf("listing of the transfer: %v", ms.hrefs())
	}
	if w := do("MOVE", up+"/.file", "", "Destination", "/remote.php/dav/files/admin/files/up.bin", "OC-Total-Length", "4"); w.Code != http.StatusBadRequest {
		t.Errorf("MOVE with a wrong OC-Total-Length: %d", w.Code)
	}
	if w := f.serve(f.h.serveChunks, f.viewer, "MKCOL", up, ""); w.Code != http.StatusNotFound {
		t.Errorf("another user's upload folder: %d", w.Code)
	}
	w := do("MOVE", up+"/.file", "", "Destination", "/remote.php/dav/files/admin/files/up.bin", "OC-Total-Length", "3", "X-OC-Mtime", "1400000000")
	if w.Code != http.StatusCreated || w.Header().Get("OC-FileId") == "" || w.Header().Get("OC-ETag") == "" {
		t.Fatalf("MOVE .file: %d %v %s", w.Code, w.Header(), w.Body)
	}
	b, err := os.ReadFile(f.dir + "/spaces/files/up.bin")
	if err != nil || string(b) != "ABC" {
		t.Errorf("assembled: %q, %v", b, err)
	}
	if w := do("PROPFIND", up, "", "Depth", "1"); w.Code != http.StatusNotFound {
		t.Errorf("the transfer is still there after assembly: %d", w.Code)
	}
	// A transfer left alone for a day goes when the next one starts.
	do("MKCOL", up+"-old", "")
	old := time.Now().Add(-chunkExpiry - time.Hour)
	dirs, _ := os.ReadDir(f.h.cfg.ChunkDir)
	for _, d := range dirs {
		os.Chtimes(f.h.cfg.ChunkDir+"/"+d.Name()+"/t-1-old", old, old)
	}
	do("MKCOL", up+"-new", "")
	if w := do("PROPFIND", up+"-old", "", "Depth", "1"); w.Code != http.StatusNotFound {
		t.Errorf("an expired transfer is still there: %d", w.Code)
	}
	// A viewer cannot assemble into a space it only reads.
	vup := "/remote.php/dav/uploads/vic/t-2"
	f.serve(f.h.serveChunks, f.viewer, "MKCOL", vup, "")
	f.serve(f.h.serveChunks, f.viewer, "PUT", vup+"/1", "x")
	if w := f.serve(f.h.serveChunks, f.viewer, "MOVE", vup+"/.file", "", "Destination", "/remote.php/dav/files/vic/files/v.bin"); w.Code != http.StatusForbidden {
		t.Errorf("viewer's MOVE .file: %d", w.Code)
	}
}
