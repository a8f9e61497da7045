// Package web serves Wharf's browser UI and the JSON API it uses: the app
// shell and its static files (embedded from static/ with go:embed, no build
// step), the cookie session (login, logout, CSRF token), spaces and nodes
// (list, download, thumbnails, mkdir, move, delete), the account (app
// passwords, password change) and administration (users, spaces, quotas,
// members), and the events websocket (events.go). docs/api.md is the
// reference for users and scripts, docs/ui.md for the UI.
//
// Files and folders change through space.Tree, as over WebDAV, and each
// change publishes the same node event WebDAV publishes. Authentication is
// auth's: the server's gate authenticates the API (cookie, Basic or Bearer,
// with CSRF checked in auth.Authenticate) and this package reads the
// auth.Principal from the request context.
//
// web imports space, auth, events and store (the lock type); it knows nothing of WebDAV, tus or
// Phraseanet.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Paths the server mounts this package's handlers on.
const (
	// SessionPath is the cookie session: POST logs in, GET tells who is
	// logged in, DELETE logs out. Mounted before authentication (Session).
	SessionPath = "/api/v1/session"
	// SpacesPath and the paths below it, AppPasswordsPath, PasswordPath
	// and AdminPrefix are the authenticated API (API).
	SpacesPath       = "/api/v1/spaces"
	AppPasswordsPath = "/api/v1/app-passwords"
	PasswordPath     = "/api/v1/password"
	AdminPrefix      = "/api/v1/admin/"
	// UIPrefix holds the app shell and, under StaticPrefix, its files.
	// Mounted before authentication (Pages), as is "/".
	UIPrefix     = "/ui/"
	StaticPrefix = "/ui/static/"
)

// Config configures a Handler. Zero values mean the documented defaults.
type Config struct {
	// Tree holds the spaces (required).
	Tree *space.Tree
	// Auth logs people in and answers who may do what (required).
	Auth *auth.Service
	// Bus receives node.created, node.moved and node.deleted for what the
	// API changes, as WebDAV publishes them. nil: no events.
	Bus *events.Bus
	// Logger receives errors. nil: slog.Default().
	Logger *slog.Logger
	// ThumbsDir is where the pipeline writes thumbnails, as
	// <sha256>.jpg. "": no thumbnails are offered.
	ThumbsDir string
	// SessionTTL is how long a login lasts. 0: 7 days.
	SessionTTL time.Duration
	// SecureCookie marks the session cookie Secure on every response, for
	// a server behind a TLS-terminating proxy (its public URL is https).
	// false: Secure only on requests that came over TLS.
	SecureCookie bool
	// Locks lists the WebDAV locks around a path (store.DB does): a
	// change the API would make under a client's lock is refused with 423.
	// nil: locks are not checked.
	Locks LockLister
	// Now tells the time. nil: time.Now.
	Now func() time.Time
}

// LockLister lists the unexpired WebDAV locks of a space rooted at p or an
// ancestor, and with below also those rooted under p (store.Reader.PathLocks).
type LockLister interface {
	PathLocks(ctx context.Context, spaceID, p string, below bool, now time.Time) ([]store.Lock, error)
}

// Handler serves the UI and its API. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	tree  *space.Tree
	auth  *auth.Service
	log   *slog.Logger
	pages http.Handler
	sess  http.Handler
	api   http.Handler
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Tree == nil || cfg.Auth == nil {
		return nil, errors.New("web: Config needs Tree and Auth")
	}
	if cfg.SessionTTL < 0 {
		return nil, errors.New("web: Config.SessionTTL is negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, tree: cfg.Tree, auth: cfg.Auth, log: cfg.Logger}
	pages, err := newPages()
	if err != nil {
		return nil, err
	}
	h.pages = pages

	sess := http.NewServeMux()
	sess.HandleFunc("POST "+SessionPath, h.handleLogin)
	sess.HandleFunc("GET "+SessionPath, h.handleSession)
	sess.HandleFunc("DELETE "+SessionPath, h.handleLogout)
	h.sess = sess

	api := http.NewServeMux()
	sp := SpacesPath + "/{space}"
	api.HandleFunc("GET "+SpacesPath, h.handleSpaces)
	api.HandleFunc("GET "+sp+"/nodes", h.handleNode)
	api.HandleFunc("GET "+sp+"/nodes/{path...}", h.handleNode)
	api.HandleFunc("DELETE "+sp+"/nodes/{path...}", h.handleDelete)
	api.HandleFunc("GET "+sp+"/thumbs/{path...}", h.handleThumb)
	api.HandleFunc("GET "+sp+"/download/{path...}", h.handleDownload)
	api.HandleFunc("POST "+sp+"/mkdir", h.handleMkdir)
	api.HandleFunc("POST "+sp+"/move", h.handleMove)
	api.HandleFunc("GET "+sp+"/members", h.handleMembers)
	api.HandleFunc("PUT "+sp+"/members/{user}", h.handleGrant)
	api.HandleFunc("DELETE "+sp+"/members/{user}", h.handleRevoke)
	api.HandleFunc("GET "+AppPasswordsPath, h.handleAppPasswords)
	api.HandleFunc("POST "+AppPasswordsPath, h.handleCreateAppPassword)
	api.HandleFunc("DELETE "+AppPasswordsPath+"/{id}", h.handleRevokeAppPassword)
	api.HandleFunc("POST "+PasswordPath, h.handlePassword)
	api.HandleFunc("GET "+AdminPrefix+"users", h.admin(h.handleUsers))
	api.HandleFunc("POST "+AdminPrefix+"users", h.admin(h.handleAddUser))
	api.HandleFunc("DELETE "+AdminPrefix+"users/{name}", h.admin(h.handleRemoveUser))
	api.HandleFunc("POST "+AdminPrefix+"spaces", h.admin(h.handleCreateSpace))
	api.HandleFunc("PATCH "+AdminPrefix+"spaces/{id}", h.admin(h.handleSetQuota))
	api.HandleFunc("DELETE "+AdminPrefix+"spaces/{id}", h.admin(h.handleDeleteSpace))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, notFound("no such resource"))
	})
	h.api = api
	return h, nil
}

