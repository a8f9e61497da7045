package cmd

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/auth"
)

// tokenCommand is "wharf token": bearer tokens for scripts.
func (c *commands) tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "manage bearer tokens for scripts",
		Subcommands: []*cli.Command{
			{Name: "create", Usage: "create a token and print it (shown once)", ArgsUsage: "USER", Action: c.tokenCreate, Flags: []cli.Flag{
				&cli.StringFlag{Name: "label", Usage: "what the token is for"},
				&cli.StringSliceFlag{Name: "scope", Usage: "restrict the token to read, write (includes read), account or admin (repeatable; docs/api.md)"},
				&cli.DurationFlag{Name: "ttl", Usage: "lifetime, e.g. 720h", DefaultText: "no expiry"},
			}},
			{Name: "list", Usage: "list a user's tokens", ArgsUsage: "USER", Action: c.tokenList},
			{Name: "revoke", Usage: "revoke a token", ArgsUsage: "ID", Action: c.tokenRevoke},
		},
	}
}

func (c *commands) tokenCreate(cx *cli.Context) error {
	if err := args(cx, "USER"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	tok, secret, err := s.Auth.CreateToken(cx.Context, cx.Args().First(), auth.TokenOptions{
		Kind:   "api",
		Label:  cx.String("label"),
		Scopes: cx.StringSlice("scope"),
		TTL:    cx.Duration("ttl"),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "token %s for %q, shown once:\n", tok.ID, cx.Args().First())
	fmt.Fprintln(c.stdout, secret)
	return nil
}

func (c *commands) tokenList(cx *cli.Context) error {
	if err := args(cx, "USER"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	toks, err := s.Auth.Tokens(cx.Context, cx.Args().First())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tLABEL\tSCOPES\tEXPIRES\tLAST USED (±1 MIN)")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Label, strings.Join(t.Scopes, " "), when(t.ExpiresAt), when(t.LastUsedAt))
	}
	return tw.Flush()
}

func (c *commands) tokenRevoke(cx *cli.Context) error {
	if err := args(cx, "ID"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Auth.RevokeToken(cx.Context, cx.Args().First())
}
