package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/internal/testservers"
)

// The replica run (-replicas N): Wharf as N processes sharing one data
// directory and one database (SQLite in that directory, or with -db
// postgres a PostgreSQL cluster started here, durable), behind a
// round-robin proxy that davbench starts as a process of its own (this
// program again, with -proxy-for) on loopback. The variants take turns in
// rounds, as in -small: replica 1 addressed directly, replica 1 behind the
// proxy (what the proxy itself costs), and all N behind the proxy, for
// each proxy of -lb (http: round robin per request, the load balancer of
// docs/deployment.md; tcp: per connection). Every variant talks to the
// same replicas, data and database; the replicas a variant does not use
// sit idle meanwhile. Each cell is the median over the rounds, with the
// lowest and highest round beside it, so the noise of a shared machine
// shows; a second table gives the CPU each operation cost the replicas and
// the proxy.
//
// With -blobs s3 (and -db postgres) the contents are in a bucket of
// SeaweedFS's S3 gateway started here (testservers.RunS3), each replica
// has a data directory of its own, the listed folder is PUT (object-store
// mode adopts no tree), one more variant is a replica on its own with
// SQLite and the same bucket under a prefix (what S3 costs without
// PostgreSQL), and the CPU table adds SeaweedFS's CPU per operation.

// replicaEnv is -replica-env: KEY=VALUE,… added to every replica's
// environment.
var replicaEnv string

// replVariant is one way of reaching the replicas.
type replVariant struct {
	name   string
	origin string // http://127.0.0.1:port
	t      *target
	proxy  *proc // nil: replica 1 directly
}

// replRow is one measurement of the table.
type replRow struct {
	key, title string
	unit       string // "req/s", "MB/s" (higher is better) or "ms", "s"
	short      string // in the CPU table
}

// replKey names the results of one row for one variant.
type replKey struct{ row, variant string }

// replResults are the per-round figures and CPU costs.
type replResults struct {
	val     map[replKey][]float64 // one per round, in the row's unit
	repCPU  map[replKey][]float64 // CPU of all replicas per operation, µs
	prxCPU  map[replKey][]float64 // CPU of the proxy per operation, µs
	s3CPU   map[replKey][]float64 // CPU of the S3 server per operation, µs (-blobs s3)
	errs    map[replKey]int
	lat     map[replKey][]time.Duration
	ops     map[replKey]int
	profile map[string]string // row -> profile files written
}

