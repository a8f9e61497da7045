package cmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/client"
)

func (c *commands) pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "upload files and folders to a space (resumable, checked first, verified after)",
		ArgsUsage: "PATH...",
		Description: "Checks everything first (readable, names valid on every desktop OS, space writable, quota)\n" +
			"and reports all problems at once; then uploads over tus, N files at a time, and verifies each\n" +
			"file's SHA-256 against the server's. Running the same command again resumes.\n" +
			"Exit status: 0 all done, 1 some files rejected or failed, 2 usage, login or precheck error, 130 interrupted.",
		Action: c.push,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "server URL (default: the one you logged in to)"},
			&cli.StringFlag{Name: "token", Usage: "bearer token (default: the one kept by 'wharf login')"},
			&cli.StringFlag{Name: "space", Usage: "space id (default: your only writable space)"},
			&cli.StringFlag{Name: "to", Usage: "folder of the space to upload into (default: its root)"},
			&cli.StringFlag{Name: "target", Usage: "Phraseanet target (id or name) to hand the files to when finalizing"},
			&cli.StringSliceFlag{Name: "form", Usage: "form field k=v for the target (repeatable)"},
			&cli.StringSliceFlag{Name: "meta", Usage: "metadata k=v for the uploads (repeatable)"},
			&cli.IntFlag{Name: "parallel", Usage: "files uploaded at a time", Value: 3},
			&cli.StringFlag{Name: "chunk-size", Usage: "bytes per PATCH, each with its own checksum", Value: "16M"},
			&cli.StringFlag{Name: "limit-rate", Usage: "most bytes per second over all files, e.g. 5M (default: no limit)"},
			&cli.BoolFlag{Name: "json", Usage: "progress and summary as JSON lines"},
		},
	}
}

// pushFile is one local file of a push and where it goes.
type pushFile struct {
	abs  string
	rel  string // slash path under --to
	size int64
	mod  time.Time
}

// fileState is what a run remembers about one file, so a rerun resumes.
type fileState struct {
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"modTime"`
	URL      string    `json:"url,omitempty"`
	Offset   int64     `json:"offset,omitempty"`
	Done     bool      `json:"done,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	Rejected string    `json:"rejected,omitempty"`
}

// pushState is the state file of one run: os.UserCacheDir()/wharf/push/<hash>.json.
type pushState struct {
	mu    sync.Mutex
	path  string
	saved []byte

	Server string                `json:"server"`
	Space  string                `json:"space"`
	To     string                `json:"to"`
	Files  map[string]*fileState `json:"files"`
}

// update changes a file's state under the lock and saves the whole state.
func (s *pushState) update(rel string, f func(*fileState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.Files[rel])
	return s.saveLocked()
}

func (s *pushState) get(rel string) fileState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.Files[rel]
}

func (s *pushState) saveLocked() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if string(b) == string(s.saved) {
		return nil
	}
	if err := writeFileAtomic(s.path, b, 0o700, 0o600); err != nil {
		return fmt.Errorf("saving the push state: %w", err)
	}
	s.saved = b
	return nil
}

