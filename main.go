// Command wharf is a file server for small teams: WebDAV spaces, resumable
// tus uploads with in-process processing, and hand-off to Phraseanet. This
// file only turns the command line into configuration and calls server.Run or
// one of the store commands (commands.go); it is the only place that reads
// the environment or exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := newCLI(os.Stdin, os.Stdout, os.Stderr)
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wharf: "+oneLine(err))
		var ec cli.ExitCoder
		if errors.As(err, &ec) && ec.ExitCode() != 0 {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
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

// withEnv gives every flag of every command the environment variable
// WHARF_<FLAG> (dashes become underscores), so a flag can always be set from
// the environment instead.
func withEnv(flags []cli.Flag, cmds []*cli.Command) {
	for _, f := range flags {
		name := "WHARF_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = append(f.EnvVars, name)
		case *cli.BoolFlag:
			f.EnvVars = append(f.EnvVars, name)
		case *cli.DurationFlag:
			f.EnvVars = append(f.EnvVars, name)
		case *cli.IntFlag:
			f.EnvVars = append(f.EnvVars, name)
		case *cli.StringSliceFlag:
			f.EnvVars = append(f.EnvVars, name)
		default:
			panic(fmt.Sprintf("withEnv: flag type %T not handled", f))
		}
	}
	for _, c := range cmds {
		withEnv(c.Flags, c.Subcommands)
	}
}

// interspersed moves the flags given after a leaf command's arguments in
// front of them ("user add bob --admin" -> "user add --admin bob"), because
// urfave/cli v2 stops reading flags at the first argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	if args[len(args)-1] == completionFlag {
		return completionArgs(args) // shell completion: see commands_completion.go
	}
	out := []string{args[0]}
	rest := args[1:]
	flags, cmds := app.Flags, app.Commands
	for len(rest) > 0 {
		tok := rest[0]
		if strings.HasPrefix(tok, "-") && tok != "-" && tok != "--" {
			n := flagSpan(flags, rest)
			out = append(out, rest[:n]...)
			rest = rest[n:]
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
		flags, cmds = next.Flags, next.Subcommands
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
			n := flagSpan(flags, rest)
			out = append(out, rest[:n]...)
			rest = rest[n:]
		default:
			pos = append(pos, tok)
			rest = rest[1:]
		}
	}
	if len(pos) > 0 && pos[0] != "--" {
		out = append(out, "--")
	}
	return append(out, pos...)
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
