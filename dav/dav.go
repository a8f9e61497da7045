// Package dav serves WebDAV (RFC 4918, class 1 and 2, plus RFC 4331 quota)
// on Wharf's spaces: each space at /dav/spaces/<id>/, with /dav/ and
// /dav/spaces/ as read-only collections listing the caller's spaces.
//
// Every method is served here, over the space package (bytes and the node
// index) and the store (locks and dead properties). golang.org/x/net/webdav
// contributes its contracts and types: the LockSystem here satisfies
// webdav.LockSystem. Its Handler is not used, because what it gets wrong for
// real clients sits in its request handling itself (see
// docs/protocols/clients.md): temporary locks written on every request, 412 where
// 423 is due, non-atomic PUT, MOVE defaulting to Overwrite F, no shared
// locks, listings that stat every child.
//
// dav imports space, auth, store, events, postproc (the Processor's types)
// and internal/api; it knows nothing of tus (a Creator takes oCIS-style
// creations) or Phraseanet.
package dav

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Config configures a Handler. Zero values mean the documented defaults.
type Config struct {
	// Tree holds the spaces (required).
	Tree *space.Tree
	// Auth answers who may do what in which space (required). The caller
	// must already be authenticated: Handler reads the auth.Principal from
	// the request context (auth.FromContext) and answers 401 without one.
	Auth *auth.Service
	// DB keeps locks and dead properties (required).
	DB *store.DB
	// Logger receives errors. nil: slog.Default().
	Logger *slog.Logger
	// AllowInfinity lets PROPFIND walk a whole tree (Depth: infinity or no
	// Depth header). false: such requests get 403 propfind-finite-depth.
	AllowInfinity bool
	// MaxLockTimeout caps the timeout of a lock, Infinite included. 0: 1h.
	MaxLockTimeout time.Duration
	// Processor checks every PUT before the file enters the space (the
	// pipeline's quick steps: checksum, type sniffing, policy). nil: PUT
	// installs the file directly.
	Processor Processor
	// Bus receives node.created, node.moved and node.deleted for what
	// WebDAV changes (the Processor publishes for the files it installs).
	// nil: no events.
	Bus *events.Bus
	// Creator takes oCIS-style tus creations, a POST with Tus-Resumable
	// on a collection of a space (tus.Handler). nil: such a POST is
	// WebDAV's (405).
	Creator Creator
	// Now tells the time. nil: time.Now.
	Now func() time.Time
	// ChunkDir keeps the chunks of the Nextcloud client's chunked uploads
	// (remote.php/dav/uploads/, see sync.go) until they are assembled. "":
	// chunked uploads are refused (the capability then must not offer them).
	ChunkDir string
	// MaxChunkBytes is how many bytes one user's transfers of chunks may
	// hold in all, until they are assembled or expire: a chunk that would
	// go past it is refused (413) and nothing of it is kept. The server
	// gives it tus's allowance of unfinished uploads
	// (tus.Handler.MaxPendingBytes). 0: DefaultMaxChunkBytes.
	MaxChunkBytes int64
}

// DefaultMaxChunkBytes is Config.MaxChunkBytes's default.
const DefaultMaxChunkBytes = 10 << 30

// Creator starts a tus upload in directory dir of a space (tus.Handler).
type Creator interface {
	ServeDAVCreate(w http.ResponseWriter, r *http.Request, spaceID, dir string)
}

// isCreation reports whether r is an oCIS-style tus creation: a POST with
// Tus-Resumable, which tus answers if there is a Creator.
func isCreation(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Tus-Resumable") != ""
}

// Routes are WebDAV's endpoints, behind the server's authentication. An
// upload token may use them only to create a tus upload on a collection;
// tus checks its space, prefix and limits.
func (h *Handler) Routes() []api.Route {
	tusCreation := func(r *http.Request, _ *auth.Token) bool {
		return h.cfg.Creator != nil && strings.HasPrefix(r.URL.Path, SpacesPrefix) && isCreation(r)
	}
	return append([]api.Route{
		{Pattern: Prefix, Handler: http.HandlerFunc(h.route), Surface: api.SurfaceDAV, UploadToken: tusCreation},
		{Pattern: strings.TrimSuffix(Prefix, "/"), Handler: h, Surface: api.SurfaceDAV},
	}, h.syncRoutes()...)
}

