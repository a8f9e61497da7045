// Command wharf is a file server for small teams: WebDAV spaces, resumable
// tus uploads with in-process processing, and hand-off to Phraseanet. This
// file only runs the command line of package cmd (which turns flags, the
// environment and the configuration file into configuration and calls) and
// turns its error into the exit status: it is the only place that exits.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharfhq/wharf/cmd"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	startProfiling()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := cmd.New(version, os.Stdin, os.Stdout, os.Stderr)
	err := app.RunContext(ctx, cmd.Args(app, os.Args))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wharf: "+cmd.OneLine(err))
		os.Exit(cmd.ExitCode(err))
	}
}
