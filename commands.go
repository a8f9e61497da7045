package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/server"
	"github.com/wharfhq/wharf/server/tlsconf"
)

// newCLI builds the command tree. stdin, stdout and stderr are parameters so
// that tests can drive it.
func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	c := &commands{stdin: stdin, stdout: stdout, stderr: stderr}
	dataFlag := &cli.StringFlag{Name: "data", Usage: "data directory", Value: defaultDataDir()}
	app := &cli.App{
		Name:                 "wharf",
		Usage:                "a file server for small teams: WebDAV, resumable uploads, Phraseanet hand-off",
		Version:              version,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main prints errors, once
		Flags: []cli.Flag{
			dataFlag,
			&cli.BoolFlag{Name: "log-json", Usage: "log as JSON lines instead of text"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
		},
		Commands: []*cli.Command{
			{
				Name:   "serve",
				Usage:  "run the server",
				Action: c.serve,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080"},
					&cli.StringFlag{Name: "public-url", Usage: "URL users reach this server at (default: from --listen)"},
					&cli.StringFlag{Name: "admin-password", Usage: "password of the admin user created on first start (default: random, printed once)"},
					&cli.DurationFlag{Name: "shutdown-timeout", Usage: "how long running requests may finish on shutdown", Value: 30 * time.Second},
					&cli.BoolFlag{Name: "dav-allow-infinity", Usage: "let WebDAV PROPFIND walk whole trees (Depth: infinity)"},
					&cli.StringFlag{Name: "max-upload-size", Usage: "largest upload accepted, e.g. 20G (default: no limit beyond quotas)"},
					&cli.DurationFlag{Name: "upload-expiry", Usage: "how long an unfinished tus upload is kept after its last chunk", Value: 24 * time.Hour},
					&cli.DurationFlag{Name: "processing-wait", Usage: "how long the request that completes an upload waits for processing before answering 202", Value: 10 * time.Minute},
					&cli.IntFlag{Name: "max-uploads-per-user", Usage: "uploads one user may have in flight at once (PUT, PATCH, POST with a body); more get 429, -1: no cap", Value: 16},
					&cli.DurationFlag{Name: "body-timeout", Usage: "window in which a request body must make progress (16 KiB) or be cut", Value: 60 * time.Second, Hidden: true},
					&cli.StringFlag{Name: "clamd", Usage: "clamd socket for virus scans: unix:/run/clamav/clamd.ctl or tcp:127.0.0.1:3310 (default: no scan)"},
					&cli.StringFlag{Name: "reject", Usage: "what to do with a rejected upload's bytes: quarantine or delete", Value: "quarantine"},
					&cli.StringFlag{Name: "tls", Usage: "HTTPS: off, internal (a local CA; see wharf ca export) or acme (Let's Encrypt) (default: off on a loopback --listen, internal otherwise)"},
					&cli.StringSliceFlag{Name: "domain", Usage: "name the certificate is for (repeatable or comma-separated; --tls acme needs one)"},
					&cli.StringFlag{Name: "acme-ca", Usage: "ACME directory URL", Value: tlsconf.LetsEncrypt},
					&cli.StringFlag{Name: "acme-email", Usage: "contact address for the ACME account (expiry and problem notices)"},
					&cli.StringSliceFlag{Name: "acme-challenges", Usage: "ACME challenge types to use: http-01, tls-alpn-01 (default: both)", Hidden: true},
					&cli.StringFlag{Name: "acme-ca-root", Usage: "PEM file of extra roots trusted for the ACME directory's HTTPS (test CAs)", Hidden: true},
					&cli.DurationFlag{Name: "push-doubt-hold", Usage: "how long a commit whose push may have reached Phraseanet is held back before it is sent again", Value: 2 * time.Minute, Hidden: true},
					&cli.StringFlag{Name: "metrics-listen", Usage: "also serve /metrics here, without authentication, for a local Prometheus, e.g. 127.0.0.1:9090 (default: /metrics only for instance admins on --listen)"},
					&cli.StringFlag{Name: "http-listen", Usage: "with TLS on, plain-HTTP address that redirects to HTTPS and answers ACME HTTP-01, or off (default: :80 when it can be bound)"},
				},
			},
			c.caCommand(),
			{
				Name:  "user",
				Usage: "manage user accounts",
				Subcommands: []*cli.Command{
					{Name: "add", Usage: "create a user", ArgsUsage: "NAME", Action: c.userAdd, Flags: []cli.Flag{
						&cli.BoolFlag{Name: "admin", Usage: "make the user an instance admin"},
						&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from one line of standard input (default: generate and print one)"},
					}},
					{Name: "passwd", Usage: "set a user's password", ArgsUsage: "NAME", Action: c.userPasswd, Flags: []cli.Flag{
						&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from one line of standard input (default: generate and print one)"},
					}},
					{Name: "list", Usage: "list users", Action: c.userList},
					{Name: "remove", Usage: "delete a user and their credentials", ArgsUsage: "NAME", Action: c.userRemove},
				},
			},
			{
				Name:  "apppass",
				Usage: "manage app passwords (one per device, for WebDAV clients)",
				Subcommands: []*cli.Command{
					{Name: "create", Usage: "create an app password and print it (shown once)", ArgsUsage: "USER", Action: c.apppassCreate, Flags: []cli.Flag{
						&cli.StringFlag{Name: "label", Usage: "what the password is for, e.g. the device (default: generated)"},
					}},
					{Name: "list", Usage: "list a user's app passwords", ArgsUsage: "USER", Action: c.apppassList},
					{Name: "revoke", Usage: "revoke an app password", ArgsUsage: "USER ID-OR-LABEL", Action: c.apppassRevoke},
				},
			},
			{
				Name:  "space",
				Usage: "manage spaces",
				Subcommands: []*cli.Command{
					{Name: "create", Usage: "create a space and print its id", ArgsUsage: "NAME", Action: c.spaceCreate, Flags: []cli.Flag{
						&cli.StringFlag{Name: "quota", Usage: "size limit, e.g. 500M, 20G, 1T (default: none)"},
						&cli.StringFlag{Name: "owner", Usage: "user to make manager of the space"},
					}},
					{Name: "list", Usage: "list spaces", Action: c.spaceList},
					{Name: "grant", Usage: "give a user a role (viewer, editor, manager) in a space", ArgsUsage: "SPACE USER ROLE", Action: c.spaceGrant},
					{Name: "revoke", Usage: "remove a user from a space", ArgsUsage: "SPACE USER", Action: c.spaceRevoke},
					c.spacePolicyCommand(),
				},
			},
			{
				Name:  "token",
				Usage: "manage bearer tokens for scripts",
				Subcommands: []*cli.Command{
					{Name: "create", Usage: "create a token and print it (shown once)", ArgsUsage: "USER", Action: c.tokenCreate, Flags: []cli.Flag{
						&cli.StringFlag{Name: "label", Usage: "what the token is for"},
						&cli.StringSliceFlag{Name: "scope", Usage: "restrict the token to read, write (includes read), account or admin (repeatable; docs/api.md)"},
						&cli.DurationFlag{Name: "ttl", Usage: "lifetime, e.g. 720h (default: no expiry)"},
					}},
					{Name: "list", Usage: "list a user's tokens", ArgsUsage: "USER", Action: c.tokenList},
					{Name: "revoke", Usage: "revoke a token", ArgsUsage: "ID", Action: c.tokenRevoke},
				},
			},
			{
				Name:  "target",
				Usage: "manage Phraseanet targets (where a space's files are handed off)",
				Subcommands: []*cli.Command{
					{Name: "add", Usage: "create a target and print its id (and, for pull mode, what to paste in Phraseanet)", ArgsUsage: "NAME", Action: c.targetAdd, Flags: []cli.Flag{
						&cli.StringFlag{Name: "space", Usage: "id of the space whose files go to Phraseanet (required)"},
						&cli.StringFlag{Name: "folder", Usage: "only this folder of the space (default: the whole space)"},
						&cli.StringFlag{Name: "mode", Usage: "push (Wharf calls Phraseanet), pull (Phraseanet polls Wharf) or both (required)"},
						&cli.StringFlag{Name: "url", Usage: "Phraseanet's enqueue URL, e.g. https://dam.example.org/api/v1/upload/enqueue/ (push, both)"},
						&cli.StringFlag{Name: "key", Usage: "Phraseanet API token for the enqueue call; \"avoid\" to never notify (push, both)"},
						&cli.StringFlag{Name: "scheme", Usage: "Authorization scheme of the enqueue call", Value: phraseanet.DefaultScheme},
						&cli.StringFlag{Name: "destination", Usage: "Phraseanet collection base_id files go to (collection_destination; required)"},
						&cli.StringFlag{Name: "every", Usage: "commit new files on a schedule: an interval (15m, 1h) or a daily time (03:00) (default: only on request)"},
						&cli.StringFlag{Name: "form-schema", Usage: "JSON file with the form's fields: name, type (string, number, boolean), required, allowed"},
						&cli.StringSliceFlag{Name: "param", Usage: "fixed form data k=v, winning over what users fill in (repeatable)"},
						&cli.IntFlag{Name: "max-files", Usage: "most files in one commit", Value: phraseanet.DefaultMaxFiles},
						&cli.StringFlag{Name: "max-size", Usage: "most bytes in one commit, e.g. 10G", Value: "10G"},
						&cli.StringFlag{Name: "after-ack", Usage: "once Phraseanet acknowledged the files: keep, delete or move:FOLDER (a folder of the space)", Value: "keep"},
						&cli.DurationFlag{Name: "grace", Usage: "wait this long after the acknowledgement before the after-ack action"},
						&cli.DurationFlag{Name: "retention", Usage: "keep the records of acknowledged commits this long", Value: phraseanet.DefaultRetention},
						&cli.StringFlag{Name: "public-url", Usage: "URL Phraseanet reaches this server at, for the pull URI"},
					}},
					{Name: "list", Usage: "list targets", Action: c.targetList},
					{Name: "remove", Usage: "delete a target and its commit records (the files stay)", ArgsUsage: "ID-OR-NAME", Action: c.targetRemove},
					{Name: "test", Usage: "check that the enqueue URL answers (nothing is sent) and print the pull-mode settings", ArgsUsage: "ID-OR-NAME", Action: c.targetTest, Flags: []cli.Flag{
						&cli.StringFlag{Name: "public-url", Usage: "URL Phraseanet reaches this server at, for the pull URI"},
						&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the enqueue URL", Value: 5 * time.Second},
					}},
				},
			},
			c.loginCommand(),
			c.logoutCommand(),
			c.pushCommand(),
			c.pullCommand(),
			c.backupCommand(),
			c.restoreCommand(),
			c.checkCommand(),
			c.completionCommand(), c.manCommand(), c.serviceCommand(), // commands_completion.go, service_*.go
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(*cli.Context) error {
					fmt.Fprintln(stdout, "wharf", version)
					return nil
				},
			},
		},
	}
	withEnv(app.Flags, app.Commands)
	withConfigFile(app, stdout) // config.go
	return app
}

