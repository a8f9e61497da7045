package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/e2e/phrasesim"
)

// Crash trials (issue 8): the real binary takes WebDAV PUTs, chunked tus
// uploads and Phraseanet commits from concurrent clients, is killed with
// SIGKILL at a random moment, restarted, and the clients resume as real
// ones do (tus: HEAD and continue; PUT and commits: retry what got no
// answer). After the kill and again at the end the data directory must hold
// everything acknowledged, byte for byte, and nothing half-written.
//
// WHARF_CRASH_TRIALS sets the number of trials (default 5; make soak runs
// 100). Each trial logs one line; the test ends with a summary.

const (
	crashChunk   = 256 << 10               // tus PATCH size
	crashMaxKill = 1500 * time.Millisecond // the kill lands in [20ms, crashMaxKill)
	// A trial's work: WebDAV PUTs (one in three a PNG that gets a
	// thumbnail) sent by crashPutStreams clients at once, so that writes
	// into the space queue for it together, and tus uploads, each its own
	// client. Enough that the work outlasts the first tenth of the kill
	// window without -race.
	crashPuts, crashPutStreams, crashTuses = 12, 4, 4
)

// crashFile is one file of a trial and what its client knows about it.
// The fields after sum are guarded by crashTrial.mu.
type crashFile struct {
	name string
	data []byte
	sum  string
	tus  bool

	acked     bool   // 2xx to the PUT or the final PATCH (or a HEAD said done)
	ackedPre  bool   // acked before the kill
	uploadID  string // tus: from an answered creation
	ackOffset int64  // tus: offset of the last answered PATCH
	commit    string // id of the answered commit that holds it
	maybe     bool   // in a commit request that got no answer
}

// crashTrial is one start-kill-restart cycle on a fresh data directory.
type crashTrial struct {
	t      *testing.T
	ps     *phServer
	sim    *phrasesim.Sim
	target string
	client *http.Client

	mu       sync.Mutex
	files    []*crashFile
	commits  map[string][]string // answered commit id -> file names
	ackedPre map[string]bool     // commits the simulator saw acknowledged before the kill
	inDoubt  map[string]bool     // commits Phraseanet had queued while wharf had not recorded the push

	inflight atomic.Int32 // upload requests in flight
	began    time.Time
	killed   atomic.Bool
	lastAck  atomic.Int64 // nanoseconds from began to the last upload acknowledged before the kill
	// firstCommit is the nanoseconds from began to the first commit
	// answered before the kill; 0: none.
	firstCommit atomic.Int64
}

// crashStats are the counts the test reports.
type crashStats struct {
	// workload is how long the uploads took in the last trial whose kill
	// came after all of them were acknowledged; 0: none yet. commitAt is
	// when the first commit was answered in the last trial that saw one.
	workload, commitAt                time.Duration
	trials, failed                    int
	acked, ackedPre, commits          int
	killUpload, killProcess, killPush int
	killIdle                          int
	tusResumed                        int
	inDoubt                           int // commits Phraseanet had queued, the push not recorded at the kill
}

