// Command davbench measures Wharf's WebDAV against two peers on loopback, one
// server at a time with the same client code: the bare golang.org/x/net/webdav
// handler (bench/xnetdav) and "rclone serve webdav". Each server gets a fresh
// temporary directory holding the same tree: a folder of small files, served
// by Wharf as space "files" (adopted on its first start).
//
// It prints a markdown table for docs/benchmarks.md on stdout, with the
// command line and the machine it ran on; progress goes to stderr. The run is
// bounded by -timeout; servers are stopped and temporary directories removed
// at the end, on error and on Ctrl-C.
//
//	make build && go run ./bench/davbench            # full run
//	go run ./bench/davbench -quick                   # smoke run, about a minute
//	go run ./bench/davbench -small                   # 4 KiB GET/PUT, every credential, one connection (small.go)
//	go run ./bench/davbench -replicas 3              # 1 replica direct, behind a proxy, 3 behind it (replicas.go)
//
// It imports only the standard library (and, for -replicas -db postgres,
// internal/testservers to start PostgreSQL) and builds bench/xnetdav with
// the go command unless -xnet names a built one.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config is what the flags say.
type config struct {
	Wharf   string        // wharf binary
	XNet    string        // xnetdav binary; "": built from bench/xnetdav
	Rclone  string        // rclone binary, looked up in PATH; "": skipped
	Servers []string      // which servers to run, in order
	Files   int           // files in the listed folder
	BigSize int64         // size of the big PUT/GET
	Load    time.Duration // length of each concurrent phase
	Conns   int           // concurrent connections in the load phases
	Timeout time.Duration // bound on the whole run
	TmpDir  string        // parent of the temporary directories; "": os.TempDir
	Base    string        // -small: another wharf binary measured beside (before/after)
	BaseAll bool          // -small: the baseline with every credential too, not Basic alone
}

const (
	propWarmups = 3
	propRuns    = 15
	smallSize   = 100     // bytes per file of the listed folder
	loadSize    = 4 << 10 // bytes per request of the load phases
	loadNames   = 8       // files each load worker cycles over
	user        = "admin"
)

// allServers are the columns, in order.
var allServers = []string{"wharf", "xnet", "rclone"}

var columnTitle = map[string]string{
	"wharf":  "Wharf",
	"xnet":   "x/net/webdav",
	"rclone": "rclone serve",
}

