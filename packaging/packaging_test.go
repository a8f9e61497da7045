package packaging

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/cmd"
)

// needTool finds an outside program the packaging tests use: missing, the
// test is skipped loudly, or fails under CI (.ci/run installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not installed (apt-get install %s)", name, pkg)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	return p
}

// run runs a command and returns its standard output; any failure fails the
// test with the command's output.
func run(t *testing.T, dir string, env []string, name string, arg ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, arg...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(arg, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// packaged is what the .deb and the .rpm hold besides directories: path,
// mode.
var packaged = map[string]string{
	"/usr/bin/wharf":                                   "-rwxr-xr-x",
	"/usr/lib/systemd/system/wharf.service":            "-rw-r--r--",
	"/etc/wharf/wharf.toml":                            "-rw-r--r--",
	"/usr/share/man/man1/wharf.1.gz":                   "-rw-r--r--",
	"/usr/share/bash-completion/completions/wharf":     "-rw-r--r--",
	"/usr/share/fish/vendor_completions.d/wharf.fish":  "-rw-r--r--",
	"/usr/share/doc/wharf/copyright":                   "-rw-r--r--",
	"/usr/share/doc/wharf/third-party-licenses.txt.gz": "-rw-r--r--",
	// zsh: /usr/share/zsh/vendor-completions/_wharf in the .deb,
	// /usr/share/zsh/site-functions/_wharf in the .rpm (added below)
}

// TestPackage runs "make package" into a temporary directory and checks the
// .deb with dpkg-deb (control fields, files, modes, owners, conffiles,
// maintainer scripts, the extracted tree, the binary) and the .rpm with rpm.
func TestPackage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the packages are built on Linux")
	}
	needTool(t, "make", "make")
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	dir := t.TempDir()
	start := time.Now()
	run(t, "..", nil, "make", "-s", "package", "BIN="+filepath.Join(dir, "bin", "wharf"), "DIST="+filepath.Join(dir, "dist"))
	t.Logf("make package: %v", time.Since(start).Round(time.Second))
	debs, _ := filepath.Glob(filepath.Join(dir, "dist", "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dir, "dist", "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("dist holds %d .deb and %d .rpm, want one each", len(debs), len(rpms))
	}
	deb, rpm := debs[0], rpms[0]

	// The version: the one stamped into the binary, mapped by version.sh.
	stamped := strings.TrimPrefix(strings.TrimSpace(run(t, ".", nil, filepath.Join(dir, "bin", "wharf"), "version")), "wharf ")
	semver := strings.TrimSpace(run(t, ".", nil, "./version.sh", stamped))
	pkgVersion := semver // dpkg and rpm spell a semver pre-release "~pre"
	if base, pre, ok := strings.Cut(semver, "-"); ok {
		pkgVersion = base + "~" + pre
	}

	t.Run("deb", func(t *testing.T) {
		field := func(name string) string {
			return strings.TrimSpace(run(t, ".", nil, dpkgDeb, "-f", deb, name))
		}
		debArch := map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386", "arm": "armhf"}[runtime.GOARCH]
		for name, want := range map[string]string{
			"Package": "wharf", "Version": pkgVersion + "-1", "Architecture": debArch,
			"Depends": "", "Pre-Depends": "", "Section": "net",
		} {
			if got := field(name); got != want {
				t.Errorf("%s: %s is %q, want %q", filepath.Base(deb), name, got, want)
			}
		}
		if field("Maintainer") == "" || field("Description") == "" {
			t.Errorf("%s lacks a Maintainer or a Description", filepath.Base(deb))
		}

		want := map[string]string{"/usr/share/zsh/vendor-completions/_wharf": "-rw-r--r--"}
		for p, m := range packaged {
			want[p] = m
		}
		for _, line := range strings.Split(strings.TrimSpace(run(t, ".", nil, dpkgDeb, "-c", deb)), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 {
				t.Fatalf("dpkg-deb -c: cannot read %q", line)
			}
			mode, owner, path := f[0], f[1], strings.TrimPrefix(f[5], ".")
			if owner != "root/root" {
				t.Errorf("%s is owned by %s, want root/root", path, owner)
			}
			if strings.HasPrefix(mode, "d") {
				if mode != "drwxr-xr-x" {
					t.Errorf("directory %s has mode %s, want drwxr-xr-x", path, mode)
				}
				continue
			}
			wantMode, ok := want[path]
			if !ok {
				t.Errorf("the .deb holds %s (%s), which it should not", path, mode)
				continue
			}
			delete(want, path)
			if mode != wantMode {
				t.Errorf("%s has mode %s, want %s", path, mode, wantMode)
			}
		}
		for p := range want {
			t.Errorf("the .deb lacks %s", p)
		}

		if got := run(t, ".", nil, dpkgDeb, "-I", deb, "conffiles"); got != "/etc/wharf/wharf.toml\n" {
			t.Errorf("conffiles: %q, want only /etc/wharf/wharf.toml", got)
		}
		info := run(t, ".", nil, dpkgDeb, "-I", deb)
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			if !strings.Contains(info, " "+s+" ") {
				t.Errorf("dpkg-deb -I: no %s script:\n%s", s, info)
			}
		}
		if strings.Contains(info, " preinst ") {
			t.Errorf("dpkg-deb -I: an unexpected preinst script:\n%s", info)
		}

		// The postinst of a first install enables and starts nothing and
		// says what to do: run with a systemctl that records its calls.
		scratch := t.TempDir()
		fakeBin := filepath.Join(scratch, "fakebin")
		os.Mkdir(fakeBin, 0o755)
		calls := filepath.Join(scratch, "systemctl.calls")
		if err := os.WriteFile(filepath.Join(fakeBin, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >>"+calls+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		postinst := filepath.Join(scratch, "postinst")
		os.WriteFile(postinst, []byte(run(t, ".", nil, dpkgDeb, "-I", deb, "postinst")), 0o755)
		out := run(t, ".", []string{"PATH=" + fakeBin + ":" + os.Getenv("PATH")}, "sh", postinst, "configure", "")
		for _, s := range []string{"systemctl enable --now wharf", "journalctl -u wharf", "/etc/wharf/wharf.toml"} {
			if !strings.Contains(out, s) {
				t.Errorf("postinst configure says %q, without %q", out, s)
			}
		}
		if b, err := os.ReadFile(calls); err == nil && strings.TrimSpace(string(b)) != "daemon-reload" {
			t.Errorf("postinst of a first install called systemctl with more than daemon-reload:\n%s", b)
		}

		// The extracted tree.
		root := filepath.Join(scratch, "root")
		run(t, ".", nil, dpkgDeb, "-x", deb, root)
		bin := filepath.Join(root, "usr", "bin", "wharf")
		if got := run(t, ".", nil, bin, "version"); got != "wharf "+stamped+"\n" {
			t.Errorf("extracted wharf version: %q, want %q", got, "wharf "+stamped+"\n")
		}
		for src, dst := range map[string]string{
			"wharf.toml":            "etc/wharf/wharf.toml",
			"systemd/wharf.service": "usr/lib/systemd/system/wharf.service",
			"copyright":             "usr/share/doc/wharf/copyright",
		} {
			a, errA := os.ReadFile(src)
			b, errB := os.ReadFile(filepath.Join(root, dst))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				t.Errorf("/%s is not %s (%v, %v)", dst, src, errA, errB)
			}
		}
		for shell, dst := range map[string]string{
			"bash": "usr/share/bash-completion/completions/wharf",
			"zsh":  "usr/share/zsh/vendor-completions/_wharf",
			"fish": "usr/share/fish/vendor_completions.d/wharf.fish",
		} {
			b, err := os.ReadFile(filepath.Join(root, dst))
			if err != nil || string(b) != cmd.CompletionScript(shell) {
				t.Errorf("/%s is not the output of wharf completion %s (%v)", dst, shell, err)
			}
		}
		man := gunzip(t, filepath.Join(root, "usr/share/man/man1/wharf.1.gz"))
		for _, s := range []string{".TH wharf 1", "serve", "completion", "$STATE_DIRECTORY"} {
			if !strings.Contains(man, s) {
				t.Errorf("wharf.1 lacks %q", s)
			}
		}
		if home, _ := os.UserHomeDir(); home != "" && strings.Contains(man, home) {
			t.Errorf("wharf.1 shows the packager's home directory %s", home)
		}
		for _, s := range []string{"github.com/urfave/cli/v2", "modernc.org/sqlite", "==== Go ("} {
			if lic := gunzip(t, filepath.Join(root, "usr/share/doc/wharf/third-party-licenses.txt.gz")); !strings.Contains(lic, s) {
				t.Errorf("third-party-licenses.txt lacks %q", s)
			}
		}

		// bash completion through the installed script and binary.
		if bash, err := exec.LookPath("bash"); err == nil {
			script := filepath.Join(root, "usr/share/bash-completion/completions/wharf")
			complete := func(words ...string) []string {
				prog := fmt.Sprintf(`source %q; COMP_WORDS=(%s); COMP_CWORD=%d; _wharf; printf '%%s\n' "${COMPREPLY[@]}"`,
					script, shellQuote(words), len(words)-1)
				return strings.Fields(run(t, scratch, []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")}, bash, "-c", prog))
			}
			if got := complete("wharf", "se"); !slices.Equal(got, []string{"serve"}) {
				t.Errorf(`completing "wharf se": %q, want serve`, got)
			}
			if got := complete("wharf", "serve", "--lis"); !slices.Contains(got, "--listen") {
				t.Errorf(`completing "wharf serve --lis": %q, want --listen`, got)
			}
			if got := complete("wharf", "user", ""); !slices.Contains(got, "add") || slices.Contains(got, "serve") {
				t.Errorf(`completing "wharf user ": %q, want its subcommands`, got)
			}
		}
	})

	t.Run("rpm", func(t *testing.T) {
		rpmBin := needTool(t, "rpm", "rpm")
		q := func(arg ...string) string {
			return run(t, ".", nil, rpmBin, append([]string{"-qp"}, append(arg, rpm)...)...)
		}
		rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i386", "arm": "armv7hl"}[runtime.GOARCH]
		if got, want := q("--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}"), "wharf "+pkgVersion+" 1 "+rpmArch; got != want {
			t.Errorf("rpm -qp: %q, want %q", got, want)
		}
		if info := run(t, ".", nil, rpmBin, "-qip", rpm); !strings.Contains(info, "File server for small teams") {
			t.Errorf("rpm -qip: no summary:\n%s", info)
		}
		want := []string{"/usr/share/zsh/site-functions/_wharf"}
		for p := range packaged {
			want = append(want, p)
		}
		slices.Sort(want)
		got := strings.Fields(run(t, ".", nil, rpmBin, "-qlp", rpm))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("rpm -qlp:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, line := range strings.Split(strings.TrimSpace(q("--queryformat", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]")), "\n") {
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("rpm file line %q", line)
			}
			if f[1] != "root" || f[2] != "root" {
				t.Errorf("%s is owned by %s:%s, want root:root", f[3], f[1], f[2])
			}
			if m, ok := packaged[f[3]]; ok && m != f[0] {
				t.Errorf("%s has mode %s, want %s", f[3], f[0], m)
			}
		}
		if got := q("--configfiles"); got != "/etc/wharf/wharf.toml\n" {
			t.Errorf("rpm config files: %q, want only /etc/wharf/wharf.toml", got)
		}
		for _, line := range strings.Split(strings.TrimSpace(q("--requires")), "\n") {
			if line != "" && !strings.HasPrefix(line, "rpmlib(") && line != "/bin/sh" {
				t.Errorf("the .rpm requires %q; a static binary needs nothing", line)
			}
		}
		scripts := q("--scripts")
		for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemctl enable --now wharf"} {
			if !strings.Contains(scripts, s) {
				t.Errorf("rpm --scripts lacks %q", s)
			}
		}
	})
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

