package dav

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
)

// spaceStatus maps an error of the space package to the status a WebDAV
// client expects: api.SpaceStatus, the one mapping every surface shares,
// but for a collection where a file was meant (405, RFC 4918 §9.7.2) and
// the body errors of this surface. The caller handles the errors whose
// status depends on the method (ErrExists).
func spaceStatus(err error) (int, error) {
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, space.ErrIsDir):
		return http.StatusMethodNotAllowed, clientError("that is a collection")
	case errors.Is(err, errChecksum):
		return http.StatusBadRequest, clientError(err.Error())
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The server cut a body that stalled or trickled.
		return http.StatusRequestTimeout, clientError("the request body arrived too slowly")
	}
	if status, msg, ok := api.SpaceStatus(err); ok {
		return status, clientError(msg)
	}
	return http.StatusInternalServerError, err
}

func (h *Handler) handleOptions(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	// The server answers OPTIONS before authentication; this is for
	// embedders that mount the handler alone.
	w.Header().Set("Allow", allowHeader)
	w.Header().Set("DAV", "1, 2")
	w.Header().Set("MS-Author-Via", "DAV")
	return http.StatusOK, nil
}

// handleGet serves a file through http.ServeContent on the real *os.File
// (Range, conditional requests, sendfile), or a small HTML listing for a
// collection.
func (h *Handler) handleGet(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	if res.virtual() {
		return h.listVirtual(w, r, res)
	}
	// Open first: a file (the common case) costs one index lookup, not
	// two; a folder is listed.
	f, n, err := h.tree.Open(r.Context(), res.Space, res.Path)
	if errors.Is(err, space.ErrIsDir) {
		dir, serr := h.tree.Stat(r.Context(), res.Space, res.Path)
		if serr != nil {
			return spaceStatus(serr)
		}
		if dir.IsDir {
			return h.listDir(w, r, res, dir)
		}
		// Replaced by a file in the meantime: open that.
		f, n, err = h.tree.Open(r.Context(), res.Space, res.Path)
	}
	if err != nil {
		return spaceStatus(err)
	}
	defer f.Close()
	// The header is filled by canonical key (what Set does, without a
	// slice per value; see fileHeaders).
	hd := w.Header()
	etag := []string{n.ETag}
	hd["Etag"] = etag
	hd["Oc-Etag"] = etag
	hd["Oc-Fileid"] = []string{strconv.FormatInt(n.ID, 10)}
	if n.MIME != "" {
		hd["Content-Type"] = []string{n.MIME}
	}
	// Files are served as data, never rendered as a page of this origin.
	hd["X-Content-Type-Options"] = fileHeaders.nosniff
	hd["Content-Security-Policy"] = fileHeaders.sandbox
	if h.servePlain(w, r, f, n) {
		return 0, nil
	}
	content, done := h.content(r, f, n.Size)
	http.ServeContent(w, r, n.Name, n.MTime, content)
	done()
	return 0, nil
}

type listingEntry struct {
	Name, Href, Size, Modified string
	IsDir                      bool
}

