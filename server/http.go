package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// routes is the whole HTTP interface: every surface's routes and the
// server's own. Whatever matches none of them is 404 to an authenticated
// caller and 401 to the others, as it always was.
func (a *app) routes() []api.Route {
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, api.NotFound("no such resource"))
	})
	rs := []api.Route{
		{Pattern: "GET /healthz", Handler: http.HandlerFunc(a.handleHealth), Surface: api.SurfaceOther, Public: true},
		{Pattern: "GET /readyz", Handler: http.HandlerFunc(a.handleReady), Surface: api.SurfaceOther, Public: true},
		{Pattern: "GET /api/v1/me", Handler: http.HandlerFunc(a.handleMe), Surface: api.SurfaceAPI},
	}
	if a.met != nil {
		rs = append(rs, api.Route{Pattern: "GET " + MetricsPath, Handler: http.HandlerFunc(a.handleMetrics),
			Surface: api.SurfaceOther, Scope: auth.ScopeAdmin}) // instance admins only
	}
	rs = append(rs, a.dav.Routes()...)
	rs = append(rs, a.tus.Routes()...)
	rs = append(rs, a.evh.Routes()...)
	rs = append(rs, a.progress.Routes()...)
	if a.pub != nil {
		rs = append(rs, a.pub.Routes()...)
	}
	if a.ph != nil {
		rs = append(rs, a.ph.Routes()...)
	}
	if a.web != nil {
		rs = append(rs, a.web.Routes()...)
	}
	if a.ocs != nil {
		rs = append(rs, a.ocs.Routes()...)
	}
	if a.links != nil {
		rs = append(rs, a.links.Routes()...)
	}
	return append(rs,
		api.Route{Pattern: "/api/", Handler: notFound, Surface: api.SurfaceAPI},
		api.Route{Pattern: "/", Handler: notFound, Surface: api.SurfaceOther},
	)
}

// handler mounts the routes on one mux, each behind what it asks for, and
// puts the middleware every request goes through in front.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	a.mux, a.byPattern = mux, map[string]*api.Route{}
	uploads := a.limitUploads()
	for _, rt := range a.routes() {
		rt := &rt
		h := rt.Handler
		if !rt.Public {
			h = a.requireAuth(a.limitScopes(rt, a.limitUploadTokens(rt, uploads(rt, h))))
		}
		mux.Handle(rt.Pattern, a.noteRoute(rt, h))
		a.byPattern[rt.Pattern] = rt
	}
	return a.withClientAddr(a.withLiveContext(a.withRequestID(a.withAccessLog(a.withRecover(a.rejectDotSegments(a.refuseCrossSite(a.guardBody(a.withOptions(mux)))))))))
}

