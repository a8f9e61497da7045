//go:build !windows

package cmd

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/server"
)

// runServer runs the server; on Windows (service_windows.go) it also runs
// under the service control manager. Here the service managers start wharf
// as a plain process (packaging/systemd, packaging/launchd) and stop it with
// SIGTERM, which main turns into the context's cancellation.
func runServer(cx *cli.Context, cfg server.Config) error {
	return server.Run(cx.Context, cfg)
}

// serviceCommand is "wharf service", which only Windows has: hidden here.
func (c *commands) serviceCommand() *cli.Command {
	return &cli.Command{
		Name:   "service",
		Usage:  "install or uninstall wharf as a Windows service",
		Hidden: true,
		Action: func(*cli.Context) error {
			return errors.New("wharf service is for Windows; see docs/install.md for systemd and launchd")
		},
	}
}
