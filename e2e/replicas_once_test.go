package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/e2e/phrasesim"
	"github.com/wharfhq/wharf/internal/testservers"
)

// TestPostgresReplicasOnce: two replicas on one data directory and one
// PostgreSQL database do once what must be done once. Each tus upload,
// whichever replica it was made on, is processed by one replica only (both
// look for unclaimed jobs); the Phraseanet scheduler and push outbox run on
// the replica holding the lease only, so a scheduled target commits and
// sends each file dropped through either replica exactly once.
func TestPostgresReplicasOnce(t *testing.T) { testReplicasOnce(t, false) }

// TestReplicasOnceS3 is TestPostgresReplicasOnce with the contents in an
// S3 bucket and a data directory of its own for each replica: a job
// submitted on one replica may run on the other, and the commits made by
// the leader are served by the other.
func TestReplicasOnceS3(t *testing.T) { testReplicasOnce(t, true) }

func testReplicasOnce(t *testing.T, objects bool) {
	dsn := startPostgres(t, "pg-secret-once")
	dataA := t.TempDir()
	dataB := dataA
	// The public URL (where Phraseanet fetches the files) is b's: a, the
	// first leader, is killed at the end.
	addrB := freeAddr(t)
	env := []string{"WHARF_DB=" + dsn, "WHARF_PUBLIC_URL=http://" + addrB, "WHARF_LOG_LEVEL=debug", "WHARF_ADMIN_PASSWORD=" + davPW}
	if objects {
		s3 := testservers.StartS3(t)
		env = append(append(env, s3.Env()...), "WHARF_BLOBS="+s3.URL())
		dataB = t.TempDir()
	}
	a := start(t, dataA, env...)
	waitLog(t, a, leadsLine, 1, 30*time.Second) // a leads: b starts as a follower
	b := start(t, dataB, append(env, "WHARF_LISTEN="+addrB)...)
	replicas := []*instance{a, b}

	// tus uploads, alternately through a and b.
	type upload struct {
		id, name, body string
	}
	var ups []upload
	for i := range 8 {
		in := replicas[i%2]
		name := fmt.Sprintf("tus-%d.txt", i)
		body := strings.Repeat(fmt.Sprintf("upload %d through replica %d\n", i, i%2), 200)
		meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte(name))
		status, h, got := in.send("admin", davPW, davReq{method: "POST", path: "/tus/", headers: map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(body)), "Upload-Metadata": meta}})
		if status != http.StatusCreated {
			t.Fatalf("tus POST %s: %d %s", name, status, got)
		}
		u, err := url.Parse(h.Get("Location"))
		if err != nil || u.Path == "" {
			t.Fatalf("tus POST %s: Location %q", name, h.Get("Location"))
		}
		status, _, got = in.send("admin", davPW, davReq{method: "PATCH", path: u.Path, body: body, headers: map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})
		if status != http.StatusNoContent {
			t.Fatalf("tus PATCH %s: %d %s", name, status, got)
		}
		ups = append(ups, upload{id: u.Path[strings.LastIndex(u.Path, "/")+1:], name: name, body: body})
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, up := range ups {
		for _, in := range replicas {
			for {
				status, _, got := in.send("admin", davPW, davReq{method: "GET", path: "/dav/spaces/files/" + up.name})
				if status == http.StatusOK && got == up.body {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s not installed after 60 s: GET %d\nlog a:\n%s\nlog b:\n%s", up.name, status, lastLines(a.output(), 30), lastLines(b.output(), 30))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	runs := map[string]int{}
	for _, in := range replicas {
		for line := range strings.SplitSeq(in.output(), "\n") {
			if !strings.Contains(line, "running a claimed job") {
				continue
			}
			for _, up := range ups {
				if strings.Contains(line, up.id) {
					runs[up.id]++
				}
			}
		}
	}
	for _, up := range ups {
		if runs[up.id] != 1 {
			t.Errorf("upload %s (%s) run %d times by the replicas, want once", up.id, up.name, runs[up.id])
		}
	}

	// A scheduled Phraseanet target; files dropped through both replicas.
	psA := &phServer{instance: a, data: dataA, addr: addrB}
	psB := &phServer{instance: b, data: dataB, addr: addrB}
	batches := [][]phFile{phFiles(t, "a-"), phFiles(t, "b-"), {{"a-late.txt", []byte("late")}}, {{"b-late.txt", []byte("later")}}}
	failover := []phFile{{"after-failover.txt", []byte("sent by the next leader")}}
	sim := newPhSim(t, phrasesim.Current, psB, expectMap(append(batches, failover)...))
	out := mustWharf(t, dataA, "", append([]string{"--db", dsn, "target", "add", "scheduled", "--space", "files", "--folder", phFolder,
		"--destination", "42", "--public-url", "http://" + addrB, "--every", "1s"}, pushArgs(sim)...)...)
	var target string
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id="); ok {
			target = v
		}
	}
	if target == "" {
		t.Fatalf("target add printed no id=:\n%s", out)
	}
	var all []phFile
	for i, batch := range batches {
		if i > 0 {
			time.Sleep(700 * time.Millisecond)
		}
		[]*phServer{psA, psB}[i%2].put(t, batch)
		all = append(all, batch...)
	}
	recs := waitIngested(t, sim, psB, all, 60*time.Second)
	time.Sleep(2500 * time.Millisecond) // two more ticks: nothing may be committed or sent again
	if got := sim.Records(); len(got) != len(all) {
		t.Errorf("%d records after more ticks, want %d (one per file)", len(got), len(all))
	}
	commits := map[string]bool{}
	for _, r := range recs {
		commits[r.Commit] = true
	}
	for id := range commits {
		if n := sim.Enqueued(id); n != 1 {
			t.Errorf("commit %s enqueued %d times, want 1", id, n)
		}
	}
	states := psB.commitStates(t, target)
	if len(states) != len(commits) {
		t.Errorf("the API lists %d commits, Phraseanet received %d: %v", len(states), len(commits), states)
	}
	if n := strings.Count(b.output(), leadsLine); n != 0 {
		t.Errorf("b took the Phraseanet lease %d times while a led", n)
	}

	// The leader dies without a word: b takes over once the lease ends,
	// and the next file is committed and sent once.
	killed := time.Now()
	a.kill()
	psB.put(t, failover)
	all = append(all, failover...)
	waitLog(t, b, leadsLine, 1, 60*time.Second)
	took := time.Since(killed)
	recs = waitIngested(t, sim, psB, all, 60*time.Second)
	for _, r := range recs {
		if n := sim.Enqueued(r.Commit); n != 1 {
			t.Errorf("commit %s enqueued %d times, want 1", r.Commit, n)
		}
	}
	if got := sim.Records(); len(got) != len(all) {
		t.Errorf("%d records after the failover, want %d (one per file)", len(got), len(all))
	}
	t.Logf("%d uploads processed once each; %d files in %d scheduled commits, each sent once; b led %.1f s after a was killed",
		len(ups), len(all)-len(failover), len(commits), took.Seconds())
}

// leadsLine is what a server logs when it becomes the Phraseanet leader.
const leadsLine = "lease taken: this process leads"

// waitLog waits until in's output holds line n times.
func waitLog(t *testing.T, in *instance, line string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(in.output(), line) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times within %s:\n%s", line, n, within, lastLines(in.output(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
