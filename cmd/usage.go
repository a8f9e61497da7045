package cmd

// How the command line answers mistakes: an unknown command gets its name
// and a did-you-mean, a bad flag one line and a pointer to --help, "wharf
// help [COMMAND…]" the help. All of them exit with exitUsage (2). Which
// flags read the environment is decided here too (withEnv).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// withUsage gives the app and every command that has subcommands an
// action for a word that names no command, and every command a one-line
// answer to a flag it does not know. Bool flags do not print "(default:
// false)": their help says what they do, and a default said in the help
// text is said once. Call it last in New.
func withUsage(app *cli.App) {
	quiet := func(flags []cli.Flag) {
		for _, f := range flags {
			if bf, ok := f.(*cli.BoolFlag); ok {
				bf.DisableDefaultText = true
			}
		}
	}
	quiet(app.Flags)
	app.Action = func(cx *cli.Context) error {
		return parentAction(cx, app.Commands, nil)
	}
	app.OnUsageError = func(cx *cli.Context, err error, _ bool) error {
		return flagError(err, "wharf")
	}
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			full := append(slices.Clip(path), c.Name)
			quiet(c.Flags)
			c.OnUsageError = func(cx *cli.Context, err error, _ bool) error {
				return flagError(err, "wharf "+strings.Join(full, " "))
			}
			if len(c.Subcommands) > 0 && c.Action == nil {
				subs := c.Subcommands
				c.Action = func(cx *cli.Context) error { return parentAction(cx, subs, full) }
			}
			walk(full, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
}

// parentAction runs when a command with subcommands (or the app) is given
// no subcommand it knows: without arguments it shows the help, "help
// [WORDS…]" shows the help of the command WORDS name, anything else is an
// unknown command.
func parentAction(cx *cli.Context, cmds []*cli.Command, path []string) error {
	if cx.NArg() == 0 {
		if len(path) == 0 {
			return cli.ShowAppHelp(cx)
		}
		return cli.ShowSubcommandHelp(cx)
	}
	word := cx.Args().First()
	if word == "help" {
		// "wharf help user add" is "wharf user add --help".
		argv := append([]string{"wharf"}, path...)
		argv = append(append(argv, cx.Args().Tail()...), "--help")
		return cx.App.RunContext(cx.Context, argv)
	}
	where := "wharf"
	if len(path) > 0 {
		where += " " + strings.Join(path, " ")
	}
	return unknownCommand(word, where, cmds)
}

// unknownCommand is the error for word, which names none of cmds, the
// commands of where ("wharf", "wharf user").
func unknownCommand(word, where string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	msg := fmt.Sprintf("unknown command %q", word)
	if where != "wharf" {
		msg = fmt.Sprintf("unknown command %q for %q", word, where)
	}
	if s := closest(word, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", where+" "+s)
	} else {
		msg += fmt.Sprintf("; '%s --help' lists the commands", where)
	}
	return exitf(exitUsage, "%s", msg)
}

// flagError is the one line for a flag the command line could not read.
func flagError(err error, where string) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = fmt.Sprintf("unknown flag %s for %q", "--"+strings.TrimLeft(name, "-"), where)
	}
	return exitf(exitUsage, "%s (see '%s --help')", msg, where)
}

// closest is the name of names nearest to word, or "" when none is near
// enough to be what was meant.
func closest(word string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := editDistance(word, n)
		if len(n) >= 3 && len(word) >= 2 && strings.HasPrefix(n, word) {
			d = min(d, 1) // "comp" for "completion"
		}
		if d < bestD || d == bestD && best != "" && n < best {
			best, bestD = n, d
		}
	}
	if bestD > max(1, len(word)/3) && !strings.HasPrefix(best, word) {
		return ""
	}
	return best
}

// envVar is the environment variable of a setting: WHARF_<NAME>, dashes
// become underscores.
func envVar(name string) string {
	return "WHARF_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// withEnv decides which flags read the environment: the global flags
// (--data, --log-json, --log-level; --config is added with WHARF_CONFIG by
// withConfigFile) and the server's settings, the flags of serve, each as
// WHARF_<FLAG>; besides them only the credentials a script gives push and
// pull (WHARF_TOKEN, WHARF_SERVER). The options of every other command are
// flags only: an exported variable must not change what an unrelated
// command does ("WHARF_ADMIN=1" making every "user add" an admin).
func withEnv(app *cli.App) {
	addEnv := func(f cli.Flag, name string) {
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
	for _, f := range app.Flags {
		addEnv(f, envVar(f.Names()[0]))
	}
	for _, c := range app.Commands {
		switch c.Name {
		case "serve":
			for _, f := range c.Flags {
				addEnv(f, envVar(f.Names()[0]))
			}
		case "push", "pull":
			for _, f := range c.Flags {
				if n := f.Names()[0]; n == "token" || n == "server" {
					addEnv(f, envVar(n))
				}
			}
		}
	}
}

// EnvVars lists every environment variable the command line reads for its
// flags, with the flag: the list docs/configuration.md documents (a test
// compares them).
func EnvVars(app *cli.App) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, flags []cli.Flag, cmds []*cli.Command)
	walk = func(prefix string, flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			ef, ok := f.(interface{ GetEnvVars() []string })
			if !ok {
				continue
			}
			for _, e := range ef.GetEnvVars() {
				out[e] = strings.TrimSpace(prefix + " --" + f.Names()[0])
			}
		}
		for _, c := range cmds {
			walk(prefix+" "+c.Name, c.Flags, c.Subcommands)
		}
	}
	walk("", app.Flags, app.Commands)
	return out
}

// globalFlag is the global flag named name ("data", "log-level"…), or nil.
// help and version are urfave/cli's own, left where they are.
func globalFlag(app *cli.App, name string) cli.Flag {
	if name == "help" || name == "h" || name == "version" || name == "v" {
		return nil
	}
	for _, f := range app.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// flagName is the name of the flag token tok ("--data=x" -> "data").
func flagName(tok string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(tok, "-"), "=")
	return name
}
