package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// eicar is the antivirus test file every scanner recognises.
var eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

// startClamd runs the real clamd on a database of one signature (EICAR's
// MD5) written here, so that nothing is downloaded, and returns its socket.
func startClamd(t *testing.T) string {
	t.Helper()
	clamd, err := exec.LookPath("clamd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/clamd"); serr == nil {
			clamd, err = "/usr/sbin/clamd", nil
		}
	}
	if err != nil {
		requireTool(t, "clamd", "clamav-daemon") // skips, or fails under CI=true
	}
	// Unix socket paths are limited to about 100 bytes; t.TempDir may be
	// longer.
	dir, err := os.MkdirTemp("", "wharf-e2e-clamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sig := fmt.Sprintf("%x:%d:Wharf-E2E-Eicar\n", md5.Sum([]byte(eicar)), len(eicar))
	if err := os.WriteFile(filepath.Join(dir, "e2e.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := fmt.Sprintf("LocalSocket %s\nDatabaseDirectory %s\nForeground yes\nLogFile %s\nPidFile %s\nTemporaryDirectory %s\n",
		sock, dir, filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"), dir)
	if os.Geteuid() == 0 {
		conf += "User root\n" // else clamd drops to clamav, who cannot read dir
	}
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clamd, "--config-file="+confPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd exited: %v\n%s\n%s", err, out.String(), log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd did not open %s within 2 minutes:\n%s", sock, out.String())
		}
	}
}

// TestVirusScan: with --clamd, an infected tus upload is refused with 422
// by the scan step and never appears (it is quarantined); a clean one
// passes. (WebDAV PUTs run only the quick steps, which do not scan.)
func TestVirusScan(t *testing.T) {
	sock := startClamd(t)
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_CLAMD=unix:"+sock)

	for _, f := range []struct {
		name, body string
		want       int
	}{
		{"eicar.com", eicar, http.StatusUnprocessableEntity},
		{"clean.txt", "nothing to see here\n", http.StatusNoContent},
	} {
		id := tusCreate(t, in, len(f.body), map[string]string{"space": "files", "path": f.name})
		_, body := in.expect(f.want, davReq{method: "PATCH", path: "/tus/" + id, body: f.body, headers: map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})
		if f.want != http.StatusUnprocessableEntity {
			continue
		}
		var rej struct{ Error, Step string }
		if err := json.Unmarshal([]byte(body), &rej); err != nil || rej.Step != "scan" || !bytes.Contains([]byte(rej.Error), []byte("Wharf-E2E-Eicar")) {
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