// replicaRun is the -replicas mode.
func replicaRun(ctx context.Context, cfg config, n int, db, blobs string, lbs []string, rounds int, phase time.Duration, profDir string) int {
	root, err := os.MkdirTemp(cfg.TmpDir, "davbench-replicas-")
	if err != nil {
		progress("%v", err)
		return 1
	}
	defer os.RemoveAll(root)
	if root, err = filepath.Abs(root); err != nil {
		progress("%v", err)
		return 1
	}
	b := &bench{cfg: cfg, root: root, folder: folderName(cfg.Files), cells: map[string]map[string]string{}}
	start := time.Now()
	if _, err := os.Stat(cfg.Wharf); err != nil {
		progress("%s: %v (run make build, or pass -wharf)", cfg.Wharf, err)
		return 1
	}
	data := filepath.Join(root, "data")
	// Each replica's data directory: the shared one, or with -blobs s3 one
	// of its own (the contents are in the bucket, the rest in PostgreSQL).
	dataOf := func(int) string { return data }
	if blobs == "s3" {
		dataOf = func(i int) string { return filepath.Join(root, fmt.Sprintf("replica%d", i+1), "data") }
	} else {
		tree := filepath.Join(data, "spaces", "files", b.folder)
		progress("creating %d files in %s", cfg.Files, tree)
		if err := makeTree(tree, cfg.Files); err != nil {
			progress("%v", err)
			return 1
		}
	}
	pass := randomPassword()
	env := []string{"WHARF_LISTEN=127.0.0.1:0"}
	if replicaEnv != "" {
		env = append(env, strings.Split(replicaEnv, ",")...)
		b.note("", "environment of every replica: %s", replicaEnv)
	}
	dbName := "SQLite in the shared data directory"
	if db == "postgres" {
		pg, err := testservers.StartPostgresDurable(ctx)
		if err != nil {
			progress("-db postgres: %v", err)
			return 1
		}
		defer pg.Stop()
		if err := pg.CreateDatabase(ctx, "wharf", ""); err != nil {
			progress("-db postgres: %v\n%s", err, pg.Log())
			return 1
		}
		env = append(env, "WHARF_DB="+pg.URL("wharf"))
		dbName = "PostgreSQL (a cluster of its own on loopback, default durability: fsync, synchronous_commit on)"
		progress("PostgreSQL serving at %s", pg.Addr())
	}
	var s3 *testservers.S3Server
	var s3env []string // what a replica needs to reach the bucket, but the URL
	if blobs == "s3" {
		progress("starting SeaweedFS's S3 gateway")
		if s3, err = testservers.RunS3(); err != nil {
			progress("-blobs s3: %v", err)
			return 1
		}
		defer s3.Stop()
		s3env = s3.Env()
		env = append(append(env, s3env...), "WHARF_BLOBS="+s3.URL())
		dbName += "; file contents in an S3 bucket (SeaweedFS's S3 gateway, `weed server -s3`, one volume server, on loopback), a data directory of its own for each replica"
		progress("S3 serving at %s", s3.Endpoint)
	}

	// The replicas: the first one alone creates the schema, the admin and
	// adopts the tree; the others join it.
	var reps []*proc
	var pprofs []string
	defer func() {
		for _, p := range slices.Backward(reps) {
			p.stop()
		}
	}()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("replica%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			progress("%v", err)
			return 1
		}
		e := append(slices.Clone(env), "WHARF_DATA="+dataOf(i))
		if i == 0 {
			e = append(e, "WHARF_ADMIN_PASSWORD="+pass)
		}
		if profDir != "" {
			port, err := freePort()
			if err != nil {
				progress("%v", err)
				return 1
			}
			addr := "127.0.0.1:" + strconv.Itoa(port)
			pprofs = append(pprofs, addr)
			e = append(e, "PPROF_ADDR="+addr)
		}
		flushDisks()
		p, err := startProc(ctx, dir, wharfServing, cfg.Wharf, []string{"serve"}, e...)
		if err != nil {
			progress("replica %d: %v", i+1, err)
			return 1
		}
		reps = append(reps, p)
		t := newTarget("http://"+p.addr, "/dav/spaces/files/", pass)
		if err := t.waitReady(ctx, p); err != nil {
			progress("replica %d: %v\n%s", i+1, err, p.tail(20))
			return 1
		}
		progress("replica %d serving at %s", i+1, p.addr)
	}

	// With -blobs s3, one more replica of its own: SQLite in its data
	// directory, its contents under a prefix of the same bucket, so that
	// what S3 costs shows apart from what PostgreSQL and the replicas do.
	var lone *proc
	var lonePprof string
	if s3 != nil {
		dir := filepath.Join(root, "sqlite-s3")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			progress("%v", err)
			return 1
		}
		e := append([]string{"WHARF_LISTEN=127.0.0.1:0", "WHARF_DATA=" + filepath.Join(dir, "data"), "WHARF_ADMIN_PASSWORD=" + pass,
			fmt.Sprintf("WHARF_BLOBS=s3://%s/sqlite?endpoint=http://%s&region=%s", s3.Bucket, s3.Endpoint, s3.Region)}, s3env...)
		if replicaEnv != "" {
			e = append(e, strings.Split(replicaEnv, ",")...)
		}
		if profDir != "" {
			port, err := freePort()
			if err != nil {
				progress("%v", err)
				return 1
			}
			lonePprof = "127.0.0.1:" + strconv.Itoa(port)
			e = append(e, "PPROF_ADDR="+lonePprof)
		}
		if lone, err = startProc(ctx, dir, wharfServing, cfg.Wharf, []string{"serve"}, e...); err != nil {
			progress("SQLite + S3 replica: %v", err)
			return 1
		}
		defer lone.stop()
		t := newTarget("http://"+lone.addr, "/dav/spaces/files/", pass)
		if err := t.waitReady(ctx, lone); err != nil {
			progress("SQLite + S3 replica: %v\n%s", err, lone.tail(20))
			return 1
		}
		progress("SQLite + S3 replica serving at %s", lone.addr)
	}

	// The proxies, each a process of its own: davbench again.
	self, err := os.Executable()
	if err != nil {
		progress("%v", err)
		return 1
	}
	startProxy := func(name, mode string, backs []*proc) (*proc, error) {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		var addrs []string
		for _, p := range backs {
			addrs = append(addrs, p.addr)
		}
		return startProc(ctx, dir, proxyServing, self, []string{"-proxy-for", strings.Join(addrs, ","), "-proxy-mode", mode})
	}
	vs := []*replVariant{{name: "1 replica, direct", origin: "http://" + reps[0].addr}}
	backs := [][]*proc{reps[:1]}
	if n > 1 {
		backs = append(backs, reps)
	}
	for _, mode := range lbs {
		for _, bs := range backs {
			p, err := startProxy(fmt.Sprintf("proxy-%s-%d", mode, len(bs)), mode, bs)
			if err != nil {
				progress("proxy: %v", err)
				return 1
			}
			defer p.stop()
			name := fmt.Sprintf("%d replicas behind the %s proxy", len(bs), lbTitle[mode])
			if len(bs) == 1 {
				name = "1 replica behind the " + lbTitle[mode] + " proxy"
			}
			vs = append(vs, &replVariant{name: name, origin: "http://" + p.addr, proxy: p})
		}
	}
	if lone != nil {
		vs = append(vs, &replVariant{name: "1 replica, SQLite + S3, direct", origin: "http://" + lone.addr})
	}
	for _, v := range vs {
		v.t = newTarget(v.origin, "/dav/spaces/files/", pass)
		if err := v.t.waitReady(ctx, reps[0]); err != nil {
			progress("%s: %v", v.name, err)
			return 1
		}
	}
	progress("serving: %d replica(s), %s; the proxy at %s", n, dbName, vs[len(backs)].origin)

	// What the rows read and overwrite, written once (for each database).
	names := make([][]string, cfg.Conns)
	for w := range names {
		for i := range loadNames {
			names[w] = append(names[w], fmt.Sprintf("load/w%02d-%d.bin", w, i))
		}
	}
	payload := make([]byte, loadSize)
	fillPattern(payload, 7)
	setups := []*target{vs[0].t}
	if lone != nil {
		setups = append(setups, vs[len(vs)-1].t)
	}
	for _, direct := range setups {
		if err := direct.mkcol(ctx, "load/"); err != nil {
			progress("MKCOL: %v", err)
			return 1
		}
		for _, ns := range names {
			for _, nm := range ns {
				if err := direct.put(ctx, nm, payload); err != nil {
					progress("PUT %s: %v", nm, err)
					return 1
				}
			}
		}
		if s3 != nil {
			// No tree to adopt: in object-store mode the files are PUT.
			progress("PUT %d files into %s/ at %s", cfg.Files, b.folder, direct.base)
			t0 := time.Now()
			if err := putTree(ctx, direct, b.folder, cfg.Files, cfg.Conns); err != nil {
				progress("%v", err)
				return 1
			}
			b.note("", "the %s files of the listed folder were PUT through %s in %s (%d connections)", thousands(cfg.Files), direct.base, time.Since(t0).Round(100*time.Millisecond), cfg.Conns)
		}
		if _, got, err := direct.propfind(ctx, b.folder+"/", propBody, true); err != nil || got != cfg.Files+1 {
			progress("PROPFIND %s/: %d entries (want %d), %v", b.folder, got, cfg.Files+1, err)
			return 1
		}
	}
	if profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			progress("%v", err)
			return 1
		}
	}
	progress("summing the %s of the big file and the tus upload", fmtBytes(cfg.BigSize))
	h := sha256.New()
	io.Copy(h, newGenerator(cfg.BigSize))
	bigSum := h.Sum(nil)

	rows := []replRow{
		{"get", fmt.Sprintf("GET 4 KiB, %d connections, %s per round", cfg.Conns, phase), "req/s", "GET 4 KiB"},
		{"put", fmt.Sprintf("PUT 4 KiB overwrites, %d connections, %s per round", cfg.Conns, phase), "req/s", "PUT 4 KiB"},
		{"prop", fmt.Sprintf("PROPFIND Depth 1, %s files, 5 props, warm: median of %d", thousands(cfg.Files), propRuns), "ms", "PROPFIND, warm"},
		{"cold", fmt.Sprintf("PROPFIND Depth 1, %s files, 5 props, cold (each right after a PUT into the folder): median of %d", thousands(cfg.Files), propRuns), "ms", "PUT 4 KiB + PROPFIND, cold"},
		{"bigput", fmt.Sprintf("PUT %s, one stream", fmtBytes(cfg.BigSize)), "MB/s", "PUT " + fmtBytes(cfg.BigSize)},
		{"bigget", fmt.Sprintf("GET %s, one stream, right after the PUT", fmtBytes(cfg.BigSize)), "MB/s", "GET " + fmtBytes(cfg.BigSize)},
		{"tus", fmt.Sprintf("tus upload of %s (POST + one PATCH, Upload-Checksum sha256, waits for processing)", fmtBytes(cfg.BigSize)), "s", "tus upload of " + fmtBytes(cfg.BigSize)},
	}
	res := &replResults{
		val: map[replKey][]float64{}, repCPU: map[replKey][]float64{}, prxCPU: map[replKey][]float64{}, s3CPU: map[replKey][]float64{},
		errs: map[replKey]int{}, lat: map[replKey][]time.Duration{}, ops: map[replKey]int{}, profile: map[string]string{},
	}
	// The variants profiled: replica 1 direct, and all replicas behind the
	// first proxy of -lb.
	profiled := map[string]string{vs[0].name: "direct", vs[len(backs)].name: "all"}
	profAddrs := map[string][]string{"direct": pprofs, "all": pprofs}
	if lone != nil {
		profiled[vs[len(vs)-1].name] = "sqlite"
		profAddrs["sqlite"] = []string{lonePprof}
	}
	// Every replica's CPU counts, the SQLite one's too (idle when others
	// are measured, as the replicas a variant does not use).
	all := reps
	if lone != nil {
		all = append(slices.Clone(reps), lone)
	}
	s3CPU := func() time.Duration {
		if s3 == nil {
			return 0
		}
		c, _ := cpuTime(s3.Pid())
		return c
	}
	cpuOf := func(ps []*proc) time.Duration {
		var sum time.Duration
		for _, p := range ps {
			if p == nil {
				continue
			}
			if c, err := cpuTime(p.cmd.Process.Pid); err == nil {
				sum += c
			}
		}
		return sum
	}
	// A warm-up GET phase through every variant, untimed: each replica
	// verifies the password once (argon2id) and fills its caches, which
	// 16 connections arriving at once on a cold replica would otherwise
	// do together inside the first round.
	for _, v := range vs {
		progress("warm-up: %s", v.name)
		if lr := v.t.load(ctx, http.MethodGet, names, payload, time.Second); lr.errs > 0 {
			b.note("", "%s, warm-up: %d errors; first: %s", v.name, lr.errs, lr.firstErr)
		}
	}
	// What the replicas cost when nobody asks anything.
	const idleFor = 3 * time.Second
	ic0, is0 := cpuOf(all), s3CPU()
	select {
	case <-time.After(idleFor):
	case <-ctx.Done():
	}
	b.note("", "idle, the %d replicas together used %s of CPU per second", len(all), fmtMicros(float64(cpuOf(all)-ic0)/float64(time.Microsecond)/idleFor.Seconds()))
	if s3 != nil {
		b.note("", "idle, SeaweedFS used %s of CPU per second", fmtMicros(float64(s3CPU()-is0)/float64(time.Microsecond)/idleFor.Seconds()))
	}
	for r := range rounds {
		progress("round %d of %d", r+1, rounds)
		last := r == rounds-1
		for _, row := range rows {
			for vi, v := range vs {
				if ctx.Err() != nil {
					break
				}
				k := replKey{row.key, v.name}
				if row.key == "put" || row.key == "bigput" || row.key == "tus" || row.key == "cold" {
					flushDisks()
				}
				progress("%s: %s", row.key, v.name)
				// Profiles of every replica, in the last round, of the
				// variant with all of them.
				var profWait func()
				if tag := profiled[v.name]; profDir != "" && last && tag != "" {
					secs := phase.Seconds()
					switch prev := medianF0(res.val[k]); {
					case row.key == "tus" && prev > 0:
						secs = prev
					case (row.key == "bigput" || row.key == "bigget") && prev > 0:
						secs = float64(cfg.BigSize) / 1e6 / prev
					}
					if row.key == "get" || row.key == "put" || row.key == "tus" || row.key == "bigput" || row.key == "bigget" {
						profWait = profileAll(ctx, profAddrs[tag], profDir, tag+"-"+row.key, max(1, int(secs+0.5)), res)
					}
				}
				rc0, pc0, sc0 := cpuOf(all), cpuOf([]*proc{v.proxy}), s3CPU()
				ops, val, err := measureRow(ctx, b, v, row.key, names, payload, phase, bigSum, vi, r, res, k)
				rc1, pc1, sc1 := cpuOf(all), cpuOf([]*proc{v.proxy}), s3CPU()
				if profWait != nil {
					profWait()
				}
				if err != nil {
					res.errs[k]++
					b.note("", "%s, %s, round %d: %v", v.name, row.key, r+1, err)
					continue
				}
				res.val[k] = append(res.val[k], val)
				if ops > 0 {
					res.ops[k] += ops
					res.repCPU[k] = append(res.repCPU[k], float64(rc1-rc0)/float64(time.Microsecond)/float64(ops))
					if v.proxy != nil {
						res.prxCPU[k] = append(res.prxCPU[k], float64(pc1-pc0)/float64(time.Microsecond)/float64(ops))
					}
					if s3 != nil {
						res.s3CPU[k] = append(res.s3CPU[k], float64(sc1-sc0)/float64(time.Microsecond)/float64(ops))
					}
				}
			}
		}
	}
	for i, p := range all {
		if hwm, err := peakRSS(p.cmd.Process.Pid); err == nil {
			if p == lone {
				b.note("", "the SQLite + S3 replica: peak RSS %.0f MiB", float64(hwm)/(1<<20))
				continue
			}
			b.note("", "replica %d: peak RSS %.0f MiB", i+1, float64(hwm)/(1<<20))
		}
	}
	if s3 != nil {
		if hwm, err := peakRSS(s3.Pid()); err == nil {
			b.note("", "SeaweedFS: peak RSS %.0f MiB", float64(hwm)/(1<<20))
		}
	}
	for _, v := range vs {
		if v.proxy != nil {
			if hwm, err := peakRSS(v.proxy.cmd.Process.Pid); err == nil {
				b.note("", "proxy of %q: peak RSS %.0f MiB", v.name, float64(hwm)/(1<<20))
			}
		}
	}
	printReplicas(os.Stdout, b, vs, rows, res, n, dbName, rounds, phase, time.Since(start))
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

