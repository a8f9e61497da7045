package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/flushfloor"
)

// The small-file run (-small): every server runs at once, idle but for the
// one being measured, and the measurements take turns in rounds: one short
// phase of each variant, then the next round. On a machine shared with
// other work, what the others do changes from second to second; taking
// turns exposes every variant to the same noise, so the ratios mean
// something even when the absolute rates drift. Each cell is the median
// over the rounds.

// variant is one way of sending the same requests: a server and how the
// client authenticates to it.
type variant struct {
	name   string // row label
	server string // wharf, xnet, rclone
	t      *target
}

// smallRun is the -small mode.
func smallRun(ctx context.Context, cfg config, rounds int, phase time.Duration) int {
	root, err := os.MkdirTemp(cfg.TmpDir, "davbench-small-")
	if err != nil {
		progress("%v", err)
		return 1
	}
	defer os.RemoveAll(root)
	b := &bench{cfg: cfg, root: root, cells: map[string]map[string]string{}}
	start := time.Now()
	vs, stop, err := b.startAll(ctx)
	defer stop()
	if err != nil {
		progress("%v", err)
		return 1
	}
	names := make([][]string, cfg.Conns)
	for w := range names {
		for i := range loadNames {
			names[w] = append(names[w], fmt.Sprintf("load/w%02d-%d.bin", w, i))
		}
	}
	payload := make([]byte, loadSize)
	fillPattern(payload, 7)
	type key struct{ row, variant string }
	rates := map[key][]float64{}
	lats := map[key][]time.Duration{}
	errs := map[key]int{}
	// The PUT rows: only one variant per server (how the client
	// authenticates changes nothing of the write).
	var putVs []variant
	for _, v := range vs {
		if !slices.ContainsFunc(putVs, func(p variant) bool { return p.server == v.server }) {
			putVs = append(putVs, v)
		}
	}
	for _, v := range putVs {
		if err := v.t.mkcol(ctx, "load/"); err != nil {
			progress("%s: MKCOL: %v", v.name, err)
			return 1
		}
		for _, ns := range names {
			for _, n := range ns {
				if err := v.t.put(ctx, n, payload); err != nil {
					progress("%s: PUT %s: %v", v.name, n, err)
					return 1
				}
			}
		}
	}
	single := [][]string{{"single/one.bin"}}
	for _, v := range putVs {
		if err := v.t.mkcol(ctx, "single/"); err != nil {
			progress("%s: MKCOL: %v", v.name, err)
			return 1
		}
		if err := v.t.put(ctx, single[0][0], payload); err != nil {
			progress("%s: PUT: %v", v.name, err)
			return 1
		}
	}
	for r := range rounds {
		progress("round %d of %d", r+1, rounds)
		for _, m := range []struct {
			row, method string
			vs          []variant
			names       [][]string
		}{
			{"get", http.MethodGet, vs, names},
			{"put", http.MethodPut, putVs, names},
			{"get1", http.MethodGet, vs, single},
			{"put1", http.MethodPut, putVs, single},
		} {
			for _, v := range m.vs {
				if ctx.Err() != nil {
					return 1
				}
				if m.method == http.MethodPut {
					flushDisks()
				}
				progress("%s: %s", m.row, v.name)
				res := v.t.load(ctx, m.method, m.names, payload, phase)
				k := key{m.row, v.name}
				rates[k] = append(rates[k], float64(res.ok)/res.elapsed.Seconds())
				lats[k] = append(lats[k], res.lat...)
				errs[k] += res.errs
				if res.errs > 0 {
					b.note("", "%s %s: %d errors; first: %s", v.name, m.row, res.errs, res.firstErr)
				}
			}
		}
		// The disk's own floor under a one-connection PUT takes its
		// turn too, so that it is read against the same minutes.
		flushDisks()
		progress("the disk's flushes")
		ft, err := flushfloor.Measure(b.root, floorWrites)
		if err != nil {
			b.note("", "the disk's flushes: %v", err)
		}
		b.floor = append(b.floor, ft.All...)
	}
	b.printSmall(os.Stdout, vs, putVs, rounds, phase, time.Since(start), func(row, v string) (float64, time.Duration, time.Duration, int, bool) {
		k := key{row, v}
		if len(rates[k]) == 0 {
			return 0, 0, 0, 0, false
		}
		return medianF(rates[k]), median(lats[k]), p95(lats[k]), errs[k], true
	})
	return 0
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// startAll starts the servers of cfg.Servers, each in its own directory,
// and returns the variants to measure. stop stops them all.
func (b *bench) startAll(ctx context.Context) ([]variant, func(), error) {
	var procs []*proc
	stop := func() {
		for _, p := range procs {
			p.stop()
		}
	}
	var vs []variant
	kinds := slices.Clone(b.cfg.Servers)
	if b.cfg.Base != "" {
		kinds = append(kinds, "baseline")
	}
	for _, kind := range kinds {
		dir, err := os.MkdirTemp(b.root, kind+"-")
		if err != nil {
			return nil, stop, err
		}
		pass := randomPassword()
		var p *proc
		prefix := "/"
		switch kind {
		case "wharf", "baseline":
			prefix = "/dav/spaces/files/"
			if err := os.MkdirAll(filepath.Join(dir, "data", "spaces", "files"), 0o755); err != nil {
				return nil, stop, err
			}
			bin := b.cfg.Wharf
			if kind == "baseline" {
				bin = b.cfg.Base
			}
			p, err = startProc(ctx, dir, wharfServing, bin, []string{"serve"},
				"WHARF_DATA="+filepath.Join(dir, "data"), "WHARF_LISTEN=127.0.0.1:0", "WHARF_ADMIN_PASSWORD="+pass)
		case "xnet":
			tree := filepath.Join(dir, "root")
			if err := os.MkdirAll(tree, 0o755); err != nil {
				return nil, stop, err
			}
			bin := b.cfg.XNet
			if bin == "" {
				if bin, err = b.buildXNet(ctx); err != nil {
					return nil, stop, err
				}
			}
			p, err = startProc(ctx, dir, xnetServing, bin, []string{"-dir", tree, "-addr", "127.0.0.1:0", "-user", user, "-pass", pass})
		case "rclone":
			bin, lerr := lookRclone(b.cfg.Rclone)
			if lerr != nil {
				b.note("", "rclone SKIPPED: %v", lerr)
				continue
			}
			tree := filepath.Join(dir, "root")
			if err := os.MkdirAll(tree, 0o755); err != nil {
				return nil, stop, err
			}
			port, perr := freePort()
			if perr != nil {
				return nil, stop, perr
			}
			addr := "127.0.0.1:" + strconv.Itoa(port)
			p, err = startProc(ctx, dir, nil, bin, []string{"serve", "webdav", tree, "--addr", addr,
				"--user", user, "--pass", pass, "--config", filepath.Join(dir, "rclone.conf")})
			if p != nil {
				p.addr = addr
			}
		}
		if err != nil {
			return nil, stop, fmt.Errorf("%s: %w", kind, err)
		}
		procs = append(procs, p)
		origin := "http://" + p.addr
		t := newTarget(origin, prefix, pass)
		if err := t.waitReady(ctx, p); err != nil {
			return nil, stop, fmt.Errorf("%s: %w\n%s", kind, err, p.tail(20))
		}
		if kind == "baseline" {
			label := "Wharf baseline " + filepath.Base(b.cfg.Base)
			vs = append(vs, variant{label + ", Basic (account password)", kind, t})
			if b.cfg.BaseAll {
				more, err := wharfCredentials(ctx, origin, prefix, pass)
				if err != nil {
					return nil, stop, fmt.Errorf("baseline credentials: %w", err)
				}
				for _, m := range more {
					m.name = strings.Replace(m.name, "Wharf", label, 1)
					m.server = kind
					vs = append(vs, m)
				}
			}
			continue
		}
		if kind != "wharf" {
			vs = append(vs, variant{columnTitle[kind], kind, t})
			continue
		}
		vs = append(vs, variant{"Wharf, Basic (account password)", kind, t})
		more, err := wharfCredentials(ctx, origin, prefix, pass)
		if err != nil {
			return nil, stop, fmt.Errorf("wharf credentials: %w", err)
		}
		vs = append(vs, more...)
	}
	return vs, stop, nil
}

func lookRclone(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("-rclone \"\"")
	}
	return execLookPath(name)
}

