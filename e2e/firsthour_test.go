package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFirstHourMessages: what a newcomer meets in the first hour, through
// the real binary: a wrong password is said to be wrong on every surface
// (and apart from no credentials), wharf login says it too, a PUT where
// the list of spaces is says so, and the command line answers mistakes in
// one line.
func TestFirstHourMessages(t *testing.T) {
	const pw = "a long enough admin password"
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+pw)
	mustWharf(t, data, "a long passphrase\n", "user", "add", "alice", "--password-stdin")

	for _, c := range []struct{ method, path string }{
		{"PROPFIND", "/dav/spaces/"},
		{"POST", "/tus/"},
		{"GET", "/api/v1/me"},
		{"GET", "/api/v1/spaces"},
	} {
		wrong := in.do(c.method, c.path, "alice", "not her passphrase", nil)
		if body := readAll(t, wrong.Body); wrong.StatusCode != 401 || !strings.Contains(body, "user name or password is wrong") {
			t.Errorf("%s %s with a wrong password: %d %q; want 401 saying the user name or password is wrong", c.method, c.path, wrong.StatusCode, body)
		}
		none := in.do(c.method, c.path, "", "", nil)
		if body := readAll(t, none.Body); none.StatusCode != 401 || !strings.Contains(body, "authentication required") || strings.Contains(body, "wrong") {
			t.Errorf("%s %s without credentials: %d %q; want 401 authentication required", c.method, c.path, none.StatusCode, body)
		}
	}

	home := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	login := exec.CommandContext(ctx, binary, "login", in.URL, "--user", "alice", "--password-stdin")
	login.Env = append(cleanEnv(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	login.Stdin = strings.NewReader("not her passphrase\n")
	out, err := login.CombinedOutput()
	if want := "wharf: login to " + in.URL + ": user name or password is wrong\n"; err == nil || string(out) != want {
		t.Errorf("wharf login with a wrong password: %v, %q; want %q", err, out, want)
	}

	put := in.do("PUT", "/dav/spaces/holiday.jpg", "alice", "a long passphrase", strings.NewReader("jpeg"))
	if body := readAll(t, put.Body); put.StatusCode != http.StatusNotFound || !strings.Contains(body, "/dav/spaces/ is the list of spaces") {
		t.Errorf("PUT /dav/spaces/holiday.jpg: %d %q; want a message that this is the list of spaces", put.StatusCode, body)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, "wharf: unknown command \"frobnicate\"; 'wharf --help' lists the commands\n"},
		{[]string{"spaces"}, 2, "wharf: unknown command \"spaces\"; did you mean \"wharf space\"?\n"},
		{[]string{"user", "add", "bob", "--frob"}, 2, "wharf: unknown flag --frob for \"wharf user add\" (see 'wharf user add --help')\n"},
		{[]string{"space", "grant", "nope", "alice", "editor"}, 1, "wharf: space \"nope\" not found\n"},
		{[]string{"space", "create", "Files"}, 1, "wharf: a space named \"Files\" exists already (id files); to make a second one, give it an id of its own: wharf space create \"Files\" --id ID\n"},
	} {
		res := wharf(t, data, "", c.args...)
		if res.code != c.code || res.stderr != c.want || res.stdout != "" {
			t.Errorf("wharf %s: exit %d, stderr %q, stdout %q; want exit %d, %q", strings.Join(c.args, " "), res.code, res.stderr, res.stdout, c.code, c.want)
		}
	}
	if res := wharf(t, data, "", "help"); res.code != 0 || !strings.Contains(res.stdout, "COMMANDS:") {
		t.Errorf("wharf help: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// A global flag after the command, as the README writes it.
	backup := filepath.Join(t.TempDir(), "backup")
	mustWharf(t, data, "", "backup", backup)
	restored := filepath.Join(t.TempDir(), "restored")
	if res := wharf(t, data, "", "restore", backup, "--data", restored); res.code != 0 {
		t.Errorf("wharf restore DIR --data NEW: exit %d: %s", res.code, res.stderr)
	} else if _, err := os.Stat(filepath.Join(restored, "wharf.db")); err != nil {
		t.Errorf("restore did not write into --data: %v", err)
	}
}

// TestFirstStartBusyPort: "wharf serve" on a port in use fails before the
// first start creates anything, and names the setting to change.
func TestFirstStartBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve")
	cmd.Env = append(cleanEnv(), "WHARF_DATA="+data, "WHARF_LISTEN="+busy.Addr().String())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("wharf serve on a busy port succeeded:\n%s", out)
	}
	for _, want := range []string{"cannot listen on " + busy.Addr().String(), "--listen", "WHARF_LISTEN"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "First start") {
		t.Errorf("the first start ran although the server could not listen:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "wharf.db")); !os.IsNotExist(err) {
		t.Errorf("a database was created: %v", err)
	}
}
