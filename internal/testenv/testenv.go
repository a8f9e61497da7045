// Package testenv is the base that package tests build their fixtures on:
// a data directory with a real SQLite store, the auth service and the space
// tree on it, and helpers that add users, spaces and grants and fail the
// test on error. Each fixture adds its own handlers, servers and buses on
// top. It is test support, like internal/clamdtest and internal/fakeclock,
// and imports store, auth and space of Wharf and the standard library only.
package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/internal/testservers"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Options adjusts New. The zero value is a new temporary data directory on
// the real clock, with fast password hashing.
type Options struct {
	// Dir is the data directory. Empty: a new t.TempDir. Pass the Dir of a
	// closed Env to open its data again, as a restart would.
	Dir string
	// Now is the clock of the auth service and the tree. Nil: time.Now.
	Now func() time.Time
	// Auth holds further settings of the auth service (MaxFailures, …).
	// New sets its DB and Now; PasswordCost 0 means 1, the minimal cost.
	Auth auth.Config
	// Blobs puts the tree in object-store mode on this store
	// (space.Config.Blobs; see Stores). Nil: contents are files of Dir.
	Blobs blob.Store
}

// Env is a data directory with the store (Dir/wharf.db), the auth service
// and the space tree open on it.
type Env struct {
	Dir  string
	DB   *store.DB
	Auth *auth.Service
	Tree *space.Tree

	close func() error
}

// New opens an Env, closed at the end of the test (or earlier by Close). It
// fails the test on error.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Dir: o.Dir}
	if e.Dir == "" {
		e.Dir = t.TempDir()
	}
	var err error
	e.DB, err = store.Open(t.Context(), dbLocation(t, e.Dir))
	if err != nil {
		t.Fatal(err)
	}
	e.close = sync.OnceValue(func() error {
		var errTree error
		if e.Tree != nil {
			errTree = e.Tree.Close()
		}
		return errors.Join(errTree, e.DB.Close())
	})
	t.Cleanup(func() { e.Close() })
	e.Tree, err = space.New(space.Config{DB: e.DB, Dir: e.Dir, Now: o.Now, Blobs: o.Blobs})
	if err != nil {
		t.Fatal(err)
	}
	ac := o.Auth
	ac.DB, ac.Now = e.DB, o.Now
	if ac.PasswordCost == 0 {
		ac.PasswordCost = 1
	}
	e.Auth, err = auth.New(ac)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Close closes the tree, then the store. Only the first call does anything;
// New has it called at the end of the test, ignoring its error.
func (e *Env) Close() error { return e.close() }

// User adds a user with the given password.
func (e *Env) User(t testing.TB, name, password string, admin bool) auth.User {
	t.Helper()
	u, err := e.Auth.AddUser(t.Context(), name, password, admin)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Space creates a space with the given id, display name and quota in bytes
// (0: none).
func (e *Env) Space(t testing.TB, id, name string, quota int64) space.Space {
	t.Helper()
	s, err := e.Tree.CreateSpaceWithID(t.Context(), id, name, quota)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Grant gives user the role in space spaceID.
func (e *Env) Grant(t testing.TB, spaceID, user string, role auth.Role) {
	t.Helper()
	if err := e.Auth.Grant(t.Context(), spaceID, user, role); err != nil {
		t.Fatal(err)
	}
}

// PostgresEnv names the variable that moves the stores of the tests to
// PostgreSQL: the address (host:port) of a server whose superuser
// "postgres" connects from there without a password, such as a cluster of
// internal/testservers. Each data directory then gets a database of its own on
// that server, named after the directory (so that reopening a Dir opens the
// same database). Unset: SQLite, Dir/wharf.db.
const PostgresEnv = "WHARF_TEST_POSTGRES"

func dbLocation(t testing.TB, dir string) string {
	t.Helper()
	addr := os.Getenv(PostgresEnv)
	if addr == "" {
		return filepath.Join(dir, "wharf.db")
	}
	c, err := testservers.AttachPostgres(addr)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(dir))
	name := "testenv_" + hex.EncodeToString(sum[:12])
	// A Dir opened again keeps its database.
	if err := c.CreateDatabase(context.Background(), name, ""); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	return c.URL(name)
}

// SQLiteOnly skips a test of the SQLite file itself (its bytes, an old
// schema written into it) when the stores are in PostgreSQL (PostgresEnv).
func SQLiteOnly(t testing.TB) {
	t.Helper()
	if os.Getenv(PostgresEnv) != "" {
		t.Skip("SQLite only: the test works on the SQLite file itself")
	}
}