func main() {
	var cfg config
	var quick bool
	var servers string
	flag.StringVar(&cfg.Wharf, "wharf", "bin/wharf", "wharf binary (make build)")
	flag.StringVar(&cfg.XNet, "xnet", "", "xnetdav binary; empty: go build ./bench/xnetdav into a temporary directory")
	flag.StringVar(&cfg.Rclone, "rclone", "rclone", "rclone binary (looked up in PATH); empty: skip rclone")
	flag.StringVar(&servers, "servers", strings.Join(allServers, ","), "servers to measure, comma-separated")
	flag.BoolVar(&quick, "quick", false, "smoke run: 1,000 files, 64 MiB file, 2 s load phases")
	flag.IntVar(&cfg.Files, "files", 0, "files in the listed folder (default 10000; -quick 1000)")
	size := flag.String("size", "", "size of the big file, e.g. 1GiB, 64MiB (default 1GiB; -quick 64MiB)")
	flag.DurationVar(&cfg.Load, "load", 0, "length of each concurrent phase (default 5s; -quick 2s)")
	flag.IntVar(&cfg.Conns, "conns", 16, "concurrent connections in the load phases")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "the whole run stops after this long")
	flag.StringVar(&cfg.TmpDir, "tmp", "", "where to make temporary directories (default $TMPDIR or /tmp)")
	flag.StringVar(&cfg.Base, "baseline", "", "-small: another wharf binary (an older build) measured beside -wharf, with Basic")
	flag.BoolVar(&cfg.BaseAll, "baseline-all", false, "-small: measure -baseline with an app password, a token and a session cookie too")
	small := flag.Bool("small", false, "instead: the small-file run (4 KiB GET/PUT, every credential of Wharf, one connection), all servers at once taking turns")
	rounds := flag.Int("rounds", 5, "-small: rounds of turns (-quick 2)")
	phase := flag.Duration("phase", 2*time.Second, "-small, -replicas: length of one turn (-quick 1s)")
	replicas := flag.Int("replicas", 0, "instead: N Wharf replicas on one data directory and database, behind a round-robin proxy started here, taking turns with replica 1 direct and behind the proxy (replicas.go)")
	db := flag.String("db", "sqlite", "-replicas: the database, sqlite (in the shared data directory) or postgres (a cluster started here; needs initdb and postgres)")
	profDir := flag.String("profile", "", "-replicas: write CPU profiles of every replica (a -wharf built with -tags pprof), last round, to this directory")
	flag.StringVar(&replicaEnv, "replica-env", "", "-replicas: more environment for every replica, e.g. GOMAXPROCS=1 (comma-separated KEY=VALUE)")
	blobs := flag.String("blobs", "", "-replicas: s3 to keep the file contents in an S3 bucket (SeaweedFS's gateway started here, bin/tools/weed-* or $WHARF_WEED; needs -db postgres), each replica with a data directory of its own, plus a column of one more replica on SQLite + S3")
	lb := flag.String("lb", "http", "-replicas: the proxies to measure, comma-separated: http (round robin per request), tcp (per connection)")
	backends := flag.String("backends", "", "instead: start PostgreSQL and SeaweedFS's S3 gateway for tusbench -db/-blobs, write their settings to this file as shell exports, serve until interrupted (backends.go)")
	proxyFor := flag.String("proxy-for", "", "internal: serve as the round-robin proxy in front of these host:port, comma-separated")
	proxyMode := flag.String("proxy-mode", "http", "internal: with -proxy-for, http or tcp")
	flag.Parse()
	if *proxyFor != "" {
		os.Exit(serveProxy(*proxyFor, *proxyMode))
	}

	if cfg.Files == 0 {
		cfg.Files = 10000
		if quick {
			cfg.Files = 1000
		}
	}
	if cfg.Load == 0 {
		cfg.Load = 5 * time.Second
		if quick {
			cfg.Load = 2 * time.Second
		}
	}
	cfg.BigSize = 1 << 30
	if quick {
		cfg.BigSize = 64 << 20
	}
	if *size != "" {
		n, err := parseSize(*size)
		if err != nil {
			fatalf("-size: %v", err)
		}
		cfg.BigSize = n
	}
	for s := range strings.SplitSeq(servers, ",") {
		s = strings.TrimSpace(s)
		if _, ok := columnTitle[s]; !ok {
			fatalf("-servers: unknown server %q (want %s)", s, strings.Join(allServers, ","))
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	if cfg.Files < 1 || cfg.Conns < 1 || cfg.BigSize < 1 || cfg.Load <= 0 {
		fatalf("-files, -conns, -size and -load must be positive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var code int
	if *backends != "" {
		code = serveBackends(ctx, *backends)
	} else if *replicas > 0 {
		if *db != "sqlite" && *db != "postgres" {
			fatalf("-db: %q is neither sqlite nor postgres", *db)
		}
		given := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if quick && !given["rounds"] {
			*rounds = 2
		}
		if quick && !given["phase"] {
			*phase = time.Second
		}
		var lbs []string
		for m := range strings.SplitSeq(*lb, ",") {
			if m = strings.TrimSpace(m); lbTitle[m] == "" {
				fatalf("-lb: %q is neither http nor tcp", m)
			}
			lbs = append(lbs, m)
		}
		if *blobs != "" && *blobs != "s3" {
			fatalf("-blobs: %q is not s3", *blobs)
		}
		if *blobs == "s3" && *db != "postgres" {
			fatalf("-blobs s3: replicas with a data directory each share only the database: use -db postgres")
		}
		code = replicaRun(ctx, cfg, *replicas, *db, *blobs, lbs, *rounds, *phase, *profDir)
	} else if *small {
		if quick {
			*rounds, *phase = 2, time.Second
		}
		code = smallRun(ctx, cfg, *rounds, *phase)
	} else {
		code = run(ctx, cfg)
	}
	cancel()
	stop()
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "davbench: "+format+"\n", args...)
	os.Exit(2)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "davbench: "+format+"\n", args...)
}

// bench is one run: the config, the results so far and the notes.
type bench struct {
	cfg    config
	root   string                       // temporary directory holding everything
	folder string                       // name of the listed folder, e.g. bench10k
	cells  map[string]map[string]string // server -> row -> cell
	notes  []string
	floor  []time.Duration // -small: the disk's three flushes in a row (internal/flushfloor)
}

func (b *bench) set(server, row, cell string) {
	if b.cells[server] == nil {
		b.cells[server] = map[string]string{}
	}
	b.cells[server][row] = cell
}

func (b *bench) note(server, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if server != "" {
		msg = columnTitle[server] + ": " + msg
	}
	progress("%s", msg)
	b.notes = append(b.notes, msg)
}

func run(ctx context.Context, cfg config) int {
	root, err := os.MkdirTemp(cfg.TmpDir, "davbench-")
	if err != nil {
		progress("%v", err)
		return 1
	}
	defer os.RemoveAll(root)
	b := &bench{cfg: cfg, root: root, folder: folderName(cfg.Files), cells: map[string]map[string]string{}}
	start := time.Now()
	for _, s := range cfg.Servers {
		if ctx.Err() != nil {
			break
		}
		progress("--- %s", columnTitle[s])
		if err := b.server(ctx, s); err != nil {
			b.note(s, "stopped early: %v", err)
		}
	}
	failed := ctx.Err() != nil
	if failed {
		b.note("", "run cut short after %s: %v", time.Since(start).Round(time.Second), context.Cause(ctx))
	}
	b.print(os.Stdout, time.Since(start))
	if failed {
		return 1
	}
	return 0
}

func folderName(n int) string {
	if n%1000 == 0 {
		return fmt.Sprintf("bench%dk", n/1000)
	}
	return fmt.Sprintf("bench%d", n)
}

// server measures one server in its own temporary directory, which it
// removes, after stopping the server, before returning.
func (b *bench) server(ctx context.Context, kind string) error {
	dir, err := os.MkdirTemp(b.root, kind+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pass := randomPassword()

	var (
		p      *proc
		prefix string // URL path of the folder holding the tree
		tree   string // where the tree is created on disk
	)
	switch kind {
	case "wharf":
		if _, err := os.Stat(b.cfg.Wharf); err != nil {
			b.set(kind, rowStart, "error: no binary")
			return fmt.Errorf("%s: %w (run make build, or pass -wharf)", b.cfg.Wharf, err)
		}
		data := filepath.Join(dir, "data")
		tree = filepath.Join(data, "spaces", "files")
		prefix = "/dav/spaces/files/"
	case "xnet", "rclone":
		tree = filepath.Join(dir, "root")
		prefix = "/"
	}
	progress("creating %d files in %s", b.cfg.Files, filepath.Join(tree, b.folder))
	if err := makeTree(filepath.Join(tree, b.folder), b.cfg.Files); err != nil {
		return err
	}

	xnet := b.cfg.XNet
	if kind == "xnet" && xnet == "" {
		if xnet, err = b.buildXNet(ctx); err != nil {
			b.set(kind, rowStart, "error: build failed")
			return err
		}
	}
	flushDisks()
	t0 := time.Now()
	switch kind {
	case "wharf":
		p, err = startProc(ctx, dir, wharfServing, b.cfg.Wharf, []string{"serve"},
			"WHARF_DATA="+filepath.Join(dir, "data"), "WHARF_LISTEN=127.0.0.1:0", "WHARF_ADMIN_PASSWORD="+pass)
	case "xnet":
		p, err = startProc(ctx, dir, xnetServing, xnet, []string{"-dir", tree, "-addr", "127.0.0.1:0", "-user", user, "-pass", pass})
	case "rclone":
		if b.cfg.Rclone == "" {
			b.set(kind, rowStart, "skipped")
			b.note(kind, "skipped (-rclone \"\")")
			return nil
		}
		bin, lerr := execLookPath(b.cfg.Rclone)
		if lerr != nil {
			b.set(kind, rowStart, "skipped: not installed")
			b.note(kind, "SKIPPED: %s not found (apt-get install rclone)", b.cfg.Rclone)
			return nil
		}
		port, perr := freePort()
		if perr != nil {
			return perr
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err = startProc(ctx, dir, nil, bin, []string{"serve", "webdav", tree, "--addr", addr,
			"--user", user, "--pass", pass, "--config", filepath.Join(dir, "rclone.conf")})
		if err == nil {
			p.addr = addr
		}
	}
	if err != nil {
		b.set(kind, rowStart, "error: did not start")
		return err
	}
	defer p.stop()

	t := newTarget("http://"+p.addr, prefix, pass)
	if err := t.waitReady(ctx, p); err != nil {
		b.set(kind, rowStart, "error: not ready")
		return fmt.Errorf("%w\n%s", err, p.tail(20))
	}
	b.set(kind, rowStart, fmtMS(time.Since(t0)))
	progress("%s serving on %s after %s", columnTitle[kind], p.addr, time.Since(t0).Round(time.Millisecond))

	if err := b.checkTree(ctx, kind, t); err != nil {
		return err
	}
	if err := b.measure(ctx, kind, t); err != nil {
		return err
	}
	if hwm, err := peakRSS(p.cmd.Process.Pid); err != nil {
		b.set(kind, rowRSS, "n/a")
	} else {
		b.set(kind, rowRSS, fmt.Sprintf("%.0f MiB", float64(hwm)/(1<<20)))
	}
	if code := p.stop(); code != 0 && code != -1 {
		b.note(kind, "exit status %d after SIGTERM", code)
	}
	return nil
}

// buildXNet builds bench/xnetdav into the run's temporary directory.
func (b *bench) buildXNet(ctx context.Context) (string, error) {
	bin := filepath.Join(b.root, "xnetdav")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	progress("building bench/xnetdav")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/wharfhq/wharf/bench/xnetdav")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build bench/xnetdav (run davbench from inside the wharf module, or pass -xnet): %v\n%s", err, out)
	}
	return bin, nil
}

// makeTree writes n files of smallSize bytes, f00000.txt onwards, in dir.
func makeTree(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fileName(i)), fileBody(i), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fileName(i int) string { return fmt.Sprintf("f%05d.txt", i) }

// fileBody is the smallSize bytes of file i.
func fileBody(i int) []byte {
	b := bytes.Repeat([]byte{'.'}, smallSize)
	copy(b, fmt.Sprintf("davbench file %05d ", i))
	b[smallSize-1] = '\n'
	return b
}

// checkTree verifies that the server lists the whole folder. Wharf gets its
// files by adopting the directory on first start; if it did not, they are
// uploaded with PUT, and a note says so.
func (b *bench) checkTree(ctx context.Context, kind string, t *target) error {
	want := b.cfg.Files + 1
	folder := b.folder + "/"
	_, n, err := t.propfind(ctx, folder, propBody, true)
	var se *statusError
	switch {
	case err == nil && n == want:
		progress("PROPFIND lists %d responses, as expected", n)
		return nil
	case err == nil:
		b.note(kind, "PROPFIND Depth 1 of %s listed %d responses, want %d", folder, n, want)
	case errors.As(err, &se):
		// The listing cannot be checked; fetch the first and last files.
		first, last := fileName(0), fileName(b.cfg.Files-1)
		e1 := t.getSmall(ctx, folder+first, fileBody(0))
		e2 := t.getSmall(ctx, folder+last, fileBody(b.cfg.Files-1))
		if e1 == nil && e2 == nil {
			b.note(kind, "listing not verified (PROPFIND answers %d); GET of %s and %s is right, so the tree is there", se.code, first, last)
			return nil
		}
		b.note(kind, "PROPFIND answers %d and GET %s: %v", se.code, first, errors.Join(e1, e2))
	default:
		return err
	}
	if kind != "wharf" {
		return nil
	}
	b.note(kind, "adoption of the pre-made tree did not happen; uploading %d files with PUT instead", b.cfg.Files)
	if err := t.mkcol(ctx, folder); err != nil {
		return err
	}
	// In parallel: Wharf fsyncs every PUT, so one connection takes minutes.
	next := make(chan int)
	errc := make(chan error, b.cfg.Conns)
	var wg sync.WaitGroup
	for range b.cfg.Conns {
		wg.Go(func() {
			for i := range next {
				if err := t.put(ctx, folder+fileName(i), fileBody(i)); err != nil {
					errc <- fmt.Errorf("uploading %s: %w", fileName(i), err)
					return
				}
			}
		})
	}
	err = nil
feed:
	for i := range b.cfg.Files {
		select {
		case next <- i:
		case err = <-errc:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errc) > 0 {
		err = <-errc
	}
	if err != nil {
		return err
	}
	if _, n, err := t.propfind(ctx, folder, propBody, true); err == nil && n != want {
		b.note(kind, "after upload, PROPFIND lists %d responses, want %d", n, want)
	}
	return nil
}

// Row keys, in table order.
const (
	rowStart     = "start"
	rowPropfind  = "propfind"
	rowPropRatio = "propfind-ratio"
	rowAllprop   = "allprop"
	rowAllRatio  = "allprop-ratio"
	rowCold      = "cold"
	rowColdRatio = "cold-ratio"
	rowPutBig    = "put-big"
	rowGetBig    = "get-big"
	rowGetAgain  = "get-big-again"
	rowPutLoad   = "put-load"
	rowGetLoad   = "get-load"
	rowRSS       = "rss"
)

// propBody is the PROPFIND body file managers send: the properties a
// listing shows, nothing else.
const propBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/><d:getcontenttype/></d:prop></d:propfind>`

// measure runs the measurements in order. An error of one measurement goes
// into its cell; only a cancelled run stops the rest.
func (b *bench) measure(ctx context.Context, kind string, t *target) error {
	folder := b.folder + "/"
	for _, m := range []struct {
		row, body string
	}{{rowPropfind, propBody}, {rowAllprop, ""}} {
		progress("PROPFIND %s (%s), %d warm-ups + %d runs", folder, map[bool]string{true: "allprop", false: "5 props"}[m.body == ""], propWarmups, propRuns)
		d, err := t.propfindRuns(ctx, folder, m.body)
		if err != nil {
			b.set(kind, m.row, cellErr(err))
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		b.set(kind, m.row+"-ms", strconv.FormatFloat(ms(median(d)), 'f', -1, 64))
		b.set(kind, m.row, fmt.Sprintf("%s (p95 %s)", fmtMS(median(d)), fmtMS(p95(d))))
	}

	// Cold: each listing right after a change in the listed folder, which
	// makes Wharf read its index again.
	progress("PROPFIND %s (5 props), each after a PUT into it, %d runs", folder, propRuns)
	if d, err := t.coldPropfinds(ctx, folder); err != nil {
		b.set(kind, rowCold, cellErr(err))
	} else {
		b.set(kind, rowCold+"-ms", strconv.FormatFloat(ms(median(d)), 'f', -1, 64))
		b.set(kind, rowCold, fmt.Sprintf("%s (p95 %s)", fmtMS(median(d)), fmtMS(p95(d))))
	}

	big := "davbench-big.bin"
	flushDisks()
	progress("PUT %s of %s", fmtBytes(b.cfg.BigSize), big)
	if d, err := t.putBig(ctx, big, b.cfg.BigSize); err != nil {
		b.set(kind, rowPutBig, cellErr(err))
	} else {
		b.set(kind, rowPutBig, fmtRate(b.cfg.BigSize, d))
		// The first GET reads what the PUT left in the page cache, which
		// depends on how the server wrote; the second, what the first
		// left: the whole file, for every server.
		for _, row := range []string{rowGetBig, rowGetAgain} {
			progress("GET %s back", big)
			if d, err := t.getBig(ctx, big, b.cfg.BigSize); err != nil {
				b.set(kind, row, cellErr(err))
			} else {
				b.set(kind, row, fmtRate(b.cfg.BigSize, d))
			}
		}
		if err := t.delete(ctx, big); err != nil {
			b.note(kind, "DELETE %s: %v", big, err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	flushDisks()
	if err := t.mkcol(ctx, "load/"); err != nil {
		b.set(kind, rowPutLoad, cellErr(err))
		b.set(kind, rowGetLoad, cellErr(err))
		return nil
	}
	names := make([][]string, b.cfg.Conns)
	for w := range names {
		for i := range loadNames {
			names[w] = append(names[w], fmt.Sprintf("load/w%02d-%d.bin", w, i))
		}
	}
	payload := make([]byte, loadSize)
	fillPattern(payload, 7)
	for _, m := range []struct{ row, method string }{{rowPutLoad, http.MethodPut}, {rowGetLoad, http.MethodGet}} {
		if m.method == http.MethodGet {
			// Every name must exist, whatever the PUT phase managed.
			for _, ns := range names {
				for _, n := range ns {
					if err := t.put(ctx, n, payload); err != nil {
						b.set(kind, m.row, cellErr(err))
						return nil
					}
				}
			}
		}
		flushDisks()
		progress("%s 4 KiB, %d connections, %s", m.method, b.cfg.Conns, b.cfg.Load)
		r := t.load(ctx, m.method, names, payload, b.cfg.Load)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cell := fmt.Sprintf("%.0f req/s, p95 %s, %d errors", float64(r.ok)/r.elapsed.Seconds(), fmtMS(p95(r.lat)), r.errs)
		if r.errs > 0 {
			b.note(kind, "%s 4 KiB: %d of %d requests failed; first: %s", m.method, r.errs, r.ok+r.errs, r.firstErr)
		}
		b.set(kind, m.row, cell)
	}
	return nil
}

// print writes the report in markdown.
func (b *bench) print(w io.Writer, took time.Duration) {
	cfg := b.cfg
	fmt.Fprintf(w, "\n### WebDAV on loopback: Wharf and peers\n\n")
	fmt.Fprintf(w, "```\n%s\n```\n\n", commandLine())
	rows := []struct{ key, label string }{
		{rowStart, "Start until serving (Wharf: first start, indexes the tree)"},
		{rowPropfind, fmt.Sprintf("PROPFIND Depth 1, %s files, 5 props: median (p95)", thousands(cfg.Files))},
		{rowPropRatio, "… Wharf time / this server's time"},
		{rowAllprop, fmt.Sprintf("PROPFIND Depth 1, %s files, allprop (empty body): median (p95)", thousands(cfg.Files))},
		{rowAllRatio, "… Wharf time / this server's time"},
		{rowCold, fmt.Sprintf("PROPFIND Depth 1, %s files, 5 props, cold (each right after a PUT of one more file into the folder): median (p95)", thousands(cfg.Files))},
		{rowColdRatio, "… Wharf time / this server's time"},
		{rowPutBig, fmt.Sprintf("PUT %s, one stream", fmtBytes(cfg.BigSize))},
		{rowGetBig, fmt.Sprintf("GET %s, one stream, right after the PUT", fmtBytes(cfg.BigSize))},
		{rowGetAgain, fmt.Sprintf("GET %s again (the file in the page cache)", fmtBytes(cfg.BigSize))},
		{rowPutLoad, fmt.Sprintf("PUT 4 KiB overwrites, %d connections, %s", cfg.Conns, cfg.Load)},
		{rowGetLoad, fmt.Sprintf("GET 4 KiB, %d connections, %s", cfg.Conns, cfg.Load)},
		{rowRSS, "Peak RSS of the server (VmHWM)"},
	}
	for _, r := range []struct{ ratio, base string }{{rowPropRatio, rowPropfind}, {rowAllRatio, rowAllprop}, {rowColdRatio, rowCold}} {
		wv, werr := strconv.ParseFloat(b.cells["wharf"][r.base+"-ms"], 64)
		for _, s := range cfg.Servers {
			pv, perr := strconv.ParseFloat(b.cells[s][r.base+"-ms"], 64)
			switch {
			case s == "wharf":
				b.set(s, r.ratio, "—")
			case werr != nil || perr != nil || pv == 0:
				b.set(s, r.ratio, "—")
			default:
				b.set(s, r.ratio, fmt.Sprintf("%.2f", wv/pv))
			}
		}
	}
	fmt.Fprint(w, "| Measurement |")
	for _, s := range cfg.Servers {
		fmt.Fprintf(w, " %s |", columnTitle[s])
	}
	fmt.Fprint(w, "\n|---|")
	for range cfg.Servers {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.label)
		for _, s := range cfg.Servers {
			c := b.cells[s][r.key]
			if c == "" {
				c = "—"
			}
			fmt.Fprintf(w, " %s |", c)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nOne server at a time, each on a fresh temporary directory holding the same tree, "+
		"driven by the same Go net/http client (keep-alive, no compression) over 127.0.0.1. "+
		"PROPFIND: %d warm-ups then %d timed runs, whole body read. MB/s is 10^6 bytes per second. "+
		"Load phases: each connection PUTs or GETs its own %d names in turn; any transport error or non-2xx status counts as an error. "+
		"Wharf fsyncs every PUT before answering and logs every request at info level; the peers do neither. "+
		"Wharf writes big files around the page cache (O_DIRECT), so its first GET of the big file reads the disk; the peers' first GET reads the cache their PUT filled. "+
		"Dirty pages are flushed (sync) before each server starts and before the big-file and load phases. "+
		"rclone runs with its defaults (--vfs-cache-mode off). Whole run: %s.\n",
		propWarmups, propRuns, loadNames, took.Round(time.Second))
	if len(b.notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range b.notes {
			fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	fmt.Fprintln(w, "\nMachine:")
	for _, kv := range machineInfo(cfg, b.root) {
		fmt.Fprintf(w, "- %s\n", kv)
	}
}

// commandLine is how to repeat this run.
func commandLine() string {
	var args []string
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = strconv.Quote(a)
		}
		args = append(args, a)
	}
	cmd := os.Args[0]
	if strings.Contains(cmd, "go-build") {
		cmd = "go run ./bench/davbench"
	}
	return strings.TrimSpace(cmd + " " + strings.Join(args, " "))
}

func machineInfo(cfg config, tmp string) []string {
	var out []string
	if v, err := exec.Command("go", "version").Output(); err == nil {
		out = append(out, "go: "+strings.TrimSpace(string(v)))
	} else {
		out = append(out, "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	}
	out = append(out, fmt.Sprintf("nproc: %d", runtime.NumCPU()))
	if m := cpuModel(); m != "" {
		out = append(out, "CPU: "+m)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(firstLine(string(b), "MemTotal:")); len(f) >= 2 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out = append(out, fmt.Sprintf("memory: %.1f GiB", float64(kb)/(1<<20)))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		out = append(out, "kernel: "+runtime.GOOS+" "+strings.TrimSpace(string(b)))
	}
	if fs := fsType(tmp); fs != "" {
		out = append(out, fmt.Sprintf("temporary directories: %s (%s)", filepath.Dir(tmp), fs))
	}
	if slices.Contains(cfg.Servers, "wharf") {
		if v, err := exec.Command(cfg.Wharf, "version").Output(); err == nil {
			out = append(out, "wharf: "+strings.TrimSpace(string(v)))
		}
	}
	if slices.Contains(cfg.Servers, "rclone") && cfg.Rclone != "" {
		if v, err := exec.Command(cfg.Rclone, "version").Output(); err == nil {
			out = append(out, "rclone: "+strings.TrimSpace(firstLine(string(v), "")))
		}
	}
	return out
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	l := firstLine(string(b), "model name")
	if _, v, ok := strings.Cut(l, ":"); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// firstLine is the first line of s starting with prefix.
func firstLine(s, prefix string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// fsType is the type of the file system holding dir, from /proc/mounts.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, typ := "", ""
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, typ = mp, f[2]
		}
	}
	return typ
}

// peakRSS is VmHWM of process pid in bytes (Linux only).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(firstLine(string(b), "VmHWM:"))
	if len(f) < 3 || f[2] != "kB" {
		return 0, errors.New("no VmHWM")
	}
	kb, err := strconv.ParseInt(f[1], 10, 64)
	return kb << 10, err
}

// ---- server processes

var (
	wharfServing = regexp.MustCompile(`msg=serving addr=(\S+)|"msg":"serving".*?"addr":"([^"]+)"`)
	xnetServing  = regexp.MustCompile(`^(127\.0\.0\.1:\d+)$`)
)

