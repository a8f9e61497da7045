// Command tusbench measures a big tus upload to Wharf side by side with the
// stock tusd v2.10.1 binary and with cp of the same file, in one run on one
// machine: the numbers behind issue 4's targets (Wharf at most 0.5× tusd's
// time and 1.3× cp's, server peak RSS under 8 parallel 1 GiB uploads below
// 80 MiB).
//
// Each upload is one POST (creation) and ONE PATCH carrying the whole file
// streamed from disk; the time runs from sending the POST to receiving the
// answer to the PATCH. Wharf's PATCH carries Upload-Checksum (sha256), and
// Wharf answers only after its processing (checksum step included) is done.
// cp is "cp --reflink=never SRC DST" followed by "sync DST" (the coreutils
// commands; sync with a file argument fsyncs that file), because Wharf
// fsyncs an upload before acknowledging its last byte; tusd does not fsync.
// dd is the disk's durable floor of issue 21 ("dd bs=1M oflag=direct
// conv=fsync"); when Wharf's row is measured too, each of Wharf's runs
// follows a dd run, and the ratio is the median of the pairs'
// (this virtual disk's speed drifts by half within a minute). Each
// upload's time after the client sent its body's last byte (the server's
// fsync and processing) is reported beside.
//
// It prints a markdown table for docs/benchmarks.md on stdout, with the
// command line and the machine; progress goes to stderr. The run is bounded
// by -timeout; servers are stopped and temporary directories removed at the
// end, on error and on Ctrl-C.
//
//	make build && (cd bench/tusbench && go run . )     # full run: 1 GiB, 3 runs, 8 parallel
//	(cd bench/tusbench && go run . -quick)             # smoke run: 64 MiB, 1 run, 2 parallel
//	(cd bench/tusbench && go run . -replicas 3)        # also behind a round-robin proxy: 1 and 3 replicas (replicas.go)
//
// bench/tusbench is its own module so that tusd's dependencies (Prometheus,
// cloud SDKs) stay out of Wharf's go.mod: its go.mod pins tusd with a tool
// directive, and tusbench builds the binary from there unless -tusd names
// one. The program itself imports only the standard library.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
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
	Wharf    string        // wharf binary; "": ../../bin/wharf or bin/wharf
	Tusd     string        // tusd binary; "": built from this module's tool directive
	Size     int64         // bytes in the uploaded file
	Runs     int           // timed runs per row; the table shows the median
	Parallel int           // concurrent uploads of the peak-RSS phase
	Timeout  time.Duration // bound on the whole run
	TmpDir   string        // parent of the temporary directory; "": os.TempDir
	Replicas int           // -replicas: replicas of the wharf-replicas row; 0: no replica rows
	DB       string        // -db: PostgreSQL URL with %d for the replica rows, a database per start; "": SQLite on one data directory
	Blobs    string        // -blobs: s3://BUCKET?endpoint=… for the replica rows (needs DB); "": contents on disk
}

const (
	warmups    = 1 // untimed uploads before the timed ones, per row
	user       = "admin"
	tusdMod    = "github.com/tus/tusd/v2"
	tusdPkg    = tusdMod + "/cmd/tusd"
	benchMod   = "github.com/wharfhq/wharf/bench/tusbench"
	namePrefix = "tusbench" // of the uploaded files' names
)

// Rows of the table, in order.
const (
	rowCp    = "cp"
	rowDD    = "dd"
	rowTusd  = "tusd"
	rowWharf = "wharf"
	// With -replicas N (replicas.go): Wharf behind a round-robin proxy.
	rowProxy    = "wharf-proxy"    // one replica
	rowReplicas = "wharf-replicas" // N replicas on one data directory
)

var rows = []string{rowCp, rowDD, rowTusd, rowWharf}

