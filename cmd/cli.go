// Package cmd is wharf's command line: it builds the command tree and turns
// the flags, the WHARF_* environment variables and the configuration file
// into configuration and calls. It imports server (serve, and the store
// commands' services), auth, phraseanet, postproc and store (users, tokens,
// targets, space policies), server/tlsconf (the local CA), ops (backup,
// restore, check) and client (login, push, pull); nothing of Wharf but main
// and the packaging tests imports it. It does not exit: main turns the error
// of New's app into the exit status (ExitCode).
package cmd

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/server"
)

// New builds the command tree. version is what "wharf version" prints;
// stdin, stdout and stderr are parameters so that tests can drive it. Run
// the app with the arguments Args returns.
func New(version string, stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	c := &commands{version: version, stdin: stdin, stdout: stdout, stderr: stderr}
	app := &cli.App{
		Name:                 "wharf",
		Usage:                "a file server for small teams: WebDAV, resumable uploads, Phraseanet hand-off",
		Version:              version,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main prints errors, once
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "data directory", Value: defaultDataDir()},
			&cli.StringFlag{Name: "db", Usage: "PostgreSQL database for the metadata, postgres://user:password@host/name (default: SQLite, <data>/wharf.db)"},
			&cli.StringFlag{Name: "blobs", Usage: "S3 bucket for the file contents, s3://BUCKET[/PREFIX]?endpoint=URL&region=R (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; default: files under <data>/spaces)"},
			&cli.BoolFlag{Name: "log-json", Usage: "log as JSON lines instead of text"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
		},
		Commands: []*cli.Command{
			c.serveCommand(),   // serve.go
			c.caCommand(),      // ca.go
			c.userCommand(),    // users.go
			c.apppassCommand(), // users.go
			c.spaceCommand(),   // spaces.go, policy.go
			c.tokenCommand(),   // tokens.go
			c.targetCommand(),  // targets.go
			c.linkCommand(),    // links.go
			c.loginCommand(),   // login.go
			c.logoutCommand(),
			c.trashCommand(), c.versionsCommand(), // trash.go
			c.pushCommand(),   // push.go
			c.pullCommand(),   // pull.go
			c.backupCommand(), // ops.go
			c.restoreCommand(),
			c.checkCommand(),
			c.completionCommand(), c.manCommand(), c.serviceCommand(), // completion.go, service_*.go
			c.versionCommand(),
		},
	}
	withEnv(app)                // usage.go
	withConfigFile(app, stdout) // config.go
	withUsage(app)              // usage.go
	return app
}

// OneLine is err's message on one line, as main prints it.
func OneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// ExitCode is the exit status for the error the app returned: the code of
// a cli.ExitCoder (exitf), else 1; 0 for nil.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return 1
}

type commands struct {
	version        string
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (c *commands) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(*cli.Context) error {
			fmt.Fprintln(c.stdout, "wharf", c.version)
			return nil
		},
	}
}

func (c *commands) logger(cx *cli.Context) (*slog.Logger, error) {
	return newLogger(c.stderr, logJSON(cx), cx.String("log-level"))
}

// open opens the existing data directory for a store command.
func (c *commands) open(cx *cli.Context) (*server.Services, error) {
	log, err := c.logger(cx)
	if err != nil {
		return nil, err
	}
	return server.OpenDB(cx.Context, cx.String("data"), server.Locations{DB: cx.String("db"), Blobs: cx.String("blobs")}, false, log)
}

// args checks the number of positional arguments against the names given.
func args(cx *cli.Context, names ...string) error {
	if cx.NArg() == len(names) {
		return nil
	}
	if len(names) == 0 {
		return exitf(exitUsage, "%s takes no arguments (got %q)", cx.Command.HelpName, cx.Args().Slice())
	}
	return exitf(exitUsage, "usage: %s %s", cx.Command.HelpName, strings.Join(names, " "))
}

