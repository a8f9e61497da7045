package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// CheckLine checks a command line as the documentation shows it (words
// after "wharf", already split as the shell would) against the command
// tree, without running anything: every command word must name a command,
// every flag must exist where it is given (a global flag anywhere, as Args
// allows), and a flag that takes a value must have one. Arguments are not
// counted. The tests of the documentation use it on every "wharf …" line.
func CheckLine(app *cli.App, words []string) error {
	argv := Args(app, append([]string{"wharf"}, words...))[1:]
	flags, cmds := app.Flags, app.Commands
	path := "wharf"
	for i := 0; i < len(argv); i++ {
		tok := argv[i]
		switch {
		case tok == "--":
			if len(cmds) > 0 && i+1 < len(argv) && argv[i+1] != "help" {
				return fmt.Errorf("%s has no command %q", path, argv[i+1])
			}
			return nil
		case strings.HasPrefix(tok, "-") && tok != "-":
			name := flagName(tok)
			if name == "help" || name == "h" || path == "wharf" && (name == "version" || name == "v") {
				continue
			}
			var f cli.Flag
			for _, cand := range flags {
				if slices.Contains(cand.Names(), name) {
					f = cand
				}
			}
			if f == nil {
				return fmt.Errorf("%s has no flag --%s", path, name)
			}
			if _, isBool := f.(*cli.BoolFlag); isBool || strings.Contains(tok, "=") {
				continue
			}
			if i+1 >= len(argv) || argv[i+1] == "--" {
				return fmt.Errorf("%s --%s needs a value", path, name)
			}
			i++
		case len(cmds) > 0:
			if tok == "help" {
				return nil
			}
			var next *cli.Command
			for _, c := range cmds {
				if c.HasName(tok) {
					next = c
				}
			}
			if next == nil {
				return fmt.Errorf("%s has no command %q", path, tok)
			}
			path += " " + next.Name
			flags, cmds = next.Flags, next.Subcommands
		}
	}
	return nil
}