func main() {
	var cfg config
	var quick bool
	flag.StringVar(&cfg.Wharf, "wharf", "", "wharf binary (make build); default ../../bin/wharf or bin/wharf, whichever exists")
	flag.StringVar(&cfg.Tusd, "tusd", "", "tusd binary; empty: go build "+tusdPkg+" (the version this module pins) into the temporary directory")
	flag.BoolVar(&quick, "quick", false, "smoke run: 64 MiB, 1 run, 2 parallel uploads")
	size := flag.String("size", "", "size of the uploaded file, e.g. 1GiB, 64MiB (default 1GiB; -quick 64MiB)")
	flag.IntVar(&cfg.Runs, "runs", 0, "timed uploads per row; the median is shown (default 3; -quick 1)")
	flag.IntVar(&cfg.Parallel, "parallel", 0, "concurrent uploads while peak RSS is measured (default 8; -quick 2)")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "the whole run stops after this long")
	flag.StringVar(&cfg.TmpDir, "tmp", "", "where to make the temporary directory (default $TMPDIR or /tmp); everything is written there")
	only := flag.String("rows", strings.Join(rows, ","), "rows to measure, comma-separated (for A/B runs of one server: -rows wharf; with -replicas also "+rowProxy+", "+rowReplicas+")")
	flag.IntVar(&cfg.Replicas, "replicas", 0, "also measure Wharf behind a round-robin HTTP proxy started here: 1 replica ("+rowProxy+") and this many on one data directory and SQLite database ("+rowReplicas+"); replicas.go")
	flag.StringVar(&cfg.DB, "db", "", "replica rows: a PostgreSQL URL with %d, a database of that number (1, 2, …) per start of a row, created beforehand (davbench -backends makes them)")
	flag.StringVar(&cfg.Blobs, "blobs", "", "replica rows: contents in this S3 bucket (s3://BUCKET?endpoint=…&region=…; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), a data directory per replica; needs -db")
	proxyFor := flag.String("proxy-for", "", "internal: serve as the round-robin proxy in front of these host:port, comma-separated")
	flag.Parse()
	if *proxyFor != "" {
		os.Exit(serveProxy(*proxyFor))
	}
	if cfg.Replicas > 0 {
		rows = append(rows, rowProxy, rowReplicas)
		given := false
		flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rows" })
		if !given {
			*only = strings.Join(rows, ",")
		}
	}
	if flag.NArg() > 0 {
		fatalf("unexpected arguments %q", flag.Args())
	}
	if cfg.Blobs != "" && cfg.DB == "" {
		fatalf("-blobs: replicas with a data directory each share only the database: give -db")
	}
	if cfg.DB != "" && !strings.Contains(cfg.DB, "%d") {
		fatalf("-db: %q has no %%d for the number of the database", cfg.DB)
	}

	if quick {
		cfg.Size, cfg.Runs, cfg.Parallel = 64<<20, or(cfg.Runs, 1), or(cfg.Parallel, 2)
	} else {
		cfg.Size, cfg.Runs, cfg.Parallel = 1<<30, or(cfg.Runs, 3), or(cfg.Parallel, 8)
	}
	if *size != "" {
		n, err := parseSize(*size)
		if err != nil {
			fatalf("-size: %v", err)
		}
		cfg.Size = n
	}
	var keep []string
	for _, r := range strings.Split(*only, ",") {
		if r = strings.TrimSpace(r); !slices.Contains(rows, r) {
			fatalf("-rows: %q is not one of %s", r, strings.Join(rows, ", "))
		}
		keep = append(keep, r)
	}
	rows = keep
	if cfg.Runs < 1 || cfg.Parallel < 1 || cfg.Timeout <= 0 {
		fatalf("-runs, -parallel and -timeout must be positive")
	}
	if cfg.Wharf == "" {
		cfg.Wharf = "../../bin/wharf"
		if _, err := os.Stat(cfg.Wharf); err != nil {
			cfg.Wharf = "bin/wharf"
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	code := run(ctx, cfg)
	cancel()
	stop()
	os.Exit(code)
}

// or is v, or dflt when v is zero (flag not given).
func or(v, dflt int) int {
	if v == 0 {
		return dflt
	}
	return v
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tusbench: "+format+"\n", args...)
	os.Exit(2)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tusbench: "+format+"\n", args...)
}

// result is one row of the table.
type result struct {
	times []time.Duration // of the timed runs
	cpu   []time.Duration // the server's CPU time during each timed run (Linux)
	tail  []time.Duration // of each timed upload: from its body's last byte leaving the client to the answer
	pairs []float64       // with paired dd runs: each timed run's time ÷ the dd run just before it
	cell  string          // instead of the times: why there are none, e.g. "n/a (404)"
	wall  time.Duration   // of the parallel phase
	pcell string          // instead of wall: why there is none
	rss   int64           // VmHWM after the parallel phase, bytes
	rcell string          // instead of rss
}

// bench is one run: the config, the results so far and the notes.
type bench struct {
	cfg     config
	root    string // temporary directory holding everything
	src     string // the file to upload
	sum     []byte // its SHA-256
	client  *http.Client
	res     map[string]*result
	notes   []string
	tusdVer string
	cpCmd   string
	starts  int // replica rows started so far, for -db's %d
}

func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	progress("%s", msg)
	b.notes = append(b.notes, msg)
}