// password reads one line from stdin with --password-stdin, or makes up a
// strong password and reports that it did.
func (c *commands) password(cx *cli.Context) (pw string, generated bool, err error) {
	if !cx.Bool("password-stdin") {
		return rand.Text(), true, nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", false, errors.New("--password-stdin: standard input is empty")
		}
		return "", false, fmt.Errorf("--password-stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

// defaultDataDir is where data lives without --data / WHARF_DATA: systemd's
// StateDirectory, else the user's data directory.
func defaultDataDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return first
	}
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "Wharf")
		}
	case "darwin":
		if home != "" {
			return filepath.Join(home, "Library", "Application Support", "Wharf")
		}
	default:
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "wharf")
		}
		if home != "" {
			return filepath.Join(home, ".local", "share", "wharf")
		}
	}
	return "wharf-data"
}

// newLogger builds the one slog logger: text for people, JSON for machines.
func newLogger(w io.Writer, jsonOut bool, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if jsonOut {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// Args is what to run app with for the command line args (os.Args): the
// flags given after a leaf command's arguments move in front of them ("user
// add bob --admin" -> "user add --admin bob"), because urfave/cli v2 stops
// reading flags at the first argument; and a global flag given after the
// command moves in front of it ("restore DIR --data NEW" -> "--data NEW
// restore DIR"), because urfave/cli reads a flag only at the level that
// defines it. A command's own flag never has a global flag's name (a test
// checks), so where a flag goes is never ambiguous.
func Args(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	if args[len(args)-1] == completionFlag {
		return completionArgs(args) // shell completion: see completion.go
	}
	var globals, out []string
	rest := args[1:]
	flags, cmds := app.Flags, app.Commands
	root := true
	// takeFlag moves the flag at rest[0] (and its value) to out, or to
	// globals when it is a global flag given after the command.
	takeFlag := func() {
		if !root && globalFlag(app, flagName(rest[0])) != nil && !hasFlag(flags, flagName(rest[0])) {
			n := flagSpan(app.Flags, rest)
			globals = append(globals, rest[:n]...)
			rest = rest[n:]
			return
		}
		n := flagSpan(flags, rest)
		out = append(out, rest[:n]...)
		rest = rest[n:]
	}
	for len(rest) > 0 {
		tok := rest[0]
		if strings.HasPrefix(tok, "-") && tok != "-" && tok != "--" {
			takeFlag()
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(tok) {
				next = c
			}
		}
		if next == nil {
			break
		}
		out = append(out, tok)
		rest = rest[1:]
		flags, cmds, root = next.Flags, next.Subcommands, false
		if len(cmds) == 0 {
			break
		}
	}
	var pos []string
	for len(rest) > 0 {
		tok := rest[0]
		switch {
		case tok == "--":
			pos = append(pos, rest...)
			rest = nil
		case strings.HasPrefix(tok, "-") && tok != "-":
			takeFlag()
		default:
			pos = append(pos, tok)
			rest = rest[1:]
		}
	}
	if len(pos) > 0 && pos[0] != "--" {
		out = append(out, "--")
	}
	res := append([]string{args[0]}, globals...)
	res = append(res, out...)
	return append(res, pos...)
}

// hasFlag reports whether flags has one named name.
func hasFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// flagSpan is how many tokens the flag at args[0] takes: 2 for "--name value"
// of a flag that takes a value, else 1.
func flagSpan(flags []cli.Flag, args []string) int {
	name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
	if hasValue || len(args) < 2 {
		return 1
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return 1
			}
			return 2
		}
	}
	return 1
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

// parseSize reads a size like 1048576, 500K, 20G, 1.5T or 20GiB. K, M, G, T
// (with or without B, iB) are powers of 1024: what a quota user means.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGTP", t[n-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (examples: 500M, 20G, 1T)", s)
	}
	return int64(f * float64(mult)), nil
}

func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