type commands struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (c *commands) logger(cx *cli.Context) (*slog.Logger, error) {
	return newLogger(c.stderr, logJSON(cx), cx.String("log-level"))
}

func (c *commands) serve(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	log, err := c.logger(cx)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cx.String("listen")); err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:8080 or :8080", cx.String("listen"))
	}
	var maxUpload int64
	if v := cx.String("max-upload-size"); v != "" {
		if maxUpload, err = parseSize(v); err != nil {
			return fmt.Errorf("--max-upload-size %q: %w", v, err)
		}
	}
	if r := cx.String("reject"); r != "quarantine" && r != "delete" {
		return fmt.Errorf("--reject %q: want quarantine or delete", r)
	}
	if t := cx.String("tls"); t != "" {
		if _, err := tlsconf.ParseMode(t); err != nil {
			return fmt.Errorf("--tls %q: want off, internal or acme", t)
		}
	}
	return runServer(cx, server.Config{ // service_windows.go, service_other.go
		Dir:              cx.String("data"),
		Listen:           cx.String("listen"),
		PublicURL:        cx.String("public-url"),
		AdminPassword:    cx.String("admin-password"),
		Console:          c.stderr,
		Logger:           log,
		ShutdownTimeout:  cx.Duration("shutdown-timeout"),
		DAVAllowInfinity: cx.Bool("dav-allow-infinity"),
		MaxUploadSize:    maxUpload,
		UploadExpiry:     cx.Duration("upload-expiry"),
		ProcessingWait:   cx.Duration("processing-wait"),
		UploadsPerUser:   cx.Int("max-uploads-per-user"),
		BodyTimeout:      cx.Duration("body-timeout"),
		Clamd:            cx.String("clamd"),
		Reject:           cx.String("reject"),
		TLS:              cx.String("tls"),
		Domains:          cx.StringSlice("domain"),
		ACMECA:           cx.String("acme-ca"),
		ACMEEmail:        cx.String("acme-email"),
		ACMECARoot:       cx.String("acme-ca-root"),
		ACMEChallenges:   cx.StringSlice("acme-challenges"),
		HTTPListen:       cx.String("http-listen"),
		MetricsListen:    cx.String("metrics-listen"),
		PushDoubtHold:    cx.Duration("push-doubt-hold"),
		Notify:           server.NotifierFromEnv(os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC")),
	})
}