func loadPushState(server, space, to string, abs []string) (*pushState, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("push state: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", server, space, to)
	for _, a := range abs {
		fmt.Fprintf(h, "%s\n", a)
	}
	p := filepath.Join(dir, "wharf", "push", hex.EncodeToString(h.Sum(nil))[:32]+".json")
	st := &pushState{path: p, Server: server, Space: space, To: to, Files: map[string]*fileState{}}
	b, err := os.ReadFile(p)
	if err == nil {
		if json.Unmarshal(b, st) != nil || st.Files == nil {
			st.Files = map[string]*fileState{} // unreadable: start over, the server dedups by checksum
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("push state: %w", err)
	}
	return st, nil
}

// windowsReserved reports whether stem is a device name Windows refuses
// whatever the extension: CON, PRN, AUX, NUL, COM1-9, LPT1-9.
func windowsReserved(stem string) bool {
	switch s := strings.ToUpper(strings.TrimRight(stem, " ")); {
	case s == "CON", s == "PRN", s == "AUX", s == "NUL":
		return true
	case len(s) == 4 && (strings.HasPrefix(s, "COM") || strings.HasPrefix(s, "LPT")):
		return s[3] >= '1' && s[3] <= '9'
	}
	return false
}

// nameProblem says why a file or folder name would not work on Windows,
// macOS or Linux, "" when it is fine.
func nameProblem(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "empty or relative name"
	case len(name) > 255:
		return fmt.Sprintf("name is %d bytes long, more than 255", len(name))
	case !utf8.ValidString(name):
		return "name is not valid UTF-8"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("name contains the control character %U", r)
		}
		if strings.ContainsRune(`\/:*?"<>|`, r) {
			return fmt.Sprintf("name contains %q, which Windows refuses", r)
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return "name ends with a dot or a space, which Windows drops"
	}
	stem, _, _ := strings.Cut(name, ".")
	if windowsReserved(stem) {
		return fmt.Sprintf("%q is a reserved device name on Windows", stem)
	}
	return ""
}

