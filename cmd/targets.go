package cmd

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/server"
)

// targetCommand is "wharf target": the Phraseanet targets.
func (c *commands) targetCommand() *cli.Command {
	return &cli.Command{
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
				&cli.StringSliceFlag{Name: "exclude", Usage: "name pattern never committed, e.g. '*.tmp' (repeatable; \"defaults\" for the built-in junk list, \"none\" for nothing; default: defaults)"},
				&cli.StringFlag{Name: "publisher", Usage: "user named as publisher of scheduled commits whose uploader is unknown"},
				&cli.StringFlag{Name: "public-url", Usage: "URL Phraseanet reaches this server at, for the pull URI (default: the one the server serves at, recorded when it starts)"},
			}},
			{Name: "list", Usage: "list targets", Action: c.targetList},
			{Name: "set", Usage: "change a target's excluded names or publisher", ArgsUsage: "ID-OR-NAME", Action: c.targetSet, Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "exclude", Usage: "name pattern never committed (repeatable; \"defaults\" for the built-in junk list, \"none\" for nothing)"},
				&cli.StringFlag{Name: "publisher", Usage: "user named as publisher of scheduled commits whose uploader is unknown (\"\" for none)"},
			}},
			{Name: "remove", Usage: "delete a target and its commit records (the files stay)", ArgsUsage: "ID-OR-NAME", Action: c.targetRemove},
			{Name: "reset-secret", Usage: "give a pull-mode target a new client secret and print it (the old one and its tokens stop working)", ArgsUsage: "ID-OR-NAME", Action: c.targetResetSecret, Flags: []cli.Flag{
				&cli.StringFlag{Name: "public-url", Usage: "URL Phraseanet reaches this server at, for the pull URI (default: the one the server serves at, recorded when it starts)"},
			}},
			{Name: "test", Usage: "check that the enqueue URL answers (nothing is sent) and print the pull-mode settings", ArgsUsage: "ID-OR-NAME", Action: c.targetTest, Flags: []cli.Flag{
				&cli.StringFlag{Name: "public-url", Usage: "URL Phraseanet reaches this server at, for the pull URI (default: the one the server serves at, recorded when it starts)"},
				&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the enqueue URL", Value: 5 * time.Second},
			}},
		},
	}
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

// publicURL is the URL Phraseanet reaches this server at: --public-url,
// else the one the server recorded when it last started on this data
// directory ("" if it never ran).
func (c *commands) publicURL(cx *cli.Context, s *server.Services) (string, error) {
	if pu := cx.String("public-url"); pu != "" {
		return pu, nil
	}
	return s.PublicURL(cx.Context)
}

// printPull prints what Phraseanet's pull mode needs for t: the pull URI
// (on the server's public URL, see publicURL), the client id and, when it
// was just made, the client secret (Wharf keeps only a hash of it).
func (c *commands) printPull(cx *cli.Context, s *server.Services, t phraseanet.Target, secret string) error {
	public, err := c.publicURL(cx, s)
	if err != nil {
		return err
	}
	uri := ""
	if public != "" {
		if uri, err = phraseanet.PullURI(public, t.ID); err != nil {
			return fmt.Errorf("public URL %q: %w", public, err)
		}
	} else {
		uri = "https://WHARF-HOST/commits?target=" + t.ID
		fmt.Fprintln(c.stderr, "the server has not run on this data directory yet, and no --public-url: replace WHARF-HOST in pull_uri with the host Phraseanet reaches Wharf at (default port, host root)")
	}
	fmt.Fprintf(c.stdout, "pull_uri=%s\nclient_id=%s\n", uri, t.ClientID)
	if secret != "" {
		fmt.Fprintf(c.stdout, "client_secret=%s\n", secret)
		fmt.Fprintln(c.stderr, "the client secret is shown only this once (Wharf keeps a hash of it); \"wharf target reset-secret\" makes a new one")
	} else {
		fmt.Fprintf(c.stderr, "the client secret is not kept, only a hash of it; \"wharf target reset-secret %s\" makes a new one\n", t.Name)
	}
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
		Exclude:     cx.StringSlice("exclude"),
		Publisher:   cx.String("publisher"),
	}
	if len(spec.Exclude) == 0 {
		spec.Exclude = nil
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
	t, secret, err := ph.AddTarget(cx.Context, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "id=%s\n", t.ID)
	if t.Mode == phraseanet.ModePull || t.Mode == phraseanet.ModeBoth {
		return c.printPull(cx, s, t, secret)
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

// targetResetSecret gives a target a new pull-mode client secret and
// prints the pull-mode settings with it.
func (c *commands) targetResetSecret(cx *cli.Context) error {
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
	t, secret, err := ph.ResetClientSecret(cx.Context, cx.Args().First())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "id=%s\n", t.ID)
	return c.printPull(cx, s, t, secret)
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
		if err := c.printPull(cx, s, t, ""); err != nil {
			return err
		}
	}
	return failed
}

func (c *commands) targetSet(cx *cli.Context) error {
	if err := args(cx, "ID-OR-NAME"); err != nil {
		return err
	}
	var exclude []string
	if cx.IsSet("exclude") {
		exclude = cx.StringSlice("exclude")
		if len(exclude) == 0 {
			exclude = []string{"none"}
		}
	}
	var publisher *string
	if cx.IsSet("publisher") {
		p := cx.String("publisher")
		publisher = &p
	}
	if exclude == nil && publisher == nil {
		return errors.New("nothing to change: give --exclude or --publisher")
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
	t, err := ph.SetJunk(cx.Context, cx.Args().First(), exclude, publisher)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "exclude=%s\n", strings.Join(phraseanet.ExcludeList(t), ","))
	return nil
}