// route sends oCIS-style tus creations on a collection of a space to the
// Creator, and everything else to WebDAV.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, SpacesPrefix)
	if !ok && h.cfg.Creator != nil && isCreation(r) {
		// A sync client's mount: the same creation, named the other way.
		var err error
		if _, rest, ok, err = syncMount(r.URL.Path, auth.FromContext(r.Context())); ok && err != nil {
			ok = false
		}
		if ok && rest == "" {
			// The ownCloud client creates on its dav root, and its
			// filename starts with the space.
			r, rest, ok = creationOnSyncRoot(r)
		}
	}
	if !ok || h.cfg.Creator == nil || !isCreation(r) {
		h.ServeHTTP(w, r)
		return
	}
	spaceID, dir, _ := strings.Cut(rest, "/")
	h.cfg.Creator.ServeDAVCreate(w, r, spaceID, strings.Trim(dir, "/"))
}

// publish sends a node event about a change r made, if there is a Bus.
func (h *Handler) publish(r *http.Request, typ, spaceID, p string, n *space.Node, data map[string]any) {
	if h.cfg.Bus == nil {
		return
	}
	var user string
	if pr := auth.FromContext(r.Context()); pr != nil {
		user = pr.User.Name
	}
	h.cfg.Bus.Publish(space.NodeEvent(typ, spaceID, p, user, n, data))
}

// publishMove sends the node.moved event of n, moved within spaceID from
// path from by r, if there is a Bus.
func (h *Handler) publishMove(r *http.Request, spaceID, from string, n *space.Node) {
	if h.cfg.Bus == nil {
		return
	}
	var user string
	if pr := auth.FromContext(r.Context()); pr != nil {
		user = pr.User.Name
	}
	h.cfg.Bus.Publish(space.MoveEvent(spaceID, from, user, n))
}

// Processor runs an uploaded file through processing and installs it
// (postproc.Runner.Process): on refusal it returns a
// *postproc.RejectedError, on any error the staged file is gone.
type Processor interface {
	Process(ctx context.Context, job postproc.Job) (postproc.Status, bool, error)
}

// Submitter is the ability, optional for a Processor, to take a job in the
// background (postproc.Runner.Submit): a PUT with Prefer: respond-async
// then answers 202 at once, with a Progress-Location to follow.
type Submitter interface {
	Submit(ctx context.Context, job postproc.Job) error
}

// Prefix is where the WebDAV tree is mounted; SpacesPrefix holds the spaces.
const (
	Prefix       = "/dav/"
	SpacesPrefix = "/dav/spaces/"
)

// Handler serves WebDAV. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	tree  *space.Tree
	auth  *auth.Service
	db    *store.DB
	locks *LockSystem
	log   *slog.Logger
	now   func() time.Time
	// chunkMu guards chunkFlight: the bytes of chunks being received,
	// per user id, on top of what their transfers hold on disk.
	chunkMu     sync.Mutex
	chunkFlight map[int64]int64
	// chunkStore keeps the transfers' chunks (chunkstore.go).
	chunkStore chunkStore
	// smallBufs holds buffers for the small files served from memory
	// (smallget.go).
	smallBufs [4]sync.Pool
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Tree == nil || cfg.Auth == nil || cfg.DB == nil {
		return nil, errors.New("dav: Config needs Tree, Auth and DB")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxChunkBytes <= 0 {
		cfg.MaxChunkBytes = DefaultMaxChunkBytes
	}
	if cfg.MaxLockTimeout <= 0 {
		cfg.MaxLockTimeout = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, tree: cfg.Tree, auth: cfg.Auth, db: cfg.DB, log: cfg.Logger, now: cfg.Now, chunkFlight: map[int64]int64{}}
	h.chunkStore = dirChunks{cfg.ChunkDir}
	if s := cfg.Tree.Objects(); s != nil {
		// Replicas without a shared directory: a client's chunks may
		// arrive on one and be assembled on another.
		h.chunkStore = objChunks{s}
	}
	h.locks = newLockSystem(cfg.DB, cfg.MaxLockTimeout, cfg.Now)
	return h, nil
}

