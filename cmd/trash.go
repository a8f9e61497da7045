package cmd

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

// trashCommand is "wharf trash": list, restore and purge a space's trash.
func (c *commands) trashCommand() *cli.Command {
	return &cli.Command{
		Name:  "trash",
		Usage: "list, restore and purge what was deleted from a space",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list a space's trash, newest first: id, deleted at, by, size, path", ArgsUsage: "SPACE", Action: c.trashList},
			{Name: "restore", Usage: "put a trash item back where it was (or at --to)", ArgsUsage: "SPACE ID", Action: c.trashRestore,
				Flags: []cli.Flag{&cli.StringFlag{Name: "to", Usage: "restore at this path instead (when the original place is taken)"}}},
			{Name: "purge", Usage: "delete trash items for good (all of them without ids)", ArgsUsage: "SPACE [ID...]", Action: c.trashPurge},
		},
	}
}

// versionsCommand is "wharf versions": list and restore a file's versions.
func (c *commands) versionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "versions",
		Usage: "list and restore the earlier contents of a file",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list a file's versions, newest first: id, replaced at, by, size, sha256", ArgsUsage: "SPACE PATH", Action: c.versionsList},
			{Name: "restore", Usage: "make a version the file's content (the content becomes a version)", ArgsUsage: "SPACE PATH ID", Action: c.versionsRestore},
		},
	}
}

// spaceRetentionCommand is "wharf space retention": how long a space keeps
// its trash and versions.
func (c *commands) spaceRetentionCommand() *cli.Command {
	return &cli.Command{
		Name:      "retention",
		Usage:     "show or change how long a space keeps deleted files and versions",
		ArgsUsage: "SPACE",
		Description: "Without flags, prints the retention and what the space keeps. --trash-days 0 turns the trash off\n" +
			"(deletes are final); --versions 0 keeps no versions; --version-days 0 keeps versions whatever their age.",
		Action: c.spaceRetention,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "trash-days", Usage: "days a deleted file stays in the trash (default 30)"},
			&cli.IntFlag{Name: "versions", Usage: "versions kept per file (default 10)"},
			&cli.IntFlag{Name: "version-days", Usage: "days a version is kept (default 30)"},
		},
	}
}

func (c *commands) trashList(cx *cli.Context) error {
	if err := args(cx, "SPACE"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	items, err := s.Tree.Trash(cx.Context, cx.Args().First())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, it := range items {
		by := it.DeletedBy
		if by == "" {
			by = "-"
		}
		path := it.Path
		if it.IsDir {
			path += "/"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, it.DeletedAt.UTC().Format(time.RFC3339), by, formatSize(it.Size), path)
	}
	return tw.Flush()
}

func (c *commands) trashRestore(cx *cli.Context) error {
	if err := args(cx, "SPACE", "ID"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.Tree.Restore(cx.Context, cx.Args().Get(0), cx.Args().Get(1), cx.String("to"))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "restored", n.Path)
	return nil
}

func (c *commands) trashPurge(cx *cli.Context) error {
	if cx.NArg() < 1 {
		return fmt.Errorf("%s needs SPACE [ID...]", cx.Command.FullName())
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.Tree.Purge(cx.Context, cx.Args().First(), cx.Args().Tail()...)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "purged", n)
	return nil
}

func (c *commands) versionsList(cx *cli.Context) error {
	if err := args(cx, "SPACE", "PATH"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	vs, err := s.Tree.Versions(cx.Context, cx.Args().Get(0), cx.Args().Get(1))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, v := range vs {
		by := v.CreatedBy
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.CreatedAt.UTC().Format(time.RFC3339), by, formatSize(v.Size), v.SHA256)
	}
	return tw.Flush()
}

func (c *commands) versionsRestore(cx *cli.Context) error {
	if err := args(cx, "SPACE", "PATH", "ID"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.Tree.RestoreVersion(cx.Context, cx.Args().Get(0), cx.Args().Get(1), cx.Args().Get(2))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %s: %s, sha256 %s\n", n.Path, formatSize(n.Size), n.SHA256)
	return nil
}

func (c *commands) spaceRetention(cx *cli.Context) error {
	if err := args(cx, "SPACE"); err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	id := cx.Args().First()
	r, err := s.Tree.Retention(cx.Context, id)
	if err != nil {
		return err
	}
	if cx.IsSet("trash-days") || cx.IsSet("versions") || cx.IsSet("version-days") {
		if cx.IsSet("trash-days") {
			r.TrashDays = cx.Int("trash-days")
		}
		if cx.IsSet("versions") {
			r.KeepVersions = cx.Int("versions")
		}
		if cx.IsSet("version-days") {
			r.VersionDays = cx.Int("version-days")
		}
		if r.TrashDays < 0 || r.KeepVersions < 0 || r.VersionDays < 0 {
			return fmt.Errorf("retention values must not be negative")
		}
		if err := s.Tree.SetRetention(cx.Context, id, r); err != nil {
			return err
		}
	}
	kept, err := s.Tree.Retained(cx.Context, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "trash-days %d\nversions %d\nversion-days %d\n", r.TrashDays, r.KeepVersions, r.VersionDays)
	fmt.Fprintf(c.stdout, "trash %s in %s items\nversions %s in %s versions\n",
		formatSize(kept.TrashBytes), strconv.Itoa(kept.TrashItems), formatSize(kept.VersionBytes), strconv.Itoa(kept.Versions))
	return nil
}
