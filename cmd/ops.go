package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/ops"
)

// The operations commands: backup, restore, check. Each is one line in
// New's command list.

func (c *commands) backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent snapshot of the data directory to DIR, while the server runs",
		ArgsUsage: "DIR",
		Description: "DIR must be new or empty. The database is copied in one transaction, then the files its index\n" +
			"lists: hard links when DIR is on the same file system as the data (no extra space; files are\n" +
			"never rewritten in place), copies otherwise. thumbs/ is copied; uploads/ (unfinished uploads)\n" +
			"and quarantine/ are not. DIR/BACKUP.json, written last, says what the backup holds.",
		Action: c.backup,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-thumbs", Usage: "leave out thumbs/ (they are derived and rebuilt when missing)"},
			&cli.BoolFlag{Name: "copy", Usage: "copy the files even where hard links would do (a backup on the same disk as the data)"},
		},
	}
}

func (c *commands) restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "rebuild a data directory (--data) from a backup written by wharf backup",
		ArgsUsage: "DIR",
		Description: "The data directory must not exist or be empty, so a running server's directory is refused.\n" +
			"Files are copied (the backup is left as it is) and their sizes checked against the backup's\n" +
			"index; --verify also checks their SHA-256.",
		Action: c.restore,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verify", Usage: "check every file's SHA-256 (reads everything)"},
		},
	}
}

func (c *commands) checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "compare the index with the files on disk and the uploads with their records; exit 1 if anything is wrong",
		Description: "Reports, one per line: files in the index missing on disk, files on disk missing from the index,\n" +
			"size and mtime differences, SHA-256 differences (--verify-hashes), used bytes that drifted,\n" +
			"orphaned upload files and records, and SQLite integrity errors.\n" +
			"--repair makes the index describe what is on disk, recomputes used bytes and removes orphans.\n" +
			"It works while the server runs (repairs are transactions), but is safer with the server stopped.",
		Action: c.check,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "repair", Usage: "fix what was found (safer with the server stopped)"},
			&cli.BoolFlag{Name: "verify-hashes", Usage: "read every file and compare its SHA-256 with the index"},
		},
	}
}

func (c *commands) backup(cx *cli.Context) error {
	if err := args(cx, "DIR"); err != nil {
		return err
	}
	log, err := c.logger(cx)
	if err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := ops.Backup(cx.Context, ops.Config{Dir: s.Dir, DB: s.DB, Tree: s.Tree, Blobs: s.Tree.Objects(), Logger: log}, cx.Args().First(),
		ops.BackupOptions{Version: c.version, NoThumbs: cx.Bool("no-thumbs"), Copy: cx.Bool("copy")})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backed up %d spaces, %d files, %s (%d linked, %d copied) to %s\n",
		len(m.Spaces), m.Files, formatSize(m.Bytes), m.Linked, m.Copied, cx.Args().First())
	if m.ChangedDuringBackup > 0 {
		fmt.Fprintf(c.stdout, "%d files changed while the backup ran; the backup has them as they were when copied\n", m.ChangedDuringBackup)
	}
	if m.AbandonedUploads+m.AbandonedJobs > 0 {
		fmt.Fprintf(c.stdout, "not backed up: %d unfinished uploads, %d files being processed\n", m.AbandonedUploads, m.AbandonedJobs)
	}
	fmt.Fprintf(c.stdout, "skipped: %s\n", strings.Join(m.Skipped, ", "))
	return nil
}

func (c *commands) restore(cx *cli.Context) error {
	if err := args(cx, "DIR"); err != nil {
		return err
	}
	log, err := c.logger(cx)
	if err != nil {
		return err
	}
	target := cx.String("data")
	if !cx.IsSet("data") {
		return errors.New("restore: say where to with --data (or WHARF_DATA): restore never picks the default data directory by itself")
	}
	if cx.String("db") != "" {
		// A backup of wharf backup holds a SQLite database; the metadata
		// in PostgreSQL comes back with pg_restore.
		return errors.New("restore: --db is set: the metadata is in PostgreSQL; restore it with pg_restore and the files with your file backup (docs/postgres.md)")
	}
	if cx.String("blobs") != "" {
		// wharf backup refuses with --blobs: nothing of its makes sense here.
		return errors.New("restore: --blobs is set: the contents are in the bucket; restore the database's dump and the bucket's versions (docs/operations.md)")
	}
	m, err := ops.Restore(cx.Context, cx.Args().First(), target, ops.RestoreOptions{Verify: cx.Bool("verify"), Logger: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %d spaces, %d files, %s into %s (backup of %s)\n",
		len(m.Spaces), m.Files, formatSize(m.Bytes), target, m.CreatedAt.Local().Format("2006-01-02 15:04:05"))
	return nil
}

func (c *commands) check(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	log, err := c.logger(cx)
	if err != nil {
		return err
	}
	s, err := c.open(cx)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := ops.Config{Dir: s.Dir, DB: s.DB, Tree: s.Tree, Blobs: s.Tree.Objects(), Logger: log}
	opts := ops.CheckOptions{Hashes: cx.Bool("verify-hashes"), Repair: cx.Bool("repair")}
	r, err := ops.Check(cx.Context, cfg, opts)
	if err != nil {
		return err
	}
	for _, p := range r.Problems {
		fmt.Fprintln(c.stdout, p)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(c.stderr, "note: "+n)
	}
	if !opts.Repair {
		if len(r.Problems) > 0 {
			return cli.Exit(fmt.Sprintf("%d problems found; wharf check --repair fixes the index and removes orphans", len(r.Problems)), 1)
		}
		fmt.Fprintln(c.stderr, "clean")
		return nil
	}
	for _, f := range r.Fixed {
		fmt.Fprintln(c.stdout, "fixed: "+f)
	}
	// Look again: what remains is what the repair could not fix.
	opts.Repair = false
	again, err := ops.Check(cx.Context, cfg, opts)
	if err != nil {
		return err
	}
	for _, p := range again.Problems {
		fmt.Fprintln(c.stdout, "remaining: "+p)
	}
	if len(again.Problems) > 0 {
		return cli.Exit(fmt.Sprintf("%d problems found, %d remain after repair", len(r.Problems), len(again.Problems)), 1)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(c.stderr, "%d problems found and repaired\n", len(r.Problems))
	} else {
		fmt.Fprintln(c.stderr, "clean")
	}
	return nil
}