// resource is what a request URL names.
type resource struct {
	// Space is the space id; "" for the virtual collections /dav/ and
	// /dav/spaces/.
	Space string
	// Path is the cleaned path inside the space ("" for its root); for a
	// virtual collection, "" (/dav/) or "spaces" (/dav/spaces/).
	Path string
	// Role is the caller's role in Space (viewer for virtual collections).
	Role auth.Role
	// Base is the URL path the request's spaces sit under, ending in "/":
	// SpacesPrefix, or a sync clients' mount (see sync.go). "" means
	// SpacesPrefix.
	Base string
}

// syncMount reports whether r was named through a sync clients' mount.
func (r resource) syncMount() bool { return r.Base != "" && r.Base != SpacesPrefix }

// syncRoot reports whether r is the root of a sync clients' mount, the
// read-only folder that holds the caller's spaces.
func (r resource) syncRoot() bool { return r.Space == "" && r.syncMount() }

// href is the escaped URL path of a resource in a space as the request
// named spaces, ending in "/" for collections.
func (r resource) href(spaceID, p string, isDir bool) string {
	if r.Base == "" || r.Base == SpacesPrefix {
		return href(spaceID, p, isDir)
	}
	s := r.Base + spaceID
	if p != "" {
		s += "/" + p
	}
	if isDir {
		s += "/"
	}
	return (&url.URL{Path: s}).EscapedPath()
}

// virtual reports whether r is one of the read-only collections above the
// spaces.
func (r resource) virtual() bool { return r.Space == "" }

// href is the escaped URL path of a resource in a space, ending in "/" for
// collections.
func href(spaceID, p string, isDir bool) string {
	s := SpacesPrefix + spaceID
	if p != "" {
		s += "/" + p
	}
	if isDir {
		s += "/"
	}
	return (&url.URL{Path: s}).EscapedPath()
}

// ServeHTTP dispatches a WebDAV request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, err := h.serve(w, r)
	if status == 0 {
		return
	}
	h.writeStatus(w, r, status, err)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (int, error) {
	p := auth.FromContext(r.Context())
	if p == nil {
		return http.StatusUnauthorized, errors.New("authentication required")
	}
	res, status, err := h.resolve(r, r.URL.Path, p)
	if err != nil {
		return status, err
	}
	write := isWrite(r.Method)
	if write && (res.virtual() || !res.Role.Allows(auth.Editor) || !p.Covers(res.Space, res.Path)) {
		if res.virtual() {
			return http.StatusForbidden, clientError("this collection is read-only")
		}
		return http.StatusForbidden, clientError("your role in this space does not allow changes")
	}
	switch r.Method {
	case http.MethodOptions:
		return h.handleOptions(w, r, res)
	case http.MethodGet, http.MethodHead:
		return h.handleGet(w, r, res)
	case http.MethodPut:
		return h.handlePut(w, r, res)
	case http.MethodDelete:
		return h.handleDelete(w, r, res)
	case "MKCOL":
		return h.handleMkcol(w, r, res)
	case "COPY", "MOVE":
		return h.handleCopyMove(w, r, res, p)
	case "PROPFIND":
		return h.handlePropfind(w, r, res)
	case "PROPPATCH":
		return h.handleProppatch(w, r, res)
	case "LOCK":
		return h.handleLock(w, r, res)
	case "UNLOCK":
		return h.handleUnlock(w, r, res)
	}
	w.Header().Set("Allow", allowHeader)
	return http.StatusMethodNotAllowed, clientError("method " + r.Method + " is not supported here")
}

const allowHeader = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK"

func isWrite(method string) bool {
	switch method {
	case http.MethodPut, http.MethodDelete, "MKCOL", "MOVE", "PROPPATCH", "LOCK", "UNLOCK":
		return true
	}
	return false // COPY checks the destination itself
}

