package cmd

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/server"
	"github.com/wharfhq/wharf/store"
)

// TestArgsGlobalFlagsAfterCommand: a global flag may follow the command
// ("wharf restore DIR --data NEW"), anywhere after it.
func TestArgsGlobalFlagsAfterCommand(t *testing.T) {
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	for _, tc := range []struct{ in, want string }{
		{"restore DIR --data NEW", "--data NEW restore -- DIR"},
		{"restore --data=NEW DIR --verify", "--data=NEW restore --verify -- DIR"},
		{"--data D user add bob --admin", "--data D user add --admin -- bob"},
		{"user --data D add bob", "--data D user add -- bob"},
		{"user add bob --log-level debug --admin", "--log-level debug user add --admin -- bob"},
		{"space list --log-json", "--log-json space list"},
		{"serve --listen :9 --data D", "--data D serve --listen :9"},
		{"target add x --public-url U --data D", "--data D target add --public-url U -- x"},
		{"user add --help", "user add --help"},
	} {
		got := strings.Join(Args(app, append([]string{"wharf"}, strings.Fields(tc.in)...))[1:], " ")
		if got != tc.want {
			t.Errorf("Args(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestNoFlagShadowsGlobal keeps Args unambiguous: no command has a flag
// of a global flag's name.
func TestNoFlagShadowsGlobal(t *testing.T) {
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				for _, n := range f.Names() {
					if globalFlag(app, n) != nil {
						t.Errorf("wharf %s %s has a flag --%s, which is a global flag's name", path, c.Name, n)
					}
				}
			}
			walk(strings.TrimSpace(path+" "+c.Name), c.Subcommands)
		}
	}
	walk("", app.Commands)
}

// TestUsageMistakes: unknown commands and flags are one line, with a
// did-you-mean or a pointer to --help, exit status 2; "wharf help" helps.
func TestUsageMistakes(t *testing.T) {
	for _, tc := range []struct {
		args, want string
	}{
		{"frobnicate", `unknown command "frobnicate"; 'wharf --help' lists the commands`},
		{"usr", `unknown command "usr"; did you mean "wharf user"?`},
		{"user ad bob", `unknown command "ad" for "wharf user"; did you mean "wharf user add"?`},
		{"space lst", `unknown command "lst" for "wharf space"; did you mean "wharf space list"?`},
		{"user add --frob bob", `unknown flag --frob for "wharf user add" (see 'wharf user add --help')`},
		{"--frob user list", `unknown flag --frob for "wharf" (see 'wharf --help')`},
		{"user add", `usage: wharf user add NAME`},
		{"space list extra", `wharf space list takes no arguments (got ["extra"])`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			out, errOut, err := runCLI(t, nil, strings.Fields(tc.args)...)
			if err == nil || OneLine(err) != tc.want || ExitCode(err) != exitUsage {
				t.Errorf("wharf %s: %v (exit %d); want %q, exit 2", tc.args, err, ExitCode(err), tc.want)
			}
			if out != "" || errOut != "" {
				t.Errorf("wharf %s printed more than its error:\nstdout %q\nstderr %q", tc.args, out, errOut)
			}
		})
	}
	for _, args := range [][]string{{"help"}, {"help", "user", "add"}, {"user", "help", "add"}, {"user"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.Contains(out, "USAGE:") {
			t.Errorf("wharf %s: %v\n%s; want help", strings.Join(args, " "), err, out)
		}
	}
	if out, _, _ := runCLI(t, nil, "help", "user", "add"); !strings.Contains(out, "wharf user add") || !strings.Contains(out, "--password-stdin") {
		t.Errorf("wharf help user add is not the help of user add:\n%s", out)
	}
}

// TestEnvOnlyForServerSettings: only the global flags, serve's and the
// credentials of push and pull read the environment; an exported
// WHARF_ADMIN does not make "user add" an admin.
func TestEnvOnlyForServerSettings(t *testing.T) {
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	for env, flag := range EnvVars(app) {
		switch {
		case !strings.Contains(flag, " "), strings.HasPrefix(flag, "serve "),
			flag == "push --token", flag == "push --server", flag == "pull --token":
		default:
			t.Errorf("%s reads %s: per-command options are flags only", flag, env)
		}
	}
	data := newData(t)
	env := map[string]string{"WHARF_ADMIN": "1", "WHARF_LABEL": "from-env", "WHARF_DATA": data}
	if _, _, err := runCLI(t, env, "user", "add", "bob"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, env, "user", "list")
	if err != nil || !regexp.MustCompile(`(?m)^bob +no `).MatchString(out) {
		t.Errorf("WHARF_ADMIN=1 wharf user add bob made an admin, or user list failed: %v\n%s", err, out)
	}
}

// TestHelpDefaultsOnce: no flag's help says its default twice.
func TestHelpDefaultsOnce(t *testing.T) {
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	var walk func(path string, flags []cli.Flag, cmds []*cli.Command)
	walk = func(path string, flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			if s := f.String(); strings.Count(s, "(default:") > 1 {
				t.Errorf("wharf %s: %s", path, s)
			}
		}
		for _, c := range cmds {
			walk(strings.TrimSpace(path+" "+c.Name), c.Flags, c.Subcommands)
		}
	}
	walk("", app.Flags, app.Commands)
}

