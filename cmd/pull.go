package cmd

import (
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/client"
)

func (c *commands) pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a file or folder of a space (resumable, verified)",
		ArgsUsage: "URL DEST",
		Description: "URL is the server and the WebDAV path: https://host/dav/spaces/<id>/<path>. A file is written\n" +
			"to DEST.part, resumed with a Range request after an interruption, checked against the server's\n" +
			"SHA-256 (oc:checksums) and renamed to DEST. A folder is pulled into DEST, recursively.",
		Action: c.pull,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "token", Usage: "bearer token (default: the one kept by 'wharf login' for the URL's server)"},
			&cli.StringFlag{Name: "limit-rate", Usage: "most bytes per second, e.g. 5M (default: no limit)"},
		},
	}
}

// pull reads pull's arguments and flags and runs client.Pull.
func (c *commands) pull(cx *cli.Context) error {
	if err := args(cx, "URL", "DEST"); err != nil {
		return exitf(exitUsage, "%v", err)
	}
	u, err := url.Parse(cx.Args().Get(0))
	if err != nil || u.Host == "" || !strings.HasPrefix(u.Path, "/dav/spaces/") {
		return exitf(exitUsage, "URL %q: want http(s)://host/dav/spaces/<id>/<path>", cx.Args().Get(0))
	}
	o := client.PullOptions{URL: u, Dest: cx.Args().Get(1), Stdout: c.stdout, Stderr: c.stderr}
	if v := cx.String("limit-rate"); v != "" {
		if o.Rate, err = parseSize(v); err != nil || o.Rate < 1 {
			return exitf(exitUsage, "--limit-rate %q: want a size per second such as 5M", v)
		}
	}
	if o.Client, err = c.session(u.Scheme+"://"+u.Host, cx.String("token")); err != nil {
		return err
	}
	return runExit(client.Pull(cx.Context, o))
}