func crashTrials() int {
	if s := os.Getenv("WHARF_CRASH_TRIALS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 5
}

// TestCrashTrials: see the comment at the top of the file.
func TestCrashTrials(t *testing.T) {
	n := crashTrials()
	var st crashStats
	started := time.Now()
	for i := range n {
		ok := t.Run(fmt.Sprintf("trial%03d", i+1), func(t *testing.T) { runCrashTrial(t, &st) })
		st.trials++
		if !ok {
			st.failed++
		}
	}
	t.Logf("crash trials: %d trials in %s, %d failed; uploads acknowledged: %d (%d before the kill); commits acknowledged: %d; "+
		"kills during upload %d, processing %d, push %d, idle %d; tus uploads resumed mid-file: %d; "+
		"commits in doubt at the kill (queued by Phraseanet, the push not recorded; each must be queued once): %d",
		st.trials, time.Since(started).Round(time.Second), st.failed, st.acked, st.ackedPre, st.commits,
		st.killUpload, st.killProcess, st.killPush, st.killIdle, st.tusResumed, st.inDoubt)
}

// killDelay is when a trial's kill lands. A third of the trials draw it
// from [20ms, crashMaxKill); once earlier trials have shown how long the
// work takes, a third draw it from the uploads and their processing (as
// long as they took last time, from 10 ms on), and a third from the 400 ms after
// the first commit was answered, when pushes are in flight: so kills keep
// landing in the work however fast the machine (with -race or without)
// gets through it.
func (st *crashStats) killDelay() time.Duration {
	const floor = 20 * time.Millisecond
	switch {
	case st.trials%3 == 1 && st.workload > 0:
		return floor/2 + rand.N(max(st.workload, 60*time.Millisecond))
	case st.trials%3 == 2 && st.commitAt > 0:
		return st.commitAt + rand.N(400*time.Millisecond)
	}
	return floor + rand.N(crashMaxKill-floor)
}

func runCrashTrial(t *testing.T, st *crashStats) {
	ps := startPh(t)
	ct := &crashTrial{t: t, ps: ps, commits: map[string][]string{}, ackedPre: map[string]bool{}, inDoubt: map[string]bool{},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(ct.client.CloseIdleConnections)
	expect := map[string][]byte{}
	for i := range crashPuts {
		var data []byte
		if i%3 == 0 {
			data = testPNG(t, 200+rand.IntN(400), 150+rand.IntN(300)) // processing makes a thumbnail
		} else {
			data = randomBytes(t, 1+rand.IntN(1<<20))
		}
		ct.files = append(ct.files, &crashFile{name: fmt.Sprintf("put-%d.bin", i), data: data})
	}
	for i := range crashTuses {
		ct.files = append(ct.files, &crashFile{name: fmt.Sprintf("tus-%d.bin", i), data: randomBytes(t, 3*crashChunk+rand.IntN(2*crashChunk)), tus: true})
	}
	if rand.IntN(2) == 0 {
		ct.files = append(ct.files, &crashFile{name: "empty.txt", data: []byte{}})
	}
	for _, f := range ct.files {
		f.sum = sum(f.data)
		expect[f.name] = f.data
	}
	ct.sim = crashSim(t, ps, expect)
	ct.target = ps.addTarget(t, "dam", pushArgs(ct.sim)...)["id"]
	ps.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/" + phFolder})

	// Run the clients; kill the server at a random moment.
	ct.began = time.Now()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var puts, tuses []*crashFile
	for _, f := range ct.files {
		if f.tus {
			tuses = append(tuses, f)
		} else {
			puts = append(puts, f)
		}
	}
	for k := range crashPutStreams {
		part := puts[k*len(puts)/crashPutStreams : (k+1)*len(puts)/crashPutStreams]
		wg.Go(func() {
			for _, f := range part {
				if ctx.Err() != nil || !ct.putFile(ctx, f) {
					return
				}
			}
		})
	}
	for _, f := range tuses {
		wg.Go(func() { ct.tusFile(ctx, f, false) })
	}
	wg.Go(func() { ct.commitLoop(ctx) })
	delay := st.killDelay()
	time.Sleep(delay)
	uploading := ct.inflight.Load() > 0
	ct.killed.Store(true)
	ps.kill()
	cancel()
	wg.Wait()

	ct.mu.Lock()
	for _, f := range ct.files {
		f.ackedPre = f.acked
	}
	for id := range ct.commits {
		if ct.sim.Acknowledged(id) {
			ct.ackedPre[id] = true
		}
	}
	ct.mu.Unlock()

	// The data directory as the kill left it.
	processing, pushing := ct.checkKilled()
	switch { // a PUT in flight may be processing: jobs say so
	case processing:
		st.killProcess++
	case uploading:
		st.killUpload++
	case pushing:
		st.killPush++
	default:
		st.killIdle++
	}
	moment := []string{}
	for _, m := range []struct {
		on   bool
		what string
	}{{uploading, "upload"}, {processing, "processing"}, {pushing, "push"}} {
		if m.on {
			moment = append(moment, m.what)
		}
	}

	// Restart and let the clients finish.
	ps.restart(t)
	resumed := ct.resume()
	st.inDoubt += ct.finish()

	// Everything acknowledged is there, over WebDAV and on disk.
	for _, f := range ct.files {
		p := (&url.URL{Path: "/dav/spaces/files/" + phFolder + "/" + f.name}).EscapedPath()
		status, _, body, err := ct.do(t.Context(), "GET", p, nil)
		if err != nil || status != http.StatusOK || sum(body) != f.sum {
			t.Errorf("GET %s after the restart: %d, %d bytes, sha256 %s, err %v; want 200 with %d bytes %s", f.name, status, len(body), sum(body), err, len(f.data), f.sum)
		}
	}
	if code := ps.stop(); code != 0 {
		t.Errorf("wharf serve exited %d after SIGTERM", code)
	}
	ct.checkDisk(true)
	if res := wharf(t, ps.data, "", "check", "--verify-hashes"); res.code != 0 || res.stdout != "" {
		t.Errorf("wharf check --verify-hashes after the trial: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	acked, pre := 0, 0
	for _, f := range ct.files {
		if f.acked {
			acked++
		}
		if f.ackedPre {
			pre++
		}
	}
	st.acked += acked
	st.ackedPre += pre
	st.commits += len(ct.commits)
	st.tusResumed += resumed
	if len(moment) == 0 {
		moment = append(moment, "idle")
	}
	if pre == len(ct.files) {
		st.workload = time.Duration(ct.lastAck.Load())
	}
	if c := ct.firstCommit.Load(); c > 0 {
		st.commitAt = time.Duration(c)
	}
	t.Logf("killed after %s during %s; %d of %d files acknowledged before the kill (the last after %s); %d commits; %d tus uploads resumed mid-file",
		delay.Round(time.Millisecond), strings.Join(moment, "+"), pre, len(ct.files), time.Duration(ct.lastAck.Load()).Round(time.Millisecond), len(ct.commits), resumed)
	if t.Failed() {
		t.Logf("server log:\n%s", lastLines(ps.output(), 40))
	}
}

// do sends one request as admin; err is a transport error (no answer).
func (ct *crashTrial) do(ctx context.Context, method, path string, body []byte, hdr ...string) (int, http.Header, []byte, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+ct.ps.addr+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.SetBasicAuth("admin", davPW)
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := ct.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, b, err // cut mid-answer: no answer
	}
	return resp.StatusCode, resp.Header, b, nil
}

// upload is do for requests that carry a file's bytes, counted as in flight.
func (ct *crashTrial) upload(ctx context.Context, method, path string, body []byte, hdr ...string) (int, http.Header, []byte, error) {
	ct.inflight.Add(1)
	defer ct.inflight.Add(-1)
	return ct.do(ctx, method, path, body, hdr...)
}

func (ct *crashTrial) davPath(f *crashFile) string {
	return (&url.URL{Path: "/dav/spaces/files/" + phFolder + "/" + f.name}).EscapedPath()
}

// putFile PUTs f and records whether it was acknowledged; false if the
// server did not answer.
func (ct *crashTrial) putFile(ctx context.Context, f *crashFile) bool {
	status, _, body, err := ct.upload(ctx, "PUT", ct.davPath(f), f.data)
	if err != nil {
		return false
	}
	if status != http.StatusCreated && status != http.StatusNoContent {
		ct.t.Errorf("PUT %s: %d %s, want 201 or 204", f.name, status, body)
		return false
	}
	ct.acked(f)
	return true
}

// tusFile uploads f over tus in chunks, or after a restart (resume) goes
// on from where HEAD says the upload is. It reports whether it continued an
// upload mid-file.
func (ct *crashTrial) tusFile(ctx context.Context, f *crashFile, resume bool) (midFile bool) {
	ct.mu.Lock()
	id, ackOffset := f.uploadID, f.ackOffset
	ct.mu.Unlock()
	offset := int64(0)
	if resume && id != "" {
		// HEAD until the upload is either receiving or done.
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, h, _, err := ct.do(ctx, "HEAD", "/tus/"+id, nil, "Tus-Resumable: 1.0.0")
			if err != nil {
				ct.t.Errorf("tus HEAD %s (%s): %v", id, f.name, err)
				return false
			}
			if status == http.StatusLocked && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			if status != http.StatusOK {
				ct.t.Errorf("tus HEAD %s (%s) after the restart: %d, want 200 (its creation was answered 201); %s", id, f.name, status, ct.uploadRecord(id))
				return false
			}
			offset, _ = strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
			if offset < ackOffset || offset > int64(len(f.data)) {
				ct.t.Errorf("tus HEAD %s (%s): Upload-Offset %d; %d were acknowledged before the kill, the file has %d", id, f.name, offset, ackOffset, len(f.data))
				return false
			}
			break
		}
		if offset == int64(len(f.data)) {
			ct.mu.Lock()
			f.acked = true
			ct.mu.Unlock()
			return false
		}
		midFile = offset > 0
	}
	if id == "" {
		meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte(phFolder+"/"+f.name))
		status, h, body, err := ct.upload(ctx, "POST", "/tus/", nil, "Tus-Resumable: 1.0.0",
			"Upload-Length: "+strconv.Itoa(len(f.data)), "Upload-Metadata: "+meta)
		if err != nil {
			if resume {
				ct.t.Errorf("tus POST %s after the restart: %v", f.name, err)
			}
			return false
		}
		loc := h.Get("Location")
		if status != http.StatusCreated || loc == "" {
			ct.t.Errorf("tus POST %s: %d %s, want 201 with a Location", f.name, status, body)
			return false
		}
		id = loc[strings.LastIndex(loc, "/")+1:]
		ct.mu.Lock()
		f.uploadID = id
		ct.mu.Unlock()
	}
	for {
		end := min(offset+crashChunk, int64(len(f.data)))
		status, h, body, err := ct.upload(ctx, "PATCH", "/tus/"+id, f.data[offset:end], "Tus-Resumable: 1.0.0",
			"Upload-Offset: "+strconv.FormatInt(offset, 10), "Content-Type: application/offset+octet-stream")
		if err != nil {
			if resume {
				ct.t.Errorf("tus PATCH %s at %d after the restart: %v", f.name, offset, err)
			}
			return midFile
		}
		if status != http.StatusNoContent {
			ct.t.Errorf("tus PATCH %s at %d: %d %s, want 204", f.name, offset, status, body)
			return midFile
		}
		got, _ := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
		if got != end {
			ct.t.Errorf("tus PATCH %s at %d: Upload-Offset %d, want %d", f.name, offset, got, end)
			return midFile
		}
		offset = end
		ct.mu.Lock()
		f.ackOffset = end
		ct.mu.Unlock()
		if end == int64(len(f.data)) {
			ct.acked(f)
		}
		if end == int64(len(f.data)) {
			return midFile
		}
	}
}

// acked records that f's upload was acknowledged.
func (ct *crashTrial) acked(f *crashFile) {
	ct.mu.Lock()
	f.acked = true
	ct.mu.Unlock()
	if !ct.killed.Load() {
		ct.lastAck.Store(int64(time.Since(ct.began)))
	}
}

// crashSim is a simulated Phraseanet whose consumer waits 2 s between
// tries (real Phraseanet: 10 s): long enough to outlast a restart of wharf,
// which takes about a second here. See docs/reliability.md. Every
// deviation fails the test, a commit delivered twice included.
func crashSim(t *testing.T, ps *phServer, expect map[string][]byte) *phrasesim.Sim {
	t.Helper()
	sim, err := phrasesim.New(phrasesim.Config{Mode: phrasesim.Current, Key: "phraseanet-api-token", Expect: expect,
		Forbidden: []string{ps.data}, RetryDelay: 2 * time.Second, Timeout: 10 * time.Second, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sim.Close()
		for _, d := range sim.Deviations() {
			t.Errorf("Phraseanet deviation: %s", d)
		}
	})
	return sim
}

// commitLoop commits acknowledged files as they come until ctx ends.
func (ct *crashTrial) commitLoop(ctx context.Context) {
	for ctx.Err() == nil {
		ct.commitReady(ctx, false)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(20+rand.IntN(80)) * time.Millisecond):
		}
	}
}

