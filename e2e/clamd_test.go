package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfhq/wharf/internal/clamdtest"
)

// TestVirusScan: with --clamd, an infected tus upload is refused with 422
// by the scan step and never appears (it is quarantined); a clean one
// passes. (WebDAV PUTs run only the quick steps, which do not scan.)
func TestVirusScan(t *testing.T) {
	sock := clamdtest.Start(t)
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_CLAMD=unix:"+sock)

	for _, f := range []struct {
		name, body string
		want       int
	}{
		{"eicar.com", string(clamdtest.EICAR), http.StatusUnprocessableEntity},
		{"clean.txt", "nothing to see here\n", http.StatusNoContent},
	} {
		id := tusCreate(t, in, len(f.body), map[string]string{"space": "files", "path": f.name})
		_, body := in.expect(f.want, davReq{method: "PATCH", path: "/tus/" + id, body: f.body, headers: map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})
		if f.want != http.StatusUnprocessableEntity {
			continue
		}
		var rej struct{ Error, Step string }
		if err := json.Unmarshal([]byte(body), &rej); err != nil || rej.Step != "scan" || !bytes.Contains([]byte(rej.Error), []byte(clamdtest.Signature)) {
			t.Errorf("422 body %q: want the scan step naming the signature", body)
		}
		in.expect(http.StatusNotFound, davReq{method: "GET", path: "/dav/spaces/files/" + f.name})
		// The client that lost the 422 and asks again learns the same.
		in.expect(http.StatusGone, davReq{method: "HEAD", path: "/tus/" + id, headers: map[string]string{"Tus-Resumable": "1.0.0"}})
		if _, err := os.Stat(filepath.Join(in.Data, "quarantine", id)); err != nil {
			t.Errorf("the infected upload is not in quarantine: %v", err)
		}
	}
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/files/clean.txt"}); got != "nothing to see here\n" {
		t.Errorf("clean file reads %q", got)
	}
}
