package dav

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/testenv"
)

// TestChunkedUploadAcrossReplicas: in object-store mode a transfer's
// chunks are objects, so that a client whose requests a load balancer
// spreads over replicas (each with a data directory of its own) finds
// them: MKCOL and chunks on one, more chunks and the listing on another,
// the assembly on either. Nothing is left in the store or the directories
// afterwards, and the bound on a user's chunks holds across them.
func TestChunkedUploadAcrossReplicas(t *testing.T) {
	for name, open := range testenv.Stores() {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			env := testenv.New(t, testenv.Options{Blobs: st})
			env.Space(t, "files", "Team Files", 0)
			admin := &auth.Principal{User: env.User(t, "admin", "correct horse battery staple 42", true), Via: auth.ViaPassword}
			replica := func() *Handler {
				h, err := New(Config{Tree: env.Tree, Auth: env.Auth, DB: env.DB, ChunkDir: t.TempDir(), MaxChunkBytes: 100})
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			a, b := replica(), replica()
			f := &propFixture{}
			do := func(h *Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
				return f.serve(h.serveChunks, admin, method, target, body, hdr...)
			}
			up := "/remote.php/dav/uploads/admin/t-1"
			if w := do(a, "MKCOL", up, ""); w.Code != http.StatusCreated {
				t.Fatalf("MKCOL on a: %d %s", w.Code, w.Body)
			}
			if w := do(b, "MKCOL", up, ""); w.Code != http.StatusMethodNotAllowed {
				t.Errorf("MKCOL again on b: %d", w.Code)
			}
			for i, c := range []struct {
				h          *Handler
				name, body string
			}{{b, "10", "C"}, {a, "2", "B"}, {b, "1", "A"}} {
				if w := do(c.h, "PUT", up+"/"+c.name, c.body); w.Code != http.StatusCreated {
					t.Fatalf("PUT chunk %d: %d %s", i, w.Code, w.Body)
				}
			}
			// 100 bytes for all of admin's chunks, whichever replica.
			big := make([]byte, 98)
			if w := do(a, "PUT", up+"/11", string(big)); w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("a chunk past the bound: %d, want 413", w.Code)
			}
			if ms := parseMS(t, do(a, "PROPFIND", up, "", "Depth", "1")); len(ms.Responses) != 4 {
				t.Errorf("listing of the transfer on a: %v", ms.hrefs())
			}
			w := do(a, "MOVE", up+"/.file", "", "Destination", "/remote.php/dav/files/admin/files/up.bin", "OC-Total-Length", "3")
			if w.Code != http.StatusCreated {
				t.Fatalf("MOVE .file on a: %d %s", w.Code, w.Body)
			}
			file, _, err := env.Tree.Open(context.Background(), "files", "up.bin")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(file)
			file.Close()
			if string(got) != "ABC" {
				t.Errorf("assembled %q", got)
			}
			if w := do(b, "PROPFIND", up, "", "Depth", "1"); w.Code != http.StatusNotFound {
				t.Errorf("the transfer is still there after assembly: %d", w.Code)
			}
			left := 0
			st.List(context.Background(), "chunks/", func(blob.Info) error { left++; return nil })
			if left != 0 {
				t.Errorf("%d chunk objects left", left)
			}
			for _, h := range []*Handler{a, b} {
				if es, _ := os.ReadDir(h.cfg.ChunkDir); len(es) != 0 {
					t.Errorf("chunks in a replica's directory: %v", es)
				}
			}
			// DELETE of a transfer made on the other replica.
			do(a, "MKCOL", up+"-x", "")
			do(a, "PUT", up+"-x/1", "z")
			if w := do(b, "DELETE", up+"-x", ""); w.Code != http.StatusNoContent {
				t.Errorf("DELETE on b of a transfer of a: %d %s", w.Code, w.Body)
			}
			if w := do(a, "PROPFIND", up+"-x", "", "Depth", "1"); w.Code != http.StatusNotFound {
				t.Errorf("the deleted transfer: %d", w.Code)
			}
		})
	}
}
