package cmd

// The configuration file: --config wharf.toml (or WHARF_CONFIG) sets any
// global flag and any flag of "wharf serve" by its name, one key per flag.
// A flag on the command line and a WHARF_* variable win over the file, the
// file over the built-in default. "wharf serve --print-config" shows the
// result.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
	"github.com/wharfhq/wharf/store"
)

// Where a setting's value came from, as --print-config says.
const (
	fromDefault = "default"
	fromFile    = "config file"
	fromEnv     = "environment"
	fromFlag    = "command line"
)

// configFile is one parsed configuration file: the keys it sets, each
// already checked against its flag's type, and their lines.
type configFile struct {
	path   string
	values map[string]any // string, bool, int64, time.Duration or []string
	lines  map[string]int
}

// configState remembers, between the Before hooks and --print-config, where
// each setting came from.
type configState struct {
	file    *configFile
	sources map[string]string // flag name -> one of the from* constants
}

// withConfigFile adds the global --config flag and serve's --print-config,
// and hooks the file into the app: the global flags are set from it before
// any command runs, serve's own flags before serve runs. Call it last in
// New, after withEnv.
func withConfigFile(app *cli.App, stdout io.Writer) {
	st := &configState{sources: map[string]string{}}
	app.Flags = append(app.Flags, &cli.StringFlag{
		Name:    "config",
		Usage:   "TOML file with settings: any global flag and any flag of serve, by name (command-line flags and WHARF_* variables win)",
		EnvVars: []string{"WHARF_CONFIG"},
	})
	var serve *cli.Command
	for _, c := range app.Commands {
		if c.Name == "serve" {
			serve = c
		}
	}
	if serve == nil {
		panic("withConfigFile: no serve command")
	}
	serve.Flags = append(serve.Flags, &cli.BoolFlag{
		Name:  "print-config",
		Usage: "print the effective configuration as TOML (secrets masked) and exit",
	})
	keys := configKeys(app.Flags, serve.Flags)

	before := app.Before
	app.Before = func(cx *cli.Context) error {
		if path := cx.String("config"); path != "" {
			f, err := loadConfigFile(path, keys)
			if err != nil {
				return err
			}
			st.file = f
		}
		if err := st.apply(cx, app.Flags); err != nil {
			return err
		}
		if before != nil {
			return before(cx)
		}
		return nil
	}
	serveBefore, serveAction := serve.Before, serve.Action
	serve.Before = func(cx *cli.Context) error {
		if err := st.apply(cx, serve.Flags); err != nil {
			return err
		}
		if serveBefore != nil {
			return serveBefore(cx)
		}
		return nil
	}
	// "wharf link create" prints URLs the server's settings make: it reads
	// public-url, listen and tls from the file as serve does.
	for _, c := range app.Commands {
		for _, sub := range c.Subcommands {
			if c.Name == "link" && sub.Name == "create" {
				sub, subBefore := sub, sub.Before
				sub.Before = func(cx *cli.Context) error {
					if err := st.apply(cx, sub.Flags); err != nil {
						return err
					}
					if subBefore != nil {
						return subBefore(cx)
					}
					return nil
				}
			}
		}
	}
	serve.Action = func(cx *cli.Context) error {
		if cx.Bool("print-config") {
			return st.print(stdout, cx, append(append([]cli.Flag{}, app.Flags...), serve.Flags...))
		}
		return serveAction(cx)
	}
}

// configKeys are the flags a file may set: every global flag and every flag
// of serve, except those about the file itself and help.
func configKeys(lists ...[]cli.Flag) map[string]cli.Flag {
	keys := map[string]cli.Flag{}
	for _, l := range lists {
		for _, f := range l {
			name := f.Names()[0]
			if !configurable(name) {
				continue
			}
			keys[name] = f
		}
	}
	return keys
}

func configurable(name string) bool {
	switch name {
	case "config", "print-config", "help", "version", "generate-bash-completion":
		return false
	}
	return true
}