// newData makes a data directory as a first start would, without serving.
func newData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := server.Open(t.Context(), dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tree.CreateSpaceWithID(t.Context(), "files", "Files", 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return dir
}

// TestCleanErrors: a command that fails says why in one line, without
// the layers it went through.
func TestCleanErrors(t *testing.T) {
	data := newData(t)
	env := map[string]string{"WHARF_DATA": data}
	if _, _, err := runCLI(t, env, "space", "create", "Team"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ args, want string }{
		{"space grant nope alice editor", `space "nope" not found`},
		{"space revoke nope alice", `space "nope" not found`},
		{"space policy nope", `space "nope" not found`},
		{"user passwd nobody", `user "nobody" not found`},
		{"apppass list nobody", `user "nobody" not found`},
		{"space create team", `a space named "Team" exists already (id team); to make a second one, give it an id of its own: wharf space create "team" --id ID`},
		{"space create Other --id team", `a space with id "team" exists already`},
		{"space create Other --id Bad_ID", `--id "Bad_ID": want lowercase letters, digits and dashes (at most 48, no dash at either end), e.g. team-photos-2`},
		{"target remove nope", `target "nope" not found`},
		{"target add x --space files --mode push --destination 1", `mode push needs the enqueue URL (or the key "avoid" to not notify)`},
		{"target test nope", `target "nope" not found`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			_, _, err := runCLI(t, env, strings.Fields(tc.args)...)
			if err == nil || OneLine(err) != tc.want {
				t.Errorf("wharf %s: %v; want %q", tc.args, err, tc.want)
			}
		})
	}
	out, _, err := runCLI(t, env, "space", "create", "Team", "--id", "team-archive")
	if err != nil || strings.TrimSpace(out) != "team-archive" {
		t.Errorf("space create Team --id team-archive: %q, %v", out, err)
	}
}

// TestTargetUsesRecordedURL: without --public-url, the target commands
// print the pull URI on the URL the server recorded at its last start.
func TestTargetUsesRecordedURL(t *testing.T) {
	data := newData(t)
	env := map[string]string{"WHARF_DATA": data}
	out, errOut, err := runCLI(t, env, "target", "add", "DAM", "--space", "files", "--mode", "pull", "--destination", "1")
	if err != nil || !strings.Contains(out, "https://WHARF-HOST/") || !strings.Contains(errOut, "has not run") {
		t.Errorf("before any start: %v\n%s\n%s", err, out, errOut)
	}
	db, err := store.Open(t.Context(), filepath.Join(data, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(t.Context(), func(tx *store.Tx) error {
		return tx.PutSetting(t.Context(), server.PublicURLSetting, []byte("https://files.example.org"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, env, "target", "test", "DAM")
	if err != nil || !strings.Contains(out, "pull_uri=https://files.example.org/commits?target=") {
		t.Errorf("target test: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, env, "target", "test", "DAM", "--public-url", "http://other.example:8080")
	if err != nil || !strings.Contains(out, "pull_uri=http://other.example:8080/commits?target=") {
		t.Errorf("target test --public-url: %v\n%s", err, out)
	}
}

// TestAppPassList: the list says its last-use column is approximate, and a
// new app password never takes a revoked one's id.
func TestAppPassList(t *testing.T) {
	env := map[string]string{"WHARF_DATA": newData(t)}
	if _, _, err := runCLI(t, env, "user", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"laptop", "phone"} {
		if _, _, err := runCLI(t, env, "apppass", "create", "alice", "--label", l); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runCLI(t, env, "apppass", "revoke", "alice", "phone"); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, env, "apppass", "create", "alice", "--label", "tablet")
	if err != nil || !strings.HasPrefix(errOut, "app password 3 (tablet)") {
		t.Errorf("the third app password: %v, %q; want id 3 (2 was revoked, not free)", err, errOut)
	}
	out, _, err := runCLI(t, env, "apppass", "list", "alice")
	if err != nil || !strings.Contains(out, "LAST USED (±1 MIN)") {
		t.Errorf("apppass list: %v\n%s", err, out)
	}
}
