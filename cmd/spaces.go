package cmd

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
)

// spaceCommand is "wharf space": spaces, their members and their policy
// (policy.go).
func (c *commands) spaceCommand() *cli.Command {
	return &cli.Command{
		Name:  "space",
		Usage: "manage spaces",
		Subcommands: []*cli.Command{
			{Name: "create", Usage: "create a space and print its id (refused when a space of that name exists)", ArgsUsage: "NAME", Action: c.spaceCreate, Flags: []cli.Flag{
				&cli.StringFlag{Name: "quota", Usage: "size limit, e.g. 500M, 20G, 1T (default: none)"},
				&cli.StringFlag{Name: "owner", Usage: "user to make manager of the space"},
				&cli.StringFlag{Name: "id", Usage: "the space's id: lowercase letters, digits and dashes (default: from the name); also makes a second space of a name that exists"},
			}},
			{Name: "list", Usage: "list spaces", Action: c.spaceList},
			{Name: "grant", Usage: "give a user a role (viewer, editor, manager) in a space", ArgsUsage: "SPACE USER ROLE", Action: c.spaceGrant},
			{Name: "revoke", Usage: "remove a user from a space", ArgsUsage: "SPACE USER", Action: c.spaceRevoke},
			c.spacePolicyCommand(),
			c.spaceRetentionCommand(), // trash.go
		},
	}
}

func (c *commands) spaceCreate(cx *cli.Context) error {
	if err := args(cx, "NAME"); err != nil {
		return err
	}
	if id := cx.String("id"); id != "" && !space.ValidID(id) {
		return fmt.Errorf("--id %q: want lowercase letters, digits and dashes (at most 48, no dash at either end), e.g. team-photos-2", id)
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
	name := cx.Args().First()
	var sp space.Space
	if id := cx.String("id"); id != "" {
		sp, err = s.Tree.CreateSpaceWithID(cx.Context, id, name, quota)
		if errors.Is(err, space.ErrExists) {
			return fmt.Errorf("a space with id %q exists already", id)
		}
	} else {
		sp, err = s.Tree.CreateSpace(cx.Context, name, quota)
		if errors.Is(err, space.ErrExists) {
			return fmt.Errorf("%w; to make a second one, give it an id of its own: wharf space create %q --id ID", err, name)
		}
	}
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
