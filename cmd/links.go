package cmd

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/links"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// linkCommand is "wharf link": share links.
func (c *commands) linkCommand() *cli.Command {
	return &cli.Command{
		Name:  "link",
		Usage: "manage share links (a file or folder for anyone holding the URL; see docs/links.md)",
		Subcommands: []*cli.Command{
			{Name: "create", Usage: "make a link to a file or folder and print its URL (last line)", ArgsUsage: "SPACE PATH", Action: c.linkCreate, Flags: []cli.Flag{
				&cli.BoolFlag{Name: "upload-only", Usage: "a drop link: people upload into the folder and see nothing of it"},
				&cli.StringFlag{Name: "expires", Usage: "lifetime, e.g. 36h or 7d (default: never)"},
				&cli.BoolFlag{Name: "password-stdin", Usage: "protect the link with a password read from standard input"},
				&cli.StringFlag{Name: "label", Usage: "what the link is for (shown on its page)"},
				&cli.IntFlag{Name: "max-downloads", Usage: "most downloads (files and zips) the link serves", DefaultText: "no limit"},
				&cli.IntFlag{Name: "max-uploads", Usage: "most uploads a drop link accepts", DefaultText: "no limit"},
				&cli.StringFlag{Name: "user", Usage: "the user the link is made for, who needs the role (default: the first administrator)"},
				&cli.StringFlag{Name: "public-url", Usage: "URL people reach this server at (default: the one the server recorded at its last start, else from --listen)"},
				&cli.StringFlag{Name: "listen", Usage: "the server's --listen, for the URL without --public-url", Value: "127.0.0.1:8080"},
				&cli.StringFlag{Name: "tls", Usage: "the server's --tls, for the URL without --public-url"},
			}},
			{Name: "list", Usage: "list links (of one space)", ArgsUsage: "[SPACE]", Action: c.linkList},
			{Name: "revoke", Usage: "delete a link: its URL stops working", ArgsUsage: "ID-OR-URL", Action: c.linkRevoke},
		},
	}
}

// linkBase is the URL links start with: --public-url; else, when neither
// --listen nor --tls is given, recorded (the URL the server recorded when it
// last started on this data directory, "" if it never ran); else the URL
// the server gives itself from --listen and --tls (as "wharf serve" does:
// HTTPS unless --tls off, or a loopback --listen without --tls).
func linkBase(cx *cli.Context, recorded string) (string, error) {
	if pu := cx.String("public-url"); pu != "" {
		if !strings.HasPrefix(pu, "http://") && !strings.HasPrefix(pu, "https://") {
			return "", fmt.Errorf("--public-url %q: want http(s)://host[:port]", pu)
		}
		return strings.TrimSuffix(pu, "/"), nil
	}
	if recorded != "" && !cx.IsSet("listen") && !cx.IsSet("tls") {
		return strings.TrimSuffix(recorded, "/"), nil
	}
	listen := cx.String("listen")
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	scheme := "https"
	ip := net.ParseIP(host)
	switch t := cx.String("tls"); {
	case t == "off", t == "" && (host == "localhost" || ip != nil && ip.IsLoopback()):
		scheme = "http"
	}
	if ip != nil && ip.IsUnspecified() {
		return "", errors.New("--listen is a wildcard address: give --public-url (or WHARF_PUBLIC_URL) for the link's URL")
	}
	return scheme + "://" + listen, nil
}

// cliPrincipal is the user a store command acts as: --user, else the
// first administrator.
func cliPrincipal(cx *cli.Context, a *auth.Service) (*auth.Principal, error) {
	if name := cx.String("user"); name != "" {
		u, err := a.User(cx.Context, name)
		if err != nil {
			return nil, err
		}
		return &auth.Principal{User: u}, nil
	}
	us, err := a.Users(cx.Context)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if u.Admin {
			return &auth.Principal{User: u}, nil
		}
	}
	return nil, errors.New("no administrator: give --user")
}

func (c *commands) linkCreate(cx *cli.Context) error {
	if err := args(cx, "SPACE", "PATH"); err != nil {
		return err
	}
	var err error
	o := auth.LinkOptions{SpaceID: cx.Args().Get(0), Kind: store.LinkRead, Label: cx.String("label"),
		MaxDownloads: int64(cx.Int("max-downloads")), MaxUploads: int64(cx.Int("max-uploads"))}
	if o.Path, err = space.Clean(cx.Args().Get(1)); err != nil {
		return fmt.Errorf("PATH: %w", err)
	}
	if cx.Bool("upload-only") {
		o.Kind = store.LinkUpload
	}
	if e := cx.String("expires"); e != "" {
		if o.TTL, err = links.ParseDuration(e); err != nil {
			return fmt.Errorf("--expires %q: %w", e, err)
		}
	}
	if cx.Bool("password-stdin") {
		if o.Password, _, err = c.password(cx); err != nil {
			return err
		}
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	recorded, err := s.PublicURL(cx.Context)
	if err != nil {
		return err
	}
	base, err := linkBase(cx, recorded)
	if err != nil {
		return err
	}
	p, err := cliPrincipal(cx, s.Auth)
	if err != nil {
		return err
	}
	l, secret, err := s.Auth.CreateLink(cx.Context, p, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "link %s: %s of %s/%s, made for %s\n", l.ID, describeKind(l), l.SpaceID, l.Path, l.Creator)
	fmt.Fprintln(c.stdout, links.URL(base, secret))
	return nil
}

func describeKind(l store.Link) string {
	if l.Kind == store.LinkUpload {
		return "upload-only (drop)"
	}
	return "read-only"
}

func (c *commands) linkList(cx *cli.Context) error {
	if cx.NArg() > 1 {
		return errors.New("usage: wharf link list [SPACE]")
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	ls, err := s.DB.Links(cx.Context, cx.Args().First(), 0)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSPACE\tPATH\tKIND\tCREATOR\tEXPIRES\tPASSWORD\tDOWNLOADS\tUPLOADS\tLABEL")
	for _, l := range ls {
		expires := "never"
		if !l.ExpiresAt.IsZero() {
			expires = when(l.ExpiresAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.SpaceID, l.Path, l.Kind, l.Creator, expires,
			yesNo(l.PasswordHash != ""), used(l.Downloads, l.MaxDownloads), used(l.Uploads, l.MaxUploads), l.Label)
	}
	return tw.Flush()
}

func used(n, limit int64) string {
	if limit == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", n, limit)
}

func (c *commands) linkRevoke(cx *cli.Context) error {
	if err := args(cx, "ID-OR-URL"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	p, err := cliPrincipal(cx, s.Auth)
	if err != nil {
		return err
	}
	// The command line acts for the instance: as an administrator, it
	// may revoke any link.
	p.User.Admin = true
	l, err := s.Auth.RevokeLink(cx.Context, p, cx.Args().First())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "link %s revoked\n", l.ID)
	return nil
}
