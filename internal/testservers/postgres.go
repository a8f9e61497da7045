// A PostgreSQL cluster of the test's own: initdb in a temporary directory,
// listening on a free loopback port and on a socket inside that directory,
// with durability turned off (tests throw it away; StartPostgresDurable
// keeps it, for benchmarks). It uses the server
// programs of the machine (on PATH, or Debian's
// /usr/lib/postgresql/<version>/bin). PostgreSQL refuses to run as root: as
// root, the cluster runs as the user nobody.

package testservers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a running test server. Its superuser is "postgres", who
// connects without a password from 127.0.0.1.
type Postgres struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how the server ended, once done is closed
	log  string
}

// PostgresBinDir returns the directory holding initdb and postgres, or an error
// saying they are missing.
func PostgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "postgres")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("testservers: postgres: no PostgreSQL server programs (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin; install Debian's postgresql package")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// StartPostgres makes a new cluster and starts its server; the caller stops it
// with Stop.
func StartPostgres(ctx context.Context) (*Postgres, error) { return startPostgres(ctx, false) }

// StartPostgresDurable is StartPostgres with PostgreSQL's default durability
// (fsync, synchronous commit, full page writes), for benchmarks that compare
// it with SQLite's synchronous=FULL.
func StartPostgresDurable(ctx context.Context) (*Postgres, error) { return startPostgres(ctx, true) }

func startPostgres(ctx context.Context, durable bool) (_ *Postgres, err error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wharf-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("testservers: postgres: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	cred, err := credential(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = procAttr(cred, false)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testservers: postgres: initdb: %w\n%s", err, out)
	}
	port, err := pickPort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, fmt.Errorf("testservers: postgres: %w", err)
	}
	defer logf.Close()
	c := &Postgres{dir: dir, port: port, done: make(chan struct{}), log: logf.Name()}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB"}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Pdeathsig: the server goes with the test binary even if that dies
	// before calling Stop.
	c.cmd.SysProcAttr = procAttr(cred, true)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testservers: postgres: start postgres: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// runAs is the user the server runs as, when not the current one.
type runAs struct{ uid, gid uint32 }

// credential returns who runs the server: nil (the current user) unless
// that is root; then nobody, given dir.
func credential(dir string) (*runAs, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("testservers: postgres: running as root, and no user nobody to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("testservers: postgres: %w", err)
	}
	return &runAs{uid: uint32(uid), gid: uint32(gid)}, nil
}

func (c *Postgres) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("testservers: postgres: postgres exited (%v):\n%s", c.err, c.Log())
		case <-ctx.Done():
			return fmt.Errorf("testservers: postgres: postgres not ready: %w\n%s", err, c.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Log returns what the server wrote so far.
func (c *Postgres) Log() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// URL returns the URL of database db of the cluster, as the superuser.
func (c *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates database name, a copy of template ("" for
// PostgreSQL's default, template1).
func (c *Postgres) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("testservers: postgres: %w", err)
	}
	defer conn.Close(ctx)
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("testservers: postgres: create database %s: %w", name, err)
	}
	return nil
}

// Exec runs SQL on database db as the superuser.
func (c *Postgres) Exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		return fmt.Errorf("testservers: postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("testservers: postgres: %s: %w", strings.Fields(sql)[0], err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: clients are disconnected)
// and removes the cluster's directory.
func (c *Postgres) Stop() error {
	if c.cmd == nil {
		return nil
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	return os.RemoveAll(c.dir)
}

// Addr returns the host:port of the server, for AttachPostgres in another process.
func (c *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// AttachPostgres returns a Postgres for the server another process started (its
// Addr). Stop does nothing on it.
func AttachPostgres(addr string) (*Postgres, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("testservers: postgres: attach %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("testservers: postgres: attach %q: %w", addr, err)
	}
	return &Postgres{port: port}, nil
}
