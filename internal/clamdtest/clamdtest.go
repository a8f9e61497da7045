// Package clamdtest starts the real clamd for tests, on a signature
// database of one signature it writes itself (the EICAR test file's MD5),
// so that nothing is downloaded. It imports nothing of Wharf.
package clamdtest

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// EICAR is the anti-virus test file every scanner recognises, assembled so
// that this source file does not itself look like it to a scanner.
var EICAR = []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")

// Signature is the name clamd reports for EICAR with the database Start
// writes.
const Signature = "Wharf-Test-Eicar"

// ShortTempDir is a temporary directory with a short path, removed at the
// end of the test: unix socket paths are limited to about 100 bytes, and
// t.TempDir can be longer.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wharf-clamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Start runs clamd until the end of the test and returns its unix socket.
// Without clamd installed it skips the test loudly, or fails it when
// CI=true (CI installs clamav-daemon).
func Start(t testing.TB) string {
	t.Helper()
	clamd, err := exec.LookPath("clamd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/clamd", "/usr/local/sbin/clamd"} {
			if _, serr := os.Stat(p); serr == nil {
				clamd, err = p, nil
			}
		}
	}
	if err != nil {
		msg := "clamd is not installed (apt-get install clamav-daemon): THE REAL VIRUS SCAN IS NOT TESTED"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	dir := ShortTempDir(t)
	sig := fmt.Sprintf("%x:%d:%s\n", md5.Sum(EICAR), len(EICAR), Signature)
	if err := os.WriteFile(filepath.Join(dir, "wharf.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := fmt.Sprintf("LocalSocket %s\nDatabaseDirectory %s\nForeground yes\nLogFile %s\nPidFile %s\nTemporaryDirectory %s\n",
		sock, dir, filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"), dir)
	if os.Geteuid() == 0 {
		conf += "User root\n" // else clamd drops to the clamav user, who cannot read dir
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