func run(ctx context.Context, cfg config) int {
	root, err := os.MkdirTemp(cfg.TmpDir, "tusbench-")
	if err != nil {
		progress("%v", err)
		return 1
	}
	defer os.RemoveAll(root)
	if root, err = filepath.Abs(root); err != nil {
		progress("%v", err)
		return 1
	}
	b := &bench{cfg: cfg, root: root, res: map[string]*result{}, client: newClient()}
	for _, r := range rows {
		b.res[r] = &result{}
	}
	start := time.Now()
	b.checkSpace()

	b.src = filepath.Join(root, "source.bin")
	progress("writing %s of random bytes to %s", fmtBytes(cfg.Size), b.src)
	if b.sum, err = writeSource(ctx, b.src, cfg.Size); err != nil {
		progress("%v", err)
		return 1
	}

	for _, r := range rows {
		if ctx.Err() != nil {
			break
		}
		progress("--- %s", r)
		var err error
		switch r {
		case rowCp:
			err = b.cp(ctx)
		case rowDD:
			err = b.dd(ctx)
		case rowTusd:
			err = b.server(ctx, rowTusd)
		case rowWharf, rowProxy, rowReplicas:
			err = b.server(ctx, r)
		}
		if err != nil {
			b.note("%s: stopped early: %v", r, err)
		}
	}
	failed := ctx.Err() != nil
	if failed {
		b.note("run cut short after %s: %v", time.Since(start).Round(time.Second), context.Cause(ctx))
	}
	b.print(os.Stdout, time.Since(start))
	if failed {
		return 1
	}
	return 0
}

// checkSpace notes when the temporary directory's file system may not hold
// what the parallel phase writes.
func (b *bench) checkSpace() {
	need := b.cfg.Size * int64(b.cfg.Parallel+2)
	if free, ok := freeBytes(b.root); ok && free < need {
		b.note("only %s free in %s, the parallel phase needs about %s: expect ENOSPC (use -tmp or -parallel)",
			fmtBytes(free), b.root, fmtBytes(need))
	}
}

// writeSource writes size pseudo-random bytes to path, fsyncs them, and
// returns their SHA-256. Random, so nothing along the way compresses them.
func writeSource(ctx context.Context, path string, size int64) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var seed [32]byte
	rand.Read(seed[:])
	src := mrand.NewChaCha8(seed)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p := buf[:min(left, int64(len(buf)))]
		src.Read(p)
		h.Write(p)
		if _, err := f.Write(p); err != nil {
			return nil, err
		}
		left -= int64(len(p))
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return h.Sum(nil), f.Close()
}

// ---- cp

// cp times cp of the source to the same directory plus an fsync of the copy.
func (b *bench) cp(ctx context.Context) error {
	res := b.res[rowCp]
	args := []string{}
	if runtime.GOOS == "linux" {
		// GNU cp clones on btrfs and XFS by default: a copy, not a clone,
		// is what an upload has to match.
		args = append(args, "--reflink=never")
	}
	dst := filepath.Join(b.root, "copy.bin")
	b.cpCmd = "cp " + strings.Join(append(args, "SRC", "DST"), " ") + " && sync DST"
	for i := -warmups; i < b.cfg.Runs; i++ {
		flushDisks()
		progress("cp %s", runName(i, b.cfg.Runs))
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, "cp", append(args, b.src, dst)...).CombinedOutput()
		if err == nil {
			out, err = exec.CommandContext(ctx, "sync", dst).CombinedOutput()
		}
		d := time.Since(t0)
		os.Remove(dst)
		if err != nil {
			res.cell = "error: " + firstWords(fmt.Sprintf("%v %s", err, out), 6)
			return fmt.Errorf("%s: %v\n%s", b.cpCmd, err, out)
		}
		if i >= 0 {
			res.times = append(res.times, d)
		}
		progress("  %s (%s)", fmtSeconds(d), fmtRate(b.cfg.Size, d))
	}
	res.pcell, res.rcell = "—", "—"
	return nil
}