// apply sets each flag of flags that the command line and the environment
// left alone to the file's value, and records every flag's source.
func (st *configState) apply(cx *cli.Context, flags []cli.Flag) error {
	for _, f := range flags {
		name := f.Names()[0]
		if !configurable(name) {
			continue
		}
		if cx.IsSet(name) {
			st.sources[name] = fromFlag
			if v, ok := envValue(f); ok && sameValue(f, v, flagString(cx, f)) {
				st.sources[name] = fromEnv
			}
			continue
		}
		st.sources[name] = fromDefault
		if st.file == nil {
			continue
		}
		v, ok := st.file.values[name]
		if !ok {
			continue
		}
		var vals []string
		switch v := v.(type) {
		case []string:
			vals = v
		case time.Duration:
			vals = []string{v.String()}
		case bool:
			vals = []string{strconv.FormatBool(v)}
		case int64:
			vals = []string{strconv.FormatInt(v, 10)}
		case string:
			vals = []string{v}
		}
		for _, s := range vals {
			if err := cx.Set(name, s); err != nil {
				return fmt.Errorf("%s:%d: %s: %w", st.file.path, st.file.lines[name], name, err)
			}
		}
		st.sources[name] = fromFile
	}
	return nil
}

// envValue is the value of the first WHARF_* variable of f that is set.
func envValue(f cli.Flag) (string, bool) {
	ef, ok := f.(interface{ GetEnvVars() []string })
	if !ok {
		return "", false
	}
	for _, e := range ef.GetEnvVars() {
		if v, ok := os.LookupEnv(e); ok {
			return v, true
		}
	}
	return "", false
}

// sameValue says whether env, a variable's text, means the value cur.
func sameValue(f cli.Flag, env, cur string) bool {
	switch f.(type) {
	case *cli.DurationFlag:
		d, err := time.ParseDuration(env)
		return err == nil && d.String() == cur
	case *cli.BoolFlag:
		b, err := strconv.ParseBool(env)
		return err == nil && strconv.FormatBool(b) == cur
	case *cli.StringSliceFlag:
		parts := strings.Split(env, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return strings.Join(parts, ",") == cur
	}
	return strings.TrimSpace(env) == strings.TrimSpace(cur)
}

// flagString is f's current value as it would be written in its
// environment variable.
func flagString(cx *cli.Context, f cli.Flag) string {
	name := f.Names()[0]
	switch f.(type) {
	case *cli.BoolFlag:
		return strconv.FormatBool(cx.Bool(name))
	case *cli.DurationFlag:
		return cx.Duration(name).String()
	case *cli.IntFlag:
		return strconv.Itoa(cx.Int(name))
	case *cli.StringSliceFlag:
		return strings.Join(cx.StringSlice(name), ",")
	}
	return cx.String(name)
}

var keyLine = regexp.MustCompile(`^\s*(\[+\s*)?["']?([A-Za-z0-9_.-]+)`)

// loadConfigFile reads and checks a configuration file: TOML, top-level
// keys only, each the name of a flag, of that flag's type. Errors name the
// file and line.
func loadConfigFile(path string, keys map[string]cli.Flag) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]toml.Primitive
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cf := &configFile{path: path, values: map[string]any{}, lines: map[string]int{}}
	// The TOML reader keeps no line per key; the first line that starts
	// with the key is the one (a key may appear only once).
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if m := keyLine.FindStringSubmatch(sc.Text()); m != nil {
			if _, seen := cf.lines[m[2]]; !seen {
				cf.lines[m[2]] = n
			}
		}
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return cf.lines[names[i]] < cf.lines[names[j]] })
	for _, k := range names {
		f, ok := keys[k]
		if !ok {
			return nil, fmt.Errorf("%s:%d: unknown setting %q%s", path, cf.lines[k], k, suggest(k, keys))
		}
		v, err := decodeSetting(md, raw[k], f)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", path, cf.lines[k], k, err)
		}
		cf.values[k] = v
	}
	return cf, nil
}