// Pages serves "/" and UIPrefix: the app shell and its static files,
// without authentication.
func (h *Handler) Pages() http.Handler { return h.pages }

// Session serves SessionPath without authentication before it: it logs in
// with a password (through auth's login throttle) and reads the cookie
// itself.
func (h *Handler) Session() http.Handler { return h.sess }

// API serves the authenticated JSON API (SpacesPath and below,
// AppPasswordsPath, PasswordPath, AdminPrefix). The server authenticates
// every request first (auth.NewContext); one without a principal is 401.
func (h *Handler) API() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.FromContext(r.Context()) == nil {
			h.fail(w, r, &apiError{http.StatusUnauthorized, "authentication required"})
			return
		}
		h.api.ServeHTTP(w, r)
	})
}

// apiError is an error with the status and message the client sees.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Msg) }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(msg string) error  { return &apiError{http.StatusNotFound, msg} }
func forbidden(msg string) error { return &apiError{http.StatusForbidden, msg} }

// fail is the one place an error becomes a response: {"error": "..."} with
// the status the error calls for; anything unexpected is logged and
// answered 500 without details.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	status, msg, retryAfter, refused := auth.Refusal(err)
	switch {
	case errors.As(err, &ae):
	case refused:
		if retryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(retryAfter))
		}
		ae = &apiError{status, msg}
	case errors.Is(err, auth.ErrWeakPassword), errors.Is(err, auth.ErrBadName), errors.Is(err, auth.ErrBadRole),
		errors.Is(err, auth.ErrBadToken):
		ae = &apiError{http.StatusBadRequest, err.Error()}
	case errors.Is(err, auth.ErrExists), errors.Is(err, auth.ErrLastAdmin):
		ae = &apiError{http.StatusConflict, err.Error()}
	case errors.Is(err, auth.ErrNotFound):
		ae = &apiError{http.StatusNotFound, err.Error()}
	default:
		ae = spaceError(err)
		if ae == nil {
			h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = &apiError{http.StatusInternalServerError, "internal error"}
		}
	}
	writeJSON(w, ae.Status, map[string]string{"error": ae.Msg})
}

// spaceError maps the space package's errors to what the client sees, or
// returns nil for an error that is not one of them.
func spaceError(err error) *apiError {
	switch {
	case errors.Is(err, space.ErrNotFound):
		return &apiError{http.StatusNotFound, "not found"}
	case errors.Is(err, space.ErrExists):
		return &apiError{http.StatusConflict, "something by that name already exists"}
	case errors.Is(err, space.ErrParentMissing), errors.Is(err, space.ErrNotDir):
		return &apiError{http.StatusConflict, "the parent folder does not exist"}
	case errors.Is(err, space.ErrIsDir):
		return &apiError{http.StatusConflict, "that is a folder"}
	case errors.Is(err, space.ErrQuota):
		return &apiError{http.StatusInsufficientStorage, "the space's quota is exhausted"}
	case errors.Is(err, space.ErrNoSpace):
		return &apiError{http.StatusInsufficientStorage, "the server's disk is full"}
	case errors.Is(err, space.ErrPreconditionFailed):
		return &apiError{http.StatusPreconditionFailed, "precondition failed"}
	case errors.Is(err, space.ErrBadPath):
		return &apiError{http.StatusBadRequest, "invalid path"}
	case errors.Is(err, space.ErrBadID):
		return &apiError{http.StatusBadRequest, err.Error()}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// maxBody bounds the JSON bodies the API reads.
const maxBody = 64 << 10

// readJSON decodes r's JSON body into v.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("cannot read the body")
	}
	if len(b) > maxBody {
		return &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody)}
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("the body is empty: a JSON object is expected")
		}
		return badRequest("the body is not the JSON expected: %v", err)
	}
	return nil
}

// principal returns the authenticated caller; API checks there is one.
func principal(r *http.Request) *auth.Principal { return auth.FromContext(r.Context()) }

// admin admits instance admins only.
func (h *Handler) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r); p == nil || !p.User.Admin {
			h.fail(w, r, forbidden("only instance admins may do that"))
			return
		}
		next(w, r)
	}
}

// publish sends a node event about a change r made: the same event, with
// the same fields, that WebDAV publishes for the same change.
func (h *Handler) publish(r *http.Request, typ, spaceID, p string, n *space.Node, data map[string]any) {
	if h.cfg.Bus == nil {
		return
	}
	var user string
	if pr := principal(r); pr != nil {
		user = pr.User.Name
	}
	h.cfg.Bus.Publish(space.NodeEvent(typ, spaceID, p, user, n, data))
}
