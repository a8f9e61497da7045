package cmd

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// credential is one server's entry in credentials.json.
type credential struct {
	URL       string    `json:"url"`
	User      string    `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

type credentialFile struct {
	Servers []credential `json:"servers"`
}

func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	return filepath.Join(dir, "wharf", "credentials.json"), nil
}

func loadCredentials() (credentialFile, string, error) {
	p, err := credentialsPath()
	if err != nil {
		return credentialFile{}, "", err
	}
	var cf credentialFile
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return cf, p, nil
	}
	if err != nil {
		return cf, p, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		return cf, p, fmt.Errorf("credentials: %s is not valid JSON (%v); remove it and log in again", p, err)
	}
	return cf, p, nil
}

// writeFileAtomic replaces p with data: a temporary file in the same
// directory, fsynced, renamed over p, and the directory fsynced, so a crash
// leaves the old or the new content, never a mix.
func writeFileAtomic(p string, data []byte, dirMode, mode os.FileMode) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (cf credentialFile) save(p string) error {
	b, _ := json.MarshalIndent(cf, "", "  ")
	if err := writeFileAtomic(p, append(b, '\n'), 0o700, 0o600); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

func (cf *credentialFile) put(cr credential) {
	for i, e := range cf.Servers {
		if e.URL == cr.URL {
			cf.Servers[i] = cr
			return
		}
	}
	cf.Servers = append(cf.Servers, cr)
}

// find is the entry of server, or with server "", the only entry.
func (cf credentialFile) find(server string) (credential, bool) {
	if server == "" {
		if len(cf.Servers) == 1 {
			return cf.Servers[0], true
		}
		return credential{}, false
	}
	for _, e := range cf.Servers {
		if e.URL == server {
			return e, true
		}
	}
	return credential{}, false
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
		cf, _, err := loadCredentials()
		if err != nil {
			return nil, exitf(exitUsage, "%v", err)
		}
		cr, ok := cf.find(server)
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
	cf, credPath, err := loadCredentials()
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	ctx := cx.Context
	cr := credential{URL: server, User: cx.String("user")}
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
		if err != nil {
			return exitf(exitUsage, "%v", err)
		}
		cr.User, cr.Token, cr.ExpiresAt = cmp.Or(t.User, user), t.Token, t.ExpiresAt
	}
	cf.put(cr)
	if err := cf.save(credPath); err != nil {
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
	cf, credPath, err := loadCredentials()
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	cr, ok := cf.find(server)
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
	if err := cf.save(credPath); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "logged out of %s\n", cr.URL)
	return nil
}
