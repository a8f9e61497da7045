package cmd

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/client"
)

// Exit statuses of the client commands.
const (
	exitRejected    = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// exitf is an error that main turns into the exit status code.
func exitf(code int, format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), code)
}

func (c *commands) loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "sign in to a server and keep a session token for push and pull",
		ArgsUsage: "URL",
		Description: "On a terminal, asks for the user and the password (not echoed). Otherwise reads a user line\n" +
			"and a password line from standard input. The token is kept in " + "<config dir>/wharf/credentials.json (mode 0600).",
		Action: c.login,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Usage: "user name (default: asked, or the first line of standard input)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from one line of standard input, even on a terminal"},
			&cli.StringFlag{Name: "token", Usage: "keep this bearer token (from 'wharf token create') instead of signing in"},
		},
	}
}

func (c *commands) logoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "revoke the kept session token of a server and forget it",
		ArgsUsage: "[URL]",
		Action:    c.logout,
	}
}

// normURL is how a server URL is kept: scheme://host[:port], no slash.
func normURL(s string) (string, error) {
	cl, err := client.New(s, "")
	if err != nil {
		return "", err
	}
	return cl.Base(), nil
}

// session builds a client for server (may be "" when exactly one login is
// kept) with the token from --token / WHARF_TOKEN or credentials.json.
func (c *commands) session(server, token string) (*client.Client, error) {
	if server != "" {
		s, err := normURL(server)
		if err != nil {
			return nil, exitf(exitUsage, "%v", err)
		}
		server = s
	}
	if token == "" {
		cf, _, err := client.LoadCredentials()
		if err != nil {
			return nil, exitf(exitUsage, "%v", err)
		}
		cr, ok := cf.Find(server)
		switch {
		case !ok && server == "" && len(cf.Servers) > 1:
			return nil, exitf(exitUsage, "logged in to several servers: say which with --server")
		case !ok && server == "":
			return nil, exitf(exitUsage, "not logged in: run 'wharf login URL' (or give --token / WHARF_TOKEN and --server)")
		case !ok:
			return nil, exitf(exitUsage, "not logged in to %s: run 'wharf login %s'", server, server)
		}
		if !cr.ExpiresAt.IsZero() && time.Now().After(cr.ExpiresAt) {
			return nil, exitf(exitUsage, "the session for %s expired at %s: run 'wharf login %s'", cr.URL, cr.ExpiresAt.Format(time.RFC3339), cr.URL)
		}
		server, token = cr.URL, cr.Token
	}
	if server == "" {
		return nil, exitf(exitUsage, "--server is required with --token")
	}
	return client.New(server, token)
}

// readLine reads one line without its end; ctx cancellation (Ctrl-C) ends
// the wait even though the read cannot be interrupted.
func readLine(ctx context.Context, r *bufio.Reader) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) && s != "" {
			err = nil
		}
		ch <- res{strings.TrimRight(s, "\r\n"), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *commands) login(cx *cli.Context) error {
	if err := args(cx, "URL"); err != nil {
		return exitf(exitUsage, "%v", err)
	}
	server, err := normURL(cx.Args().First())
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	cf, credPath, err := client.LoadCredentials()
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	ctx := cx.Context
	cr := client.Credential{URL: server, User: cx.String("user")}
	if tok := cx.String("token"); tok != "" {
		cl, _ := client.New(server, tok)
		me, err := cl.Me(ctx)
		if err != nil {
			return exitf(exitUsage, "checking the token: %v", err)
		}
		cr.User, cr.Token = me.User, tok
	} else {
		user, pw, err := c.askCredentials(ctx, cr.User, cx.Bool("password-stdin"))
		if err != nil {
			return exitf(exitUsage, "%v", err)
		}
		cl, _ := client.New(server, "")
		t, err := cl.Login(ctx, user, pw)
		var se *client.StatusError
		if errors.As(err, &se) && se.Message != "" && (se.Status == http.StatusUnauthorized || se.Status == http.StatusTooManyRequests) {
			// "user name or password is wrong", as the server says it.
			return exitf(exitUsage, "login to %s: %s", server, se.Message)
		}
		if err != nil {
			return exitf(exitUsage, "%v", err)
		}
		cr.User, cr.Token, cr.ExpiresAt = cmp.Or(t.User, user), t.Token, t.ExpiresAt
	}
	cf.Put(cr)
	if err := cf.Save(credPath); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "logged in to %s as %s\n", server, cr.User)
	return nil
}

// askCredentials gets the user and password: prompts on a terminal (the
// password with echo off, through the termios ioctls of x/sys/unix), or one
// line each from standard input.
func (c *commands) askCredentials(ctx context.Context, user string, pwStdin bool) (string, string, error) {
	in := bufio.NewReader(c.stdin)
	f, _ := c.stdin.(*os.File)
	tty := f != nil && isTerminal(f)
	var err error
	if user == "" {
		if tty {
			fmt.Fprint(c.stderr, "User: ")
		}
		if user, err = readLine(ctx, in); err != nil {
			return "", "", fmt.Errorf("reading the user: %w", err)
		}
	}
	if user == "" {
		return "", "", errors.New("no user given")
	}
	if tty && !pwStdin {
		fmt.Fprint(c.stderr, "Password: ")
		restore, err := noEcho(f)
		if err != nil {
			return "", "", err
		}
		pw, err := readLine(ctx, in)
		restore()
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", "", fmt.Errorf("reading the password: %w", err)
		}
		return user, pw, nil
	}
	pw, err := readLine(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	return user, pw, nil
}

func (c *commands) logout(cx *cli.Context) error {
	if cx.NArg() > 1 {
		return exitf(exitUsage, "usage: wharf logout [URL]")
	}
	server := cx.Args().First()
	if server != "" {
		s, err := normURL(server)
		if err != nil {
			return exitf(exitUsage, "%v", err)
		}
		server = s
	}
	cf, credPath, err := client.LoadCredentials()
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	cr, ok := cf.Find(server)
	if !ok {
		return exitf(exitUsage, "not logged in to %s", cmp.Or(server, "any single server: give the URL"))
	}
	cl, err := client.New(cr.URL, cr.Token)
	if err != nil {
		return err
	}
	if err := cl.Logout(cx.Context); err != nil {
		// Forget it anyway: the user asked to be logged out here.
		fmt.Fprintf(c.stderr, "warning: the server did not revoke the token: %v\n", err)
	}
	kept := cf.Servers[:0]
	for _, e := range cf.Servers {
		if e.URL != cr.URL {
			kept = append(kept, e)
		}
	}
	cf.Servers = kept
	if err := cf.Save(credPath); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "logged out of %s\n", cr.URL)
	return nil
}
