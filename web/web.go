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
// web imports space, auth, events, store (the lock type) and internal/api;
// it knows nothing of WebDAV, tus or Phraseanet.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Paths the server mounts this package's handlers on.
const (
	// SessionPath is the cookie session: POST logs in, GET tells who is
	// logged in, DELETE logs out. Public (see Routes).
	SessionPath = "/api/v1/session"
	// SpacesPath and the paths below it, AppPasswordsPath, PasswordPath
	// and AdminPrefix are the authenticated API.
	SpacesPath       = "/api/v1/spaces"
	AppPasswordsPath = "/api/v1/app-passwords"
	PasswordPath     = "/api/v1/password"
	AdminPrefix      = "/api/v1/admin/"
	// UIPrefix holds the app shell and, under StaticPrefix, its files.
	// Public, as is "/".
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
	// <sha256>.jpg. "": no thumbnails are offered. Not read when the Tree
	// keeps its contents in an object store: thumbnails are then objects of
	// that store (postproc.ThumbKey), offered whatever ThumbsDir says.
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
	return h, nil
}

// Routes are the UI and its API. The pages and the cookie session need no
// authentication before (the session endpoints read the cookie and take a
// password themselves); the rest is behind the server's gate. Administration
// and changing a space's members need a token's admin scope, the account
// (app passwords, the password) its account scope.
func (h *Handler) Routes() []api.Route {
	fn := func(pattern string, f http.HandlerFunc, scope string) api.Route {
		return api.Route{Pattern: pattern, Handler: f, Surface: api.SurfaceAPI, Scope: scope}
	}
	sp := SpacesPath + "/{space}"
	admin := auth.ScopeAdmin
	account := auth.ScopeAccount
	return append([]api.Route{
		{Pattern: "GET /{$}", Handler: h.pages, Surface: api.SurfaceUI, Public: true},
		{Pattern: "GET /ui", Handler: h.pages, Surface: api.SurfaceUI, Public: true},
		{Pattern: "GET " + UIPrefix, Handler: h.pages, Surface: api.SurfaceUI, Public: true},
		{Pattern: SessionPath, Handler: h.sess, Surface: api.SurfaceAPI, Public: true},

		fn("GET "+SpacesPath, h.handleSpaces, ""),
		fn("GET "+SearchPath, h.handleSearch, ""),
		fn("GET "+sp+"/nodes", h.handleNode, ""),
		fn("GET "+sp+"/nodes/{path...}", h.handleNode, ""),
		fn("DELETE "+sp+"/nodes/{path...}", h.handleDelete, ""),
		fn("GET "+sp+"/thumbs/{path...}", h.handleThumb, ""),
		fn("GET "+sp+"/download/{path...}", h.handleDownload, ""),
		fn("POST "+sp+"/mkdir", h.handleMkdir, ""),
		fn("POST "+sp+"/move", h.handleMove, ""),
		fn("GET "+sp+"/members", h.handleMembers, ""),
		fn("PUT "+sp+"/members/{user}", h.handleGrant, admin),
		fn("DELETE "+sp+"/members/{user}", h.handleRevoke, admin),
		fn("GET "+AppPasswordsPath, h.handleAppPasswords, account),
		fn("POST "+AppPasswordsPath, h.handleCreateAppPassword, account),
		fn("DELETE "+AppPasswordsPath+"/{id}", h.handleRevokeAppPassword, account),
		fn("POST "+PasswordPath, h.handlePassword, account),
		fn("GET "+AdminPrefix+"users", h.admin(h.handleUsers), admin),
		fn("POST "+AdminPrefix+"users", h.admin(h.handleAddUser), admin),
		fn("DELETE "+AdminPrefix+"users/{name}", h.admin(h.handleRemoveUser), admin),
		fn("PUT "+AdminPrefix+"users/{name}/email", h.admin(h.handleSetEmail), admin),
		fn("POST "+AdminPrefix+"spaces", h.admin(h.handleCreateSpace), admin),
		fn("PATCH "+AdminPrefix+"spaces/{id}", h.admin(h.handleSetQuota), admin),
		fn("DELETE "+AdminPrefix+"spaces/{id}", h.admin(h.handleDeleteSpace), admin),
	}, h.trashRoutes(fn, sp)...) // trash.go
}

// fail is where the API's errors become answers (api.Write).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.Write(w, r, h.log, err)
}

// principal returns the authenticated caller; API checks there is one.
func principal(r *http.Request) *auth.Principal { return auth.FromContext(r.Context()) }

// admin admits instance admins only.
func (h *Handler) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r); p == nil || !p.User.Admin {
			h.fail(w, r, api.Forbidden("only instance admins may do that"))
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

// publishMove sends the node.moved event of n, moved within spaceID from
// path from by r: the same event WebDAV publishes for a MOVE.
func (h *Handler) publishMove(r *http.Request, spaceID, from string, n *space.Node) {
	if h.cfg.Bus == nil {
		return
	}
	var user string
	if pr := principal(r); pr != nil {
		user = pr.User.Name
	}
	h.cfg.Bus.Publish(space.MoveEvent(spaceID, from, user, n))
}
