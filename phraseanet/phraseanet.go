// Package phraseanet makes Wharf the "uploader" Phraseanet ingests from
// (docs/protocols/phraseanet.md has the wire protocol and its traps). It
// owns targets (where a space's files go, in push and/or pull mode),
// commits and their assets (in the store's phraseanet_* tables), the push
// outbox and its worker, the scheduler that batches new files into
// commits, the after-acknowledgement janitor (keep, delete or move the
// files; prune old rows), and two HTTP surfaces, both in Routes:
//
//   - the uploader-compatible API Phraseanet calls at the
//     host root (/assets/…, /commits…, /oauth/v2/token), authorized by the
//     commit's AssetToken, pull-mode bearer tokens and signed URLs, never
//     by Wharf's own credentials;
//   - /api/v1/targets… for scripts and the web UI, behind
//     Wharf's normal authentication.
//
// phraseanet imports events, space, auth, store, blob and internal/api; no
// other feature package.
package phraseanet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Errors of the service; check them with errors.Is. The HTTP surfaces map
// them to statuses in one place (writeError).
var (
	ErrNotFound     = errors.New("not found")                // 404
	ErrBadInput     = errors.New("invalid input")            // 400
	ErrCommitted    = errors.New("file already in a commit") // 409
	ErrForbidden    = errors.New("forbidden")                // 403
	ErrUnauthorized = errors.New("authorization required")   // 401
	ErrExists       = errors.New("already exists")           // 409
	ErrHeld         = errors.New("awaiting finalization")    // 409
)

// Config configures a Service. Zero values mean the documented defaults.
type Config struct {
	// DB keeps targets, commits, assets, the outbox and pull tokens.
	// Required.
	DB *store.DB
	// Tree holds the files. Required.
	Tree *space.Tree
	// Auth signs download URLs and answers roles for the targets' API. Required.
	Auth *auth.Service
	// Bus receives commit.created|pushed|failed|acknowledged. Nil: none.
	Bus *events.Bus
	// Logger receives push failures and janitor errors. Nil: discard.
	Logger *slog.Logger
	// PublicURL is how Phraseanet reaches this server
	// (scheme://host[:port]; a path is ignored: the API is at the host
	// root). It becomes the push's base_url and the host of download URLs.
	// Required by Run and the HTTP surfaces; "" is allowed for the command
	// line, which only manages targets.
	PublicURL string
	// HTTPClient sends the enqueue calls. Nil: a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Now tells the time. Nil: time.Now.
	Now func() time.Time
	// RetryBase is the delay after the first failed push; each further
	// failure doubles it, up to RetryMax, with jitter (the delay is drawn
	// from [d/2, d]). 0: 1 s.
	RetryBase time.Duration
	// RetryMax caps the delay between push attempts. 0: 5 minutes.
	RetryMax time.Duration
	// DoubtHold is how long a commit whose push call may have arrived
	// (Wharf stopped during the call, or the call got no answer) is held
	// back before it is sent again, for Phraseanet to show that it has
	// it by fetching an asset. 0: 2 minutes.
	DoubtHold time.Duration
	// Tick is how often the scheduler looks for due targets and the
	// janitor for acknowledged commits; the push worker wakes as soon as a
	// commit is made or due. 0: 1 s.
	Tick time.Duration
	// URLTTL is how long a download URL stays valid. 0: 6 hours (the
	// protocol wants at least 1 hour).
	URLTTL time.Duration
	// TokenTTL is the lifetime of a pull-mode bearer token. 0: 1 hour.
	TokenTTL time.Duration
	// Dir is the commits area: each commit's files are frozen there
	// (hard links, or copies across file systems) from its creation until
	// its after-ack action is done, and served from there. The phraseanet
	// service creates it and is alone in it; it belongs in the data
	// directory, on the file system of spaces/. "": commits are not
	// frozen and assets are served from their files in the space (the
	// command line, which makes no commits).
	Dir string
	// Blobs is the object store of a Tree in object-store mode
	// (space.Tree.ObjectMode): each commit's files are then frozen in it
	// as objects commits/<commit>/<asset> (server-side copies), readable
	// from every replica, and Dir is not used. Required when the Tree is
	// in object-store mode and Dir is set (a server); nil otherwise.
	Blobs blob.Store
}

