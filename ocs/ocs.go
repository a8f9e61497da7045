// Package ocs serves what the ownCloud and Nextcloud desktop clients ask a
// server before they sync (docs/protocols/clients.md, "Desktop sync
// clients"): status.php, the OCS capabilities and user endpoints, and
// Nextcloud's Login Flow v2, which hands a client a fresh app password
// once its user has signed in on Wharf's own page. The files themselves
// are served by dav under /remote.php/.
//
// ocs imports auth and internal/api.
package ocs

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
)

// Config configures a Handler. Zero values mean the documented defaults.
type Config struct {
	// Auth authenticates the login flow's sign-in and mints its app
	// passwords (required).
	Auth *auth.Service
	// PublicURL is the address clients reach Wharf at, without a trailing
	// slash. "": the scheme and host of each request.
	PublicURL string
	// Chunking says that dav serves chunked uploads under
	// /remote.php/dav/uploads/ (dav.Config.ChunkDir), which the
	// capabilities then offer to the Nextcloud client.
	Chunking bool
	// Tus says that dav hands oCIS-style tus creations to tus
	// (dav.Config.Creator), which the capabilities then offer to the
	// ownCloud client.
	Tus bool
	// Logger receives errors. nil: slog.Default().
	Logger *slog.Logger
	// Now tells the time. nil: time.Now.
	Now func() time.Time
}

// Handler serves the discovery and login endpoints. It is safe for
// concurrent use.
type Handler struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	flows map[string]*flow // by poll token
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Auth == nil {
		return nil, errors.New("ocs: Config needs Auth")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Handler{cfg: cfg, log: cfg.Logger, flows: map[string]*flow{}}, nil
}

// Routes are the discovery endpoints (status.php is public: clients read
// it before they know how to sign in) and the login flow's (public: the
// client has no credentials yet; the sign-in page checks the password).
func (h *Handler) Routes() []api.Route {
	return []api.Route{
		{Pattern: "GET /status.php", Handler: http.HandlerFunc(h.handleStatus), Surface: api.SurfaceOther, Public: true},
		{Pattern: "GET /ocs/v1.php/cloud/capabilities", Handler: h.ocsJSON(1, h.capabilities), Surface: api.SurfaceAPI},
		{Pattern: "GET /ocs/v2.php/cloud/capabilities", Handler: h.ocsJSON(2, h.capabilities), Surface: api.SurfaceAPI},
		{Pattern: "GET /ocs/v1.php/cloud/user", Handler: h.ocsJSON(1, h.user), Surface: api.SurfaceAPI},
		{Pattern: "GET /ocs/v2.php/cloud/user", Handler: h.ocsJSON(2, h.user), Surface: api.SurfaceAPI},
		{Pattern: "POST " + FlowPath, Handler: http.HandlerFunc(h.handleFlowStart), Surface: api.SurfaceOther, Public: true},
		{Pattern: "POST " + FlowPath + "/poll", Handler: http.HandlerFunc(h.handleFlowPoll), Surface: api.SurfaceOther, Public: true},
		{Pattern: "GET " + FlowPath + "/flow/{token}", Handler: http.HandlerFunc(h.handleFlowPage), Surface: api.SurfaceUI, Public: true},
		{Pattern: "POST " + FlowPath + "/flow/{token}", Handler: http.HandlerFunc(h.handleFlowGrant), Surface: api.SurfaceUI, Public: true},
	}
}

// The version Wharf gives itself toward the clients: one of the ownCloud
// 10 line, which both clients accept without warnings about old servers.
const (
	compatVersion       = "10.11.0.0"
	compatVersionString = "10.11.0"
)

func (h *Handler) status() map[string]any {
	return map[string]any{
		"installed":       true,
		"maintenance":     false,
		"needsDbUpgrade":  false,
		"version":         compatVersion,
		"versionstring":   compatVersionString,
		"edition":         "Community",
		"productname":     "Wharf",
		"product":         "Wharf",
		"extendedSupport": false,
	}
}

func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.status())
}

// ocsJSON wraps what fn returns in the OCS envelope: meta status code 100
// for v1, 200 for v2 (the clients check it). Only JSON is spoken; the
// clients ask for it with format=json.
func (h *Handler) ocsJSON(version int, fn func(r *http.Request) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := 100
		if version == 2 {
			code = 200
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"ocs": map[string]any{
			"meta": map[string]any{"status": "ok", "statuscode": code, "message": "OK", "totalitems": "", "itemsperpage": ""},
			"data": fn(r),
		}})
	})
}

// capabilities describe what Wharf really does, and nothing more: no
// sharing, no versions, no trash, no federation.
func (h *Handler) capabilities(r *http.Request) any {
	files := map[string]any{
		"bigfilechunking":      false,
		"undelete":             false,
		"versioning":           false,
		"privateLinks":         false,
		"blacklisted_files":    []string{},
		"versionDeletion":      false,
		"favorites":            false,
		"file_locking_support": false,
	}
	if h.cfg.Tus {
		// The ownCloud client uploads through tus when this is present:
		// a POST with Tus-Resumable on the folder, then PATCHes to the
		// Location, as oCIS has it.
		files["tus_support"] = map[string]any{
			"version":   "1.0.0",
			"resumable": "1.0.0",
			"extension": "creation,creation-with-upload,checksum,termination",
			// No limit: the ownCloud client 2.11 then sends the whole
			// file with its creation. With a limit it miscomputes the
			// size of its PATCHes (it subtracts the offset twice) and
			// loops on empty PATCHes for some sizes; and since it keeps
			// no upload URL between runs, pieces would not let an
			// interrupted run resume anyway.
			"max_chunk_size":       0,
			"http_method_override": "",
		}
	}
	dav := map[string]any{"reports": []string{}}
	if h.cfg.Chunking {
		dav["chunking"] = "1.0"
	}
	return map[string]any{
		"version": map[string]any{"major": 10, "minor": 11, "micro": 0, "string": compatVersionString, "edition": "Community", "product": "Wharf"},
		"capabilities": map[string]any{
			"core": map[string]any{
				"pollinterval": 60,
				"webdav-root":  "remote.php/webdav",
				"status":       h.status(),
			},
			"dav": dav,
			// SHA1 is what both clients compute; SHA-256 is Wharf's own and
			// is shown in oc:checksums too.
			"checksums":     map[string]any{"supportedTypes": []string{"SHA1"}, "preferredUploadType": "SHA1"},
			"files":         files,
			"files_sharing": map[string]any{"api_enabled": false, "public": map[string]any{"enabled": false}, "resharing": false, "federation": map[string]any{"outgoing": false, "incoming": false}},
		},
	}
}

func (h *Handler) user(r *http.Request) any {
	p := auth.FromContext(r.Context())
	if p == nil {
		return map[string]any{}
	}
	return map[string]any{
		"id":           p.User.Name,
		"display-name": p.User.Name,
		"displayname":  p.User.Name,
		"email":        nil,
		"enabled":      true,
	}
}

// serverURL is the address the client reaches Wharf at.
func (h *Handler) serverURL(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return h.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
