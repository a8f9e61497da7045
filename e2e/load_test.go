package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load (issue 8): many concurrent clients mixing PROPFIND, GET, PUT and tus
// against the real binary on loopback. No answer may be an error; the test
// reports p50/p99 latency per operation, throughput, the server's peak RSS
// (VmHWM) and checks that its goroutines (go_goroutines on /metrics) come
// back to where they were once the clients are gone.
//
// WHARF_LOAD_DURATION (default 15s; make soak: 5m) and WHARF_LOAD_CLIENTS
// (default 200) size the run; WHARF_LOAD_SERVER_LOG names a file for the
// server's whole log.

const (
	loadPerUser = 16       // clients per user: the server's per-user limit of uploads at once
	loadSeeds   = 40       // files to GET
	loadPutSize = 32 << 10 // bytes per PUT and per tus upload
)

func loadDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("WHARF_LOAD_DURATION")); err == nil && d > 0 {
		return d
	}
	return 15 * time.Second
}

func loadClients() int {
	if n, err := strconv.Atoi(os.Getenv("WHARF_LOAD_CLIENTS")); err == nil && n > 0 {
		return n
	}
	return 200
}

// loadOp is one kind of operation and its measurements.
type loadOp struct {
	name   string
	weight int
	run    func(c *loadClient) error

	mu        sync.Mutex
	lat       []time.Duration
	errs      int
	throttled int      // 429: an intended refusal, retried by real clients
	first     []string // the first few errors
}

func (o *loadOp) record(d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if errors.Is(err, errThrottled) {
		o.throttled++
		return
	}
	if err != nil {
		o.errs++
		if len(o.first) < 5 {
			o.first = append(o.first, err.Error())
		}
		return
	}
	o.lat = append(o.lat, d)
}

// loadClient is one simulated client: a user's app password and a
// connection pool shared with the others.
type loadClient struct {
	id     int
	url    string
	user   string
	pass   string
	http   *http.Client
	n      int
	body   []byte
	seeded []string
}

func (c *loadClient) do(method, path string, body []byte, want []int, hdr ...string) (http.Header, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, errThrottled
	}
	if !slices.Contains(want, resp.StatusCode) {
		return nil, fmt.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, b)
	}
	return resp.Header, nil
}

var errThrottled = errors.New("429 Too Many Requests")

func loadOps() []*loadOp {
	return []*loadOp{
		{name: "PROPFIND", weight: 30, run: func(c *loadClient) error {
			_, err := c.do("PROPFIND", "/dav/spaces/files/load/seed/", nil, []int{http.StatusMultiStatus}, "Depth: 1")
			return err
		}},
		{name: "GET", weight: 35, run: func(c *loadClient) error {
			_, err := c.do("GET", "/dav/spaces/files/load/seed/"+c.seeded[rand.IntN(len(c.seeded))], nil, []int{http.StatusOK})
			return err
		}},
		{name: "PUT", weight: 20, run: func(c *loadClient) error {
			c.n++
			_, err := c.do("PUT", fmt.Sprintf("/dav/spaces/files/load/up/p%d-%d.bin", c.id, c.n%4), c.body,
				[]int{http.StatusCreated, http.StatusNoContent})
			return err
		}},
		{name: "tus", weight: 15, run: func(c *loadClient) error {
			c.n++
			p := fmt.Sprintf("load/up/t%d-%d.bin", c.id, c.n%4)
			meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte(p))
			h, err := c.do("POST", "/tus/", nil, []int{http.StatusCreated}, "Tus-Resumable: 1.0.0",
				"Upload-Length: "+strconv.Itoa(len(c.body)), "Upload-Metadata: "+meta)
			if err != nil {
				return err
			}
			loc := h.Get("Location")
			_, err = c.do("PATCH", "/tus/"+loc[strings.LastIndex(loc, "/")+1:], c.body, []int{http.StatusNoContent},
				"Tus-Resumable: 1.0.0", "Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
			return err
		}},
	}
}

// procStatus reads a field of /proc/<pid>/status (a kB value for memory).
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return -1
}