// wharfCredentials makes an app password, an API token and a browser
// session for the admin, and returns a variant for each.
func wharfCredentials(ctx context.Context, origin, prefix, pass string) ([]variant, error) {
	admin := newTarget(origin, "/", pass)
	post := func(path string, body any, basic bool) (*http.Response, error) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, origin+path, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if basic {
			req.SetBasicAuth(user, pass)
		}
		resp, err := admin.client.Do(req)
		if err != nil {
			return nil, err
		}
		if err := check(resp); err != nil {
			return nil, err
		}
		return resp, nil
	}
	var ap struct{ Password string }
	resp, err := post("/api/v1/app-passwords", map[string]string{"label": "davbench", "password": pass}, true)
	if err != nil {
		return nil, err
	}
	err = json.NewDecoder(resp.Body).Decode(&ap)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tok struct{ Token string }
	resp, err = post("/api/v1/auth/token", map[string]string{"user": user, "password": pass}, false)
	if err != nil {
		return nil, err
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp, err = post("/api/v1/session", map[string]string{"user": user, "password": pass}, false)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			cookie = c
		}
	}
	if ap.Password == "" || tok.Token == "" || cookie == nil {
		return nil, fmt.Errorf("no app password, token or session cookie in the answers")
	}
	appT := newTarget(origin, prefix, ap.Password)
	bearerT := newTarget(origin, prefix, "")
	bearerT.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Token) }
	cookieT := newTarget(origin, prefix, "")
	cookieT.auth = func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value}) }
	return []variant{
		{"Wharf, Basic (app password)", "wharf", appT},
		{"Wharf, Bearer token", "wharf", bearerT},
		{"Wharf, session cookie", "wharf", cookieT},
	}, nil
}