// Service is the Phraseanet hand-off. It is safe for concurrent use. Run
// starts its background work.
type Service struct {
	db        *store.DB
	tree      *space.Tree
	auth      *auth.Service
	bus       *events.Bus
	log       *slog.Logger
	publicURL string // scheme://host[:port], no trailing slash
	client    *http.Client
	now       func() time.Time
	retryBase time.Duration
	retryMax  time.Duration
	doubtHold time.Duration
	tick      time.Duration
	urlTTL    time.Duration
	tokenTTL  time.Duration
	dir       string
	blobs     blob.Store // commits frozen in the object store (freezeobj.go)

	pushKick chan struct{} // wakes the push worker
	ackKick  chan struct{} // wakes the janitor

	mu       sync.Mutex
	inflight map[string]bool // commits being pushed
	freezing map[string]bool // commits being made, whose folder the janitor leaves alone
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("phraseanet: Config.DB is required")
	}
	if cfg.Tree == nil {
		return nil, errors.New("phraseanet: Config.Tree is required")
	}
	if cfg.Auth == nil {
		return nil, errors.New("phraseanet: Config.Auth is required")
	}
	s := &Service{
		db: cfg.DB, tree: cfg.Tree, auth: cfg.Auth, bus: cfg.Bus, log: cfg.Logger,
		client: cfg.HTTPClient, now: cfg.Now,
		retryBase: cfg.RetryBase, retryMax: cfg.RetryMax, doubtHold: cfg.DoubtHold, tick: cfg.Tick,
		urlTTL: cfg.URLTTL, tokenTTL: cfg.TokenTTL, dir: cfg.Dir, blobs: cfg.Blobs,
		pushKick: make(chan struct{}, 1), ackKick: make(chan struct{}, 1),
		inflight: map[string]bool{}, freezing: map[string]bool{},
	}
	if cfg.Dir != "" && cfg.Tree.ObjectMode() && cfg.Blobs == nil {
		// Frozen files in the data directory would be this replica's
		// only: the others could not serve them.
		return nil, errors.New("phraseanet: Config.Blobs is required when the Tree keeps contents in an object store")
	}
	if cfg.Blobs != nil && !cfg.Tree.ObjectMode() {
		return nil, errors.New("phraseanet: Config.Blobs is set but the Tree keeps contents in the data directory")
	}
	if cfg.PublicURL != "" {
		base, err := BaseURL(cfg.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("phraseanet: Config.PublicURL: %w", err)
		}
		s.publicURL = base
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 30 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retryBase <= 0 {
		s.retryBase = time.Second
	}
	if s.retryMax <= 0 {
		s.retryMax = 5 * time.Minute
	}
	if s.doubtHold <= 0 {
		s.doubtHold = 2 * time.Minute
	}
	if s.tick <= 0 {
		s.tick = time.Second
	}
	if s.urlTTL <= 0 {
		s.urlTTL = 6 * time.Hour
	}
	if s.tokenTTL <= 0 {
		s.tokenTTL = time.Hour
	}
	return s, nil
}

// BaseURL reduces a public URL to scheme://host[:port], the base_url
// Phraseanet resolves the asset API against. It returns an error for
// anything but an absolute http(s) URL.
func BaseURL(public string) (string, error) {
	u, err := url.Parse(public)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", public)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Run runs the push worker, the scheduler and the janitor until ctx ends.
// When the DB is shared with other processes (replicas on PostgreSQL), they
// run in one process at a time: the one holding the lease leaderLease
// (store.DB.Lead); the others wait to take it over.
func (s *Service) Run(ctx context.Context) {
	if s.db.Postgres() {
		s.db.Lead(ctx, leaderLease, store.NewOwner(), leaderTTL, s.log, s.runLoops)
		return
	}
	s.runLoops(ctx)
}

// leaderLease names the lease of the Phraseanet loops; leaderTTL is how
// long it holds without renewal: at most this and a third after a leader
// dies, another process takes over.
const (
	leaderLease = "phraseanet"
	leaderTTL   = 15 * time.Second
)

func (s *Service) runLoops(ctx context.Context) {
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.runPusher, s.runScheduler, s.runJanitor} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *Service) publish(e events.Event) {
	if s.bus != nil {
		s.bus.Publish(e)
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newToken returns n random bytes as lowercase hex.
func newToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// newClientSecret returns a fresh pull-mode client secret (192 random
// bits) and the hash a target keeps of it (Target.ClientSecretHash).
func newClientSecret() (secret, hash string) {
	secret = newToken(24)
	return secret, clientSecretHash(secret)
}

// clientSecretHash is how a target keeps its client secret: Wharf makes
// the secrets with 192 random bits, so a SHA-256 is as good as a slow
// password hash. Migration 0009 converted the older plaintext ones.
func clientSecretHash(secret string) string { return "sha256:" + hashSecret(secret) }

// phpTime formats a time as Phraseanet's uploader does (DATE_ATOM).
func phpTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-07:00") }