func shellQuote(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// TestPackageVersion checks how version.sh turns git describe's
// output into a version dpkg and rpm order correctly.
func TestPackageVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                  "1.2.3",
		"1.2.3":                   "1.2.3",
		"v1.2.3-rc.1":             "1.2.3-rc.1",
		"v1.2.3-dirty":            "1.2.3+dirty",
		"v1.2.3-4-gabc1234":       "1.2.3+git.4.gabc1234",
		"v1.2.3-4-gabc1234-dirty": "1.2.3+git.4.gabc1234.dirty",
		"dev":                     "0.0.0-dev",
		"":                        "0.0.0-dev",
		"not a version":           "0.0.0-dev",
	} {
		if got := strings.TrimSpace(run(t, ".", nil, "./version.sh", in)); got != want {
			t.Errorf("version.sh %q = %q, want %q", in, got, want)
		}
	}
	// No tag yet: the commit count orders the builds.
	got := strings.TrimSpace(run(t, ".", nil, "./version.sh", "0123abc-dirty"))
	if !strings.HasPrefix(got, "0.0.0-git.") || !strings.HasSuffix(got, ".g0123abc.dirty") {
		t.Errorf("version.sh 0123abc-dirty = %q, want 0.0.0-git.N.g0123abc.dirty", got)
	}
}

