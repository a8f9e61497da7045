package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/dav"
	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/tus"
	"github.com/wharfhq/wharf/web"
)

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// handler is the whole HTTP surface: unauthenticated probes and OPTIONS, then
// everything else behind authentication.
func (a *app) handler() http.Handler {
	authed := http.NewServeMux()
	authed.HandleFunc("GET /api/v1/me", a.handleMe)
	authed.HandleFunc("GET /api/v1/uploads/{id}/progress", a.handleProgress)
	authed.HandleFunc("POST "+uploadTokensPath, a.handleCreateUploadToken)
	authed.HandleFunc("GET "+uploadTokensPath, a.handleListUploadTokens)
	authed.HandleFunc("DELETE "+uploadTokensPath+"/{id}", a.handleRevokeUploadToken)
	authed.HandleFunc("POST "+finalizePath, a.handleFinalize)
	authed.HandleFunc("GET "+metadataPrefix+"{space}/{path...}", a.handleMetadata)
	authed.Handle("GET /api/v1/events", a.evh)
	authed.Handle("/dav/", a.davOrTus())
	authed.Handle("/dav", a.dav)
	authed.Handle("/tus/", a.tus)
	authed.Handle("/tus", a.tus)
	if a.ph != nil {
		authed.Handle(phraseanet.TargetsPath, a.ph.APIHandler())
		authed.Handle(phraseanet.TargetsPath+"/", a.ph.APIHandler())
	}
	if a.web != nil {
		api := a.web.API()
		authed.Handle(web.SpacesPath, api)
		authed.Handle(web.SpacesPath+"/", api)
		authed.Handle(web.AppPasswordsPath, api)
		authed.Handle(web.AppPasswordsPath+"/", api)
		authed.Handle(web.PasswordPath, api)
		authed.Handle(web.AdminPrefix, api)
	}
	if a.met != nil {
		authed.HandleFunc("GET "+MetricsPath, a.handleMetrics) // instance admins only
	}
	authed.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &httpError{Status: http.StatusNotFound, Msg: "no such resource"})
	})

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	root.HandleFunc("GET /readyz", a.handleReady)
	// Session tokens are had for a password: no authentication before.
	root.HandleFunc("POST "+sessionPath, a.handleCreateSession)
	root.HandleFunc("DELETE "+sessionPath, a.handleRevokeSession)
	if a.ph != nil {
		// The uploader-compatible API Phraseanet calls: its own
		// authorization (AssetToken, pull bearer tokens, signed URLs).
		ph := a.ph.RootHandler()
		root.Handle(phraseanet.AssetsPrefix, ph)
		root.Handle(phraseanet.CommitsPath, ph)
		root.Handle(phraseanet.CommitsPrefix, ph)
		root.Handle(phraseanet.TokenPath, ph)
	}
	if a.web != nil {
		// The UI's pages and its cookie login need no authentication
		// before; the session endpoints read the cookie themselves.
		root.Handle(web.SessionPath, a.web.Session())
		root.Handle("GET /{$}", a.web.Pages())
		root.Handle("GET /ui", a.web.Pages())
		root.Handle("GET "+web.UIPrefix, a.web.Pages())
	}
	root.Handle("/", a.requireAuth(a.limitScopes(a.limitUploadTokens(a.limitUploads(authed)))))

	return a.withLiveContext(a.withRequestID(a.withAccessLog(a.withRecover(a.rejectDotSegments(a.guardBody(a.withOptions(root)))))))
}

func (a *app) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.svc.DB.Ping(ctx); err != nil {
		a.log.Warn("not ready", "err", err, "request_id", RequestID(r.Context()))
		writeText(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeText(w, http.StatusOK, "ready")
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
	writeJSON(w, http.StatusOK, map[string]any{
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

// davOrTus sends oCIS-style tus creations (POST with Tus-Resumable on a
// collection of a space) to tus, and everything else to WebDAV.
func (a *app) davOrTus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, dav.SpacesPrefix)
		if !ok || !tus.IsCreation(r) {
			a.dav.ServeHTTP(w, r)
			return
		}
		spaceID, dir, _ := strings.Cut(rest, "/")
		a.tus.ServeDAVCreate(w, r, spaceID, strings.Trim(dir, "/"))
	})
}

// requireAuth admits a request only with valid credentials: Basic with the
// account password or an app password, or a Bearer token.
func (a *app) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.svc.Auth.Authenticate(r.Context(), r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if lw, ok := w.(*logWriter); ok {
			lw.user = p.User.Name
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
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
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// logWriter records what was answered, for the access log. Unwrap lets
// http.ResponseController reach the connection (deadlines, flushing).
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	user   string
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
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
func (w *logWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *app) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &logWriter{ResponseWriter: w}
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		next.ServeHTTP(lw, r)
		if lw.status == 0 {
			lw.status = http.StatusOK
		}
		var in int64
		if body != nil {
			in = body.n
		}
		if a.met != nil {
			a.met.observeRequest(r, lw.status, in, lw.bytes)
		}
		level := slog.LevelInfo
		if lw.status >= 500 {
			level = slog.LevelWarn
		}
		// Only the path: queries carry signatures of signed URLs, and
		// credentials never reach the log.
		a.log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", RequestID(r.Context())),
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
			a.log.Error("panic", "request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeText(w, http.StatusInternalServerError, "internal error (request "+RequestID(r.Context())+")")
		}()
		next.ServeHTTP(w, r)
	})
}

// httpError is an error with what the client should see; anything else
// that reaches writeError is logged and answered as a 500 without details.
type httpError struct {
	Status int
	Msg    string
}

func (e *httpError) Error() string { return strconv.Itoa(e.Status) + " " + e.Msg }

// writeError is the one place the JSON API and the auth gate turn an error
// into a status.
func (a *app) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	status, msg, retryAfter, refused := auth.Refusal(err)
	switch {
	case errors.As(err, &he):
	case refused:
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		if status == http.StatusUnauthorized && !fromBrowserScript(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Wharf", charset="UTF-8"`)
		}
		he = &httpError{Status: status, Msg: msg}
	default:
		a.log.Error("request failed", "request_id", RequestID(r.Context()), "err", err)
		he = &httpError{Status: http.StatusInternalServerError, Msg: "internal error (request " + RequestID(r.Context()) + ")"}
	}
	writeJSON(w, he.Status, map[string]string{"error": he.Msg})
}

// fromBrowserScript reports whether r comes from the web UI's scripts (it
// carries the session cookie, or a browser says it is a fetch): a Basic
// challenge would make the browser prompt for a password over the UI.
func fromBrowserScript(r *http.Request) bool {
	if _, err := r.Cookie(auth.SessionCookie); err == nil {
		return true
	}
	switch r.Header.Get("Sec-Fetch-Mode") {
	case "cors", "same-origin":
		return true
	}
	return false
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