// commitReady commits the acknowledged files not in a commit yet. After the
// restart (final), files in an unanswered commit request are sent again: a
// 409 naming them says that request did make a commit.
func (ct *crashTrial) commitReady(ctx context.Context, final bool) {
	ct.mu.Lock()
	var batch []*crashFile
	var paths []string
	for _, f := range ct.files {
		if f.acked && f.commit == "" && (!f.maybe || final) {
			batch = append(batch, f)
			paths = append(paths, phFolder+"/"+f.name)
		}
	}
	ct.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	b, _ := json.Marshal(map[string]any{"paths": paths})
	status, _, body, err := ct.do(ctx, "POST", "/api/v1/targets/"+ct.target+"/commits", b, "Content-Type: application/json")
	ct.mu.Lock()
	defer ct.mu.Unlock()
	switch {
	case err != nil:
		if final {
			ct.t.Errorf("POST commits after the restart: %v", err)
		}
		for _, f := range batch {
			f.maybe = true
		}
	case status == http.StatusCreated:
		var c commitResp
		if err := json.Unmarshal(body, &c); err != nil || c.ID == "" || len(c.Assets) != len(batch) {
			ct.t.Errorf("POST commits %s: 201 %s; want an id and %d assets", b, body, len(batch))
			return
		}
		if !ct.killed.Load() {
			ct.firstCommit.CompareAndSwap(0, int64(time.Since(ct.began)))
		}
		var names []string
		for _, f := range batch {
			f.commit, f.maybe = c.ID, false
			names = append(names, f.name)
		}
		ct.commits[c.ID] = names
	case status == http.StatusConflict && final:
		// Some of these are in a commit whose answer was lost; mark
		// them and commit the rest next time.
		var ce struct {
			Paths []string `json:"paths"`
		}
		json.Unmarshal(body, &ce)
		if len(ce.Paths) == 0 {
			ct.t.Errorf("POST commits %s: 409 %s, want the paths already committed", b, body)
			return
		}
		for _, p := range ce.Paths {
			for _, f := range batch {
				if strings.TrimPrefix(p, "/") == phFolder+"/"+f.name {
					if !f.maybe {
						ct.t.Errorf("POST commits: %s is already in a commit, but no commit of it was sent before", f.name)
					}
					f.commit = "lost-answer"
				}
			}
		}
	default:
		ct.t.Errorf("POST commits %s: %d %s, want 201", b, status, body)
	}
}