// refuseCrossSite refuses (403) what another site's page made a browser
// send with an unsafe method, on every route, public ones included (a
// forged login) and whatever credentials the browser attached
// (auth.CrossSite says which pass).
func (a *app) refuseCrossSite(next http.Handler) http.Handler {
	var own string
	if u, err := url.Parse(a.cfg.PublicURL); err == nil {
		own = u.Host
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth.CrossSite(r, own); err != nil {
			a.refuse(w, r, nil, http.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noteRoute tells the access log which route served the request.
func (a *app) noteRoute(rt *api.Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lw, ok := w.(*logWriter); ok {
			lw.route = rt
		}
		next.ServeHTTP(w, r)
	})
}

// routeFor is the route r matches, for a request answered before the mux
// (OPTIONS, a refused path): the path up to its first "." or ".."
// element, the part that still means something, is matched.
func (a *app) routeFor(r *http.Request) *api.Route {
	if a.mux == nil {
		return nil
	}
	p := r.URL.Path
	var b strings.Builder
	for e := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		if e == "." || e == ".." {
			break
		}
		b.WriteString("/" + e)
	}
	if q := b.String(); q != p {
		// Cut at a dot segment: what is left is a folder.
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = q+"/", ""
	}
	_, pattern := a.mux.Handler(r)
	return a.byPattern[pattern]
}

// surface is the surface of r: its route's, or other.
func (a *app) surface(r *http.Request, rt *api.Route) api.Surface {
	if rt == nil {
		rt = a.routeFor(r)
	}
	if rt == nil {
		return api.SurfaceOther
	}
	return rt.Surface
}

func (a *app) handleHealth(w http.ResponseWriter, r *http.Request) {
	api.WriteText(w, http.StatusOK, "ok")
}

func (a *app) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.svc.DB.Ping(ctx); err != nil {
		a.log.WarnContext(r.Context(), "not ready", "err", err)
		api.WriteText(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	api.WriteText(w, http.StatusOK, "ready")
}

// handleMe tells callers who they are and which spaces they may use; scripts
// and the web UI use it to check credentials.
func (a *app) handleMe(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	roles, err := a.svc.Auth.SpaceRoles(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	type spaceRole struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	}
	spaces := make([]spaceRole, 0, len(roles))
	for id, role := range roles {
		spaces = append(spaces, spaceRole{ID: id, Role: string(role)})
	}
	sort.Slice(spaces, func(i, j int) bool { return spaces[i].ID < spaces[j].ID })
	via := p.Via
	if p.Cookie {
		via = "session" // the web interface's cookie (a token underneath)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"user":   p.User.Name,
		"admin":  p.User.Admin,
		"via":    via,
		"spaces": spaces,
	})
}

// withOptions answers OPTIONS on every path without authentication: Windows
// Explorer gives up on a 401 there, and every WebDAV client probes it first.
func (a *app) withOptions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/tus" || strings.HasPrefix(r.URL.Path, "/tus/") {
			a.tus.ServeHTTP(w, r) // tus discovery and browsers' CORS preflight
			return
		}
		h := w.Header()
		if a.tus != nil {
			// oCIS-style clients learn here that they may POST uploads to a
			// collection.
			a.tus.SetOptionsHeaders(h)
		}
		h.Set("Allow", "OPTIONS, GET, HEAD, POST, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK")
		h.Set("DAV", "1, 2")
		h.Set("MS-Author-Via", "DAV")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	})
}

// requireAuth admits a request only with valid credentials: Basic with the
// account password or an app password, or a Bearer token.
func (a *app) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One database Epoch for the request's cached lookups
		// (store.NewEpochContext).
		ctx := store.NewEpochContext(r.Context())
		p, err := a.svc.Auth.Authenticate(ctx, r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		api.NoteUser(w, p.User.Name)
		// Who deletes and replaces files, as the trash and versions record it.
		ctx = space.WithActor(auth.NewContext(ctx, p), p.User.Name)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID gives every request an id, taken from a well-formed incoming
// X-Request-Id (so a proxy's id carries through) or made up, and echoes it.
func (a *app) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = rand.Text()[:16]
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(api.WithRequestID(r.Context(), id)))
	})
}

// logWriter records what was answered, for the access log, and sends a
// small answer in one segment (hold). Unwrap lets http.ResponseController
// reach the connection (deadlines).
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	user   string
	route  *api.Route // the route that served the request, if it reached one
	bufs   *sync.Pool // copy buffers (ReadFrom), the app's

	sock   syscall.RawConn // the plain TCP connection's socket, or nil
	head   bool            // a HEAD request: no body follows the header
	corked bool            // the socket holds the answer's writes (hold)
}