// plistValue is one value of an XML property list, kept as its element
// name and text, with its children for dict and array.
type plistValue struct {
	XMLName  xml.Name
	Text     string       `xml:",chardata"`
	Children []plistValue `xml:",any"`
}

// TestLaunchdPlist parses launchd/'s LaunchDaemon (plutil is not
// here) and checks the keys launchd needs.
func TestLaunchdPlist(t *testing.T) {
	const path = "launchd/io.github.wharfhq.wharf.plist"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name     `xml:"plist"`
		Version string       `xml:"version,attr"`
		Values  []plistValue `xml:",any"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if doc.Version != "1.0" || len(doc.Values) != 1 || doc.Values[0].XMLName.Local != "dict" {
		t.Fatalf("%s: want <plist version=\"1.0\"> around one <dict>", path)
	}
	dict := func(v plistValue) map[string]plistValue {
		m := map[string]plistValue{}
		if len(v.Children)%2 != 0 {
			t.Fatalf("%s: a <dict> with an odd number of children", path)
		}
		for i := 0; i < len(v.Children); i += 2 {
			k := v.Children[i]
			if k.XMLName.Local != "key" {
				t.Fatalf("%s: <%s> where a <key> belongs", path, k.XMLName.Local)
			}
			if _, dup := m[k.Text]; dup {
				t.Errorf("%s: key %s twice", path, k.Text)
			}
			m[k.Text] = v.Children[i+1]
		}
		return m
	}
	top := dict(doc.Values[0])
	want := func(key, kind, text string) plistValue {
		v, ok := top[key]
		if !ok {
			t.Errorf("%s lacks %s", path, key)
			return v
		}
		if v.XMLName.Local != kind || (text != "" && strings.TrimSpace(v.Text) != text) {
			t.Errorf("%s: %s is <%s>%s, want <%s>%s", path, key, v.XMLName.Local, strings.TrimSpace(v.Text), kind, text)
		}
		return v
	}
	want("Label", "string", "io.github.wharfhq.wharf")
	want("RunAtLoad", "true", "")
	want("UserName", "string", "_wharf")
	want("StandardOutPath", "string", "/usr/local/var/log/wharf/wharf.log")
	want("StandardErrorPath", "string", "/usr/local/var/log/wharf/wharf.err.log")
	want("WorkingDirectory", "string", "/usr/local/var/lib/wharf")
	var argv []string
	for _, a := range want("ProgramArguments", "array", "").Children {
		if a.XMLName.Local != "string" {
			t.Errorf("%s: ProgramArguments holds a <%s>", path, a.XMLName.Local)
		}
		argv = append(argv, a.Text)
	}
	wantArgv := []string{"/usr/local/bin/wharf", "--data", "/usr/local/var/lib/wharf", "--config", "/usr/local/etc/wharf/wharf.toml", "serve"}
	if !slices.Equal(argv, wantArgv) {
		t.Errorf("%s: ProgramArguments %q, want %q", path, argv, wantArgv)
	}
	// The arguments must be ones wharf accepts (the global flags before
	// serve: urfave/cli reads them only there), with the packaged
	// configuration file: try them with --print-config, on scratch paths.
	scratch := t.TempDir()
	try := slices.Clone(argv)
	try[0], try[2], try[4] = "wharf", filepath.Join(scratch, "data"), "wharf.toml"
	try = append(try, "--print-config")
	var out bytes.Buffer
	app := cmd.New("dev", strings.NewReader(""), &out, io.Discard)
	if err := app.Run(cmd.Args(app, try)); err != nil || !strings.Contains(out.String(), "listen") {
		t.Errorf("wharf %s: %v\n%s", strings.Join(try[1:], " "), err, out.String())
	}
	if ka := want("KeepAlive", "dict", ""); ka.XMLName.Local == "dict" {
		if se, ok := dict(ka)["SuccessfulExit"]; !ok || se.XMLName.Local != "false" {
			t.Errorf("%s: KeepAlive should restart only after a failure (SuccessfulExit false)", path)
		}
	}
}

// TestCrossCompile builds and vets wharf for macOS and Windows, the
// systems with their own service code (launchd/, cmd/service_windows.go)
// and terminal code (cmd/term_*.go).
func TestCrossCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no cross builds")
	}
	dir := t.TempDir()
	for _, target := range []struct{ goos, goarch, out string }{
		{"darwin", "arm64", os.DevNull},
		{"windows", "amd64", filepath.Join(dir, "wharf.exe")},
	} {
		env := []string{"GOOS=" + target.goos, "GOARCH=" + target.goarch, "CGO_ENABLED=0"}
		start := time.Now()
		run(t, ".", env, "go", "build", "-o", target.out, "..")
		run(t, ".", env, "go", "vet", "..", "../cmd")
		t.Logf("%s/%s build and vet: %v", target.goos, target.goarch, time.Since(start).Round(time.Second))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "wharf.exe")); err != nil || !bytes.HasPrefix(b, []byte("MZ")) {
		t.Errorf("wharf.exe is not a Windows executable (%v)", err)
	}
}