// measureRow runs one row for one variant once and returns how many
// operations it made (for the CPU per operation) and the row's figure.
func measureRow(ctx context.Context, b *bench, v *replVariant, row string, names [][]string, payload []byte,
	phase time.Duration, sum []byte, vi, round int, res *replResults, k replKey) (int, float64, error) {
	size := b.cfg.BigSize
	// Each variant its own names: the rows take turns, so the big file
	// PUT by one variant is read back by the same variant after the
	// others' PUTs.
	big := fmt.Sprintf("big-%d.bin", vi)
	tusName := fmt.Sprintf("tus-%d-%d.bin", round, vi)
	switch row {
	case "get", "put":
		method := http.MethodGet
		if row == "put" {
			method = http.MethodPut
		}
		lr := v.t.load(ctx, method, names, payload, phase)
		res.lat[k] = append(res.lat[k], lr.lat...)
		if lr.errs > 0 {
			res.errs[k] += lr.errs
			b.note("", "%s, %s: %d errors; first: %s", v.name, row, lr.errs, lr.firstErr)
		}
		return lr.ok, float64(lr.ok) / lr.elapsed.Seconds(), nil
	case "prop":
		ds, err := v.t.propfindRuns(ctx, b.folder+"/", propBody)
		return len(ds), ms(median(ds)), err
	case "cold":
		ds, err := v.t.coldPropfinds(ctx, b.folder+"/")
		return len(ds), ms(median(ds)), err
	case "bigput":
		d, err := v.t.putBig(ctx, big, size)
		return 1, float64(size) / 1e6 / d.Seconds(), err
	case "bigget":
		d, err := v.t.getBig(ctx, big, size)
		if err == nil {
			err = v.t.delete(ctx, big)
		}
		return 1, float64(size) / 1e6 / d.Seconds(), err
	case "tus":
		d, err := v.tusUpload(ctx, tusName, size, sum)
		if err == nil {
			err = v.t.delete(ctx, tusName)
		}
		return 1, d.Seconds(), err
	}
	return 0, 0, fmt.Errorf("unknown row %q", row)
}