// floorWrites is how many durable writes measure the disk's flushes in
// each round of -small.
const floorWrites = 50

// printSmall writes the small-file table: one row per variant, with the
// rate and its ratio to x/net/webdav's, and the disk's flush floor.
func (b *bench) printSmall(w io.Writer, vs, putVs []variant, rounds int, phase, took time.Duration,
	get func(row, v string) (rate float64, med, p95 time.Duration, errs int, ok bool)) {
	fmt.Fprintf(w, "\n### Small files: Wharf and peers, taking turns\n\n```\n%s\n```\n\n", commandLine())
	base := map[string]float64{}
	for _, row := range []string{"get", "put", "get1", "put1"} {
		if r, _, _, _, ok := get(row, columnTitle["xnet"]); ok {
			base[row] = r
		}
	}
	fmt.Fprintf(w, "| Variant | GET 4 KiB, %d conns: req/s (÷ x/net) | PUT 4 KiB, %d conns: req/s (÷ x/net) | 1 conn GET: median latency (p95) | 1 conn PUT: median latency (p95) |\n|---|---:|---:|---:|---:|\n", b.cfg.Conns, b.cfg.Conns)
	for _, v := range vs {
		fmt.Fprintf(w, "| %s |", v.name)
		for _, row := range []string{"get", "put", "get1", "put1"} {
			rate, med, p, errs, ok := get(row, v.name)
			cell := "—"
			switch {
			case !ok:
			case row == "get" || row == "put":
				cell = fmt.Sprintf("%.0f", rate)
				if x := base[row]; x > 0 && v.server != "xnet" {
					cell += fmt.Sprintf(" (%.2f×)", rate/x)
				}
			default:
				cell = fmt.Sprintf("%s (%s)", fmtMS(med), fmtMS(p))
				if _, xm, _, _, ok := get(row, columnTitle["xnet"]); ok && v.server != "xnet" && xm > 0 {
					cell += fmt.Sprintf(", %.2f× x/net", float64(med)/float64(xm))
				}
			}
			if errs > 0 {
				cell += fmt.Sprintf(", %d errors", errs)
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nAll servers run at once; the variants take turns, %d rounds of one %s phase each, per column; "+
		"a rate is the median over the rounds, a latency the median (p95) of all requests of all rounds. "+
		"Each of %d connections GETs or PUTs its own %d names of 4 KiB in turn; the single-connection columns send one request at a time to one name. "+
		"Dirty pages are flushed (sync) before each PUT phase. Wharf fsyncs every PUT and commits its index before answering, and logs every request; the peers do neither. "+
		"Whole run: %s.\n", rounds, phase, b.cfg.Conns, loadNames, took.Round(time.Second))
	if len(b.floor) > 0 {
		fmt.Fprintf(w, "\nThe disk's floor under a one-connection PUT, in the same turns: a 4 KiB file's fsync, its folder's after the rename and a 4 KiB fdatasync in a row (internal/flushfloor, %d writes a round in the servers' directory) took %s (p90 %s).\n",
			floorWrites, fmtMS(flushfloor.Median(b.floor)), fmtMS(flushfloor.P90(b.floor)))
	}
	if len(b.notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range b.notes {
			fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	fmt.Fprintln(w, "\nMachine:")
	for _, kv := range machineInfo(b.cfg, b.root) {
		fmt.Fprintf(w, "- %s\n", kv)
	}
}