// proc is a running server whose output goes to a log file.
type proc struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	addrc   chan string
	done    chan struct{}
	once    sync.Once
	code    int
}

// startProc starts bin with args and extra environment env, its output
// logged to dir/server.log. If serving is not nil, p.addr is taken from the
// first output line it matches, within a minute.
func startProc(ctx context.Context, dir string, serving *regexp.Regexp, bin string, args []string, env ...string) (*proc, error) {
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The server runs in dir: a relative path would name another file.
	if bin, err = filepath.Abs(bin); err != nil {
		logf.Close()
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{cmd: cmd, logPath: logPath, addrc: make(chan string, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return nil, err
	}
	pw.Close()
	go func() {
		// The server's log costs this process, which also runs the load,
		// as little as it can: once the address is found no line is
		// matched, and lines are written to the file in bulk, whenever the
		// pipe has no more for now (tail reads the file).
		defer logf.Close()
		br := bufio.NewReader(pr)
		bw := bufio.NewWriterSize(logf, 64<<10)
		defer bw.Flush()
		match := serving
		for {
			line, err := br.ReadString('\n')
			bw.WriteString(line)
			if br.Buffered() == 0 {
				bw.Flush()
			}
			if match != nil {
				if m := match.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
					p.addrc <- firstGroup(m) // room for one
					match = nil
				}
			}
			if err != nil {
				pr.Close()
				return
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	if serving == nil {
		return p, nil
	}
	select {
	case a := <-p.addrc:
		p.addr = a
		return p, nil
	case <-p.done:
		err = fmt.Errorf("%s exited before serving (%s):\n%s", filepath.Base(bin), cmd.ProcessState, p.tail(20))
	case <-time.After(time.Minute):
		err = fmt.Errorf("%s did not serve within a minute:\n%s", filepath.Base(bin), p.tail(20))
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.stop()
	return nil, err
}

// firstGroup is the first non-empty group of a submatch.
func firstGroup(m []string) string {
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// stop sends SIGTERM, waits up to 15 s, then kills. It returns the exit
// status (-1 if killed by a signal) and may be called more than once.
func (p *proc) stop() int {
	p.once.Do(func() {
		select {
		case <-p.done:
		default:
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				p.cmd.Process.Kill()
			}
			select {
			case <-p.done:
			case <-time.After(15 * time.Second):
				progress("%s did not stop within 15s of SIGTERM; killing it", filepath.Base(p.cmd.Path))
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		p.code = p.cmd.ProcessState.ExitCode()
	})
	return p.code
}

// tail is the last n lines the server printed.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// cleanEnv is the environment without anything that would configure the
// servers behind our back.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WHARF_") || strings.HasPrefix(kv, "STATE_DIRECTORY=") || strings.HasPrefix(kv, "RCLONE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var execLookPath = exec.LookPath

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- the client

// target is one server as the client sees it. Its methods are safe for
// concurrent use.
type target struct {
	base   string // http://127.0.0.1:port + prefix, ends in '/'
	pass   string
	client *http.Client
	// auth sets the credentials of a request; nil: Basic user:pass.
	auth func(*http.Request)
}

func newTarget(origin, prefix, pass string) *target {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &target{base: origin + prefix, pass: pass, client: &http.Client{Transport: tr}}
}

// statusError is an answer with an unexpected status.
type statusError struct {
	method, path string
	code         int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.code, e.body)
}

// cellErr is how an error shows in a table cell; the details go in notes.
func cellErr(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("error: %d", se.code)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "error: cut short"
	default:
		return "error: " + firstWords(err.Error(), 6)
	}
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = append(f[:n], "…")
	}
	return strings.Join(f, " ")
}

func (t *target) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, body)
	if err != nil {
		return nil, err
	}
	if t.auth != nil {
		t.auth(req)
	} else {
		req.SetBasicAuth(user, t.pass)
	}
	return req, nil
}

// check turns a non-2xx answer into a statusError and closes its body.
func check(resp *http.Response, want ...int) error {
	ok := resp.StatusCode/100 == 2
	if len(want) > 0 {
		ok = slices.Contains(want, resp.StatusCode)
	}
	if ok {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	resp.Body.Close()
	return &statusError{resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, firstWords(string(b), 20)}
}

// waitReady polls until the server answers an authenticated OPTIONS on the
// prefix, or p exits.
func (t *target) waitReady(ctx context.Context, p *proc) error {
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := t.request(ctx, http.MethodOptions, "", nil)
		if err != nil {
			return err
		}
		resp, err := t.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("OPTIONS %s: %s", req.URL, resp.Status)
		}
		select {
		case <-p.done:
			return fmt.Errorf("server exited: %s", p.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within a minute: %v", err)
		}
	}
}

// propfind sends one Depth 1 PROPFIND of path with body and reads the whole
// answer, which must be 207. It returns how long that took and, if count,
// how many DAV:response elements the answer holds.
func (t *target) propfind(ctx context.Context, path, body string, count bool) (time.Duration, int, error) {
	req, err := t.request(ctx, "PROPFIND", path, strings.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Depth", "1")
	if body != "" {
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	}
	var buf bytes.Buffer
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	if err := check(resp, http.StatusMultiStatus); err != nil {
		return 0, 0, err
	}
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil || !count {
		return d, 0, err
	}
	n, err := countResponses(&buf)
	return d, n, err
}

func countResponses(r io.Reader) (int, error) {
	dec := xml.NewDecoder(r)
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("PROPFIND answer: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space == "DAV:" && se.Name.Local == "response" {
			n++
		}
	}
}

// propfindRuns is propWarmups untimed PROPFINDs, then propRuns timed ones.
func (t *target) propfindRuns(ctx context.Context, path, body string) ([]time.Duration, error) {
	var ds []time.Duration
	for i := range propWarmups + propRuns {
		d, _, err := t.propfind(ctx, path, body, false)
		if err != nil {
			return nil, err
		}
		if i >= propWarmups {
			ds = append(ds, d)
		}
	}
	return ds, nil
}

// coldPropfinds times propRuns Depth 1 PROPFINDs of path, each right after
// a 4 KiB PUT (overwriting one file, the same each time) into it.
func (t *target) coldPropfinds(ctx context.Context, path string) ([]time.Duration, error) {
	body := make([]byte, loadSize)
	var ds []time.Duration
	for i := range propRuns {
		body[0] = byte(i)
		if err := t.put(ctx, path+"touch.bin", body); err != nil {
			return nil, err
		}
		d, _, err := t.propfind(ctx, path, propBody, false)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func (t *target) put(ctx context.Context, path string, body []byte) error {
	req, err := t.request(ctx, http.MethodPut, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	if err := check(resp); err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func (t *target) getSmall(ctx context.Context, path string, want []byte) error {
	req, err := t.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	if err := check(resp); err != nil {
		return err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && !bytes.Equal(got, want) {
		err = fmt.Errorf("GET %s: %d bytes, not the %d written", path, len(got), len(want))
	}
	return err
}

// mkcol creates a collection; one that exists already is fine.
func (t *target) mkcol(ctx context.Context, path string) error {
	req, err := t.request(ctx, "MKCOL", path, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	if err := check(resp, http.StatusCreated, http.StatusMethodNotAllowed); err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func (t *target) delete(ctx context.Context, path string) error {
	req, err := t.request(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	if err := check(resp); err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// putBig PUTs size bytes made on the fly, with a Content-Length, and returns
// how long until the answer arrived.
func (t *target) putBig(ctx context.Context, path string, size int64) (time.Duration, error) {
	req, err := t.request(ctx, http.MethodPut, path, newGenerator(size))
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	if err := check(resp); err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), nil
}

// getBig GETs path, counting and discarding the bytes, which must be size.
func (t *target) getBig(ctx context.Context, path string, size int64) (time.Duration, error) {
	req, err := t.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	if err := check(resp); err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	resp.Body.Close()
	d := time.Since(start)
	if err == nil && n != size {
		err = fmt.Errorf("GET %s: %d bytes, not the %d written", path, n, size)
	}
	return d, err
}

// generator yields size bytes from a fixed pseudo-random 1 MiB pattern, so
// a big upload needs no big buffer and nothing along the way compresses it.
type generator struct {
	left int64
	off  int
	pat  []byte
}

func newGenerator(size int64) *generator {
	pat := make([]byte, 1<<20)
	fillPattern(pat, 1)
	return &generator{left: size, pat: pat}
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], g.pat[g.off:])
		n += c
		g.off = (g.off + c) % len(g.pat)
	}
	g.left -= int64(n)
	return n, nil
}

func fillPattern(b []byte, seed uint64) {
	r := mrand.New(mrand.NewPCG(seed, seed))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// loadResult is what one load phase did.
type loadResult struct {
	ok, errs int
	firstErr string
	lat      []time.Duration // of the successful requests
	elapsed  time.Duration
}

// load runs one worker per names[i], each sending method requests for its
// names in turn until d has passed; requests in flight then finish.
func (t *target) load(ctx context.Context, method string, names [][]string, payload []byte, d time.Duration) loadResult {
	var (
		mu  sync.Mutex
		res loadResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, ns := range names {
		wg.Go(func() {
			var lat []time.Duration
			errs, first := 0, ""
			buf := make([]byte, 2*len(payload))
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := t.one(ctx, method, ns[i%len(ns)], payload, buf)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.ok += len(lat)
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// one is a single load request; a GET must bring back len(payload) bytes.
func (t *target) one(ctx context.Context, method, path string, payload, buf []byte) error {
	var body io.Reader
	if method == http.MethodPut {
		body = bytes.NewReader(payload)
	}
	req, err := t.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	if err := check(resp); err != nil {
		return err
	}
	n, err := io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	if err == nil && method == http.MethodGet && n != len(payload) {
		err = fmt.Errorf("GET %s: %d bytes, want %d", path, n, len(payload))
	}
	return err
}

// ---- numbers

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }
func p95(d []time.Duration) time.Duration    { return quantile(d, 0.95) }

// quantile is the nearest-rank q-quantile of d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMS(d time.Duration) string {
	switch m := ms(d); {
	case m >= 100:
		return fmt.Sprintf("%.0f ms", m)
	case m >= 10:
		return fmt.Sprintf("%.1f ms", m)
	default:
		return fmt.Sprintf("%.2f ms", m)
	}
}

func fmtRate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MB/s", float64(n)/1e6/d.Seconds())
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// parseSize reads 1GiB, 64MiB, 512KiB or a plain number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
