package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/blob/s3"
	"github.com/wharfhq/wharf/internal/diskio"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Services are the parts of Wharf that work on one data directory. The
// server uses them, and so do the store commands of the command line, which
// may run while a server has the same directory open.
type Services struct {
	Dir  string
	DB   *store.DB
	Auth *auth.Service
	Tree *space.Tree
	// Blobs is the object store holding the files' contents (--blobs),
	// nil when they are files under Dir/spaces.
	Blobs blob.Backend
}

// Locations says where the metadata and the contents live when not in the
// data directory (docs/scale-out.md).
type Locations struct {
	// DB is a PostgreSQL URL (postgres://…, docs/postgres.md); "": the
	// data directory's wharf.db.
	DB string
	// Blobs is an S3 bucket, s3://BUCKET[/PREFIX]?endpoint=…&region=…,
	// with the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;
	// "": the data directory's spaces/.
	Blobs string
}

// Open opens the data directory dir. With create, a missing directory is
// created and must be writable; without it, a directory without a database is
// an error, so that a mistyped --data does not quietly start an empty
// instance. The caller closes the Services.
func Open(ctx context.Context, dir string, create bool, log *slog.Logger) (*Services, error) {
	return openServices(ctx, dir, Locations{}, create, log, nil)
}

// OpenDB is Open with the database elsewhere than in dir: db is a
// PostgreSQL URL (postgres://…, see docs/postgres.md); "" is dir's
// wharf.db, as Open.
func OpenDB(ctx context.Context, dir string, loc Locations, create bool, log *slog.Logger) (*Services, error) {
	return openServices(ctx, dir, loc, create, log, nil)
}

// openBlobs opens the object store of --blobs (nil for ""), its staging
// parts under dir's uploads/.
func openBlobs(ctx context.Context, dir, raw string) (blob.Backend, error) {
	if raw == "" {
		return nil, nil
	}
	cfg, err := s3.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--blobs: %w", err)
	}
	cfg.AccessKey, cfg.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	cfg.TempDir = filepath.Join(dir, "uploads")
	if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
		return nil, err
	}
	st, err := s3.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--blobs %v: %w", cfg, err)
	}
	return st, nil
}

// openServices is OpenDB with the virus scanner of the files found
// unscanned in a space (nil: none).
func openServices(ctx context.Context, dir string, loc Locations, create bool, log *slog.Logger, scanner space.Scanner) (*Services, error) {
	dbLoc := loc.DB
	if log == nil {
		log = slog.Default()
	}
	if dbLoc != "" && !store.IsPostgres(dbLoc) {
		return nil, fmt.Errorf("--db %q: want a postgres:// or postgresql:// URL (the SQLite database is always <data>/wharf.db)", store.Redact(dbLoc))
	}
	dbPath := filepath.Join(dir, "wharf.db")
	if create {
		if err := ensureWritableDir(dir); err != nil {
			return nil, err
		}
	} else if dbLoc != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("no Wharf data directory %s (set --data / WHARF_DATA): %w", dir, err)
		}
	} else if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no Wharf data in %s (run \"wharf serve\" once to create it, or set --data / WHARF_DATA)", dir)
	}
	if dbLoc != "" {
		dbPath = dbLoc
	}
	blobs, err := openBlobs(ctx, dir, loc.Blobs)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	if up := db.Upgraded(); up.Backup != "" {
		log.InfoContext(ctx, "database schema upgraded; the database as it was is kept", "from_schema", up.From, "to_schema", up.To,
			"backup", up.Backup, "backups_kept", store.KeepBackups, "backups_removed", up.Removed)
	}
	s := &Services{Dir: dir, DB: db}
	var contents blob.Store // a nil Backend must stay a nil Store
	if blobs != nil {
		s.Blobs, contents = blobs, blobs
	}
	s.Auth, err = auth.New(auth.Config{DB: db, Logger: log.With("component", "auth")})
	if err == nil {
		// Moves and copies meet the destination's policy, as uploads do
		// in processing.
		gate := postproc.PolicyGate(postproc.SpacePolicies(db, log.With("component", "postproc")))
		s.Tree, err = space.New(space.Config{DB: db, Dir: dir, Logger: log.With("component", "space"), Gate: gate,
			Scanner: scanner, Blobs: contents, KeepStaging: !create})
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the services and closes the database.
func (s *Services) Close() error {
	return errors.Join(s.Tree.Close(), s.DB.Close())
}

func ensureWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// FirstSpace is the id of the space created on first start.
const FirstSpace = "files"

// InitialPasswordFile is the file, in the data directory, that holds the
// first-start admin password when there is no terminal to show it on.
const InitialPasswordFile = "initial-admin-password"

// bootstrap makes an empty instance useful: when there is no user at all it
// creates the instance admin "admin" (with adminPassword, or a random
// password) and a space "files" it manages. A random password is shown on
// console when it is a terminal someone reads; otherwise (systemd's
// journal, a log file) it is written to InitialPasswordFile, readable by
// its owner only, and only that file's name is logged.
func (s *Services) bootstrap(ctx context.Context, adminPassword string, console io.Writer, terminal bool, log *slog.Logger) error {
	users, err := s.Auth.Users(ctx)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return nil
	}
	generated := adminPassword == ""
	var pwFile string
	if generated {
		adminPassword = rand.Text()
		if !terminal {
			// Before the user exists: if this fails, the next start tries
			// again, instead of leaving an admin nobody knows the
			// password of.
			pwFile = filepath.Join(s.Dir, InitialPasswordFile)
			if err := writeSecret(pwFile, adminPassword+"\n"); err != nil {
				return fmt.Errorf("first start: write the admin password: %w", err)
			}
		}
	}
	if _, err := s.Auth.AddUser(ctx, "admin", adminPassword, true); err != nil {
		return fmt.Errorf("first start: create admin: %w", err)
	}
	if _, err := s.Tree.Space(ctx, FirstSpace); errors.Is(err, space.ErrNotFound) {
		if _, err := s.Tree.CreateSpaceWithID(ctx, FirstSpace, "Files", 0); err != nil {
			return fmt.Errorf("first start: create space %q: %w", FirstSpace, err)
		}
	} else if err != nil {
		return err
	}
	if err := s.Auth.Grant(ctx, FirstSpace, "admin", auth.Manager); err != nil {
		return fmt.Errorf("first start: grant admin: %w", err)
	}
	switch {
	case pwFile != "":
		log.WarnContext(ctx, "first start: created user \"admin\"; its password is in a file only this user can read: "+
			"read it, then delete the file (change the password with: wharf user passwd admin)", "file", pwFile)
	case generated:
		fmt.Fprintf(console, "\nFirst start: created user \"admin\" with password\n\n    %s\n\n"+
			"It is shown only this once. Change it with: wharf user passwd admin\n\n", adminPassword)
	default:
		fmt.Fprintf(console, "First start: created user \"admin\" with the password given by --admin-password (WHARF_ADMIN_PASSWORD).\n")
	}
	return nil
}

// writeSecret writes content to name, readable and writable by its owner
// only whatever the umask, replacing any earlier file atomically and
// durably.
func writeSecret(name, content string) error { return diskio.WriteFile(name, []byte(content)) }