// collect walks the PATH arguments and returns the files to send, the
// folders to create (slash paths under --to) and every problem found.
func collect(paths []string) (files []pushFile, dirs []string, abs []string, problems []string) {
	seen := map[string]string{}
	add := func(f pushFile) {
		if prev, ok := seen[f.rel]; ok {
			problems = append(problems, fmt.Sprintf("%s: same destination %q as %s", f.abs, f.rel, prev))
			return
		}
		seen[f.rel] = f.abs
		files = append(files, f)
	}
	checkNames := func(local, rel string) {
		for _, part := range strings.Split(rel, "/") {
			if p := nameProblem(part); p != "" {
				problems = append(problems, fmt.Sprintf("%s: %s", local, p))
				return
			}
		}
	}
	for _, arg := range paths {
		a, err := filepath.Abs(arg)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", arg, err))
			continue
		}
		abs = append(abs, a)
		fi, err := os.Stat(a)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", arg, unwrapPath(err)))
			continue
		}
		base := filepath.Base(a)
		if !fi.IsDir() {
			checkNames(arg, base)
			if !fi.Mode().IsRegular() {
				problems = append(problems, fmt.Sprintf("%s: not a regular file", arg))
				continue
			}
			if err := readable(a); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", arg, err))
				continue
			}
			add(pushFile{abs: a, rel: base, size: fi.Size(), mod: fi.ModTime()})
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(filepath.Dir(a), p)
			rel = filepath.ToSlash(rel)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, unwrapPath(err)))
				return nil // WalkDir skips the folder it could not read
			}
			checkNames(p, rel)
			if d.IsDir() {
				dirs = append(dirs, rel)
				return nil
			}
			if !d.Type().IsRegular() {
				if d.Type()&fs.ModeSymlink == 0 {
					problems = append(problems, fmt.Sprintf("%s: not a regular file", p))
					return nil
				}
			}
			fi, err := os.Stat(p) // follows symbolic links
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, unwrapPath(err)))
				return nil
			}
			if fi.IsDir() {
				problems = append(problems, fmt.Sprintf("%s: a link to a folder is not followed", p))
				return nil
			}
			if !fi.Mode().IsRegular() {
				problems = append(problems, fmt.Sprintf("%s: not a regular file", p))
				return nil
			}
			if err := readable(p); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, err))
				return nil
			}
			add(pushFile{abs: p, rel: rel, size: fi.Size(), mod: fi.ModTime()})
			return nil
		})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", arg, err))
		}
	}
	return files, dirs, abs, problems
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readable(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return unwrapPath(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.Read(b[:]); err != nil && !errors.Is(err, io.EOF) {
		return unwrapPath(err)
	}
	return nil
}

// keyValues parses repeated k=v flags.
func keyValues(flag string, vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want key=value", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// pusher runs one push.
type pusher struct {
	cl    *client.Client
	space string
	to    string
	chunk int64
	state *pushState
	rep   *reporter
	limit *limiter
	// onServer are the files prepare found on the server already, with
	// the same SHA-256.
	onServer map[string]bool
}

func (c *commands) push(cx *cli.Context) error {
	ctx := cx.Context
	if cx.NArg() == 0 {
		return exitf(exitUsage, "usage: wharf push [flags] PATH...")
	}
	parallel := cx.Int("parallel")
	if parallel < 1 || parallel > 64 {
		return exitf(exitUsage, "--parallel %d: want 1 to 64", parallel)
	}
	chunk, err := parseSize(cx.String("chunk-size"))
	if err != nil || chunk < 1 {
		return exitf(exitUsage, "--chunk-size %q: want a size such as 16M", cx.String("chunk-size"))
	}
	var rate int64
	if v := cx.String("limit-rate"); v != "" {
		if rate, err = parseSize(v); err != nil || rate < 1 {
			return exitf(exitUsage, "--limit-rate %q: want a size per second such as 5M", v)
		}
	}
	meta, err := keyValues("meta", cx.StringSlice("meta"))
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	form, err := keyValues("form", cx.StringSlice("form"))
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	if form != nil && cx.String("target") == "" {
		return exitf(exitUsage, "--form needs --target")
	}
	to := strings.Trim(path.Clean("/"+filepath.ToSlash(cx.String("to"))), "/")
	cl, err := c.session(cx.String("server"), cx.String("token"))
	if err != nil {
		return err
	}

	// Precheck: everything, reported at once.
	files, dirs, abs, problems := collect(cx.Args().Slice())
	if to != "" {
		for _, part := range strings.Split(to, "/") {
			if p := nameProblem(part); p != "" {
				problems = append(problems, fmt.Sprintf("--to %q: %s", to, p))
			}
		}
	}
	me, err := cl.Me(ctx)
	if err != nil {
		return exitf(exitUsage, "%v (log in again with 'wharf login %s')", err, cl.Base())
	}
	space := cx.String("space")
	if space == "" {
		var writable []string
		for _, s := range me.Spaces {
			if s.Role == "editor" || s.Role == "manager" {
				writable = append(writable, s.ID)
			}
		}
		if len(writable) != 1 {
			return exitf(exitUsage, "--space is required: you may write to %d spaces (%s)", len(writable), strings.Join(writable, ", "))
		}
		space = writable[0]
	}
	switch role := me.Role(space); role {
	case "editor", "manager":
	case "":
		problems = append(problems, fmt.Sprintf("space %q: no such space, or you have no role in it", space))
	default:
		problems = append(problems, fmt.Sprintf("space %q: your role is %s; uploading needs editor or manager", space, role))
	}
	st, err := loadPushState(cl.Base(), space, to, abs)
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	var need int64
	for _, f := range files {
		fs := st.Files[f.rel]
		if fs == nil || fs.Size != f.size || !fs.ModTime.Equal(f.mod) {
			fs = &fileState{Size: f.size, ModTime: f.mod} // new, or changed since: start over
			st.Files[f.rel] = fs
		}
		if !fs.Done {
			need += f.size - fs.Offset
		}
	}
	if me.Role(space) != "" {
		root, err := cl.Propfind(ctx, client.DAVPath(space, ""), 0)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("space %q: %v", space, err))
		case len(root) > 0 && root[0].Free >= 0 && need > root[0].Free:
			problems = append(problems, fmt.Sprintf("space %q: %s to upload but only %s free", space, human(need), human(root[0].Free)))
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(c.stderr, "problem:", p)
		}
		return exitf(exitUsage, "%d problem(s) found, nothing uploaded", len(problems))
	}

	out, _ := c.stdout.(*os.File)
	mode := modePlain
	if cx.Bool("json") {
		mode = modeJSON
	} else if out != nil && isTerminal(out) {
		mode = modeTTY
	}
	p := &pusher{cl: cl, space: space, to: to, chunk: chunk, state: st, limit: newLimiter(rate), onServer: map[string]bool{},
		rep: newReporter(c.stdout, mode, files)}
	st.mu.Lock()
	err = st.saveLocked()
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if err := p.prepare(ctx, dirs, files); err != nil {
		if ctx.Err() != nil {
			return exitf(exitInterrupted, "interrupted; run the same command again to resume")
		}
		return exitf(exitUsage, "%v", err)
	}

	// Upload, N at a time.
	p.rep.run()
	work := make(chan pushFile)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				p.one(ctx, f)
			}
		}()
	}
	for _, f := range files {
		if fs := st.get(f.rel); fs.Done {
			if !p.onServer[f.rel] {
				p.rep.skip(f, "done in an earlier run", fs.SHA256)
			}
			continue
		}
		select {
		case work <- f:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	p.rep.stop()
	if ctx.Err() != nil {
		st.mu.Lock()
		st.saveLocked()
		st.mu.Unlock()
		fmt.Fprintln(c.stderr, "interrupted: the state is saved; run the same command again to resume")
		return exitf(exitInterrupted, "interrupted")
	}

	// Finalize what this server knows how to.
	var ids []string
	st.mu.Lock()
	for _, f := range files {
		if fs := st.Files[f.rel]; fs.Done && fs.URL != "" {
			ids = append(ids, client.UploadID(fs.URL))
		}
	}
	st.mu.Unlock()
	if len(ids) > 0 {
		res, err := cl.Finalize(ctx, client.FinalizeRequest{Uploads: ids, Metadata: meta, Target: cx.String("target"), Form: form})
		switch {
		case errors.Is(err, client.ErrNotSupported):
			p.rep.note("finalize", "skipped: this server has no /api/v1/uploads/finalize (files are in the space; metadata and target were not applied)")
		case err != nil:
			p.rep.note("finalize", "failed: "+err.Error()+" (run the same command again to retry)")
			p.rep.failed.Add(1)
		default:
			for _, f := range res.Files {
				if f.State == "rejected" {
					p.rep.rejected.Add(1)
					p.rep.note("finalize", fmt.Sprintf("%s rejected at %s: %s", f.Path, f.Step, f.Error))
				}
			}
			if res.Commit != nil {
				p.rep.note("finalize", fmt.Sprintf("commit %s %s", res.Commit.ID, res.Commit.State))
			} else {
				p.rep.note("finalize", fmt.Sprintf("%d upload(s) finalized", len(res.Files)))
			}
		}
	}
	p.rep.summary()
	if p.rep.rejected.Load() > 0 || p.rep.failed.Load() > 0 {
		return exitf(exitRejected, "%d file(s) rejected, %d failed", p.rep.rejected.Load(), p.rep.failed.Load())
	}
	return nil
}

// prepare creates the folders and marks files the server already holds with
// the same SHA-256 as done.
func (p *pusher) prepare(ctx context.Context, dirs []string, files []pushFile) error {
	all := map[string]bool{}
	addDir := func(d string) {
		for d != "." && d != "" && d != "/" {
			all[d] = true
			d = path.Dir(d)
		}
	}
	if p.to != "" {
		addDir(p.to)
	}
	for _, d := range dirs {
		addDir(path.Join(p.to, d))
	}
	for _, f := range files {
		addDir(path.Dir(path.Join(p.to, f.rel)))
	}
	// What the server has, one listing per folder.
	have := map[string]client.Entry{} // by path in the space
	listed := append([]string{""}, slices.Sorted(maps.Keys(all))...)
	for _, d := range listed {
		entries, err := p.cl.Propfind(ctx, client.DAVPath(p.space, d+"/"), 1)
		var se *client.StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return err
		}
		prefix := "/dav/spaces/" + p.space + "/"
		for _, e := range entries {
			have[strings.Trim(strings.TrimPrefix(e.Path, prefix), "/")] = e
		}
	}
	sorted := slices.Sorted(maps.Keys(all))
	sort.SliceStable(sorted, func(i, j int) bool { return strings.Count(sorted[i], "/") < strings.Count(sorted[j], "/") })
	for _, d := range sorted {
		if e, ok := have[d]; ok && e.Dir {
			continue
		}
		if err := p.cl.Mkcol(ctx, client.DAVPath(p.space, d+"/")); err != nil {
			return err
		}
	}
	for _, f := range files {
		fs := p.state.get(f.rel)
		e, ok := have[path.Join(p.to, f.rel)]
		if fs.Done || fs.URL != "" || !ok || e.Dir || e.Size != f.size || e.SHA256 == "" {
			continue
		}
		sum, err := fileSHA256(f.abs)
		if err != nil {
			return err
		}
		if sum == e.SHA256 {
			if err := p.state.update(f.rel, func(s *fileState) { s.Done, s.SHA256 = true, sum }); err != nil {
				return err
			}
			p.onServer[f.rel] = true
			p.rep.skip(f, "already on the server", sum)
		}
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// errRejected is a file the server refused; retrying will not help.
type errRejected struct{ msg, step string }

func (e *errRejected) Error() string { return e.msg }

// one uploads a file and records the outcome; it reports, never returns,
// errors, so one file's failure does not stop the others.
func (p *pusher) one(ctx context.Context, f pushFile) {
	sum, err := p.upload(ctx, f)
	var rej *errRejected
	switch {
	case ctx.Err() != nil:
		p.rep.interrupted(f)
	case errors.As(err, &rej):
		p.state.update(f.rel, func(s *fileState) { s.Rejected = rej.msg })
		p.rep.finish(f, "rejected", rej.msg, rej.step)
	case err != nil:
		p.rep.finish(f, "failed", err.Error(), "")
	default:
		p.rep.finish(f, "done", "", sum)
	}
}

const maxAttempts = 12

// backoff waits before retry attempt n (0.5 s doubling to 30 s), or the
// server's Retry-After when it gave one.
func backoff(ctx context.Context, n int, retryAfter time.Duration) error {
	d := retryAfter
	if d <= 0 {
		d = min(500*time.Millisecond<<min(n, 6), 30*time.Second)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// upload sends f over tus, resuming from the state's upload when there is
// one, and returns its verified hex SHA-256.
func (p *pusher) upload(ctx context.Context, f pushFile) (string, error) {
	file, err := os.Open(f.abs)
	if err != nil {
		return "", err
	}
	defer file.Close()
	dest := path.Join(p.to, f.rel)
	st := p.state.get(f.rel)
	loc := st.URL
	resumed := loc != ""
	h := sha256.New()
	var hashed int64 // bytes of the file in h
	buf := make([]byte, p.chunk)
	fails := 0
	retry := func(err error) error {
		fails++
		if fails >= maxAttempts {
			return fmt.Errorf("giving up after %d attempts: %w", fails, err)
		}
		var se *client.StatusError
		var ra time.Duration
		if errors.As(err, &se) {
			ra = se.RetryAfter
		}
		p.rep.retry(f, err)
		return backoff(ctx, fails, ra)
	}
	started := false
outer:
	for {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var offset int64
		if loc == "" {
			if p.state.get(f.rel).Rejected != "" {
				p.state.update(f.rel, func(s *fileState) { s.Rejected = "" })
			}
			l, err := p.cl.Create(ctx, p.space, dest, f.size)
			var se *client.StatusError
			switch {
			case errors.As(err, &se) && !se.Temporary():
				return "", &errRejected{msg: se.Error()}
			case err != nil:
				if err := retry(err); err != nil {
					return "", err
				}
				continue
			}
			loc = l
			if err := p.state.update(f.rel, func(s *fileState) { s.URL, s.Offset = loc, 0 }); err != nil {
				return "", err
			}
			if f.size == 0 {
				continue // no PATCH for an empty file: HEAD tells when it is in
			}
		} else {
			off, _, err := p.cl.Offset(ctx, loc)
			var se *client.StatusError
			switch {
			case errors.As(err, &se) && se.Status == http.StatusLocked:
				if err := backoff(ctx, 0, max(se.RetryAfter, time.Second)); err != nil {
					return "", err
				}
				continue // processing: not a failure
			case errors.As(err, &se) && se.Status == http.StatusGone:
				return "", &errRejected{msg: se.Message}
			case errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden):
				loc = "" // expired or unknown: start over
				continue
			case err != nil:
				if err := retry(err); err != nil {
					return "", err
				}
				continue
			}
			offset = off
		}
		if offset > hashed { // catch the hash up with what the server has
			if _, err := io.Copy(h, io.NewSectionReader(file, hashed, offset-hashed)); err != nil {
				return "", err
			}
			hashed = offset
		} else if offset < hashed {
			h.Reset()
			hashed = 0
			continue
		}
		if offset >= f.size {
			break
		}
		if !started {
			p.rep.start(f, offset, resumed && loc == st.URL)
			started = true
		}
		for offset < f.size {
			n := min(p.chunk, f.size-offset)
			chunk := buf[:n]
			if _, err := file.ReadAt(chunk, offset); err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			if err := p.limit.wait(ctx, n); err != nil {
				return "", err
			}
			sum := sha256.Sum256(chunk)
			next, status, err := p.cl.Patch(ctx, loc, offset, chunk, sum[:])
			var se *client.StatusError
			switch {
			case ctx.Err() != nil:
				return "", ctx.Err()
			case errors.As(err, &se) && (se.Status == http.StatusGone || se.Status == http.StatusUnprocessableEntity):
				return "", &errRejected{msg: se.Message, step: se.Step}
			case errors.As(err, &se) && se.Status == http.StatusLocked:
				if err := backoff(ctx, 0, max(se.RetryAfter, time.Second)); err != nil {
					return "", err
				}
				continue outer
			case errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden):
				loc = ""
				continue outer
			case errors.As(err, &se) && !se.Temporary() && se.Status != http.StatusConflict && se.Status != 460:
				return "", &errRejected{msg: se.Error()}
			case err != nil: // 5xx, 409, 460 or the network: ask where we are
				if err := retry(err); err != nil {
					return "", err
				}
				continue outer
			}
			fails = 0
			if next == offset+n {
				h.Write(chunk)
				hashed = next
			}
			offset = next
			p.rep.advance(f, offset, n)
			if err := p.state.update(f.rel, func(s *fileState) { s.Offset = offset }); err != nil {
				return "", err
			}
			if offset >= f.size && status == http.StatusAccepted {
				continue outer // processing goes on: HEAD until it is in
			}
			if hashed != offset {
				continue outer
			}
		}
		break
	}
	if hashed != f.size {
		h.Reset()
		if _, err := io.Copy(h, io.NewSectionReader(file, 0, f.size)); err != nil {
			return "", err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Verify against what the server computed.
	var entries []client.Entry
	for attempt := 0; ; attempt++ {
		entries, err = p.cl.Propfind(ctx, client.DAVPath(p.space, dest), 0)
		if err == nil {
			break
		}
		if err := retry(err); err != nil {
			return "", fmt.Errorf("verifying: %w", err)
		}
	}
	if len(entries) == 0 || entries[0].SHA256 == "" {
		return "", fmt.Errorf("verifying: the server gives no SHA-256 for %s", dest)
	}
	if entries[0].SHA256 != sum {
		return "", &errRejected{msg: fmt.Sprintf("checksum mismatch: sent %s, the server has %s", sum, entries[0].SHA256)}
	}
	if err := p.state.update(f.rel, func(s *fileState) { s.Done, s.SHA256, s.Offset = true, sum, f.size }); err != nil {
		return "", err
	}
	return sum, nil
}

// limiter paces all uploads of a run to a rate (bytes per second; 0: none).
type limiter struct {
	rate int64
	mu   sync.Mutex
	next time.Time
}

func newLimiter(rate int64) *limiter { return &limiter{rate: rate} }

// wait blocks until n more bytes may be sent.
func (l *limiter) wait(ctx context.Context, n int64) error {
	if l.rate <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	start := now
	if l.next.After(now) {
		start = l.next
	}
	l.next = start.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	l.mu.Unlock()
	if d := time.Until(start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
