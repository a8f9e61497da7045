package postproc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/clamdtest"
)

var eicar = clamdtest.EICAR

// fakeClamd is clamdtest.Fake.
func fakeClamd(t *testing.T, ln net.Listener, cutAfter int, answer func(got []byte) string) {
	t.Helper()
	clamdtest.Fake(t, ln, cutAfter, answer)
}

func shortTempDir(t *testing.T) string { return clamdtest.ShortTempDir(t) }

func scanAnswer(got []byte) string {
	if bytes.Contains(got, eicar) {
		return "stream: Eicar-Test-Signature FOUND"
	}
	return "stream: OK"
}

func TestScanWithFakeClamd(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // several chunks
	for _, tc := range []struct {
		name    string
		network string
		cut     int
		content []byte
		step    string // "" passes
		reason  string
	}{
		{name: "clean over tcp", network: "tcp", content: big},
		{name: "clean over unix", network: "unix", content: []byte("clean")},
		{name: "infected", network: "unix", content: append([]byte("prefix "), eicar...), step: "scan", reason: "virus found: Eicar-Test-Signature"},
		{name: "connection cut mid-stream", network: "unix", cut: 70000, content: big, step: "scan", reason: "virus scan failed"},
		{name: "connection cut before the reply", network: "tcp", cut: 10, content: []byte("tiny"), step: "scan", reason: "virus scan failed"},
		{name: "nobody listening", network: "none", content: []byte("x"), step: "scan", reason: "virus scan failed: connect to clamd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var addr string
			switch tc.network {
			case "tcp":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				fakeClamd(t, ln, tc.cut, scanAnswer)
				addr = "tcp:" + ln.Addr().String()
			case "unix":
				sock := filepath.Join(shortTempDir(t), "clamd.sock")
				ln, err := net.Listen("unix", sock)
				if err != nil {
					t.Fatal(err)
				}
				fakeClamd(t, ln, tc.cut, scanAnswer)
				addr = "unix:" + sock
			default:
				addr = "unix:" + filepath.Join(shortTempDir(t), "nothing.sock")
			}
			r := f.runner(t, func(c *Config) { c.Clamd = addr })
			job := f.stage(t, "scan", "f.bin", tc.content)
			if err := r.Submit(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			st, err := wait(t, r, "scan")
			if tc.step == "" {
				if err != nil || st.State != Done {
					t.Fatalf("%+v, %v; want it to pass", st, err)
				}
				if got := stepsSeen(f.events("scan")); !strings.Contains(strings.Join(got, " "), "policy scan thumbnail") {
					t.Errorf("steps %v: scan did not run", got)
				}
				return
			}
			var rej *RejectedError
			if !errors.As(err, &rej) || rej.Step != tc.step || !strings.Contains(rej.Reason, tc.reason) {
				t.Fatalf("%+v, %v; want a rejection at %s saying %q", st, err, tc.step, tc.reason)
			}
			if _, err := f.tree.Stat(context.Background(), "s", "f.bin"); err == nil {
				t.Error("a file that failed the scan is in the space")
			}
		})
	}
}

// TestScanRunsForQuickJobs: a quick job (a WebDAV PUT with Prefer:
// respond-async) is scanned when clamd is configured, and a clamd that
// cannot be reached rejects it rather than letting it through.
func TestScanRunsForQuickJobs(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, func(c *Config) { c.Clamd = "unix:" + filepath.Join(shortTempDir(t), "nothing.sock") })
	job := f.stage(t, "q", "q.txt", []byte("quick"))
	job.Quick = true
	if err := r.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	st, err := wait(t, r, "q")
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Step != "scan" || !strings.Contains(rej.Reason, "virus scan failed") {
		t.Fatalf("%+v, %v; want a rejection at scan", st, err)
	}
	if got := stepsSeen(f.events("q")); strings.Join(got, " ") != "checksum sniff policy scan" {
		t.Errorf("quick job ran %v", got)
	}
	if _, err := f.tree.Stat(context.Background(), "s", "q.txt"); err == nil {
		t.Error("a file that was not scanned is in the space")
	}
}

