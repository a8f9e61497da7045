package cmd

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/store"
)

// spacePolicyCommand is "wharf space policy": show or change what a space
// accepts from uploads.
func (c *commands) spacePolicyCommand() *cli.Command {
	return &cli.Command{
		Name:      "policy",
		Usage:     "show or change what a space accepts from uploads",
		ArgsUsage: "SPACE",
		Description: "Without flags, prints the space's policy as JSON. Each flag replaces that part of it;\n" +
			"lists are comma-separated, and an empty value clears them.",
		Action: c.spacePolicy,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "max-file-size", Usage: "largest file accepted, e.g. 2G (0: no limit)"},
			&cli.StringFlag{Name: "allow-types", Usage: "media types accepted, by content: image/*,application/pdf"},
			&cli.StringFlag{Name: "deny-types", Usage: "media types refused (wins over --allow-types)"},
			&cli.StringFlag{Name: "deny-names", Usage: "file name patterns refused: *.exe,desktop.ini"},
			&cli.StringFlag{Name: "put", Usage: "processing of WebDAV PUTs: quick (checksum, type, policy, virus scan with --clamd) or full (every step)"},
			&cli.BoolFlag{Name: "clear", Usage: "accept everything again"},
		},
	}
}

func (c *commands) spacePolicy(cx *cli.Context) error {
	if err := args(cx, "SPACE"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	id := cx.Args().First()
	if _, err := s.Tree.Space(cx.Context, id); err != nil {
		return err
	}
	raw, err := s.DB.SpacePolicy(cx.Context, id)
	if err != nil {
		return err
	}
	var p postproc.Policy
	if raw != "" && !cx.Bool("clear") {
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return fmt.Errorf("the stored policy of %s is not valid (%v); start again with --clear", id, err)
		}
	}
	if cx.Bool("clear") {
		p = postproc.Policy{}
	}
	if v := cx.String("max-file-size"); cx.IsSet("max-file-size") {
		if p.MaxSize, err = parseSize(v); err != nil {
			return fmt.Errorf("--max-file-size: %w", err)
		}
	}
	list := func(name string, dst *[]string) {
		if cx.IsSet(name) {
			*dst = nil
			for v := range strings.SplitSeq(cx.String(name), ",") {
				if v = strings.TrimSpace(v); v != "" {
					*dst = append(*dst, v)
				}
			}
		}
	}
	list("allow-types", &p.AllowTypes)
	list("deny-types", &p.DenyTypes)
	list("deny-names", &p.DenyNames)
	if cx.IsSet("put") {
		switch cx.String("put") {
		case "quick":
			p.FullOnPut = false
		case "full":
			p.FullOnPut = true
		default:
			return fmt.Errorf("--put %q: want quick or full", cx.String("put"))
		}
	}
	if err := p.Check(); err != nil {
		return err
	}
	out, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if changed := cx.NumFlags() > 0; changed {
		stored := string(out)
		if stored == "{}" {
			stored = ""
		}
		err := s.DB.Update(cx.Context, func(tx *store.Tx) error { return tx.SetSpacePolicy(cx.Context, id, stored) })
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(c.stdout, string(out))
	return nil
}
