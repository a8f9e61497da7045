package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/client"
)

func (c *commands) pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "upload files and folders to a space (resumable, checked first, verified after)",
		ArgsUsage: "PATH...",
		Description: "Checks everything first (readable, names valid on every desktop OS, space writable, quota)\n" +
			"and reports all problems at once; then uploads over tus, N files at a time, and verifies each\n" +
			"file's SHA-256 against the server's. Running the same command again resumes.\n" +
			"Exit status: 0 all done, 1 some files rejected or failed, 2 usage, login or precheck error, 130 interrupted.",
		Action: c.push,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "server URL (default: the one you logged in to)"},
			&cli.StringFlag{Name: "token", Usage: "bearer token (default: the one kept by 'wharf login')"},
			&cli.StringFlag{Name: "space", Usage: "space id (default: your only writable space)"},
			&cli.StringFlag{Name: "to", Usage: "folder of the space to upload into (default: its root)"},
			&cli.StringFlag{Name: "target", Usage: "Phraseanet target (id or name) to hand the files to when finalizing"},
			&cli.StringSliceFlag{Name: "form", Usage: "form field k=v for the target (repeatable)"},
			&cli.StringSliceFlag{Name: "meta", Usage: "metadata k=v for the uploads (repeatable)"},
			&cli.IntFlag{Name: "parallel", Usage: "files uploaded at a time", Value: 3},
			&cli.StringFlag{Name: "chunk-size", Usage: "bytes per PATCH, each with its own checksum", Value: "16M"},
			&cli.StringFlag{Name: "limit-rate", Usage: "most bytes per second over all files, e.g. 5M (default: no limit)"},
			&cli.BoolFlag{Name: "json", Usage: "progress and summary as JSON lines"},
		},
	}
}

// push reads push's flags and runs client.Push.
func (c *commands) push(cx *cli.Context) error {
	if cx.NArg() == 0 {
		return exitf(exitUsage, "usage: wharf push [flags] PATH...")
	}
	o := client.PushOptions{
		Paths:    cx.Args().Slice(),
		Space:    cx.String("space"),
		To:       cx.String("to"),
		Target:   cx.String("target"),
		Parallel: cx.Int("parallel"),
		Stdout:   c.stdout,
		Stderr:   c.stderr,
	}
	if o.Parallel < 1 || o.Parallel > 64 {
		return exitf(exitUsage, "--parallel %d: want 1 to 64", o.Parallel)
	}
	var err error
	if o.Chunk, err = parseSize(cx.String("chunk-size")); err != nil || o.Chunk < 1 {
		return exitf(exitUsage, "--chunk-size %q: want a size such as 16M", cx.String("chunk-size"))
	}
	if v := cx.String("limit-rate"); v != "" {
		if o.Rate, err = parseSize(v); err != nil || o.Rate < 1 {
			return exitf(exitUsage, "--limit-rate %q: want a size per second such as 5M", v)
		}
	}
	if o.Meta, err = keyValues("meta", cx.StringSlice("meta")); err != nil {
		return exitf(exitUsage, "%v", err)
	}
	if o.Form, err = keyValues("form", cx.StringSlice("form")); err != nil {
		return exitf(exitUsage, "%v", err)
	}
	if o.Form != nil && o.Target == "" {
		return exitf(exitUsage, "--form needs --target")
	}
	if o.Client, err = c.session(cx.String("server"), cx.String("token")); err != nil {
		return err
	}
	out, _ := c.stdout.(*os.File)
	switch {
	case cx.Bool("json"):
		o.Progress = client.ProgressJSON
	case out != nil && isTerminal(out):
		o.Progress = client.ProgressTTY
	default:
		o.Progress = client.ProgressPlain
	}
	return runExit(client.Push(cx.Context, o))
}

// keyValues parses repeated k=v flags.
func keyValues(flag string, vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want key=value", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// runExit gives a client.RunError of Push or Pull its exit status: 1 for
// files rejected or failed, 2 for a precheck problem, 130 for an
// interruption. Other errors exit 1.
func runExit(err error) error {
	var re *client.RunError
	if !errors.As(err, &re) {
		return err
	}
	code := exitRejected
	switch re.Kind {
	case client.RunPrecheck:
		code = exitUsage
	case client.RunInterrupted:
		code = exitInterrupted
	}
	return exitf(code, "%s", re.Msg)
}
