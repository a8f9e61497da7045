package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/testservers"
)

// The store's tests run twice: on SQLite, then, in a second run of the
// test binary, on PostgreSQL (a cluster of the tests' own, internal/testservers).
// Each test opens its database with testLocation, a new file or a new
// PostgreSQL database. Without PostgreSQL's programs the second run is
// skipped, loudly; under CI=true that fails.

// pgEnv carries the address of the cluster to the second run.
const pgEnv = "WHARF_STORE_TEST_POSTGRES"

// testPG is the cluster of the PostgreSQL run; nil in the SQLite run.
var testPG *testservers.Postgres

func TestMain(m *testing.M) {
	if path := os.Getenv(commitEnv); path != "" {
		os.Exit(commitAndExit(path)) // walindex_test.go
	}
	if addr := os.Getenv(pgEnv); addr != "" {
		c, err := testservers.AttachPostgres(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		testPG = c
		os.Exit(m.Run())
	}
	code := m.Run()
	os.Exit(max(code, runOnPostgres()))
}

// runOnPostgres runs this test binary again, with the same flags, on a new
// PostgreSQL cluster, and returns its exit code.
func runOnPostgres() int {
	if _, err := testservers.PostgresBinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: store tests on PostgreSQL: %v (CI=true)\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "SKIP: store tests on PostgreSQL: %v\n", err)
		return 0
	}
	ctx := context.Background()
	c, err := testservers.StartPostgres(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: store tests on PostgreSQL: %v\n", err)
		return 1
	}
	defer c.Stop()
	fmt.Println("=== store tests again, on PostgreSQL")
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), pgEnv+"="+c.Addr())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return max(ee.ExitCode(), 1)
		}
		fmt.Fprintf(os.Stderr, "FAIL: store tests on PostgreSQL: %v\n", err)
		return 1
	}
	return 0
}

var (
	pgTemplate     sync.Once
	pgTemplateErr  error
	pgDatabaseSeq  atomic.Int64
	pgTemplateName = "wharf_template"
)

// testLocation returns where a test's new, empty database is: a file in a
// temporary directory, or a new PostgreSQL database (a copy of one
// migrated once, so each test does not pay for the migrations), dropped at
// the end of the test.
func testLocation(t testing.TB) string {
	t.Helper()
	if testPG == nil {
		return filepath.Join(t.TempDir(), "wharf.db")
	}
	ctx := context.Background()
	pgTemplate.Do(func() {
		if pgTemplateErr = testPG.CreateDatabase(ctx, pgTemplateName, ""); pgTemplateErr != nil {
			return
		}
		var db *DB
		if db, pgTemplateErr = Open(ctx, testPG.URL(pgTemplateName)); pgTemplateErr == nil {
			pgTemplateErr = db.Close()
		}
	})
	if pgTemplateErr != nil {
		t.Fatal(pgTemplateErr)
	}
	name := fmt.Sprintf("t%d_%s", pgDatabaseSeq.Add(1), strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())))
	name = name[:min(len(name), 60)]
	// The template's last connections may still be closing on the server.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := testPG.CreateDatabase(ctx, name, pgTemplateName)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "being accessed by other users") || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		if err := testPG.Exec(ctx, "postgres", "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return testPG.URL(name)
}

// onPostgres says whether the tests run on PostgreSQL.
func onPostgres() bool { return testPG != nil }

// sqliteOnly skips a test of what only SQLite has (files, pragmas).
func sqliteOnly(t testing.TB) {
	t.Helper()
	if testPG != nil {
		t.Skip("SQLite only: " + t.Name() + " tests SQLite's file or pragmas")
	}
}
