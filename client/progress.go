package client

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ProgressMode is how Push shows its progress.
type ProgressMode int

const (
	ProgressPlain ProgressMode = iota // a line per file event and a total line every second
	ProgressJSON                      // the same as JSON lines
	ProgressTTY                       // bars redrawn in place with ANSI escapes
)

// reporter shows a push's progress. All methods are safe for concurrent use.
type reporter struct {
	w     io.Writer
	mode  ProgressMode
	begin time.Time

	rejected, failed atomic.Int64

	mu         sync.Mutex
	files      int
	total      int64 // bytes of all files
	doneFiles  int
	doneBytes  int64 // of files done (this run or before)
	sent       int64 // bytes sent in this run
	skipped    int
	active     map[string]*activeFile
	drawn      int  // lines of the last TTY block
	stopped    bool // no more bars
	stopTicker chan struct{}
	tickerDone chan struct{}
}

type activeFile struct {
	name         string
	size, offset int64
	since        time.Time
}

func newReporter(w io.Writer, mode ProgressMode, files []pushFile) *reporter {
	r := &reporter{w: w, mode: mode, begin: time.Now(), files: len(files), active: map[string]*activeFile{}}
	for _, f := range files {
		r.total += f.size
	}
	return r
}

// run starts the periodic total line (plain, JSON) or redraw (TTY).
func (r *reporter) run() {
	r.stopTicker, r.tickerDone = make(chan struct{}), make(chan struct{})
	every := time.Second
	if r.mode == ProgressTTY {
		every = 150 * time.Millisecond
	}
	go func() {
		defer close(r.tickerDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.mu.Lock()
				if r.mode == ProgressTTY {
					r.redrawLocked()
				} else if len(r.active) > 0 {
					r.totalLocked()
				}
				r.mu.Unlock()
			case <-r.stopTicker:
				return
			}
		}
	}()
}

func (r *reporter) stop() {
	if r.stopTicker == nil {
		return
	}
	close(r.stopTicker)
	<-r.tickerDone
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.mode == ProgressTTY {
		r.clearLocked()
	}
}

func (r *reporter) jsonLocked(v map[string]any) {
	b, _ := json.Marshal(v)
	r.w.Write(append(b, '\n'))
}

// lineLocked prints a line that stays: above the bars on a terminal.
func (r *reporter) lineLocked(s string) {
	if r.mode == ProgressTTY {
		r.clearLocked()
	}
	fmt.Fprintln(r.w, s)
	if r.mode == ProgressTTY && !r.stopped {
		r.drawLocked()
	}
}

func (r *reporter) skip(f pushFile, reason, sum string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.doneFiles++
	r.skipped++
	r.doneBytes += f.size
	if r.mode == ProgressJSON {
		r.jsonLocked(map[string]any{"event": "skip", "path": f.rel, "size": f.size, "sha256": sum, "reason": reason})
		return
	}
	r.lineLocked(fmt.Sprintf("skip %s: %s", f.rel, reason))
}

// start shows that f is being sent from offset; resumed says the upload
// was created by an earlier run.
func (r *reporter) start(f pushFile, offset int64, resumed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[f.rel] = &activeFile{name: f.rel, size: f.size, offset: offset, since: time.Now()}
	switch r.mode {
	case ProgressJSON:
		r.jsonLocked(map[string]any{"event": "upload", "path": f.rel, "size": f.size, "from": offset, "resumed": resumed})
	case ProgressPlain:
		from := ""
		if offset > 0 {
			from = ", resuming at " + human(offset)
		}
		fmt.Fprintf(r.w, "upload %s (%s%s)\n", f.rel, human(f.size), from)
	}
}

func (r *reporter) advance(f pushFile, offset, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent += n
	if a := r.active[f.rel]; a != nil {
		a.offset = offset
	}
	if r.mode == ProgressJSON {
		r.jsonLocked(map[string]any{"event": "progress", "path": f.rel, "offset": offset, "size": f.size, "sent": n})
	}
}

func (r *reporter) retry(f pushFile, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == ProgressJSON {
		r.jsonLocked(map[string]any{"event": "retry", "path": f.rel, "error": err.Error()})
		return
	}
	r.lineLocked(fmt.Sprintf("retry %s: %v", f.rel, err))
}

