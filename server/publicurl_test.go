package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunBusyPort: a first start on an address in use fails before it
// creates anything (no admin whose password was shown for nothing), and
// the error names the setting that picks another address.
func TestRunBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "data")
	var console bytes.Buffer
	err = Run(t.Context(), Config{Dir: dir, Listen: busy.Addr().String(), Console: &console, ConsoleTerminal: true,
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err == nil {
		t.Fatal("Run on a busy port succeeded")
	}
	for _, want := range []string{busy.Addr().String(), "in use", "--listen", "WHARF_LISTEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(console.String(), "password") {
		t.Errorf("a password was shown although the server never served:\n%s", console.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "wharf.db")); !os.IsNotExist(err) {
		t.Errorf("the data directory was created: %v", err)
	}
}

// TestRunRecordsPublicURL: the server records the URL it serves at where
// the command line reads it (Services.PublicURL).
func TestRunRecordsPublicURL(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Dir: dir, Listen: "127.0.0.1:0", AdminPassword: "a long enough password",
			Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Ready: func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start within 60s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s, err := Open(t.Context(), dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.PublicURL(t.Context())
	if want := "http://" + addr.String(); err != nil || got != want {
		t.Errorf("PublicURL = %q, %v; want %q", got, err, want)
	}
}