// tusUpload creates an upload of size bytes of the generator's pattern
// and sends it in one PATCH with its SHA-256; it returns the time from
// sending the POST to the PATCH's answer (204, after processing).
func (v *replVariant) tusUpload(ctx context.Context, name string, size int64, sum []byte) (time.Duration, error) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.origin+"/tus/", nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(user, v.t.pass)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "space "+b64("files")+",path "+b64(name))
	resp, err := v.t.client.Do(req)
	if err != nil {
		return 0, err
	}
	if err := check(resp, http.StatusCreated); err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return 0, fmt.Errorf("tus POST: 201 without a usable Location: %v", err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPatch, loc.String(), newGenerator(size))
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	req.SetBasicAuth(user, v.t.pass)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum))
	resp, err = v.t.client.Do(req)
	if err != nil {
		return 0, err
	}
	if err := check(resp, http.StatusNoContent); err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if off := resp.Header.Get("Upload-Offset"); off != strconv.FormatInt(size, 10) {
		return d, fmt.Errorf("tus PATCH %s: Upload-Offset %q after the whole file", loc, off)
	}
	return d, nil
}

// profileAll takes a CPU profile of secs seconds from every replica (a
// build with -tags pprof), written to dir/<row>-replica<i>.pb.gz; the
// function it returns waits for them.
func profileAll(ctx context.Context, addrs []string, dir, row string, secs int, res *replResults) func() {
	var wg sync.WaitGroup
	var files []string
	var mu sync.Mutex
	for i, a := range addrs {
		path := filepath.Join(dir, fmt.Sprintf("%s-replica%d.pb.gz", row, i+1))
		wg.Go(func() {
			err := fetchTo(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", a, secs), path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				progress("profile of replica %d: %v (is -wharf a build with -tags pprof?)", i+1, err)
				return
			}
			files = append(files, path)
		})
	}
	return func() {
		wg.Wait()
		slices.Sort(files)
		res.profile[row] = strings.Join(files, " ")
	}
}