// finish records a file's outcome: state done (extra: its sha256),
// rejected (extra: the processing step) or failed.
func (r *reporter) finish(f pushFile, state, msg, extra string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, f.rel)
	ev := map[string]any{"event": state, "path": f.rel, "size": f.size}
	var line string
	switch state {
	case "done":
		r.doneFiles++
		r.doneBytes += f.size
		ev["sha256"] = extra
		line = fmt.Sprintf("done %s (%s, sha256 %s)", f.rel, human(f.size), extra)
	case "rejected":
		r.rejected.Add(1)
		ev["error"], ev["step"] = msg, extra
		line = fmt.Sprintf("rejected %s: %s", f.rel, msg)
	default:
		r.failed.Add(1)
		ev["error"] = msg
		line = fmt.Sprintf("failed %s: %s", f.rel, msg)
	}
	if r.mode == ProgressJSON {
		r.jsonLocked(ev)
		return
	}
	if r.mode == ProgressTTY && state == "done" {
		line = "\u2713 " + f.rel
	}
	r.lineLocked(line)
}

func (r *reporter) interrupted(f pushFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, f.rel)
}

func (r *reporter) note(kind, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == ProgressJSON {
		r.jsonLocked(map[string]any{"event": kind, "message": msg})
		return
	}
	r.lineLocked(kind + ": " + msg)
}

// totals are done bytes, rate (bytes/s of this run) and the ETA.
func (r *reporter) totalsLocked() (done int64, rate float64, eta time.Duration) {
	done = r.doneBytes
	for _, a := range r.active {
		done += a.offset
	}
	if el := time.Since(r.begin).Seconds(); el > 0 {
		rate = float64(r.sent) / el
	}
	if rate > 0 {
		eta = time.Duration(float64(r.total-done) / rate * float64(time.Second)).Round(time.Second)
	}
	return done, rate, eta
}

func (r *reporter) totalLocked() {
	done, rate, eta := r.totalsLocked()
	if r.mode == ProgressJSON {
		r.jsonLocked(map[string]any{"event": "total", "files_done": r.doneFiles, "files": r.files,
			"bytes_done": done, "bytes": r.total, "bytes_sent": r.sent, "rate": int64(rate), "eta_seconds": int64(eta.Seconds())})
		return
	}
	fmt.Fprintln(r.w, r.totalText(done, rate, eta))
}

func (r *reporter) totalText(done int64, rate float64, eta time.Duration) string {
	return fmt.Sprintf("total %d/%d files, %s/%s, %s/s, ETA %s", r.doneFiles, r.files, human(done), human(r.total), human(int64(rate)), eta)
}

// clearLocked erases the bars: cursor up over them, clear to the end.
func (r *reporter) clearLocked() {
	if r.drawn > 0 {
		fmt.Fprintf(r.w, "\r\x1b[%dA\x1b[J", r.drawn)
		r.drawn = 0
	}
}

func (r *reporter) drawLocked() {
	names := make([]string, 0, len(r.active))
	for n := range r.active {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		a := r.active[n]
		b.WriteString(bar(a.name, a.offset, a.size))
		b.WriteByte('\n')
	}
	done, rate, eta := r.totalsLocked()
	b.WriteString(bar(r.totalText(done, rate, eta), done, r.total))
	b.WriteByte('\n')
	io.WriteString(r.w, b.String())
	r.drawn = len(names) + 1
}

func (r *reporter) redrawLocked() {
	r.clearLocked()
	r.drawLocked()
}

// bar is "[#####.....]  45% label".
func bar(label string, n, total int64) string {
	const width = 24
	frac := 1.0
	if total > 0 {
		frac = float64(n) / float64(total)
	}
	fill := int(frac * width)
	if len(label) > 60 {
		label = "\u2026" + label[len(label)-59:]
	}
	return fmt.Sprintf("[%s%s] %3d%% %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), int(frac*100), label)
}

func (r *reporter) summary() {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := time.Since(r.begin).Round(100 * time.Millisecond)
	if r.mode == ProgressJSON {
		r.jsonLocked(map[string]any{"event": "summary", "files": r.files, "done": r.doneFiles, "skipped": r.skipped,
			"rejected": r.rejected.Load(), "failed": r.failed.Load(), "bytes_sent": r.sent, "seconds": el.Seconds()})
		return
	}
	fmt.Fprintf(r.w, "%d of %d files done (%d skipped), %d rejected, %d failed; %s sent in %s\n",
		r.doneFiles, r.files, r.skipped, r.rejected.Load(), r.failed.Load(), human(r.sent), el)
}

// human is a byte count for people: 1.5 MiB.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
