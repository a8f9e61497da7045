package events

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestProgress: upload.progress goes out every ProgressEvery bytes or
// ProgressPeriod, whichever comes first, across the requests of one
// upload, and with the last byte of an upload that had one; small quick
// uploads make none.
func TestProgress(t *testing.T) {
	b := New()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	s := b.Subscribe(func(e Event) bool { return e.Type == UploadProgress }, 100)
	defer s.Close()
	got := func() string {
		var l []string
		for len(s.C()) > 0 {
			e := <-s.C()
			l = append(l, fmt.Sprintf("%s@%v/%d", e.Upload, e.Data["offset"], e.Size))
			if e.Space != "files" || e.Path != "big.bin" || e.User != "alice" {
				t.Errorf("event %+v lost its template", e)
			}
		}
		return strings.Join(l, " ")
	}
	tmpl := Event{Space: "files", Path: "big.bin", User: "alice", Upload: "u1", Size: 5 << 20}
	chunk := make([]byte, 256<<10)

	// One request: 3 MiB fast, then slow bytes.
	p := b.Progress(tmpl, 0)
	for range 12 {
		p.Write(chunk)
	}
	if g := got(); g != "u1@1048576/5242880 u1@2097152/5242880 u1@3145728/5242880" {
		t.Errorf("by bytes: %s", g)
	}
	p.Write(chunk[:10])
	now = now.Add(ProgressPeriod)
	p.Write(chunk[:10])
	p.End(3<<20+20, false)
	if g := got(); g != "u1@3145748/5242880" {
		t.Errorf("by time: %s", g)
	}
	// The next request goes on where it stopped; the last byte is told.
	p = b.Progress(tmpl, 3<<20+20)
	p.Write(make([]byte, 1<<20))
	p.Write(make([]byte, 1<<20-20))
	p.End(5<<20, true)
	if g := got(); g != "u1@4194324/5242880 u1@5242880/5242880" {
		t.Errorf("the end: %s", g)
	}
	if len(b.marks) != 0 {
		t.Errorf("%d marks left after the end", len(b.marks))
	}

	// A small quick upload (size unknown until the end): nothing.
	p = b.Progress(Event{Space: "files", Path: "big.bin", User: "alice", Upload: "small"}, 0)
	p.Write(chunk)
	p.End(256<<10, true)
	if g := got(); g != "" || len(b.marks) != 0 {
		t.Errorf("a small upload: %q, %d marks", g, len(b.marks))
	}
	// A slow one of unknown size: by time, then the end, with its size.
	p = b.Progress(Event{Space: "files", Path: "big.bin", User: "alice", Upload: "slow"}, 0)
	p.Write(chunk[:100])
	now = now.Add(time.Second)
	p.Write(chunk[:100])
	p.End(200, true)
	if g := got(); g != "slow@200/0" {
		t.Errorf("a slow upload: %q", g)
	}
	// The same offset again: no event; a failure is forgotten.
	p = b.Progress(Event{Space: "files", Path: "big.bin", User: "alice", Upload: "failed"}, 0)
	now = now.Add(time.Second)
	p.End(0, false)
	p.Forget()
	if g := got(); g != "" || len(b.marks) != 0 {
		t.Errorf("nothing received: %q, %d marks", g, len(b.marks))
	}
	// Progress events are not kept for replay.
	if b.logN != 0 {
		t.Errorf("%d progress events in the log", b.logN)
	}
	var nilBus *Bus
	if q := nilBus.Progress(tmpl, 0); q != nil {
		t.Error("a nil Bus made a reporter")
	} else {
		q.Write(chunk)
		q.End(1, true)
		q.Forget()
	}
}
