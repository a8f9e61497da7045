// Package links serves share links: the JSON API that creates, lists and
// revokes them (/api/v1/links), and the links themselves at the host root,
// /s/<secret>, for anyone holding one, without an account. A read link to
// a file answers its bytes (Range, conditional requests); a read link to a
// folder a read-only listing page, its files and subfolders below it, and
// a zip of any of its folders, streamed (Accept: application/zip or
// ?download=zip). A drop link (upload-only) answers a page to drop files
// on and takes tus uploads at /s/<secret>/tus/, which it hands to tus
// (Uploads) with the link's principal: the space's policy, quota and
// processing apply as to any upload, and nothing of the folder is shown.
//
// What a link is and who may make one are auth's (auth/link.go): the
// secret and its hash, the password and its throttle, the creator's role
// checked at every use. This package is the HTTP face of it.
//
// links imports space, auth, store and internal/api; it reaches tus only
// through the Uploads interface, which the server satisfies with tus.
package links

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Paths the server mounts this package's handlers on.
const (
	// Prefix is where links are served: Prefix + secret.
	Prefix = "/s/"
	// APIPath is the JSON API: POST creates, GET lists, DELETE
	// APIPath/<id> revokes.
	APIPath = "/api/v1/links"
)

// Uploads serves the tus endpoint of a drop link (tus.Handler satisfies
// it): creations in folder dir of space spaceID, and requests for upload
// id, for p, the link's principal, at base (the endpoint's URL path). It
// must be safe for concurrent use.
type Uploads interface {
	ServeLink(w http.ResponseWriter, r *http.Request, p *auth.Principal, base, spaceID, dir, id string)
}

// Config configures a Handler. Zero values mean the documented defaults.
type Config struct {
	// Auth makes, finds and checks links (required).
	Auth *auth.Service
	// Tree holds the files links reach (required).
	Tree *space.Tree
	// DB counts downloads (required).
	DB *store.DB
	// Uploads takes drop links' uploads. Nil: drop links answer 503.
	Uploads Uploads
	// PublicURL is the server's external URL (scheme://host[:port]) that
	// new links' URLs start with. "": the scheme and Host of the request
	// that creates the link.
	PublicURL string
	// Logger receives errors. Nil: slog.Default().
	Logger *slog.Logger
}

// Handler serves links and their API. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	auth *auth.Service
	tree *space.Tree
	log  *slog.Logger
	tmpl *template.Template
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Auth == nil || cfg.Tree == nil || cfg.DB == nil {
		return nil, errors.New("links: Config needs Auth, Tree and DB")
	}
	if cfg.PublicURL != "" && !strings.HasPrefix(cfg.PublicURL, "http://") && !strings.HasPrefix(cfg.PublicURL, "https://") {
		return nil, errors.New("links: Config.PublicURL is not an http(s) URL")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t, err := template.New("").Funcs(template.FuncMap{"size": formatSize}).Parse(pages)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, auth: cfg.Auth, tree: cfg.Tree, log: cfg.Logger, tmpl: t}, nil
}

// Routes are the API (behind the server's gate: listing needs the read
// scope, creating and revoking the write scope; upload tokens never) and
// the links themselves (public: the secret is the credential).
func (h *Handler) Routes() []api.Route {
	return []api.Route{
		{Pattern: "GET " + APIPath, Handler: http.HandlerFunc(h.handleList), Surface: api.SurfaceAPI},
		{Pattern: "POST " + APIPath, Handler: http.HandlerFunc(h.handleCreate), Surface: api.SurfaceAPI},
		{Pattern: "DELETE " + APIPath + "/{id}", Handler: http.HandlerFunc(h.handleRevoke), Surface: api.SurfaceAPI},
		{Pattern: Prefix + "{secret}", Handler: http.HandlerFunc(h.serveLink), Surface: api.SurfaceUI, Public: true},
		{Pattern: Prefix + "{secret}/{rest...}", Handler: http.HandlerFunc(h.serveLink), Surface: api.SurfaceUI, Public: true},
	}
}

// ParseDuration reads a link's lifetime: a Go duration ("36h", "90m") or
// a number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		d, err := time.ParseDuration(days + "h")
		if err != nil || d <= 0 {
			return 0, errors.New("want a duration such as 36h or 7d")
		}
		return 24 * d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a duration such as 36h or 7d")
	}
	return d, nil
}

// URL is the full URL of the link with secret, under base (a server's
// public URL).
func URL(base, secret string) string {
	return strings.TrimSuffix(base, "/") + Prefix + secret
}

// base is the URL new links start with: the configured public URL, else
// the request's scheme and host.
func (h *Handler) base(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return h.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.Write(w, r, h.log, err)
}

// background is a context for counting a use that must not be lost when
// the client goes away at once.
func background(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func formatSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 5 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[unit])
}
