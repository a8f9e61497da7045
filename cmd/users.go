package cmd

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wharfhq/wharf/auth"
)

// userCommand is "wharf user": the user accounts.
func (c *commands) userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage user accounts",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "create a user", ArgsUsage: "NAME", Action: c.userAdd, Flags: []cli.Flag{
				&cli.BoolFlag{Name: "admin", Usage: "make the user an instance admin"},
				&cli.StringFlag{Name: "email", Usage: "the user's e-mail address, sent to Phraseanet with the commits they publish"},
				&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from one line of standard input (default: generate and print one)"},
			}},
			{Name: "passwd", Usage: "set a user's password", ArgsUsage: "NAME", Action: c.userPasswd, Flags: []cli.Flag{
				&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from one line of standard input (default: generate and print one)"},
			}},
			{Name: "list", Usage: "list users", Action: c.userList},
			{Name: "email", Usage: "set a user's e-mail address (\"\" for none)", ArgsUsage: "NAME ADDRESS", Action: c.userEmail},
			{Name: "remove", Usage: "delete a user and their credentials", ArgsUsage: "NAME", Action: c.userRemove},
		},
	}
}

// apppassCommand is "wharf apppass": app passwords for WebDAV clients.
func (c *commands) apppassCommand() *cli.Command {
	return &cli.Command{
		Name:  "apppass",
		Usage: "manage app passwords (one per device, for WebDAV clients)",
		Subcommands: []*cli.Command{
			{Name: "create", Usage: "create an app password and print it (shown once)", ArgsUsage: "USER", Action: c.apppassCreate, Flags: []cli.Flag{
				&cli.StringFlag{Name: "label", Usage: "what the password is for, e.g. the device (default: generated)"},
			}},
			{Name: "list", Usage: "list a user's app passwords", ArgsUsage: "USER", Action: c.apppassList},
			{Name: "revoke", Usage: "revoke an app password", ArgsUsage: "USER ID-OR-LABEL", Action: c.apppassRevoke},
		},
	}
}

func (c *commands) userAdd(cx *cli.Context) error {
	if err := args(cx, "NAME"); err != nil {
		return err
	}
	email, err := auth.CheckEmail(cx.String("email"))
	if err != nil {
		return fmt.Errorf("--email: %w", err)
	}
	pw, generated, err := c.password(cx)
	if err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.Auth.AddUser(cx.Context, cx.Args().First(), pw, cx.Bool("admin"))
	if err != nil {
		return err
	}
	if email != "" {
		if err := s.Auth.SetEmail(cx.Context, u.Name, email); err != nil {
			return err
		}
	}
	if generated {
		fmt.Fprintf(c.stderr, "created user %q; password (shown once):\n", u.Name)
		fmt.Fprintln(c.stdout, pw)
	}
	return nil
}

func (c *commands) userPasswd(cx *cli.Context) error {
	if err := args(cx, "NAME"); err != nil {
		return err
	}
	pw, generated, err := c.password(cx)
	if err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Auth.SetPassword(cx.Context, cx.Args().First(), pw); err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(c.stderr, "new password for %q (shown once):\n", cx.Args().First())
		fmt.Fprintln(c.stdout, pw)
	}
	return nil
}

func (c *commands) userEmail(cx *cli.Context) error {
	if err := args(cx, "NAME", "ADDRESS"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Auth.SetEmail(cx.Context, cx.Args().Get(0), cx.Args().Get(1))
}

func (c *commands) userList(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	users, err := s.Auth.Users(cx.Context)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADMIN\tCREATED\tEMAIL")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, yesNo(u.Admin), u.CreatedAt.Local().Format(time.DateTime), u.Email)
	}
	return tw.Flush()
}

func (c *commands) userRemove(cx *cli.Context) error {
	if err := args(cx, "NAME"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Auth.RemoveUser(cx.Context, cx.Args().First())
}

func (c *commands) apppassCreate(cx *cli.Context) error {
	if err := args(cx, "USER"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	ap, secret, err := s.Auth.CreateAppPassword(cx.Context, cx.Args().First(), cx.String("label"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "app password %d (%s) for %q, shown once:\n", ap.ID, ap.Label, cx.Args().First())
	fmt.Fprintln(c.stdout, secret)
	return nil
}

func (c *commands) apppassList(cx *cli.Context) error {
	if err := args(cx, "USER"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	aps, err := s.Auth.AppPasswords(cx.Context, cx.Args().First())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	// Uses are recorded at most once a minute (auth's touchEvery): the
	// column says so rather than look exact.
	fmt.Fprintln(tw, "ID\tLABEL\tCREATED\tLAST USED (±1 MIN)")
	for _, ap := range aps {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", ap.ID, ap.Label, ap.CreatedAt.Local().Format(time.DateTime), when(ap.LastUsedAt))
	}
	return tw.Flush()
}

func (c *commands) apppassRevoke(cx *cli.Context) error {
	if err := args(cx, "USER", "ID-OR-LABEL"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Auth.RevokeAppPassword(cx.Context, cx.Args().Get(0), cx.Args().Get(1))
}