// resolve maps a URL path to a resource the caller may see. A space the
// caller has no role in does not exist for them (404, never 403).
func (h *Handler) resolve(r *http.Request, urlPath string, p *auth.Principal) (resource, int, error) {
	if base, rest, ok, err := syncMount(urlPath, p); ok {
		if err != nil {
			return resource{}, http.StatusNotFound, err
		}
		if rest == "" {
			return resource{Role: auth.Viewer, Base: base}, 0, nil
		}
		id, sub, _ := strings.Cut(rest, "/")
		return h.spaceResource(r, p, id, sub, base)
	}
	rest, ok := strings.CutPrefix(urlPath, strings.TrimSuffix(Prefix, "/"))
	if !ok || (rest != "" && rest[0] != '/') {
		return resource{}, http.StatusNotFound, clientError("not a WebDAV path")
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return resource{Role: auth.Viewer}, 0, nil
	}
	rest, ok = strings.CutPrefix(rest, "spaces")
	if !ok || (rest != "" && rest[0] != '/') {
		return resource{}, http.StatusNotFound, clientError("no such collection")
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return resource{Path: "spaces", Role: auth.Viewer}, 0, nil
	}
	id, sub, _ := strings.Cut(rest, "/")
	return h.spaceResource(r, p, id, sub, SpacesPrefix)
}

// spaceResource is path sub of space id, if the caller has a role there.
func (h *Handler) spaceResource(r *http.Request, p *auth.Principal, id, sub, base string) (resource, int, error) {
	role, ok, err := h.auth.RoleIn(r.Context(), p, id)
	if err != nil {
		return resource{}, http.StatusInternalServerError, err
	}
	if !ok {
		if sub == "" && r.Method == http.MethodPut {
			return resource{}, http.StatusNotFound, clientError(notASpaceFile(id))
		}
		return resource{}, http.StatusNotFound, clientError("no such space")
	}
	clean, err := space.Clean(sub)
	if err != nil {
		return resource{}, http.StatusBadRequest, clientError(err.Error())
	}
	return resource{Space: id, Path: clean, Role: role, Base: base}, 0, nil
}

// clientError is an error whose text is fit for the client.
type clientError string

func (e clientError) Error() string { return string(e) }

// condError is a failed precondition or postcondition of RFC 4918 §16:
// answered with its status and a DAV:error body naming the condition.
type condError struct {
	Cond  string   // e.g. "lock-token-submitted"
	Hrefs []string // resources the condition is about, escaped
}

func (e *condError) Error() string { return "DAV:" + e.Cond }

// writeStatus is the one place a handler's (status, error) becomes a
// response: conditions as DAV:error XML, client errors as text, anything
// else logged and answered without details.
func (h *Handler) writeStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Wharf", charset="UTF-8"`)
	}
	var ce *condError
	var msg clientError
	var rej *postproc.RejectedError
	switch {
	case errors.As(err, &ce):
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(status)
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<D:error xmlns:D="DAV:"><D:` + ce.Cond)
		if len(ce.Hrefs) == 0 {
			b.WriteString(`/>`)
		} else {
			b.WriteString(`>`)
			for _, hr := range ce.Hrefs {
				b.WriteString(`<D:href>` + xmlEscape(hr) + `</D:href>`)
			}
			b.WriteString(`</D:` + ce.Cond + `>`)
		}
		b.WriteString("</D:error>\n")
		w.Write([]byte(b.String()))
		return
	case errors.As(err, &msg):
	case errors.As(err, &rej):
		// Like the tus endpoint: which step refused the file, and why.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": rej.Reason, "step": rej.Step})
		return
	case err != nil && status >= 500:
		h.log.ErrorContext(r.Context(), "webdav request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		msg = clientError(http.StatusText(status))
	case err != nil:
		h.log.DebugContext(r.Context(), "webdav request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		msg = clientError(http.StatusText(status))
	default:
		msg = clientError(http.StatusText(status))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintln(w, string(msg))
	}
}

// xmlEscape escapes s for XML character data and attribute values.
func xmlEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
