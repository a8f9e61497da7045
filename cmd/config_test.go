package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// runCLI runs the command line with args (without the program name) and
// the environment cleared of WHARF_ and systemd variables, and returns its
// output and error.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	setCLIEnv(t, env)
	var out, errOut bytes.Buffer
	app := New("dev", strings.NewReader(""), &out, &errOut)
	err = app.RunContext(t.Context(), Args(app, append([]string{"wharf"}, args...)))
	return out.String(), errOut.String(), err
}

// setCLIEnv clears the WHARF_ and systemd variables for the test, then sets
// env.
func setCLIEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "WHARF_") || k == "STATE_DIRECTORY" || k == "JOURNAL_STREAM" || k == "INVOCATION_ID" {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wharf.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// setting finds "key = value  # source" in --print-config output.
func setting(t *testing.T, out, key string) (value, source string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = (.*?)\s+# (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("--print-config has no line for %s:\n%s", key, out)
	}
	return m[1], m[2]
}

func TestConfigFilePrecedence(t *testing.T) {
	data := t.TempDir()
	cfg := writeConfig(t, `# a comment
listen = "127.0.0.1:9001"
public-url = "https://files.example.org"
upload-expiry = "2h"
processing-wait = "1m"
dav-allow-infinity = true
max-uploads-per-user = 3
domain = ["a.example", "b.example"]
admin-password = "correct horse battery staple"
log-level = "debug"
data = "`+data+`"
`)
	out, _, err := runCLI(t, map[string]string{"WHARF_PROCESSING_WAIT": "5m", "WHARF_CONFIG": cfg},
		"serve", "--print-config", "--public-url", "https://cli.example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, value, source string }{
		{"listen", `"127.0.0.1:9001"`, "config file line 2"},
		{"public-url", `"https://cli.example.org"`, "command line"},
		{"processing-wait", `"5m0s"`, "environment WHARF_PROCESSING_WAIT"},
		{"upload-expiry", `"2h0m0s"`, "config file line 4"},
		{"dav-allow-infinity", "true", "config file line 6"},
		{"max-uploads-per-user", "3", "config file line 7"},
		{"domain", `["a.example", "b.example"]`, "config file line 8"},
		{"log-level", `"debug"`, "config file line 10"},
		{"data", `"` + data + `"`, "config file line 11"},
		{"reject", `"quarantine"`, "default"},
		{"admin-password", `"********"`, "config file line 9"},
	} {
		v, src := setting(t, out, c.key)
		if v != c.value || src != c.source {
			t.Errorf("%s = %s (%s), want %s (%s)", c.key, v, src, c.value, c.source)
		}
	}
	if strings.Contains(out, "correct horse") {
		t.Errorf("--print-config shows the admin password:\n%s", out)
	}
}

func TestConfigFileAppliesToStoreCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "nothing-here")
	cfg := writeConfig(t, `data = "`+data+`"`+"\n")
	_, _, err := runCLI(t, nil, "--config", cfg, "user", "list")
	if err == nil || !strings.Contains(err.Error(), data) {
		t.Fatalf("user list with data from the file: %v, want the file's data directory named", err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown key", "listen = \"127.0.0.1:1\"\nlisten-adress = \"x\"\n", `:2: unknown setting "listen-adress" (did you mean "listen"?)`},
		{"table", "[serve]\nlisten = \"x\"\n", `:1: unknown setting "serve"`},
		{"syntax", "listen = \"127.0.0.1:1\"\n\nreject = \n", ":3: "},
		{"unterminated string", "\nlisten = \"127.0.0.1\n", ":2: "},
		{"string for a bool", "dav-allow-infinity = \"yes\"\n", ":1: dav-allow-infinity: want true or false"},
		{"number for a duration", "# c\nupload-expiry = 5\n", `:2: upload-expiry: want a duration in quotes`},
		{"bad duration", "upload-expiry = \"5 days\"\n", `:1: upload-expiry: "5 days" is not a duration`},
		{"string for an int", "max-uploads-per-user = \"3\"\n", ":1: max-uploads-per-user: want an integer"},
		{"the config key itself", "config = \"other.toml\"\n", `:1: unknown setting "config"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.text)
			_, _, err := runCLI(t, nil, "--config", cfg, "serve", "--print-config")
			if err == nil {
				t.Fatalf("a bad file was accepted:\n%s", tc.text)
			}
			if !strings.HasPrefix(err.Error(), cfg+":") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q after the file name", err, tc.want)
			}
		})
	}
	_, _, err := runCLI(t, nil, "--config", filepath.Join(t.TempDir(), "missing.toml"), "version")
	if err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing config file: %v", err)
	}
}

// TestPackagedConfig keeps packaging/wharf.toml true: every visible setting
// is documented there, and the file with every setting uncommented is
// accepted.
func TestPackagedConfig(t *testing.T) {
	text, err := os.ReadFile("../packaging/wharf.toml")
	if err != nil {
		t.Fatal(err)
	}
	example := regexp.MustCompile(`(?m)^# ([a-z][a-z0-9-]*) = `)
	documented := map[string]bool{}
	for _, m := range example.FindAllStringSubmatch(string(text), -1) {
		documented[m[1]] = true
	}
	app := New("dev", strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var serve *cli.Command
	for _, c := range app.Commands {
		if c.Name == "serve" {
			serve = c
		}
	}
	for name, f := range configKeys(app.Flags, serve.Flags) {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		if !documented[name] {
			t.Errorf("packaging/wharf.toml does not document %q: add it, commented out, with its default", name)
		}
	}
	uncommented := example.ReplaceAllString(string(text), "$1 = ")
	cfg := writeConfig(t, uncommented)
	if _, err := loadConfigFile(cfg, configKeys(app.Flags, serve.Flags)); err != nil {
		t.Errorf("packaging/wharf.toml with its examples uncommented is refused: %v", err)
	}
}

func TestLogJSONUnderSystemd(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		json bool
	}{
		{"terminal", nil, nil, false},
		{"journal", map[string]string{"JOURNAL_STREAM": "8:12345"}, nil, true},
		{"service", map[string]string{"INVOCATION_ID": "0123456789abcdef"}, nil, true},
		{"service, text asked for", map[string]string{"INVOCATION_ID": "x"}, []string{"--log-json=false"}, false},
		{"service, text in the environment", map[string]string{"INVOCATION_ID": "x", "WHARF_LOG_JSON": "false"}, nil, false},
		{"terminal, json asked for", nil, []string{"--log-json"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setCLIEnv(t, tc.env)
			var got bool
			app := New("dev", strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
			app.Commands = append(app.Commands, &cli.Command{Name: "probe", Action: func(cx *cli.Context) error {
				got = logJSON(cx)
				return nil
			}})
			if err := app.RunContext(t.Context(), append(append([]string{"wharf"}, tc.args...), "probe")); err != nil {
				t.Fatal(err)
			}
			if got != tc.json {
				t.Errorf("logJSON = %v, want %v", got, tc.json)
			}
		})
	}
}

// A URL setting's password (--events nats://user:password@host) is masked
// by --print-config like the secrets.
func TestPrintConfigMasksURLPasswords(t *testing.T) {
	out, _, err := runCLI(t, map[string]string{"WHARF_EVENTS": "nats://wharf:s3cret-pw@nats.internal:4222,nats://wharf:s3cret-pw@nats2.internal:4222"},
		"--data", t.TempDir(), "serve", "--print-config")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Errorf("--print-config shows the NATS password:\n%s", out)
	}
	if v, _ := setting(t, out, "events"); !strings.Contains(v, "nats://wharf:xxxxx@nats.internal:4222") {
		t.Errorf("events = %s", v)
	}
}