// TestProcessScans: Process (a WebDAV PUT) runs the virus scan inline when
// clamd is configured: an infected file or a scan error is rejected at
// "scan" and quarantined, a clean file is installed; without clamd,
// nothing is scanned.
func TestProcessScans(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(shortTempDir(t), "clamd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var scanned atomic.Int32
	fakeClamd(t, ln, 0, func(got []byte) string { scanned.Add(1); return scanAnswer(got) })
	down := "unix:" + filepath.Join(shortTempDir(t), "nothing.sock")

	for _, tc := range []struct {
		name, clamd string
		content     []byte
		reason      string // "" passes
		scans       int32
	}{
		{name: "infected", clamd: "unix:" + sock, content: append([]byte("prefix "), eicar...), reason: "virus found: Eicar-Test-Signature", scans: 1},
		{name: "clean", clamd: "unix:" + sock, content: []byte("nothing to see here\n"), scans: 1},
		{name: "clamd down", clamd: down, content: []byte("nothing to see here\n"), reason: "virus scan failed"},
		{name: "no clamd", content: append([]byte("prefix "), eicar...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scanned.Store(0)
			f := newFixture(t)
			r := f.runner(t, func(c *Config) { c.Clamd = tc.clamd })
			id := "put-" + strings.ReplaceAll(tc.name, " ", "-")
			job := f.stage(t, id, "f.bin", tc.content)
			st, created, err := r.Process(ctx, job)
			if got := scanned.Load(); got != tc.scans {
				t.Errorf("clamd scanned %d streams, want %d", got, tc.scans)
			}
			if _, serr := os.Stat(job.Staged); serr == nil {
				t.Error("the staged file is still there")
			}
			if tc.reason == "" {
				if err != nil || !created || st.State != Done {
					t.Fatalf("%+v, %v, %v; want it installed", st, created, err)
				}
				if _, err := f.tree.Stat(ctx, "s", "f.bin"); err != nil {
					t.Errorf("the file is not in the space: %v", err)
				}
				return
			}
			var rej *RejectedError
			if !errors.As(err, &rej) || rej.Step != "scan" || !strings.Contains(rej.Reason, tc.reason) {
				t.Fatalf("%+v, %v; want a rejection at scan saying %q", st, err, tc.reason)
			}
			if st.State != Rejected || st.Step != "scan" {
				t.Errorf("status %+v; want rejected at scan", st)
			}
			if _, err := f.tree.Stat(ctx, "s", "f.bin"); err == nil {
				t.Error("a rejected file is in the space")
			}
			if _, err := os.Stat(filepath.Join(f.dir, "quarantine", id)); err != nil {
				t.Errorf("the rejected file is not quarantined: %v", err)
			}
		})
	}
}

// TestScanWithRealClamd runs the real clamd (see clamdtest): no download.
func TestScanWithRealClamd(t *testing.T) {
	sock := clamdtest.Start(t)
	f := newFixture(t)
	r := f.runner(t, func(c *Config) { c.Clamd = "unix:" + sock })
	ctx := context.Background()
	infected := f.stage(t, "infected", "eicar.com", eicar)
	clean := f.stage(t, "clean", "clean.txt", []byte("nothing to see here\n"))
	for _, j := range []Job{infected, clean} {
		if err := r.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	st, err := wait(t, r, "infected")
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Step != "scan" || !strings.Contains(rej.Reason, "virus found: "+clamdtest.Signature) {
		t.Errorf("EICAR: %+v, %v; want rejected by the scan", st, err)
	}
	if _, err := f.tree.Stat(ctx, "s", "eicar.com"); err == nil {
		t.Error("EICAR file is in the space")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "quarantine", "infected")); err != nil {
		t.Errorf("EICAR file not quarantined: %v", err)
	}
	if st, err := wait(t, r, "clean"); err != nil || st.State != Done {
		t.Errorf("clean file: %+v, %v", st, err)
	}
}

// TestScanRespectsClose: a clamd that never answers does not hold Close up,
// and the job is left to resume rather than passed or rejected.
func TestScanRespectsClose(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fakeClamd(t, ln, 1<<40, nil) // swallows everything, answers nothing
	r, err := New(f.config(func(c *Config) { c.Clamd = "tcp:" + ln.Addr().String() }))
	if err != nil {
		t.Fatal(err)
	}
	r.recordEvery = 0 // each finished step recorded
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Submit(context.Background(), f.stage(t, "hang", "h.txt", []byte("hang"))); err != nil {
		t.Fatal(err)
	}
	for st, _ := r.Status(context.Background(), "hang"); st.Step != "scan"; st, _ = r.Status(context.Background(), "hang") {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	r.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with a scan hanging", d)
	}
	rec, err := f.db.Job(context.Background(), "hang")
	if err != nil || rec.State != "running" || rec.StepsDone != 3 {
		t.Errorf("record %+v, %v; want running with 3 steps done", rec, err)
	}
}
