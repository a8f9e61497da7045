package client

import (
	"context"
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
)

// PushOptions is what Push sends where, and how.
type PushOptions struct {
	Client *Client           // the server, logged in
	Paths  []string          // local files and folders to send
	Space  string            // space id; "" for the user's only writable space
	To     string            // folder of the space to upload into; "" for its root
	Target string            // Phraseanet target (id or name) to hand the files to when finalizing, or ""
	Form   map[string]string // form fields for Target
	Meta   map[string]string // metadata of the uploads

	Parallel int   // files uploaded at a time, at least 1
	Chunk    int64 // bytes per PATCH, each with its own checksum; at least 1
	Rate     int64 // most bytes per second over all files; 0: no limit

	Progress ProgressMode
	Stdout   io.Writer // progress, outcomes and the summary
	Stderr   io.Writer // the precheck's problems and the interruption notice
}

// Push uploads files and folders to a space: it checks everything first
// (readable, names valid on every desktop OS, space writable, quota) and
// reports all problems at once; then it uploads over tus, Parallel files at
// a time, verifies each file's SHA-256 against the server's, and finalizes
// the uploads. Its state is kept in the user's cache directory, so running
// the same push again resumes. When not everything went through, the error
// is a *RunError.
func Push(ctx context.Context, o PushOptions) error {
	to := strings.Trim(path.Clean("/"+filepath.ToSlash(o.To)), "/")
	plan, err := precheck(ctx, o, to)
	if err != nil {
		return err
	}
	p := &pusher{cl: o.Client, space: plan.space, to: to, chunk: o.Chunk, state: plan.state,
		limit: newLimiter(o.Rate), onServer: map[string]bool{}, rep: newReporter(o.Stdout, o.Progress, plan.files)}
	if err := p.state.save(); err != nil {
		return err
	}
	if err := p.prepare(ctx, plan.dirs, plan.files); err != nil {
		if ctx.Err() != nil {
			return runErrorf(RunInterrupted, "interrupted; run the same command again to resume")
		}
		return runErrorf(RunPrecheck, "%v", err)
	}
	p.sendAll(ctx, plan.files, o.Parallel)
	if ctx.Err() != nil {
		p.state.save()
		fmt.Fprintln(o.Stderr, "interrupted: the state is saved; run the same command again to resume")
		return runErrorf(RunInterrupted, "interrupted")
	}
	p.finalize(ctx, plan.files, FinalizeRequest{Metadata: o.Meta, Target: o.Target, Form: o.Form})
	p.rep.summary()
	if p.rep.rejected.Load() > 0 || p.rep.failed.Load() > 0 {
		return runErrorf(RunIncomplete, "%d file(s) rejected, %d failed", p.rep.rejected.Load(), p.rep.failed.Load())
	}
	return nil
}

// pushFile is one local file of a push and where it goes.
type pushFile struct {
	abs  string
	rel  string // slash path under the destination folder
	size int64
	mod  time.Time
}

// pushPlan is what the precheck found to do.
type pushPlan struct {
	files []pushFile
	dirs  []string // folders to create, slash paths under the destination folder
	space string
	state *pushState
}

// precheck looks at everything before anything is sent (the local files,
// the destination's names, the user's role in the space, its free space)
// and prints every problem it found to o.Stderr.
func precheck(ctx context.Context, o PushOptions, to string) (*pushPlan, error) {
	cl := o.Client
	files, dirs, abs, problems := collect(o.Paths)
	if to != "" {
		for _, part := range strings.Split(to, "/") {
			if p := nameProblem(part); p != "" {
				problems = append(problems, fmt.Sprintf("--to %q: %s", to, p))
			}
		}
	}
	me, err := cl.Me(ctx)
	if err != nil {
		return nil, runErrorf(RunPrecheck, "%v (log in again with 'wharf login %s')", err, cl.Base())
	}
	space, err := pushSpace(me, o.Space)
	if err != nil {
		return nil, err
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
		return nil, runErrorf(RunPrecheck, "%v", err)
	}
	need := st.reconcile(files)
	if me.Role(space) != "" {
		root, err := cl.Propfind(ctx, DAVPath(space, ""), 0)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("space %q: %v", space, err))
		case len(root) > 0 && root[0].Free >= 0 && need > root[0].Free:
			problems = append(problems, fmt.Sprintf("space %q: %s to upload but only %s free", space, human(need), human(root[0].Free)))
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(o.Stderr, "problem:", p)
		}
		return nil, runErrorf(RunPrecheck, "%d problem(s) found, nothing uploaded", len(problems))
	}
	return &pushPlan{files: files, dirs: dirs, space: space, state: st}, nil
}

// pushSpace is the space to push to: the one asked for, else the user's
// only writable space.
func pushSpace(me Me, space string) (string, error) {
	if space != "" {
		return space, nil
	}
	var writable []string
	for _, s := range me.Spaces {
		if s.Role == "editor" || s.Role == "manager" {
			writable = append(writable, s.ID)
		}
	}
	if len(writable) != 1 {
		return "", runErrorf(RunPrecheck, "--space is required: you may write to %d spaces (%s)", len(writable), strings.Join(writable, ", "))
	}
	return writable[0], nil
}

// reconcile starts over the state of each file that is new or changed since
// the state was saved, and returns the bytes still to send.
func (s *pushState) reconcile(files []pushFile) (need int64) {
	for _, f := range files {
		fs := s.Files[f.rel]
		if fs == nil || fs.Size != f.size || !fs.ModTime.Equal(f.mod) {
			fs = &fileState{Size: f.size, ModTime: f.mod} // new, or changed since: start over
			s.Files[f.rel] = fs
		}
		if !fs.Done {
			need += f.size - fs.Offset
		}
	}
	return need
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

// pusher runs one push.
type pusher struct {
	cl    *Client
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
	have := map[string]Entry{} // by path in the space
	listed := append([]string{""}, slices.Sorted(maps.Keys(all))...)
	for _, d := range listed {
		entries, err := p.cl.Propfind(ctx, DAVPath(p.space, d+"/"), 1)
		var se *StatusError
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
		if err := p.cl.Mkcol(ctx, DAVPath(p.space, d+"/")); err != nil {
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

// sendAll uploads the files not done yet, parallel at a time, with the
// progress display running; it returns when all are through or ctx is
// cancelled.
func (p *pusher) sendAll(ctx context.Context, files []pushFile, parallel int) {
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
		if fs := p.state.get(f.rel); fs.Done {
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
}

// finalize asks the server to finish the uploads of the files done (with
// fr's metadata, target and form), when it knows how to.
func (p *pusher) finalize(ctx context.Context, files []pushFile, fr FinalizeRequest) {
	p.state.mu.Lock()
	for _, f := range files {
		if fs := p.state.Files[f.rel]; fs.Done && fs.URL != "" {
			fr.Uploads = append(fr.Uploads, UploadID(fs.URL))
		}
	}
	p.state.mu.Unlock()
	if len(fr.Uploads) == 0 {
		return
	}
	res, err := p.cl.Finalize(ctx, fr)
	switch {
	case errors.Is(err, ErrNotSupported):
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
