package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/server/tlsconf"
)

// caCommand is "wharf ca": the local CA of --tls internal.
func (c *commands) caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "the local certificate authority of --tls internal",
		Subcommands: []*cli.Command{
			{
				Name: "export",
				Usage: "print the CA certificate (PEM) to install on clients, and its SHA-256 fingerprint on stderr; " +
					"the CA is created if the server has not yet",
				Action: c.caExport,
			},
		},
	}
}

func (c *commands) caExport(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	data := cx.String("data")
	if fi, err := os.Stat(data); err != nil || !fi.IsDir() {
		return fmt.Errorf("no data directory at %s (wrong --data, or the server never ran)", data)
	}
	certs := filepath.Join(data, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return err
	}
	ca, err := tlsconf.LoadOrCreateCA(filepath.Join(certs, "ca"), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Wharf local CA, valid until %s\nSHA-256 fingerprint: %s\n",
		ca.Certificate().NotAfter.Format(time.DateOnly), ca.Fingerprint())
	_, err = c.stdout.Write(ca.PEM())
	return err
}