// resume finishes every upload the way a client does after a restart and
// returns how many tus uploads went on from the middle of the file.
func (ct *crashTrial) resume() int {
	var wg sync.WaitGroup
	var mid atomic.Int32
	for _, f := range ct.files {
		ct.mu.Lock()
		done := f.acked
		ct.mu.Unlock()
		if done {
			continue
		}
		wg.Go(func() {
			if f.tus {
				if ct.tusFile(ct.t.Context(), f, true) {
					mid.Add(1)
				}
				return
			}
			if !ct.putFile(ct.t.Context(), f) {
				ct.t.Errorf("PUT %s after the restart: no answer", f.name)
			}
		})
	}
	wg.Wait()
	for _, f := range ct.files {
		if !f.acked {
			ct.t.Errorf("%s: not acknowledged after the restart", f.name)
		}
	}
	return int(mid.Load())
}

// finish commits what is left, then waits until processing is over, every
// commit is acknowledged, and the simulator has each file once. It returns
// how many commits were in doubt at the kill.
func (ct *crashTrial) finish() (inDoubt int) {
	t := ct.t
	for range 5 {
		ct.commitReady(t.Context(), true)
		ct.mu.Lock()
		left := 0
		for _, f := range ct.files {
			if f.commit == "" {
				left++
			}
		}
		ct.mu.Unlock()
		if left == 0 {
			break
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		open := ct.openJobs()
		if len(open) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processing jobs still unfinished 30s after the restart: %q", open)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	states := ct.ps.commitStates(t, ct.target)
	for id := range ct.commits {
		if _, ok := states[id]; !ok {
			t.Errorf("commit %s was answered 201 before the kill but the server no longer lists it", id)
		}
	}
	for id := range states {
		ct.ps.waitState(t, ct.target, id, "acknowledged", 30*time.Second)
	}
	for id := range ct.ackedPre {
		if states := ct.ps.commitStates(t, ct.target); states[id] != "acknowledged" {
			t.Errorf("commit %s was acknowledged before the kill, now %q", id, states[id])
		}
	}
	var files []phFile
	for _, f := range ct.files {
		files = append(files, phFile{f.name, f.data})
	}
	waitIngested(t, ct.sim, ct.ps, files, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate push would show now
	for id := range ct.ps.commitStates(t, ct.target) {
		if ct.inDoubt[id] {
			inDoubt++
		}
		if n := ct.sim.Enqueued(id); n != 1 {
			t.Errorf("commit %s queued %d times in Phraseanet, want once (in doubt at the kill: %v)", id, n, ct.inDoubt[id])
		}
	}
	seen := map[string]int{}
	for _, r := range ct.sim.Records() {
		seen[r.Name]++
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("Phraseanet has %d records of %s, want one", n, name)
		}
	}
	return inDoubt
}

// openDB opens the data directory's database read-only.
func openDB(t *testing.T, data string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "wharf.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// uploadRecord describes an upload's row and its job's, for a failure
// message.
func (ct *crashTrial) uploadRecord(id string) string {
	db := openDB(ct.t, ct.ps.data)
	defer db.Close()
	var state, step, msg, jstate, jstep, jerr string
	var size, received int64
	err := db.QueryRow("SELECT state, step, error, size, received FROM uploads WHERE id = ?", id).Scan(&state, &step, &msg, &size, &received)
	if err != nil {
		return fmt.Sprintf("upload row: %v", err)
	}
	jerrQ := db.QueryRow("SELECT state, step, error FROM jobs WHERE id = ?", id).Scan(&jstate, &jstep, &jerr)
	return fmt.Sprintf("upload row: state %q step %q error %q size %d received %d; job: %q %q %q (%v)",
		state, step, msg, size, received, jstate, jstep, jerr, jerrQ)
}

// openJobs lists the processing jobs not in a final state (read while the
// server runs: WAL lets another process read).
func (ct *crashTrial) openJobs() []string {
	db := openDB(ct.t, ct.ps.data)
	defer db.Close()
	var out []string
	rows, err := db.Query("SELECT path || ' ' || state FROM jobs WHERE state NOT IN ('done', 'rejected')")
	if err != nil {
		ct.t.Errorf("reading jobs: %v", err)
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// checkKilled checks the data directory as the kill left it and reports
// whether processing and a push were under way.
func (ct *crashTrial) checkKilled() (processing, pushing bool) {
	t := ct.t
	db := openDB(t, ct.ps.data)
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM jobs WHERE state NOT IN ('done', 'rejected')").Scan(&n); err != nil {
		t.Errorf("after the kill: reading jobs: %v", err)
	}
	processing = n > 0
	if err := db.QueryRow("SELECT count(*) FROM phraseanet_commits WHERE state != 'acknowledged'").Scan(&n); err != nil {
		t.Errorf("after the kill: reading commits: %v", err)
	}
	pushing = n > 0
	// Commits wharf had not recorded as pushed but Phraseanet had queued:
	// the kill fell inside the enqueue call, whose answer was lost.
	if rows, err := db.Query("SELECT id FROM phraseanet_commits WHERE state IN ('pending', 'failing')"); err == nil {
		for rows.Next() {
			var id string
			rows.Scan(&id)
			if ct.sim.Enqueued(id) > 0 {
				ct.inDoubt[id] = true
			}
		}
		rows.Close()
	}
	ct.checkDisk(false)
	return processing, pushing
}

// checkDisk compares the space's directory, its index and what the client
// knows: no file on disk that is not exactly one the client sent, every
// acknowledged file there, the index naming exactly what is on disk, and
// SQLite's integrity check clean. Right after a kill (final false) a
// complete file may be on disk without its index row while its job is
// installing or its upload unacknowledged.
func (ct *crashTrial) checkDisk(final bool) {
	t := ct.t
	when := "after the kill"
	if final {
		when = "at the end"
	}
	db := openDB(t, ct.ps.data)
	defer db.Close()
	var ic []string
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Errorf("%s: PRAGMA integrity_check: %v", when, err)
	} else {
		for rows.Next() {
			var s string
			rows.Scan(&s)
			ic = append(ic, s)
		}
		rows.Close()
		if len(ic) != 1 || ic[0] != "ok" {
			t.Errorf("%s: PRAGMA integrity_check: %q", when, ic)
		}
	}
	index := map[string]string{}
	rows, err = db.Query("SELECT path, sha256 FROM nodes WHERE space_id = 'files' AND is_dir = 0")
	if err != nil {
		t.Errorf("%s: reading the index: %v", when, err)
		return
	}
	for rows.Next() {
		var p, s string
		rows.Scan(&p, &s)
		index[p] = s
	}
	rows.Close()
	installing := map[string]bool{}
	if rows, err := db.Query("SELECT path FROM jobs WHERE state = 'installing'"); err == nil {
		for rows.Next() {
			var p string
			rows.Scan(&p)
			installing[p] = true
		}
		rows.Close()
	}

	byName := map[string]*crashFile{}
	for _, f := range ct.files {
		byName[phFolder+"/"+f.name] = f
	}
	root := filepath.Join(ct.ps.data, "spaces", "files")
	onDisk := map[string]bool{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		onDisk[rel] = true
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: reading %s: %v", when, rel, err)
			return nil
		}
		f := byName[rel]
		switch {
		case f == nil:
			t.Errorf("%s: spaces/files/%s is no file any client sent", when, rel)
		case sum(b) != f.sum:
			t.Errorf("%s: spaces/files/%s has %d bytes (sha256 %s), want all %d bytes the client sent", when, rel, len(b), sum(b), len(f.data))
		}
		// A kill between the rename into the space and the commit of its
		// index row leaves a complete file the index does not know yet;
		// the next start indexes it. Acknowledged files are indexed.
		inBetween := !final && (installing[rel] || f != nil && !f.acked)
		if s, ok := index[rel]; !ok && !inBetween {
			t.Errorf("%s: spaces/files/%s is on disk but not in the index", when, rel)
		} else if ok && s != sum(b) {
			t.Errorf("%s: the index has sha256 %s for %s, the disk %s", when, s, rel, sum(b))
		}
		return nil
	})
	for p := range index {
		if !onDisk[p] {
			t.Errorf("%s: the index lists %s, which is not on disk", when, p)
		}
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, f := range ct.files {
		if f.acked && !onDisk[phFolder+"/"+f.name] {
			t.Errorf("%s: %s was acknowledged but is not in spaces/", when, f.name)
		}
	}
}
