// The nats-server, with JetStream: the one pinned by tools/go.mod (go tool
// -modfile=tools/go.mod nats-server), its store in a temporary directory.

package testservers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// NATS is a running nats-server.
type NATS struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

var (
	natsOnce sync.Once
	natsPath string
	natsErr  error
)

// NATSBinary returns the path of the nats-server binary: $WHARF_NATS_SERVER, or
// the one tools/go.mod pins, built (once, then from Go's cache).
func NATSBinary() (string, error) {
	natsOnce.Do(func() {
		if p := os.Getenv("WHARF_NATS_SERVER"); p != "" {
			natsPath = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			natsErr = err
			return
		}
		cmd := exec.Command("go", "tool", "-modfile=tools/go.mod", "-n", "nats-server")
		cmd.Dir = root
		// As .ci/run builds it, so that the tests find it in the cache.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			natsErr = fmt.Errorf("go tool -modfile=tools/go.mod -n nats-server: %v: %s", err, strings.TrimSpace(stderr.String()))
			return
		}
		natsPath = strings.TrimSpace(string(out))
	})
	return natsPath, natsErr
}

// StartNATS runs a nats-server with JetStream for t, stopped at its end.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	bin, err := NATSBinary()
	if err != nil {
		msg := fmt.Sprintf("nats-server not available: this test needs it (go tool -modfile=tools/go.mod nats-server, or WHARF_NATS_SERVER=path): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	s := &NATS{t: t, bin: bin, dir: t.TempDir(), Port: freePort(t)}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL is the server's nats:// URL.
func (s *NATS) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.Port) }

// Restart starts the server (again, after Kill, on the same port and with
// the same store) and waits until it accepts connections.
func (s *NATS) Restart() {
	s.t.Helper()
	logf, err := os.Create(filepath.Join(s.dir, "nats-server.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-js", "-sd", filepath.Join(s.dir, "store"),
		"-n", "wharf-test")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("nats-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("nats-server exited: %s", s.log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server did not listen within 30 s: %s", s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// log is what the server printed.
func (s *NATS) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "nats-server.log"))
	return string(b)
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *NATS) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}
