package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstStartPasswordNotInLogs: without a terminal (systemd's journal,
// a log file) the generated admin password is written to a 0600 file in
// the data directory and neither the console nor the log carries it; on a
// terminal it is shown there and no file is written.
func TestFirstStartPasswordNotInLogs(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		name := "no terminal"
		if terminal {
			name = "terminal"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var console, logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			s, err := Open(t.Context(), dir, true, log)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.bootstrap(t.Context(), "", &console, terminal, log); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, InitialPasswordFile)
			var pw string
			if terminal {
				if _, err := os.Stat(file); !os.IsNotExist(err) {
					t.Errorf("%s written although the password was shown on the terminal: %v", file, err)
				}
				_, after, _ := strings.Cut(console.String(), "with password")
				pw = strings.TrimSpace(strings.SplitN(strings.TrimSpace(after), "\n", 2)[0])
			} else {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("no password file: %v (console %q, log %q)", err, console.String(), logs.String())
				}
				pw = strings.TrimSpace(string(b))
				if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
				}
				if strings.Contains(console.String()+logs.String(), pw) {
					t.Errorf("the password is on the console or in the log:\n%s\n%s", console.String(), logs.String())
				}
				if !strings.Contains(logs.String(), file) {
					t.Errorf("the log does not say where the password is:\n%s", logs.String())
				}
			}
			if len(pw) < 16 {
				t.Fatalf("password %q; console %q", pw, console.String())
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.SetBasicAuth("admin", pw)
			if p, err := s.Auth.Authenticate(t.Context(), r); err != nil || p.User.Name != "admin" {
				t.Errorf("admin with the password: %+v, %v", p, err)
			}
		})
	}
}

// A command of the command line opens the data directory of a running
// server: the staging files of the server's writes in progress are not its
// to clean up (they were removed, failing the server's uploads). The
// server's own start removes what a crash left.
func TestCommandKeepsTheServersStaging(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	staged := filepath.Join(dir, "uploads", ".put-in-progress")
	if err := os.WriteFile(staged, []byte("a PUT being received"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), dir, false, nil) // wharf user list, say
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(staged); err != nil {
		t.Fatalf("a command removed a staging file of the server: %v", err)
	}
	s, err = Open(t.Context(), dir, true, nil) // the server starting
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(staged); !os.IsNotExist(err) {
		t.Fatalf("the server's start left a crash's staging file: %v", err)
	}
}