// SetUser records who made the request (api.NoteUser).
func (w *logWriter) SetUser(name string) { w.user = name }

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.hold(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Writes of an answer are held back by the socket (TCP_CORK) when its
// header says it is small but more than net/http's connection buffer
// (4 KiB) takes: without it the header and the first part of the body
// leave as one segment when the buffer fills and the rest as another
// when the handler returns, two transmissions and two wake-ups of the
// client for one answer, the common case of a GET of a 4 KiB file (nginx
// does the same with tcp_nopush). Only an answer of known length, up to
// oneSegment, is held: it is complete when the handler returns, and done
// sends it. An answer whose length is not declared (a stream, a chunked
// listing) is never held, nor is anything on a TLS connection.
const (
	connBuffer = 4 << 10  // net/http's write buffer per connection
	oneSegment = 64 << 10 // a loopback segment; more gains nothing
)

// hold corks the socket for an answer with status code and the header
// set so far, if it is one to hold (see above).
func (w *logWriter) hold(code int) {
	if w.sock == nil || w.head || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return
	}
	hd := w.ResponseWriter.Header()
	cl := hd["Content-Length"]
	if len(cl) != 1 {
		return
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	if err != nil || n > oneSegment {
		return
	}
	size := n + 64 // the status line, Date
	for k, vs := range hd {
		for _, v := range vs {
			size += int64(len(k) + len(v) + 4)
		}
	}
	if size > connBuffer {
		w.corked = setCork(w.sock, true)
	}
}

// done sends a held answer: what net/http still buffers is written and
// the socket lets it all go.
func (w *logWriter) done() {
	if w.corked {
		w.Flush()
	}
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom keeps sendfile working for http.ServeContent on an *os.File:
// net/http's own writer implements io.ReaderFrom, a wrapper hides it.
// Any other reader (a small file served from memory) is copied through
// Write with a buffer of the pool: net/http's ReadFrom would hand it to
// the connection's, which allocates a 32 KiB buffer for every copy.
func (w *logWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.bufs == nil || sendfileable(r) {
		n, err := io.Copy(w.ResponseWriter, r)
		w.bytes += n
		return n, err
	}
	bp, _ := w.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, copyBufSize)
		bp = &b
	}
	n, err := io.CopyBuffer(writeOnly{w.ResponseWriter}, r, *bp)
	w.bufs.Put(bp)
	w.bytes += n
	return n, err
}

// copyBufSize is the size of logWriter's copy buffers: a small file
// served from memory (up to 32 KiB) goes in one Write.
const copyBufSize = 32 << 10

// sendfileable reports whether r, maybe behind an io.LimitedReader (as
// http.ServeContent wraps it), is a file the kernel can send.
func sendfileable(r io.Reader) bool {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	_, ok := r.(*os.File)
	return ok
}

// writeOnly hides every method of a writer but Write.
type writeOnly struct{ w io.Writer }

func (o writeOnly) Write(p []byte) (int, error) { return o.w.Write(p) }

// Flush writes what is buffered and, if the answer was held, lets it go.
func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	if w.corked {
		w.corked = false
		setCork(w.sock, false)
	}
}

func (a *app) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &logWriter{ResponseWriter: w, bufs: &a.copyBufs, sock: connSocket(r), head: r.Method == http.MethodHead}
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		next.ServeHTTP(lw, r)
		lw.done()
		if lw.status == 0 {
			lw.status = http.StatusOK
		}
		var in int64
		if body != nil {
			in = body.n
		}
		if a.met != nil {
			a.met.observeRequest(r, a.surface(r, lw.route), lw.status, in, lw.bytes)
		}
		level := slog.LevelInfo
		if lw.status >= 500 {
			level = slog.LevelWarn
		}
		// The record is handed to the handler as Logger.LogAttrs would,
		// without the caller's program counter it looks up for every
		// record (1% of a small GET's CPU): no line of the log shows it.
		ctx := r.Context()
		lh := a.log.Handler()
		if !lh.Enabled(ctx, level) {
			return
		}
		rec := slog.NewRecord(time.Now(), level, "request", 0)
		// Only the path: queries carry signatures of signed URLs, and
		// credentials never reach the log.
		rec.AddAttrs(
			slog.String("request_id", api.RequestID(ctx)),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", lw.status),
			slog.Int64("bytes_in", in),
			slog.Int64("bytes_out", lw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("user", lw.user),
			slog.String("space", spaceOfRequest(r)),
			slog.String("remote", r.RemoteAddr),
		)
		lh.Handle(ctx, rec) // a log with nowhere to go has no one to tell
	})
}

func (a *app) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response silently
			}
			a.log.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			api.WriteText(w, http.StatusInternalServerError, "internal error (request "+api.RequestID(r.Context())+")")
		}()
		next.ServeHTTP(w, r)
	})
}

// writeError answers err as the JSON API does (api.Write).
func (a *app) writeError(w http.ResponseWriter, r *http.Request, err error) {
	api.Write(w, r, a.log, err)
}
