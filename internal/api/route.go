package api

import (
	"net/http"

	"github.com/wharfhq/wharf/auth"
)

// Surface names the part of the HTTP interface a route belongs to: the
// label of its requests in the metrics, and the form of the refusals the
// server makes before the handler runs (JSON for API and Events, text for
// the others, whose clients show text).
type Surface string

const (
	SurfaceAPI        Surface = "api"
	SurfaceDAV        Surface = "dav"
	SurfaceTus        Surface = "tus"
	SurfaceEvents     Surface = "events"
	SurfacePhraseanet Surface = "phraseanet"
	SurfaceUI         Surface = "ui"
	SurfaceOther      Surface = "other"
)

// JSON reports whether the surface's clients read JSON errors.
func (s Surface) JSON() bool { return s == SurfaceAPI || s == SurfaceEvents }

// Route is one endpoint as a surface exports it and the server mounts it:
// the server puts its authentication, scope and upload-token checks in
// front of Handler, as the route asks. What a request may do is read from
// the route it matched, never from its URL again.
type Route struct {
	// Pattern is the http.ServeMux pattern: "GET /api/v1/me", "/dav/".
	Pattern string
	Handler http.Handler
	Surface Surface
	// Public routes are served without the server's authentication: the
	// handler reads the credentials it takes (a login, a signed URL,
	// Phraseanet's tokens), or there is nothing to protect.
	Public bool
	// Scope is what a token narrowed by scopes (wharf token create
	// --scope) needs for the route: auth.ScopeRead, ScopeWrite,
	// ScopeAccount or ScopeAdmin. "": read for GET, HEAD, OPTIONS and
	// PROPFIND, write for the other methods.
	Scope string
	// UploadToken says whether a request authenticated by an upload token
	// may use the route; nil: never (403). Such a token is for creating,
	// resuming and watching tus uploads and finalizing them; the handler
	// checks the token's space, prefix and limits itself.
	UploadToken func(r *http.Request, t *auth.Token) bool
}

// NeedScope is the scope a narrowed token needs for r on route rt.
func (rt *Route) NeedScope(r *http.Request) string {
	if rt.Scope != "" {
		return rt.Scope
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND":
		return auth.ScopeRead
	}
	return auth.ScopeWrite
}

// Always lets an upload token through to a route whose handler checks
// upload tokens itself (tus).
func Always(*http.Request, *auth.Token) bool { return true }