// goroutines reads go_goroutines from /metrics (as admin, on a connection
// of its own), or -1 if the server has no metrics.
func goroutines(t *testing.T, in *instance) int {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", in.URL+"/metrics", nil)
	req.SetBasicAuth("admin", davPW)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// TestLoad: see the comment at the top of the file.
func TestLoad(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	pid := in.cmd.Process.Pid
	var users, passes []string
	clients, dur := loadClients(), loadDuration()
	loadUsers := (clients + loadPerUser - 1) / loadPerUser
	for i := range loadUsers {
		u := fmt.Sprintf("load%d", i)
		mustWharf(t, data, u+" password\n", "user", "add", u, "--password-stdin")
		mustWharf(t, data, "", "space", "grant", "files", u, "editor")
		users = append(users, u)
		passes = append(passes, mustWharf(t, data, "", "apppass", "create", u, "--label", "load"))
	}
	for _, d := range []string{"load", "load/seed", "load/up"} {
		in.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/" + d})
	}
	var seeded []string
	for i := range loadSeeds {
		name := fmt.Sprintf("s%02d.bin", i)
		in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/load/seed/" + name, body: string(randomBytes(t, 1+rand.IntN(256<<10)))})
		seeded = append(seeded, name)
	}
	time.Sleep(time.Second)
	baseG, baseThreads, baseRSS := goroutines(t, in), procStatus(pid, "Threads"), procStatus(pid, "VmRSS")

	ops := loadOps()
	var pick []*loadOp
	for _, o := range ops {
		for range o.weight {
			pick = append(pick, o)
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, IdleConnTimeout: 30 * time.Second}
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	body := randomBytes(t, loadPutSize)
	deadline := time.Now().Add(dur)
	var total atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for i := range clients {
		c := &loadClient{id: i, url: in.URL, user: users[i%loadUsers], pass: passes[i%loadUsers], http: hc, body: body, seeded: seeded}
		wg.Go(func() {
			for time.Now().Before(deadline) {
				o := pick[rand.IntN(len(pick))]
				t0 := time.Now()
				err := o.run(c)
				o.record(time.Since(t0), err)
				total.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	tr.CloseIdleConnections()
	peak := procStatus(pid, "VmHWM")

	// Goroutines back to the baseline once the connections are closed.
	afterG, afterThreads := -1, int64(-1)
	settle := time.Now().Add(20 * time.Second)
	for {
		afterG, afterThreads = goroutines(t, in), procStatus(pid, "Threads")
		if afterG <= baseG+10 || time.Now().After(settle) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "load: %d clients (%d users, app passwords) for %s on loopback: %d operations, %.0f/s\n",
		clients, loadUsers, elapsed.Round(time.Second), total.Load(), float64(total.Load())/elapsed.Seconds())
	fmt.Fprintf(&b, "| Operation | Count | Errors | 429 | p50 | p99 |\n|---|---|---|---|---|---|\n")
	errs := 0
	for _, o := range ops {
		slices.Sort(o.lat)
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", o.name, len(o.lat), o.errs, o.throttled,
			percentile(o.lat, 0.50).Round(100*time.Microsecond), percentile(o.lat, 0.99).Round(100*time.Microsecond))
		errs += o.errs
	}
	fmt.Fprintf(&b, "server: peak RSS (VmHWM) %d MiB (%d MiB before the load); go_goroutines %d before, %d after; threads %d before, %d after",
		peak/1024, baseRSS/1024, baseG, afterG, baseThreads, afterThreads)
	t.Log(b.String())

	for _, o := range ops {
		if o.errs > 0 {
			t.Errorf("%s: %d errors, want none; first: %q", o.name, o.errs, o.first)
		}
		if len(o.lat) == 0 {
			t.Errorf("%s: never succeeded", o.name)
		}
	}
	if baseG < 0 || afterG < 0 {
		t.Errorf("no go_goroutines on /metrics: cannot tell whether goroutines leaked")
	} else if afterG > baseG+10 {
		t.Errorf("go_goroutines %d 20s after the load, %d before: goroutines leaked", afterG, baseG)
	}
	if p := os.Getenv("WHARF_LOAD_SERVER_LOG"); p != "" {
		if err := os.WriteFile(p, []byte(in.output()), 0o644); err != nil {
			t.Errorf("WHARF_LOAD_SERVER_LOG: %v", err)
		}
	}
	if t.Failed() {
		var errLines []string
		for line := range strings.SplitSeq(in.output(), "\n") {
			if strings.Contains(line, "level=ERROR") && len(errLines) < 5 {
				errLines = append(errLines, line)
			}
		}
		t.Logf("server log, first errors:\n%s\nlast lines:\n%s", strings.Join(errLines, "\n"), lastLines(in.output(), 10))
	}
}