// open opens the existing data directory for a store command.
func (c *commands) open(cx *cli.Context) (*server.Services, error) {
	log, err := c.logger(cx)
	if err != nil {
		return nil, err
	}
	return server.Open(cx.Context, cx.String("data"), false, log)
}

// args checks the number of positional arguments against the names given.
func args(cx *cli.Context, names ...string) error {
	if cx.NArg() == len(names) {
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("%s takes no arguments (got %q)", cx.Command.FullName(), cx.Args().Slice())
	}
	return fmt.Errorf("usage: wharf %s %s", cx.Command.FullName(), strings.Join(names, " "))
}

// password reads one line from stdin with --password-stdin, or makes up a
// strong password and reports that it did.
func (c *commands) password(cx *cli.Context) (pw string, generated bool, err error) {
	if !cx.Bool("password-stdin") {
		return rand.Text(), true, nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", false, errors.New("--password-stdin: standard input is empty")
		}
		return "", false, fmt.Errorf("--password-stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

func (c *commands) userAdd(cx *cli.Context) error {
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
	u, err := s.Auth.AddUser(cx.Context, cx.Args().First(), pw, cx.Bool("admin"))
	if err != nil {
		return err
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
	fmt.Fprintln(tw, "NAME\tADMIN\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, yesNo(u.Admin), u.CreatedAt.Local().Format(time.DateTime))
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
	fmt.Fprintln(tw, "ID\tLABEL\tCREATED\tLAST USED")
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

func (c *commands) spaceCreate(cx *cli.Context) error {
	if err := args(cx, "NAME"); err != nil {
		return err
	}
	var quota int64
	if q := cx.String("quota"); q != "" {
		var err error
		if quota, err = parseSize(q); err != nil {
			return fmt.Errorf("--quota: %w", err)
		}
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	owner := cx.String("owner")
	if owner != "" {
		if _, err := s.Auth.User(cx.Context, owner); err != nil {
			return fmt.Errorf("--owner: %w", err)
		}
	}
	sp, err := s.Tree.CreateSpace(cx.Context, cx.Args().First(), quota)
	if err != nil {
		return err
	}
	if owner != "" {
		if err := s.Auth.Grant(cx.Context, sp.ID, owner, auth.Manager); err != nil {
			return err
		}
	}
	fmt.Fprintln(c.stdout, sp.ID)
	return nil
}

func (c *commands) spaceList(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	spaces, err := s.Tree.Spaces(cx.Context)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUSED\tQUOTA")
	for _, sp := range spaces {
		quota := "none"
		if sp.QuotaBytes > 0 {
			quota = formatSize(sp.QuotaBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sp.ID, sp.Name, formatSize(sp.UsedBytes), quota)
	}
	return tw.Flush()
}

func (c *commands) spaceGrant(cx *cli.Context) error {
	if err := args(cx, "SPACE", "USER", "ROLE"); err != nil {
		return err
	}
	role, err := auth.ParseRole(cx.Args().Get(2))
	if err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Tree.Space(cx.Context, cx.Args().Get(0)); err != nil {
		return err
	}
	return s.Auth.Grant(cx.Context, cx.Args().Get(0), cx.Args().Get(1), role)
}

func (c *commands) spaceRevoke(cx *cli.Context) error {
	if err := args(cx, "SPACE", "USER"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Tree.Space(cx.Context, cx.Args().Get(0)); err != nil {
		return err
	}
	return s.Auth.Revoke(cx.Context, cx.Args().Get(0), cx.Args().Get(1))
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
	fmt.Fprintln(tw, "ID\tKIND\tLABEL\tSCOPES\tEXPIRES\tLAST USED")
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

// phraseanet builds the Phraseanet service on a store command's services:
// enough to manage targets, nothing runs.
func (c *commands) phraseanet(s *server.Services) (*phraseanet.Service, error) {
	return phraseanet.New(phraseanet.Config{DB: s.DB, Tree: s.Tree, Auth: s.Auth})
}

// params reads --param k=v flags. The slice flag splits values at commas;
// a piece without "=" belongs to the value before it.
func params(list []string) (map[string]string, error) {
	out := map[string]string{}
	last := ""
	for _, p := range list {
		k, v, ok := strings.Cut(p, "=")
		if !ok && last != "" {
			out[last] += "," + p
			continue
		}
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", p)
		}
		out[k], last = v, k
	}
	return out, nil
}

// pullURI prints what Phraseanet's pull mode needs for t.
func (c *commands) printPull(cx *cli.Context, t phraseanet.Target) error {
	public := cx.String("public-url")
	uri := ""
	if public != "" {
		var err error
		if uri, err = phraseanet.PullURI(public, t.ID); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
	} else {
		uri = "https://WHARF-HOST/commits?target=" + t.ID
		fmt.Fprintln(c.stderr, "no --public-url (or WHARF_PUBLIC_URL): replace WHARF-HOST in pull_uri with the host Phraseanet reaches Wharf at (default port, host root)")
	}
	fmt.Fprintf(c.stdout, "pull_uri=%s\nclient_id=%s\nclient_secret=%s\n", uri, t.ClientID, t.ClientSecret)
	return nil
}

func (c *commands) targetAdd(cx *cli.Context) error {
	if err := args(cx, "NAME"); err != nil {
		return err
	}
	if pu := cx.String("public-url"); pu != "" {
		if _, err := phraseanet.BaseURL(pu); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
	}
	spec := phraseanet.TargetSpec{
		Name:        cx.Args().First(),
		SpaceID:     cx.String("space"),
		Folder:      cx.String("folder"),
		Mode:        cx.String("mode"),
		URL:         cx.String("url"),
		Scheme:      cx.String("scheme"),
		Key:         cx.String("key"),
		Destination: cx.String("destination"),
		Every:       cx.String("every"),
		MaxFiles:    cx.Int("max-files"),
		AfterAck:    cx.String("after-ack"),
		Grace:       cx.Duration("grace"),
		Retention:   cx.Duration("retention"),
	}
	if spec.SpaceID == "" {
		return errors.New("--space is required")
	}
	if spec.Mode == "" {
		return errors.New("--mode is required: push, pull or both")
	}
	if spec.MaxFiles <= 0 {
		return fmt.Errorf("--max-files %d: want at least 1", spec.MaxFiles)
	}
	var err error
	if spec.MaxBytes, err = parseSize(cx.String("max-size")); err != nil || spec.MaxBytes <= 0 {
		return fmt.Errorf("--max-size %q: want a size above 0, e.g. 10G", cx.String("max-size"))
	}
	if _, _, err := phraseanet.ParseEvery(spec.Every); err != nil {
		return fmt.Errorf("--every: %w", err)
	}
	if spec.Params, err = params(cx.StringSlice("param")); err != nil {
		return err
	}
	if f := cx.String("form-schema"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--form-schema: %w", err)
		}
		if _, err := phraseanet.ParseSchema(b); err != nil {
			return fmt.Errorf("--form-schema %s: %w", f, err)
		}
		spec.FormSchema = b
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	ph, err := c.phraseanet(s)
	if err != nil {
		return err
	}
	t, err := ph.AddTarget(cx.Context, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "id=%s\n", t.ID)
	if t.Mode == phraseanet.ModePull || t.Mode == phraseanet.ModeBoth {
		return c.printPull(cx, t)
	}
	return nil
}

func (c *commands) targetList(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	ph, err := c.phraseanet(s)
	if err != nil {
		return err
	}
	ts, err := ph.Targets(cx.Context)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSPACE\tFOLDER\tMODE\tDESTINATION\tEVERY\tAFTER ACK\tURL")
	for _, t := range ts {
		every := t.DailyAt
		if t.Every > 0 {
			every = t.Every.String()
		}
		if every == "" {
			every = "-"
		}
		folder, url := "/"+t.Folder, t.EnqueueURL
		if url == "" {
			url = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.SpaceID, folder, t.Mode, t.Destination, every, t.AfterAck, url)
	}
	return tw.Flush()
}

func (c *commands) targetRemove(cx *cli.Context) error {
	if err := args(cx, "ID-OR-NAME"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	ph, err := c.phraseanet(s)
	if err != nil {
		return err
	}
	return ph.RemoveTarget(cx.Context, cx.Args().First())
}

// targetTest checks that the enqueue URL answers at all (HEAD, any status;
// nothing is enqueued) and prints the pull-mode settings.
func (c *commands) targetTest(cx *cli.Context) error {
	if err := args(cx, "ID-OR-NAME"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	ph, err := c.phraseanet(s)
	if err != nil {
		return err
	}
	t, err := ph.FindTarget(cx.Context, cx.Args().First())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "id=%s\nname=%s\nmode=%s\n", t.ID, t.Name, t.Mode)
	var failed error
	if t.Mode != phraseanet.ModePull && t.EnqueueURL != "" {
		client := &http.Client{Timeout: cx.Duration("timeout")}
		req, err := http.NewRequestWithContext(cx.Context, http.MethodHead, t.EnqueueURL, nil)
		if err != nil {
			return fmt.Errorf("enqueue URL %q: %w", t.EnqueueURL, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintf(c.stdout, "url=%s\nurl_status=unreachable\n", t.EnqueueURL)
			failed = fmt.Errorf("enqueue URL %s does not answer: %w", t.EnqueueURL, err)
		} else {
			resp.Body.Close()
			fmt.Fprintf(c.stdout, "url=%s\nurl_status=%d\n", t.EnqueueURL, resp.StatusCode)
		}
		if t.Key == phraseanet.NoNotifyKey {
			fmt.Fprintf(c.stderr, "the key is %q: commits are not pushed\n", phraseanet.NoNotifyKey)
		}
	}
	if t.Mode == phraseanet.ModePull || t.Mode == phraseanet.ModeBoth {
		if err := c.printPull(cx, t); err != nil {
			return err
		}
	}
	return failed
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

// parseSize reads a size like 1048576, 500K, 20G, 1.5T or 20GiB. K, M, G, T
// (with or without B, iB) are powers of 1024: what a quota user means.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGTP", t[n-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (examples: 500M, 20G, 1T)", s)
	}
	return int64(f * float64(mult)), nil
}

func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