var listingPage = template.Must(template.New("listing").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td{padding:.2em 1em .2em 0}td.n{text-align:right}</style>
</head><body><h1>{{.Title}}</h1>
<table><tr><th>Name</th><th>Size</th><th>Modified</th></tr>
{{if .Parent}}<tr><td><a href="{{.Parent}}">../</a></td><td></td><td></td></tr>{{end}}
{{range .Entries}}<tr><td><a href="{{.Href}}">{{.Name}}{{if .IsDir}}/{{end}}</a></td><td class="n">{{.Size}}</td><td>{{.Modified}}</td></tr>
{{end}}</table></body></html>
`))

func (h *Handler) writeListing(w http.ResponseWriter, r *http.Request, title, parent string, entries []listingEntry) (int, error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return 0, nil
	}
	err := listingPage.Execute(w, map[string]any{"Title": title, "Parent": parent, "Entries": entries})
	if err != nil {
		h.log.DebugContext(r.Context(), "writing listing", "err", err)
	}
	return 0, nil
}

func (h *Handler) listDir(w http.ResponseWriter, r *http.Request, res resource, dir space.Node) (int, error) {
	children, err := h.tree.List(r.Context(), res.Space, res.Path)
	if err != nil {
		return spaceStatus(err)
	}
	w.Header().Set("ETag", dir.ETag)
	entries := make([]listingEntry, 0, len(children))
	for _, c := range children {
		e := listingEntry{Name: c.Name, Href: res.href(res.Space, c.Path, c.IsDir), IsDir: c.IsDir,
			Modified: c.MTime.UTC().Format("2006-01-02 15:04")}
		if !c.IsDir {
			e.Size = strconv.FormatInt(c.Size, 10)
		}
		entries = append(entries, e)
	}
	parent := SpacesPrefix
	if res.syncRoot() || res.Base != "" {
		parent = res.Base
	}
	if res.Path != "" {
		up, _, _ := cutLast(res.Path)
		parent = res.href(res.Space, up, true)
	}
	return h.writeListing(w, r, res.Space+"/"+res.Path, parent, entries)
}

func (h *Handler) listVirtual(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	if res.Path == "" && !res.syncRoot() {
		return h.writeListing(w, r, Prefix, "", []listingEntry{{Name: "spaces", Href: SpacesPrefix, IsDir: true}})
	}
	roles, err := h.auth.SpaceRoles(r.Context(), auth.FromContext(r.Context()))
	if err != nil {
		return http.StatusInternalServerError, err
	}
	ids := make([]string, 0, len(roles))
	for id := range roles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	entries := make([]listingEntry, 0, len(ids))
	for _, id := range ids {
		entries = append(entries, listingEntry{Name: id, Href: res.href(id, "", true), IsDir: true})
	}
	if res.syncRoot() {
		return h.writeListing(w, r, res.Base, "", entries)
	}
	return h.writeListing(w, r, SpacesPrefix, Prefix, entries)
}

// notASpaceFile is the answer to a PUT of /dav/spaces/<name>: that path
// names a space (a folder) in the list of spaces, not a file.
func notASpaceFile(name string) string {
	return fmt.Sprintf("%s is the list of spaces, so %s%s would be a space, not a file: upload into a space instead, e.g. %s<space id>/%s (PROPFIND %s lists yours)",
		SpacesPrefix, SpacesPrefix, name, SpacesPrefix, name, SpacesPrefix)
}

// cutLast splits p into its parent and last element.
func cutLast(p string) (dir, name string, ok bool) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p, p != ""
	}
	return p[:i], p[i+1:], true
}

var errChecksum = errors.New("checksum mismatch")

// handlePut writes a file atomically (staged, fsynced, renamed): an aborted
// upload never leaves a truncated file. 201 on create, 204 on overwrite.
func (h *Handler) handlePut(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	if res.Path == "" {
		return http.StatusMethodNotAllowed, clientError(notASpaceFile(res.Space))
	}
	if r.Header.Get("Content-Range") != "" {
		// x/net/webdav would truncate the file and write the fragment; we
		// refuse instead of guessing (RFC 9110 §14.5 allows either).
		return http.StatusNotImplemented, clientError("partial PUT (Content-Range) is not supported; upload resumably over tus instead")
	}
	if status, err := h.precondition(r, lockTarget{Space: res.Space, Path: res.Path}); status != 0 {
		return status, err
	}
	return h.putBody(w, r, res, r.Body, r.ContentLength)
}

// putBody writes body (size bytes, -1: unknown) as the file res names,
// with what r's headers ask: conditions, X-OC-Mtime, OC-Checksum, Prefer.
// PUT and the assembly of a chunked upload (chunks.go) share it.
func (h *Handler) putBody(w http.ResponseWriter, r *http.Request, res resource, body io.Reader, size int64) (int, error) {
	opts := space.PutOptions{
		ExpectedSize: size,
		IfMatch:      r.Header.Get("If-Match"),
		IfNoneMatch:  r.Header.Get("If-None-Match"),
	}
	if opts.ExpectedSize < 0 {
		// Finder sends chunked bodies and says the size in this header.
		if v := r.Header.Get("X-Expected-Entity-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return http.StatusBadRequest, clientError("bad X-Expected-Entity-Length")
			}
			opts.ExpectedSize = n
		}
	}
	if res.syncMount() {
		// The sync clients compare SHA-1s (their checksum type): keep one
		// for every file they upload, checksum header or not.
		opts.SHA1 = true
	}
	mtimeSet := false
	if v := r.Header.Get("X-OC-Mtime"); v != "" {
		t, err := parseUnixTime(v)
		if err != nil {
			return http.StatusBadRequest, clientError("bad X-OC-Mtime: want seconds since 1970")
		}
		opts.MTime, mtimeSet = t, true
	}
	if v := r.Header.Get("OC-Checksum"); v != "" {
		check, err := parseChecksum(v)
		if err != nil {
			return http.StatusBadRequest, clientError(err.Error())
		}
		if check.md5 != nil {
			body = io.TeeReader(body, check.md5)
		}
		// A client that sends OC-Checksum reads oc:checksums back to verify
		// its copy, and ownCloud's clients (rclone's owncloud vendor among
		// them) know SHA-1 and MD5 only: keep a SHA-1 for them.
		opts.SHA1 = true
		opts.Verify = check.verify
	}
	n, created, err := h.put(w, r, res, body, opts)
	if errors.Is(err, errAccepted) {
		return http.StatusAccepted, nil
	}
	var rej *postproc.RejectedError
	if errors.As(err, &rej) {
		return http.StatusUnprocessableEntity, rej
	}
	if err != nil {
		return spaceStatus(err)
	}
	hd := w.Header()
	hd.Set("ETag", n.ETag)
	hd.Set("OC-ETag", n.ETag)
	hd.Set("OC-FileId", strconv.FormatInt(n.ID, 10))
	if mtimeSet {
		hd.Set("X-OC-Mtime", "accepted")
	}
	if created {
		hd.Set("Location", res.href(res.Space, n.Path, false))
		return http.StatusCreated, nil
	}
	return http.StatusNoContent, nil
}

// errAccepted is put's word for a file handed to the pipeline in the
// background: the PUT answers 202 (put has set the headers).
var errAccepted = errors.New("accepted for processing")

// put writes a PUT's body into the space: directly, or staged and then
// through the Processor, which installs it if its checks pass. With
// Prefer: respond-async and a Processor that can Submit, the job runs in
// the background and put returns errAccepted.
func (h *Handler) put(w http.ResponseWriter, r *http.Request, res resource, body io.Reader, opts space.PutOptions) (space.Node, bool, error) {
	ctx := r.Context()
	id := "put-" + randomID()
	// upload.progress while a large body arrives, under the id its
	// processing will have.
	var user string
	if p := auth.FromContext(ctx); p != nil {
		user = p.User.Name
	}
	progress := h.cfg.Bus.Progress(events.Event{Space: res.Space, Path: res.Path, Upload: id, User: user,
		Size: max(opts.ExpectedSize, 0)}, 0)
	if progress != nil {
		opts.Progress = progress
	}
	sub, isSub := h.cfg.Processor.(Submitter)
	async := isSub && preferAsync(r)
	// The staged file's fsync runs while it is processed and indexed
	// (space.PutOptions.SyncLater), unless a background job keeps it.
	opts.SyncLater = !async
	if h.cfg.Processor == nil {
		n, created, err := h.tree.Put(ctx, res.Space, res.Path, body, opts)
		endProgress(progress, n.Size, err)
		if err == nil {
			typ := events.NodeCreated
			if !created {
				typ = events.NodeUpdated
			}
			h.publish(r, typ, res.Space, n.Path, &n, nil)
		}
		return n, created, err
	}
	sf, err := h.tree.Stage(ctx, res.Space, res.Path, body, opts)
	endProgress(progress, sf.Size, err)
	if err != nil {
		return space.Node{}, false, err
	}
	job := postproc.Job{
		ID: id, Space: res.Space, Path: sf.Path, Staged: sf.Name, Size: sf.Size,
		SHA256: sf.Sums.SHA256, SHA1: sf.Sums.SHA1, MTime: sf.MTime, Head: sf.Head, Quick: true,
		Put: space.PutOptions{IfMatch: opts.IfMatch, IfNoneMatch: opts.IfNoneMatch, SyncLater: opts.SyncLater, Flush: sf.Flush},
	}
	if p := auth.FromContext(ctx); p != nil {
		job.UserID, job.User = p.User.ID, p.User.Name
	}
	if async {
		// The job must outlive a restart: its bytes leave the staging
		// files a start cleans up.
		if job.Staged, err = h.tree.Keep(sf, job.ID); err != nil {
			os.Remove(sf.Name)
			return space.Node{}, false, err
		}
		if err := sub.Submit(ctx, job); err != nil {
			os.Remove(job.Staged)
			return space.Node{}, false, err
		}
		w.Header().Set("Preference-Applied", "respond-async")
		w.Header().Set("Progress-Location", postproc.ProgressURL(job.ID))
		return space.Node{}, false, errAccepted
	}
	st, created, err := h.cfg.Processor.Process(ctx, job)
	if err != nil {
		return space.Node{}, false, err
	}
	return *st.Node, created, nil
}

// endProgress ends the progress of a PUT's body of size bytes, received
// or failed (err).
func endProgress(p *events.Progress, size int64, err error) {
	if err != nil {
		p.Forget()
		return
	}
	p.End(size, true)
}

// preferAsync reports whether the request says Prefer: respond-async
// (RFC 7240).
func preferAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for p := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(p), ";")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

// parseUnixTime reads seconds since the epoch, with an optional fraction.
func parseUnixTime(v string) (time.Time, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, errors.New("bad time")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}

// checksum is an OC-Checksum to check a PUT's body against.
type checksum struct {
	algo, want string
	md5        hash.Hash // the body teed off, for MD5 (Put computes the others)
}

// parseChecksum reads ownCloud's OC-Checksum header ("SHA256:<hex>", SHA1,
// MD5; several may be given, space-separated: the strongest we know wins).
func parseChecksum(v string) (*checksum, error) {
	var best *checksum
	rank := map[string]int{"MD5": 1, "SHA1": 2, "SHA256": 3}
	size := map[string]int{"MD5": md5.Size, "SHA1": sha1.Size, "SHA256": sha256.Size}
	for _, f := range strings.Fields(v) {
		algo, sum, ok := strings.Cut(f, ":")
		algo = strings.ToUpper(algo)
		if !ok || rank[algo] == 0 {
			continue
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != size[algo] {
			return nil, fmt.Errorf("bad OC-Checksum %q: not a hex %s", f, algo)
		}
		if best == nil || rank[algo] > rank[best.algo] {
			best = &checksum{algo: algo, want: strings.ToLower(sum)}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("OC-Checksum %q: no supported algorithm (SHA256, SHA1, MD5)", v)
	}
	if best.algo == "MD5" {
		best.md5 = md5.New()
	}
	return best, nil
}

func (c *checksum) verify(s space.Sums) error {
	got := s.SHA256
	switch c.algo {
	case "SHA1":
		got = s.SHA1
	case "MD5":
		got = hex.EncodeToString(c.md5.Sum(nil))
	}
	if got != c.want {
		return fmt.Errorf("%w: OC-Checksum says %s:%s, the body is %s:%s", errChecksum, c.algo, c.want, c.algo, got)
	}
	return nil
}

// checkHTTPConditions applies If-Match, If-None-Match and
// If-Unmodified-Since to a method that changes an existing resource.
func checkHTTPConditions(r *http.Request, n space.Node, exists bool) (int, error) {
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case im == "*" && !exists,
		im != "" && im != "*" && (!exists || !space.MatchETag(im, n.ETag, false)),
		inm == "*" && exists,
		inm != "" && inm != "*" && exists && space.MatchETag(inm, n.ETag, true):
		return http.StatusPreconditionFailed, clientError("precondition failed")
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" && exists && im == "" {
		if t, err := http.ParseTime(v); err == nil && n.MTime.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed, clientError("modified since " + v)
		}
	}
	return 0, nil
}

func (h *Handler) handleDelete(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	if res.Path == "" {
		return http.StatusForbidden, clientError("a space's root cannot be deleted")
	}
	if r.URL.Fragment != "" {
		return http.StatusBadRequest, clientError("fragment in request URI")
	}
	n, err := h.tree.Stat(r.Context(), res.Space, res.Path)
	if err != nil {
		return spaceStatus(err)
	}
	if status, err := checkHTTPConditions(r, n, true); status != 0 {
		return status, err
	}
	if status, err := h.precondition(r, lockTarget{Space: res.Space, Path: res.Path, Deep: true}); status != 0 {
		return status, err
	}
	if err := h.tree.Delete(r.Context(), res.Space, res.Path); err != nil {
		return spaceStatus(err)
	}
	h.publish(r, events.NodeDeleted, res.Space, n.Path, &n, nil)
	if err := h.locks.ReleaseTree(r.Context(), res.Space, res.Path); err != nil {
		h.log.WarnContext(r.Context(), "releasing locks after DELETE", "space", res.Space, "path", res.Path, "err", err)
	}
	return http.StatusNoContent, nil
}

func (h *Handler) handleMkcol(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	if r.ContentLength > 0 || (r.ContentLength < 0 && r.Header.Get("Transfer-Encoding") != "") {
		// RFC 4918 §9.3: a body we do not understand is 415.
		return http.StatusUnsupportedMediaType, clientError("MKCOL with a body is not supported")
	}
	if res.Path == "" {
		return http.StatusMethodNotAllowed, clientError("the collection already exists")
	}
	if status, err := h.precondition(r, lockTarget{Space: res.Space, Path: res.Path}); status != 0 {
		return status, err
	}
	dir, err := h.tree.Mkdir(r.Context(), res.Space, res.Path)
	if err != nil {
		if errors.Is(err, space.ErrExists) {
			return http.StatusMethodNotAllowed, clientError("something by that name already exists")
		}
		return spaceStatus(err)
	}
	h.publish(r, events.NodeCreated, res.Space, dir.Path, &dir, nil)
	w.Header().Set("Location", res.href(res.Space, res.Path, true))
	return http.StatusCreated, nil
}

// handleCopyMove serves COPY and MOVE within and across the caller's
// spaces. MOVE defaults to Overwrite: T as RFC 4918 says (Finder relies on
// it); the source's locks go away with a MOVE.
func (h *Handler) handleCopyMove(w http.ResponseWriter, r *http.Request, src resource, p *auth.Principal) (int, error) {
	move := r.Method == "MOVE"
	if src.virtual() {
		return http.StatusForbidden, clientError("this collection cannot be copied or moved")
	}
	dst, status, err := h.destination(r, p)
	if status != 0 {
		return status, err
	}
	if move && src.Path == "" {
		return http.StatusForbidden, clientError("a space's root cannot be moved")
	}
	if dst.virtual() || dst.Path == "" {
		return http.StatusForbidden, clientError("the destination cannot be replaced")
	}
	if !dst.Role.Allows(auth.Editor) || !p.Covers(dst.Space, dst.Path) {
		return http.StatusForbidden, clientError("your role in the destination space does not allow changes")
	}
	if src.Space == dst.Space && src.Path == dst.Path {
		return http.StatusForbidden, clientError("source and destination are the same")
	}
	overwrite := true
	switch r.Header.Get("Overwrite") {
	case "", "T", "t":
	case "F", "f":
		overwrite = false
	default:
		return http.StatusBadRequest, clientError("Overwrite must be T or F")
	}
	depth := -1
	switch r.Header.Get("Depth") {
	case "", "infinity":
	case "0":
		depth = 0
	default:
		return http.StatusBadRequest, clientError("Depth must be 0 or infinity")
	}
	n, err := h.tree.Stat(r.Context(), src.Space, src.Path)
	if err != nil {
		return spaceStatus(err)
	}
	if move && depth == 0 && n.IsDir {
		return http.StatusBadRequest, clientError("MOVE of a collection needs Depth: infinity")
	}
	if status, err := checkHTTPConditions(r, n, true); status != 0 {
		return status, err
	}
	// The source goes first so that its token can prove the caller's
	// ownership of a lock on the destination (see lockTarget.OwnerMay).
	var targets []lockTarget
	if move {
		targets = append(targets, lockTarget{Space: src.Space, Path: src.Path, Deep: true})
	}
	targets = append(targets, lockTarget{Space: dst.Space, Path: dst.Path, Deep: true, OwnerMay: move})
	if status, err := h.precondition(r, targets...); status != 0 {
		return status, err
	}
	var created bool
	if move {
		created, err = h.tree.Move(r.Context(), src.Space, src.Path, dst.Space, dst.Path, overwrite)
	} else {
		created, err = h.tree.Copy(r.Context(), src.Space, src.Path, dst.Space, dst.Path, overwrite, depth)
	}
	switch {
	case errors.Is(err, space.ErrExists):
		return http.StatusPreconditionFailed, clientError("the destination exists and Overwrite is F")
	case errors.Is(err, space.ErrBadPath):
		return http.StatusForbidden, clientError("cannot copy or move a collection into itself")
	case err != nil:
		return spaceStatus(err)
	}
	if move {
		if err := h.locks.ReleaseTree(r.Context(), src.Space, src.Path); err != nil {
			h.log.WarnContext(r.Context(), "releasing locks after MOVE", "space", src.Space, "path", src.Path, "err", err)
		}
	}
	h.publishCopyMove(r, move, src, dst)
	if created {
		w.Header().Set("Location", dst.href(dst.Space, dst.Path, n.IsDir))
		return http.StatusCreated, nil
	}
	return http.StatusNoContent, nil
}

// publishCopyMove tells what a COPY or MOVE did: node.moved within a
// space; across spaces, whose subscribers may differ, node.deleted in the
// source's and node.created in the destination's.
func (h *Handler) publishCopyMove(r *http.Request, move bool, src, dst resource) {
	if h.cfg.Bus == nil {
		return
	}
	n, err := h.tree.Stat(r.Context(), dst.Space, dst.Path)
	if err != nil {
		return // changed again meanwhile; that change tells its own story
	}
	switch {
	case move && src.Space == dst.Space:
		h.publishMove(r, dst.Space, src.Path, &n)
	case move:
		h.publish(r, events.NodeDeleted, src.Space, src.Path, nil, map[string]any{"to": dst.Space + "/" + n.Path})
		h.publish(r, events.NodeCreated, dst.Space, n.Path, &n, nil)
	default:
		h.publish(r, events.NodeCreated, dst.Space, n.Path, &n, map[string]any{"copyOf": src.Space + "/" + src.Path})
	}
}

// destination resolves the Destination header of COPY and MOVE: an absolute
// URI on this host, or an absolute path, inside /dav/spaces/.
func (h *Handler) destination(r *http.Request, p *auth.Principal) (resource, int, error) {
	dpath, status, err := parseDestination(r.Header.Values("Destination"), r.Host)
	if status != 0 {
		return resource{}, status, err
	}
	dst, status, err := h.resolve(r, dpath, p)
	if err != nil {
		if status == http.StatusNotFound && !strings.HasPrefix(dpath, SpacesPrefix) {
			return resource{}, http.StatusBadGateway, clientError("Destination is outside the WebDAV tree")
		}
		return resource{}, status, err
	}
	return dst, 0, nil
}

// parseDestination reads the values of a Destination header: exactly one,
// an absolute URI (http or https) or an absolute path (RFC 4918 §10.3). It
// returns the unescaped path, or 400 for a malformed header and 502 for a
// URI on another host than host (§9.8.4).
func parseDestination(vals []string, host string) (string, int, error) {
	switch {
	case len(vals) == 0 || vals[0] == "":
		return "", http.StatusBadRequest, clientError("Destination header missing")
	case len(vals) > 1:
		return "", http.StatusBadRequest, clientError("more than one Destination header")
	}
	u, err := url.Parse(vals[0])
	if err != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.User != nil ||
		!strings.HasPrefix(u.Path, "/") || u.Scheme == "" && u.Host != "" ||
		u.Scheme != "" && (u.Host == "" || !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return "", http.StatusBadRequest, clientError("bad Destination header: want an absolute URL or path")
	}
	if u.Host != "" && !strings.EqualFold(u.Host, host) {
		return "", http.StatusBadGateway, clientError("Destination is on another server")
	}
	return u.Path, 0, nil
}

// randomID is 16 random bytes in hex, for job ids.
func randomID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}