func fetchTo(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// printReplicas writes the tables: the figures, then the CPU they cost.
func printReplicas(w io.Writer, b *bench, vs []*replVariant, rows []replRow, res *replResults, n int, dbName string,
	rounds int, phase, took time.Duration) {
	fmt.Fprintf(w, "\n### %d replicas behind a round-robin proxy, taking turns\n\n```\n%s\n```\n\n", n, commandLine())
	fmt.Fprintf(w, "Database: %s. Median over %d rounds (lowest–highest round); for the proxied variants, the ratio to replica 1 direct.\n\n", dbName, rounds)
	fmt.Fprint(w, "| Measurement |")
	for _, v := range vs {
		fmt.Fprintf(w, " %s |", v.name)
	}
	fmt.Fprint(w, "\n|---|")
	for range vs {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, row := range rows {
		fmt.Fprintf(w, "| %s (%s) |", row.title, row.unit)
		base := medianF0(res.val[replKey{row.key, vs[0].name}])
		for i, v := range vs {
			k := replKey{row.key, v.name}
			vals := res.val[k]
			cell := "—"
			if len(vals) > 0 {
				m := medianF(vals)
				cell = fmt.Sprintf("%s (%s–%s)", fmtVal(m), fmtVal(slices.Min(vals)), fmtVal(slices.Max(vals)))
				if i > 0 && base > 0 {
					cell += fmt.Sprintf(" · %.2f×", m/base)
				}
				if row.key == "get" || row.key == "put" {
					cell += ", p95 " + fmtMS(p95(res.lat[k]))
				}
			}
			if e := res.errs[k]; e > 0 {
				cell += fmt.Sprintf(", %d errors", e)
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nCPU per operation (user + system, from /proc; median over the rounds): all replicas together / the proxy (/ SeaweedFS, with -blobs s3). "+
		"An operation is one request of the load rows, one PROPFIND (warm) or one PUT + PROPFIND (cold), one big transfer, one upload.\n\n")
	fmt.Fprint(w, "| CPU per operation |")
	for _, v := range vs {
		fmt.Fprintf(w, " %s |", v.name)
	}
	fmt.Fprint(w, "\n|---|")
	for range vs {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |", row.short)
		for _, v := range vs {
			k := replKey{row.key, v.name}
			cell := "—"
			if c := res.repCPU[k]; len(c) > 0 {
				cell = "replicas " + fmtMicros(medianF(c))
				if p := res.prxCPU[k]; len(p) > 0 {
					cell += " / proxy " + fmtMicros(medianF(p))
				}
				if p := res.s3CPU[k]; len(p) > 0 {
					cell += " / S3 " + fmtMicros(medianF(p))
				}
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	shared := "All replicas share one data directory on one disk and one database"
	if len(res.s3CPU) > 0 {
		shared = "The replicas share one database and one bucket, each with a data directory of its own on one disk; the SQLite + S3 replica has its own database and its contents under a prefix of the same bucket"
	}
	fmt.Fprintf(w, "\n%s; each is `wharf serve` on its own loopback port. "+
		"Each proxy is `davbench -proxy-for` (a process of its own): the HTTP proxy is Go's `httputil.ReverseProxy`, round robin per request, keep-alive connections to the replicas, streaming both ways; "+
		"the TCP proxy hands each new client connection to the next replica and copies bytes (splice), so a keep-alive connection stays on one replica. "+
		"Before the rounds, one untimed second of GETs through every variant warms every replica. "+
		"The variants take turns: %d rounds, in each every row for every variant; load rows run %s with %d connections, each connection cycling over its own %d names. "+
		"Dirty pages are flushed (sync) before the rows that write. The big file is deleted after its GET and each tus upload after it is done, untimed. "+
		"Whole run: %s.\n", shared, rounds, phase, b.cfg.Conns, loadNames, took.Round(time.Second))
	if len(res.profile) > 0 {
		var ps []string
		for _, tag := range []string{"direct", "all", "sqlite"} {
			for _, r := range rows {
				if f := res.profile[tag+"-"+r.key]; f != "" {
					ps = append(ps, f)
				}
			}
		}
		b.notes = append(b.notes, "CPU profiles of every replica, last round (direct-: replica 1 direct; all-: all replicas behind the first proxy; sqlite-: the SQLite + S3 replica): "+strings.Join(ps, " "))
	}
	if len(b.notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, nt := range b.notes {
			fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(nt, "\n", " "))
		}
	}
	fmt.Fprintln(w, "\nMachine:")
	for _, kv := range machineInfo(b.cfg, b.root) {
		fmt.Fprintf(w, "- %s\n", kv)
	}
}

func medianF0(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return medianF(v)
}

func fmtVal(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func fmtMicros(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2f s", us/1e6)
	case us >= 1e4:
		return fmt.Sprintf("%.0f ms", us/1e3)
	case us >= 1e3:
		return fmt.Sprintf("%.1f ms", us/1e3)
	default:
		return fmt.Sprintf("%.0f µs", us)
	}
}

// ---- the proxy (-proxy-for)

// lbTitle names the proxies of -lb.
var lbTitle = map[string]string{"http": "HTTP", "tcp": "TCP"}

var proxyServing = regexp.MustCompile(`^proxy serving addr=(\S+)`)

// serveProxy is the round-robin reverse proxy: each request goes to the
// next of backends (host:port, comma-separated), with the client's Host
// kept so that the Locations Wharf makes point at the proxy. It listens on
// a free 127.0.0.1 port, prints it, and stops on SIGTERM.
func serveProxy(backends, mode string) int {
	var backs []*url.URL
	for a := range strings.SplitSeq(backends, ",") {
		u, err := url.Parse("http://" + strings.TrimSpace(a))
		if err != nil || u.Host == "" {
			fatalf("-proxy-for: bad address %q", a)
		}
		backs = append(backs, u)
	}
	var next atomic.Uint64
	if mode == "tcp" {
		return serveTCPProxy(backs, &next)
	}
	pool := &bufPool{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u := backs[(next.Add(1)-1)%uint64(len(backs))]
			r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host
			r.Out.Host = r.In.Host
			if r.In.ContentLength > 0 {
				// The transport reads a body once more after its
				// Content-Length, to check that it ends there; by then
				// the answer may be on its way back to the client, and
				// writing it has closed the body: that read fails and the
				// transport drops the connection to the replica, cutting
				// the answer (golang/go#40747). Ending the body at its
				// length keeps that read away from it.
				r.Out.Body = sizedBody{io.LimitReader(r.In.Body, r.In.ContentLength), r.In.Body}
			}
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			WriteBufferSize:     64 << 10,
			ReadBufferSize:      64 << 10,
		},
		FlushInterval: -1,
		BufferPool:    pool,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("proxy: %v", err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("proxy serving addr=%s backends=%s\n", ln.Addr(), backends)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
	}
	return 0
}

// serveTCPProxy is the round robin per connection: each accepted
// connection is joined to a new one to the next replica, bytes copied both
// ways (io.Copy between TCP connections splices on Linux).
func serveTCPProxy(backs []*url.URL, next *atomic.Uint64) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("proxy: %v", err)
	}
	fmt.Printf("proxy serving addr=%s mode=tcp\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
			return 1
		}
		u := backs[(next.Add(1)-1)%uint64(len(backs))]
		go func() {
			defer c.Close()
			d, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			if err != nil {
				fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
				return
			}
			defer d.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(d, c)
				d.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			io.Copy(c, d)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

// sizedBody is a request body cut at its Content-Length.
type sizedBody struct {
	io.Reader
	io.Closer
}

// bufPool hands the proxy 256 KiB copy buffers, so a big body is copied in
// large reads and writes rather than ReverseProxy's default 32 KiB.
type bufPool struct{ p sync.Pool }

func (b *bufPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 256<<10)
}

func (b *bufPool) Put(v []byte) { b.p.Put(&v) }

// cpuTime is the CPU time (user + system) process pid has used so far,
// from /proc (Linux only; an error elsewhere).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold anything: utime and stime are the 12th and 13th of them.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("short /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
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

// putTree PUTs the n small files of the listed folder through t, conns at
// a time (object-store mode adopts no tree from the disk).
func putTree(ctx context.Context, t *target, folder string, n, conns int) error {
	if err := t.mkcol(ctx, folder+"/"); err != nil {
		return fmt.Errorf("MKCOL %s/: %w", folder, err)
	}
	var next atomic.Int64
	errs := make(chan error, conns)
	for range conns {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				if err := t.put(ctx, folder+"/"+fileName(i), fileBody(i)); err != nil {
					next.Store(int64(n))
					errs <- fmt.Errorf("PUT %s: %w", fileName(i), err)
					return
				}
			}
		}()
	}
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