// decodeSetting reads one value as f's type wants it.
func decodeSetting(md toml.MetaData, p toml.Primitive, f cli.Flag) (any, error) {
	var want string
	switch f.(type) {
	case *cli.StringFlag:
		var s string
		if err := md.PrimitiveDecode(p, &s); err == nil {
			return s, nil
		}
		want = "a string"
	case *cli.BoolFlag:
		var b bool
		if err := md.PrimitiveDecode(p, &b); err == nil {
			return b, nil
		}
		want = "true or false"
	case *cli.IntFlag:
		var n int64
		if err := md.PrimitiveDecode(p, &n); err == nil {
			return n, nil
		}
		want = "an integer"
	case *cli.DurationFlag:
		var s string
		if err := md.PrimitiveDecode(p, &s); err == nil {
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration (want e.g. \"30s\", \"10m\", \"24h\")", s)
			}
			return d, nil
		}
		want = `a duration in quotes, e.g. "30s"`
	case *cli.StringSliceFlag:
		var l []string
		if err := md.PrimitiveDecode(p, &l); err == nil {
			return l, nil
		}
		var s string
		if err := md.PrimitiveDecode(p, &s); err == nil {
			return []string{s}, nil
		}
		want = `a list of strings, e.g. ["a", "b"]`
	default:
		return nil, fmt.Errorf("flag type %T cannot be set from the file", f)
	}
	return nil, fmt.Errorf("want %s", want)
}

// suggest names a known key close to a mistyped one.
func suggest(k string, keys map[string]cli.Flag) string {
	best, bestD := "", 3
	for name := range keys {
		d := editDistance(k, name)
		if len(name) >= 4 && (strings.HasPrefix(k, name) || strings.HasPrefix(name, k)) {
			d = min(d, 1) // "listen-addr" for "listen"
		}
		if d < bestD || d == bestD && best != "" && name < best {
			best, bestD = name, d
		}
	}
	if best == "" {
		return " (settings are the flags of \"wharf serve\" and the global flags, e.g. listen, data)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// secret says whether a setting's value must not be printed.
func secret(name string) bool {
	for _, w := range []string{"password", "secret", "token", "key"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// redactURLs masks the passwords of the URLs in s (one, or several
// separated by commas: --events nats://user:password@host:4222), as
// store.Redact does for --db.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = store.Redact(p)
	}
	return strings.Join(parts, ",")
}

// print writes the effective configuration of flags as TOML, each value
// followed by where it came from; secrets are masked, hidden flags shown
// only when set.
func (st *configState) print(w io.Writer, cx *cli.Context, flags []cli.Flag) error {
	var b strings.Builder
	b.WriteString("# wharf serve: effective configuration\n")
	if st.file != nil {
		fmt.Fprintf(&b, "# config file: %s\n", st.file.path)
	}
	for _, f := range flags {
		name := f.Names()[0]
		if !configurable(name) {
			continue
		}
		src := st.sources[name]
		if src == "" {
			src = fromDefault
		}
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() && src == fromDefault {
			continue
		}
		var v any
		switch f.(type) {
		case *cli.BoolFlag:
			v = cx.Bool(name)
		case *cli.IntFlag:
			v = cx.Int(name)
		case *cli.DurationFlag:
			v = cx.Duration(name).String()
		case *cli.StringSliceFlag:
			l := cx.StringSlice(name)
			if l == nil {
				l = []string{}
			}
			v = l
		default:
			v = cx.String(name)
		}
		if secret(name) {
			if s, _ := v.(string); s != "" {
				v = "********"
			}
		} else if s, ok := v.(string); ok {
			v = redactURLs(s)
		}
		var line bytes.Buffer
		if err := toml.NewEncoder(&line).Encode(map[string]any{name: v}); err != nil {
			return fmt.Errorf("print config: %s: %w", name, err)
		}
		comment := src
		switch {
		case src == fromEnv:
			if ef, ok := f.(interface{ GetEnvVars() []string }); ok && len(ef.GetEnvVars()) > 0 {
				comment = "environment " + ef.GetEnvVars()[0]
			}
		case src == fromFile:
			comment = fmt.Sprintf("%s line %d", fromFile, st.file.lines[name])
		}
		fmt.Fprintf(&b, "%-40s # %s\n", strings.TrimRight(line.String(), "\n"), comment)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// underSystemd says whether the process runs as a systemd service, whose
// output goes to the journal: JSON logs are the default there.
func underSystemd() bool {
	return os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != ""
}

// logJSON is whether to log JSON lines: --log-json (or its variable or the
// file) when given, else under systemd.
func logJSON(cx *cli.Context) bool {
	if cx.IsSet("log-json") {
		return cx.Bool("log-json")
	}
	return underSystemd()
}