// dd times the disk's durable floor for the file: a copy written around
// the page cache in 1 MiB blocks and fsynced, nothing hashed. When Wharf's
// row is measured too, its runs are paired with Wharf's instead (see
// pairDD): this does nothing.
func (b *bench) dd(ctx context.Context) error {
	if b.pairDD() {
		progress("dd: its runs are paired with Wharf's")
		return nil
	}
	for i := -warmups; i < b.cfg.Runs; i++ {
		flushDisks()
		if _, err := b.ddRun(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// pairDD reports whether dd's runs are taken in turn with Wharf's timed
// runs (dd, then Wharf, then dd…), so that both see the disk as it is at
// that moment: a virtual disk's speed drifts by half within a minute
// here, more than the difference being measured.
func (b *bench) pairDD() bool {
	return slices.Contains(rows, rowDD) && slices.Contains(rows, rowWharf)
}

// ddRun is dd's run i (negative: a warm-up); the caller has flushed the
// disks.
func (b *bench) ddRun(ctx context.Context, i int) (time.Duration, error) {
	res := b.res[rowDD]
	res.pcell, res.rcell = "—", "—"
	dst := filepath.Join(b.root, "copy.bin")
	args := []string{"if=" + b.src, "of=" + dst, "bs=1M", "oflag=direct", "conv=fsync", "status=none"}
	progress("dd %s", runName(i, b.cfg.Runs))
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, "dd", args...).CombinedOutput()
	d := time.Since(t0)
	os.Remove(dst)
	if err != nil {
		res.cell = "error: " + firstWords(fmt.Sprintf("%v %s", err, out), 6)
		return 0, fmt.Errorf("dd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if i >= 0 {
		res.times = append(res.times, d)
	}
	progress("  %s (%s)", fmtSeconds(d), fmtRate(b.cfg.Size, d))
	return d, nil
}

// runName names run i (negative: a warm-up) in progress messages.
func runName(i, runs int) string {
	if i < 0 {
		return "warm-up"
	}
	return fmt.Sprintf("run %d/%d", i+1, runs)
}

// ---- servers

// srv is one server under test, as the client sees it.
type srv struct {
	kind     string
	p        *proc
	create   string // creation URL
	meta     func(name string) string
	checksum bool // send Upload-Checksum
	pass     string
	dir      string  // where the uploads land on disk (tusd), to empty between runs
	more     []*proc // the other processes of a replica row: replicas after p, the proxy
}

// stop stops the server's processes, the proxy first, and returns p's
// exit status.
func (s *srv) stop() int {
	for _, q := range slices.Backward(s.more) {
		q.stop()
	}
	return s.p.stop()
}

// cpuTime is the CPU time the server's processes have used so far.
func (s *srv) cpuTime() (time.Duration, error) {
	var sum time.Duration
	for _, q := range append([]*proc{s.p}, s.more...) {
		c, err := cpuTime(q.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// peakRSS is the highest VmHWM of the server's processes.
func (s *srv) peakRSS() (int64, error) {
	var top int64
	for _, q := range append([]*proc{s.p}, s.more...) {
		n, err := peakRSS(q.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		top = max(top, n)
	}
	return top, nil
}

// server measures one server: the timed runs on one process, then the
// parallel phase on a fresh one, so that its VmHWM is that phase's.
func (b *bench) server(ctx context.Context, kind string) error {
	res := b.res[kind]
	var bin string
	switch kind {
	case rowTusd:
		var err error
		if bin, err = b.tusdBinary(ctx); err != nil {
			res.cell = "error: no tusd binary"
			return err
		}
		b.tusdVer = moduleVersion(bin, tusdMod)
	case rowWharf, rowProxy, rowReplicas:
		if _, err := os.Stat(b.cfg.Wharf); err != nil {
			res.cell = "n/a (no binary)"
			return fmt.Errorf("%s: %w (run make build, or pass -wharf)", b.cfg.Wharf, err)
		}
		bin = b.cfg.Wharf
	}

	s, err := b.startServer(ctx, kind, bin, "timed")
	if err != nil {
		res.cell = "error: did not start"
		return err
	}
	defer s.stop()
	for i := -warmups; i < b.cfg.Runs; i++ {
		var floor time.Duration
		if kind == rowWharf && b.pairDD() {
			flushDisks()
			if floor, err = b.ddRun(ctx, i); err != nil {
				b.note("dd: stopped early: %v", err)
				b.res[rowWharf].cell = "error: dd failed"
				return err
			}
		}
		flushDisks()
		progress("%s %s: POST + one PATCH of %s", kind, runName(i, b.cfg.Runs), fmtBytes(b.cfg.Size))
		cpu0, cerr := s.cpuTime()
		d, tail, err := b.upload(ctx, s, fmt.Sprintf("%s-%d.bin", namePrefix, i+warmups))
		cpu1, cerr1 := s.cpuTime()
		if err != nil {
			s.stop()
			res.cell = cellErr(err)
			if kind == rowWharf && res.cell == "n/a (404)" {
				res.pcell, res.rcell = "n/a (404)", "n/a (404)"
				b.note("Wharf: %v — /tus/ is not there yet; its row stays empty", err)
				return nil
			}
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("%w\n%s", err, s.p.tail(10))
		}
		if i >= 0 {
			res.times = append(res.times, d)
			res.tail = append(res.tail, tail)
			if floor > 0 {
				res.pairs = append(res.pairs, d.Seconds()/floor.Seconds())
			}
		}
		progress("  after the body's last byte: %s", fmtMillis(tail))
		if cerr == nil && cerr1 == nil {
			if i >= 0 {
				res.cpu = append(res.cpu, cpu1-cpu0)
			}
			progress("  %s (%s), server CPU %s", fmtSeconds(d), fmtRate(b.cfg.Size, d), fmtSeconds(cpu1-cpu0))
		} else {
			progress("  %s (%s)", fmtSeconds(d), fmtRate(b.cfg.Size, d))
		}
		if err := b.clean(ctx, s, fmt.Sprintf("%s-%d.bin", namePrefix, i+warmups)); err != nil {
			b.note("%s: cleaning up after %s: %v", kind, runName(i, b.cfg.Runs), err)
		}
	}
	if code := s.stop(); code != 0 && code != -1 {
		b.note("%s: exit status %d after SIGTERM", kind, code)
	}

	flushDisks()
	s, err = b.startServer(ctx, kind, bin, "parallel")
	if err != nil {
		res.pcell, res.rcell = "error: did not start", "—"
		return err
	}
	defer s.stop()
	progress("%s: %d parallel uploads of %s", kind, b.cfg.Parallel, fmtBytes(b.cfg.Size))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	t0 := time.Now()
	for i := range b.cfg.Parallel {
		wg.Go(func() {
			if _, _, err := b.upload(ctx, s, fmt.Sprintf("%s-p%d.bin", namePrefix, i)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(t0)
	if hwm, err := s.peakRSS(); err != nil {
		res.rcell = "n/a"
	} else {
		res.rss = hwm
	}
	if len(errs) > 0 {
		res.pcell = fmt.Sprintf("%d of %d failed", len(errs), b.cfg.Parallel)
		b.note("%s: parallel phase: %d of %d uploads failed; first: %v", kind, len(errs), b.cfg.Parallel, errs[0])
	} else {
		progress("  %s for all, %s peak RSS", fmtSeconds(res.wall), fmtMiB(res.rss))
	}
	if code := s.stop(); code != 0 && code != -1 {
		b.note("%s: exit status %d after SIGTERM", kind, code)
	}
	return ctx.Err()
}

// startServer starts a fresh server of kind in its own directory under the
// run's temporary directory.
func (b *bench) startServer(ctx context.Context, kind, bin, phase string) (*srv, error) {
	dir := filepath.Join(b.root, kind+"-"+phase)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &srv{kind: kind, pass: randomPassword()}
	var err error
	switch kind {
	case rowProxy, rowReplicas:
		err = b.startReplicas(ctx, s, dir, bin)
	case rowTusd:
		s.dir = filepath.Join(dir, "uploads")
		s.p, err = startProc(ctx, dir, tusdServing, bin, []string{"-host", "127.0.0.1", "-port", "0", "-upload-dir", s.dir})
		if err == nil {
			s.create = s.p.addr // tusd prints the whole creation URL
			s.meta = func(name string) string { return "filename " + b64(name) }
		}
	case rowWharf:
		s.p, err = startProc(ctx, dir, wharfServing, bin, []string{"serve"},
			"WHARF_DATA="+filepath.Join(dir, "data"), "WHARF_LISTEN=127.0.0.1:0", "WHARF_ADMIN_PASSWORD="+s.pass)
		if err == nil {
			s.create = "http://" + s.p.addr + "/tus/"
			s.meta = func(name string) string { return "space " + b64("files") + ",path " + b64(name) }
			s.checksum = true
		}
	}
	if err != nil {
		return nil, err
	}
	progress("%s serving, creation URL %s", kind, s.create)
	return s, nil
}

// tusdBinary is -tusd, or tusd built from the version this module pins.
func (b *bench) tusdBinary(ctx context.Context) (string, error) {
	if b.cfg.Tusd != "" {
		return b.cfg.Tusd, nil
	}
	mod, err := moduleDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(b.root, "tusd")
	progress("building %s in %s (a few minutes the first time)", tusdPkg, mod)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, tusdPkg)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", tusdPkg, err, out)
	}
	return bin, nil
}

// moduleDir finds bench/tusbench, whose go.mod pins tusd: the current
// directory or bench/tusbench under it.
func moduleDir() (string, error) {
	for _, d := range []string{".", filepath.Join("bench", "tusbench")} {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+benchMod+"\n")) {
			return filepath.Abs(d)
		}
	}
	return "", errors.New("cannot find bench/tusbench/go.mod to build tusd from: run tusbench in bench/tusbench or the repository root, or pass -tusd")
}

// moduleVersion is the version of module mod built into binary bin.
func moduleVersion(bin, mod string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return ""
	}
	if info.Main.Path == mod {
		return info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == mod {
			return d.Version
		}
	}
	return ""
}

// upload creates an upload of the source file named name and sends it in
// one PATCH; it returns the time from sending the POST to the PATCH's
// answer, and the part of it after the client's transport read the body's
// last byte (the server's fsync, processing and answer, plus what was
// still in the sockets' buffers: a few MiB on loopback).
func (b *bench) upload(ctx context.Context, s *srv, name string) (total, tail time.Duration, err error) {
	t0 := time.Now()
	req, err := s.request(ctx, http.MethodPost, s.create, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(b.cfg.Size, 10))
	req.Header.Set("Upload-Metadata", s.meta(name))
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	if err := check(resp, http.StatusCreated); err != nil {
		return 0, 0, err
	}
	drain(resp)
	loc, err := resp.Location()
	if err != nil {
		return 0, 0, fmt.Errorf("POST %s: 201 without a usable Location: %v", s.create, err)
	}

	f, err := os.Open(b.src)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	body := &eofTimer{r: f}
	req, err = s.request(ctx, http.MethodPatch, loc.String(), body)
	if err != nil {
		return 0, 0, err
	}
	req.ContentLength = b.cfg.Size
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	if s.checksum {
		req.Header.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(b.sum))
	}
	resp, err = b.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	// 204 is the contract's answer once processing is done; a 202 would
	// mean it was not waited for, and the time would flatter the server.
	if err := check(resp, http.StatusNoContent); err != nil {
		return 0, 0, err
	}
	drain(resp)
	end := time.Now()
	total = end.Sub(t0)
	if !body.eof.IsZero() {
		tail = end.Sub(body.eof)
	}
	if off := resp.Header.Get("Upload-Offset"); off != strconv.FormatInt(b.cfg.Size, 10) {
		return total, tail, fmt.Errorf("PATCH %s: Upload-Offset %q after the whole file", loc, off)
	}
	return total, tail, nil
}

// eofTimer is a request body that notes when its last byte was read.
type eofTimer struct {
	r   io.Reader
	eof time.Time
}

func (e *eofTimer) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && e.eof.IsZero() {
		e.eof = time.Now()
	}
	return n, err
}

// clean removes what a timed run left, untimed, so the next run starts on
// an equally full disk.
func (b *bench) clean(ctx context.Context, s *srv, name string) error {
	if s.kind == rowTusd {
		ents, err := os.ReadDir(s.dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	req, err := s.request(ctx, http.MethodDelete, "http://"+s.p.addr+"/dav/spaces/files/"+url.PathEscape(name), nil)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	if err := check(resp); err != nil {
		return err
	}
	drain(resp)
	return nil
}

func (s *srv) request(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if s.kind != rowTusd {
		req.SetBasicAuth(user, s.pass)
	}
	return req, nil
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:              nil, // loopback only, whatever the environment says
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression: true,
		WriteBufferSize:    256 << 10,
		ReadBufferSize:     64 << 10,
	}}
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

// check turns an answer other than want (any 2xx if none) into a
// statusError and closes its body.
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

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// cellErr is how an error shows in a table cell; the details go in notes.
func cellErr(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("n/a (%d)", se.code)
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

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- report

// medianNote adds a note, label then each row's median of what pick
// gives, for the rows that have any.
func (b *bench) medianNote(label string, pick func(*result) []time.Duration, format func(time.Duration) string) {
	var cells []string
	for _, r := range rows {
		if d := pick(b.res[r]); len(d) > 0 {
			cells = append(cells, r+" "+format(median(d)))
		}
	}
	if len(cells) > 0 {
		b.notes = append(b.notes, label+strings.Join(cells, "; "))
	}
}

// print writes the report in markdown.
func (b *bench) print(w io.Writer, took time.Duration) {
	cfg := b.cfg
	fmt.Fprintf(w, "\n### tus upload of %s: Wharf, stock tusd, cp\n\n", fmtBytes(cfg.Size))
	fmt.Fprintf(w, "```\n%s\n```\n\n", commandLine())
	title := map[string]string{
		rowCp:       "cp + fsync (`" + or2(b.cpCmd, "cp SRC DST && sync DST") + "`)",
		rowDD:       "the disk's durable floor (`dd if=SRC of=DST bs=1M oflag=direct conv=fsync`)",
		rowTusd:     "tusd " + or2(b.tusdVer, "v2 (version unknown)") + " (filestore, no fsync)",
		rowWharf:    "Wharf `/tus/` (Upload-Checksum sha256, waits for processing)",
		rowProxy:    "… 1 replica behind a round-robin HTTP proxy (replicas.go)",
		rowReplicas: fmt.Sprintf("… %d replicas on one data directory and SQLite database, behind the proxy", cfg.Replicas),
	}
	if cfg.DB != "" {
		where := "one data directory, PostgreSQL"
		if cfg.Blobs != "" {
			where = "a data directory each, PostgreSQL, contents in S3"
		}
		title[rowProxy] = "… 1 replica (" + where + ") behind a round-robin HTTP proxy (replicas.go)"
		title[rowReplicas] = fmt.Sprintf("… %d replicas (%s) behind the proxy", cfg.Replicas, where)
	}
	med := map[string]time.Duration{}
	for _, r := range rows {
		if len(b.res[r].times) > 0 {
			med[r] = median(b.res[r].times)
		}
	}
	ratio := func(r, base string) string {
		if base == rowDD && len(b.res[r].pairs) > 0 {
			return fmt.Sprintf("%.2f× (paired)", medianOf(b.res[r].pairs))
		}
		if med[r] == 0 || med[base] == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f×", med[r].Seconds()/med[base].Seconds())
	}
	fmt.Fprintf(w, "| | Time (median of %d) | MB/s | ÷ tusd | ÷ cp | ÷ dd | %d parallel uploads: wall time | Peak RSS of the server, %d parallel (VmHWM) |\n",
		cfg.Runs, cfg.Parallel, cfg.Parallel)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		res := b.res[r]
		tm, rate := or2(res.cell, "—"), "—"
		if d, ok := med[r]; ok {
			tm, rate = fmtSeconds(d), fmt.Sprintf("%.0f", float64(cfg.Size)/1e6/d.Seconds())
		}
		wall := or2(res.pcell, "—")
		if res.pcell == "" && res.wall > 0 {
			wall = fmtSeconds(res.wall)
		}
		rss := or2(res.rcell, "—")
		if res.rcell == "" && res.rss > 0 {
			rss = fmtMiB(res.rss)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", title[r], tm, rate, ratio(r, rowTusd), ratio(r, rowCp), ratio(r, rowDD), wall, rss)
	}
	fmt.Fprintf(w, "\nOne upload = POST (creation, Upload-Length) + ONE PATCH with the whole file streamed from disk "+
		"by a Go net/http client over 127.0.0.1; time from sending the POST to the PATCH's answer "+
		"(Wharf: 204 after processing; tusd: 204 once the bytes are written). "+
		"Each row starts with %d untimed warm-up run(s). The source file is in the page cache for every row. Dirty pages are flushed (sync) before every timed run "+
		"and before each parallel phase. Timed runs share one server process; the parallel phase runs on a fresh one, "+
		"so its VmHWM is that phase's. MB/s is 10^6 bytes per second. Whole run: %s.\n", warmups, took.Round(time.Second))
	fmt.Fprintf(w, "\nTargets (issue 4): Wharf ≤ 0.5× tusd's time%s, ≤ 1.3× cp's%s; peak RSS under %d parallel uploads < 80 MiB%s.\n",
		verdict(med[rowWharf], med[rowTusd], 0.5), verdict(med[rowWharf], med[rowCp], 1.3), cfg.Parallel, rssVerdict(b.res[rowWharf]))
	if p := b.res[rowWharf].pairs; len(p) > 0 {
		fmt.Fprintf(w, "Target (issue 21): Wharf ≤ 1.5× the durable floor (dd)%s: the median of each Wharf run's time ÷ the dd run just before it.\n", ratioVerdict(medianOf(p), 1.5))
		var s []string
		for _, x := range p {
			s = append(s, fmt.Sprintf("%.2f×", x))
		}
		b.notes = append(b.notes, "dd and Wharf took turns (dd, then Wharf, for each run, warm-ups too), so that each pair saw the disk at the same moment; Wharf ÷ dd per pair: "+strings.Join(s, ", "))
	} else {
		fmt.Fprintf(w, "Target (issue 21): Wharf ≤ 1.5× the durable floor (dd)%s.\n", verdict(med[rowWharf], med[rowDD], 1.5))
	}
	var runs []string
	for _, r := range rows {
		if ts := b.res[r].times; len(ts) > 1 {
			var s []string
			for _, d := range ts {
				s = append(s, fmtSeconds(d))
			}
			runs = append(runs, r+": "+strings.Join(s, ", "))
		}
	}
	if len(runs) > 0 {
		b.notes = append(b.notes, "all runs: "+strings.Join(runs, "; "))
	}
	b.medianNote("server CPU time (user + system) per timed upload, median: ",
		func(r *result) []time.Duration { return r.cpu }, fmtSeconds)
	b.medianNote("after the client's transport read the body's last byte, until the answer (fsync, processing, and what the sockets still held), median: ",
		func(r *result) []time.Duration { return r.tail }, fmtMillis)
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

func or2(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// verdict says whether got ≤ factor × base, when both were measured.
func verdict(got, base time.Duration, factor float64) string {
	if got == 0 || base == 0 {
		return " (not measured)"
	}
	return ratioVerdict(got.Seconds()/base.Seconds(), factor)
}

func ratioVerdict(r, factor float64) string {
	if r <= factor {
		return fmt.Sprintf(" (met: %.2f×)", r)
	}
	return fmt.Sprintf(" (**missed**: %.2f×)", r)
}

func rssVerdict(r *result) string {
	switch {
	case r.rss == 0:
		return " (not measured)"
	case r.rss < 80<<20:
		return " (met: " + fmtMiB(r.rss) + ")"
	default:
		return " (**missed**: " + fmtMiB(r.rss) + ")"
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
		cmd = "go run ."
		if wd, err := os.Getwd(); err == nil && filepath.Base(wd) == "tusbench" {
			cmd = "(cd bench/tusbench && go run ."
			return strings.TrimSpace(cmd+" "+strings.Join(args, " ")) + ")"
		}
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
	out = append(out, fmt.Sprintf("cores (nproc): %d", runtime.NumCPU()))
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
	if dev, fs, opts := mountOf(tmp); fs != "" {
		out = append(out, fmt.Sprintf("file system of %s (source, copies, uploads): %s on %s (%s)", filepath.Dir(tmp), fs, dev, opts))
	}
	if v, err := exec.Command("cp", "--version").Output(); err == nil {
		out = append(out, "cp: "+strings.TrimSpace(firstLine(string(v), "")))
	}
	if v, err := exec.Command(cfg.Wharf, "version").Output(); err == nil {
		out = append(out, "wharf: "+strings.TrimSpace(string(v)))
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

// mountOf is the device, type and options of the file system holding dir,
// from /proc/mounts.
func mountOf(dir string) (dev, typ, opts string) {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "", "", ""
	}
	best := ""
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, dev, typ, opts = mp, f[0], f[2], f[3]
		}
	}
	return dev, typ, opts
}

// cpuTime is the CPU time (user + system) process pid has used so far
// (Linux only): unlike wall time, other load on the machine barely moves
// it, so it compares two builds on a busy machine.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold anything: utime and stime are the 12th and 13th of them.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100, nil // USER_HZ is 100 on Linux
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

// ---- numbers

// median of d (the lower middle one for an even count).
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func fmtSeconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func fmtRate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MB/s", float64(n)/1e6/d.Seconds())
}

func fmtMiB(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
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

// ---- server processes

var (
	wharfServing = regexp.MustCompile(`msg=serving addr=(\S+)|"msg":"serving".*?"addr":"([^"]+)"`)
	tusdServing  = regexp.MustCompile(`You can now upload files to: (http://\S+)`)
)

// proc is a running server whose output goes to a log file.
type proc struct {
	cmd     *exec.Cmd
	addr    string // what the serving regexp matched
	logPath string
	addrc   chan string
	done    chan struct{}
	once    sync.Once
	code    int
}

// startProc starts bin with args and extra environment env, its output
// logged to dir/server.log; p.addr is taken from the first output line
// serving matches, within a minute.
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
		defer logf.Close()
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadString('\n')
			logf.WriteString(line)
			if m := serving.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				select {
				case p.addrc <- firstGroup(m):
				default:
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
		if strings.HasPrefix(kv, "WHARF_") || strings.HasPrefix(kv, "STATE_DIRECTORY=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func medianOf(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func fmtMillis(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
