package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/clamdtest"
)

// TestVirusScan: with --clamd, an infected tus upload is refused with 422
// by the scan step and never appears (it is quarantined); a clean one
// passes. WebDAV PUTs are scanned too: see TestVirusScanPut.
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

// TestVirusScanPut: with --clamd, a WebDAV PUT is scanned before the file
// appears, inline like the other quick steps: an infected file is refused
// with 422 by the scan step, never appears and is quarantined, a clean one
// is created (201). With Prefer: respond-async the PUT answers 202 and the
// job it starts is rejected by the scan as well.
func TestVirusScanPut(t *testing.T) {
	sock := clamdtest.Start(t)
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_CLAMD=unix:"+sock)

	_, body := in.expect(http.StatusUnprocessableEntity, davReq{method: "PUT", path: "/dav/spaces/files/eicar.com", body: string(clamdtest.EICAR)})
	var rej struct{ Error, Step string }
	if err := json.Unmarshal([]byte(body), &rej); err != nil || rej.Step != "scan" || !strings.Contains(rej.Error, clamdtest.Signature) {
		t.Errorf("422 body %q: want the scan step naming the signature", body)
	}
	in.expect(http.StatusNotFound, davReq{method: "GET", path: "/dav/spaces/files/eicar.com"})
	if q, err := os.ReadDir(filepath.Join(in.Data, "quarantine")); err != nil || len(q) != 1 {
		t.Errorf("quarantine after the refused PUT: %d files, %v; want the one", len(q), err)
	}

	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/clean.txt", body: "nothing to see here\n"})
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/files/clean.txt"}); got != "nothing to see here\n" {
		t.Errorf("clean file reads %q", got)
	}

	h, _ := in.expect(http.StatusAccepted, davReq{method: "PUT", path: "/dav/spaces/files/async.com", body: string(clamdtest.EICAR),
		headers: map[string]string{"Prefer": "respond-async"}})
	progress := h.Get("Progress-Location")
	if h.Get("Preference-Applied") != "respond-async" || !strings.HasPrefix(progress, "/api/v1/uploads/") {
		t.Fatalf("202 without its headers: Preference-Applied %q, Progress-Location %q", h.Get("Preference-Applied"), progress)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, js := in.expect(http.StatusOK, davReq{method: "GET", path: progress, headers: map[string]string{"Accept": "application/json"}})
		var st struct{ State, Step, Error string }
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("progress JSON %q: %v", js, err)
		}
		if st.State == "rejected" {
			if st.Step != "scan" || !strings.Contains(st.Error, clamdtest.Signature) {
				t.Errorf("async PUT rejected as %s; want by the scan naming the signature", js)
			}
			break
		}
		if st.State == "done" || time.Now().After(deadline) {
			t.Fatalf("async PUT of an infected file ended as %s", js)
		}
	}
	in.expect(http.StatusNotFound, davReq{method: "GET", path: "/dav/spaces/files/async.com"})
}
