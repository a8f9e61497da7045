// Package tus serves resumable uploads (tus 1.0.0) at /tus/ and the
// oCIS-style creation of an upload on a WebDAV collection. It embeds tusd's
// unrouted handler with its filestore and a locker that works across
// server processes sharing the data directory (filelock.go; see
// docs/protocols/tus.md for the traps this package avoids) and adds what tusd
// lacks: authorization, quota and name checks before any byte is stored,
// an owner check on every request for an upload, the role checked again on
// every PATCH and before submitting, bytes charged against the space's
// quota and a per-user cap as they arrive, the checksum and expiration
// extensions, hashing while the bytes stream (the digest state is kept in
// SQLite, so a resumed upload never re-reads what it has), fsync before the
// last byte is acknowledged, and the hand-over to the processing
// pipeline, waited for outside tusd's upload lock.
//
// Every upload has a row in the store's uploads table, written before the
// client gets its 201. Once all its bytes are in, HEAD and PATCH on it are
// answered from that row, never from tusd: 423 while processing, 410 once
// rejected, offset = length once done.
//
// tus imports postproc (types only: the pipeline is a small interface
// declared here), events, space, auth, store and internal/api; it knows
// nothing of WebDAV.
package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Pipeline runs the processing of finished uploads (postproc.Runner
// satisfies it). It must be safe for concurrent use.
type Pipeline interface {
	// Submit records job durably and queues it; when it returns nil the job
	// will run, even after a crash.
	Submit(ctx context.Context, job postproc.Job) error
	// Wait blocks until the job is final or ctx is done. A rejected job
	// gives its Status with a *postproc.RejectedError.
	Wait(ctx context.Context, id string) (postproc.Status, error)
	// Status returns the job's current state without waiting, or
	// postproc.ErrUnknownJob.
	Status(ctx context.Context, id string) (postproc.Status, error)
}

// BasePath is where the tus endpoint is mounted.
const BasePath = "/tus/"

// The defaults of Config's limits.
const (
	DefaultMaxSize         = 64 << 30 // 64 GiB
	DefaultMaxPendingBytes = 10 << 30 // 10 GiB, unless MaxSize is larger
)

// Config configures a Handler. Zero values mean the documented defaults.
type Config struct {
	// Tree holds the spaces uploads go to. Required.
	Tree *space.Tree
	// Auth answers who may write where. Required. The caller must already
	// be authenticated: the Handler reads the auth.Principal from the
	// request context and answers 401 without one (OPTIONS excepted).
	Auth *auth.Service
	// DB keeps the uploads table. Required.
	DB *store.DB
	// Pipeline processes finished uploads. Required.
	Pipeline Pipeline
	// Bus receives upload.created and upload.completed. Nil: no events.
	Bus *events.Bus
	// Logger receives errors, and tusd's own warnings. Nil: slog.Default().
	Logger *slog.Logger
	// UploadsDir is the data directory's uploads/ (on the file system of
	// spaces/, so that installing a finished upload is a rename). Uploads
	// are kept in UploadsDir/tus, created if needed. Required.
	UploadsDir string
	// PublicURL is the server's external URL (scheme://host[:port]), used
	// to build the Location of new uploads. "": from each request's Host
	// (and the X-Forwarded-* / Forwarded headers if TrustForwarded).
	PublicURL string
	// TrustForwarded makes Location follow X-Forwarded-Host/-Proto and
	// Forwarded when PublicURL is "". Only behind a proxy that sets them.
	TrustForwarded bool
	// MaxSize is the largest upload accepted, in bytes (advertised as
	// Tus-Max-Size). 0: DefaultMaxSize.
	MaxSize int64
	// MaxPendingBytes is how many bytes one user may have received in
	// uploads not yet complete (partial, deferred-length and ordinary ones,
	// counted across all of the user's uploads still receiving): a chunk
	// that would go past it is refused with 413 and nothing of it is kept.
	// 0: the larger of DefaultMaxPendingBytes and MaxSize, so that one
	// upload of the largest size always fits.
	MaxPendingBytes int64
	// NetworkTimeout is how long a read of a request body may wait for
	// data (tusd's NetworkTimeout). 0: 60 s.
	NetworkTimeout time.Duration
	// Expiry is how long an unfinished upload is kept after its last
	// chunk (sent to clients as Upload-Expires). Finished uploads' records
	// are kept as long after they end, for HEAD. 0: 24 hours.
	Expiry time.Duration
	// ProcessingWait is how long the request that delivers the last byte
	// waits for processing before it answers 202. 0: 10 minutes.
	ProcessingWait time.Duration
	// SweepInterval is how often Run looks for expired uploads, orphaned
	// files and finished jobs. 0: one minute.
	SweepInterval time.Duration
	// AllowOrigin is a regular expression of the origins a browser may
	// upload from (CORS). "": any origin (credentials are never sent by
	// browsers to another origin anyway: AllowCredentials is off).
	AllowOrigin string
	// Now tells the time. Nil: time.Now.
	Now func() time.Time
	// Blobs, if set, keeps uploads in an object store (object-store mode,
	// docs/scale-out.md; Tree must then be in object-store mode too): the
	// bytes are staged uploads of the store, the state is in the database,
	// the upload's lock is a lease in the database, and UploadsDir is this
	// process's own (temporary chunk files). The concatenation extension
	// is not offered. Nil: uploads are files of UploadsDir, shared by the
	// processes serving them.
	Blobs blob.Stager
}

// Handler serves tus uploads. It is safe for concurrent use. Start the
// janitor with Run.
type Handler struct {
	tree    *space.Tree
	auth    *auth.Service
	db      *store.DB
	pipe    Pipeline
	bus     *events.Bus
	log     *slog.Logger
	dir     string // absolute UploadsDir/tus
	base    string // tusd's base path: BasePath, or the public URL of it
	maxSize int64
	// maxPending is the most bytes a user may have received in uploads
	// still receiving (Config.MaxPendingBytes).
	maxPending int64
	expiry     time.Duration
	wait       time.Duration
	sweep      time.Duration
	now        func() time.Time

	// charging guards charges: the bytes that chunks being written may
	// still add, by upload id, beyond what the uploads table records.
	charging sync.Mutex
	charges  map[string]charge

	// blobs is Config.Blobs: object-store mode when set (blobstore.go).
	blobs blob.Stager

	locker interface {
		handler.Locker
		UseIn(*handler.StoreComposer)
	}
	tusd  *handler.UnroutedHandler
	serve http.Handler // tusd's middleware around route
}

// New checks cfg, creates UploadsDir/tus and returns a Handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Tree == nil || cfg.Auth == nil || cfg.DB == nil:
		return nil, errors.New("tus: Config needs Tree, Auth and DB")
	case cfg.Pipeline == nil:
		return nil, errors.New("tus: Config.Pipeline is required")
	case cfg.UploadsDir == "":
		return nil, errors.New("tus: Config.UploadsDir is required")
	case cfg.Blobs != nil && !cfg.Tree.ObjectMode():
		return nil, errors.New("tus: Config.Blobs needs a Tree in object-store mode")
	case cfg.MaxSize < 0 || cfg.MaxPendingBytes < 0 || cfg.Expiry < 0 || cfg.ProcessingWait < 0 || cfg.SweepInterval < 0:
		return nil, errors.New("tus: Config.MaxSize, MaxPendingBytes, Expiry, ProcessingWait and SweepInterval must not be negative")
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxPendingBytes == 0 {
		cfg.MaxPendingBytes = max(DefaultMaxPendingBytes, cfg.MaxSize)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = 24 * time.Hour
	}
	if cfg.ProcessingWait == 0 {
		cfg.ProcessingWait = 10 * time.Minute
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	origin := regexp.MustCompile(".*")
	if cfg.AllowOrigin != "" {
		var err error
		if origin, err = regexp.Compile(cfg.AllowOrigin); err != nil {
			return nil, fmt.Errorf("tus: Config.AllowOrigin: %w", err)
		}
	}
	base := BasePath
	if cfg.PublicURL != "" {
		if !strings.HasPrefix(cfg.PublicURL, "http://") && !strings.HasPrefix(cfg.PublicURL, "https://") {
			return nil, fmt.Errorf("tus: Config.PublicURL %q is not an http(s) URL", cfg.PublicURL)
		}
		base = strings.TrimSuffix(cfg.PublicURL, "/") + BasePath
	}
	uploads, err := filepath.Abs(cfg.UploadsDir)
	if err != nil {
		return nil, fmt.Errorf("tus: uploads directory: %w", err)
	}
	h := &Handler{
		tree: cfg.Tree, auth: cfg.Auth, db: cfg.DB, pipe: cfg.Pipeline, bus: cfg.Bus,
		log:     cfg.Logger,
		dir:     filepath.Join(uploads, "tus"),
		base:    base,
		maxSize: cfg.MaxSize, maxPending: cfg.MaxPendingBytes,
		expiry: cfg.Expiry, wait: cfg.ProcessingWait, sweep: cfg.SweepInterval, now: cfg.Now,
		charges: map[string]charge{},
		blobs:   cfg.Blobs,
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, fmt.Errorf("tus: create %s: %w", h.dir, err)
	}
	composer := handler.NewStoreComposer()
	if h.blobs != nil {
		h.locker = newLeaseLocker(h.db, func(msg string, args ...any) { h.log.Warn(msg, args...) })
		bs := &blobStore{h: h}
		composer.UseCore(bs)
		composer.UseTerminater(bs)
		composer.UseLengthDeferrer(bs)
	} else {
		if h.locker, err = newFileLocker(filepath.Join(uploads, "tus-locks")); err != nil {
			return nil, err
		}
		fs := filestore.New(h.dir)
		fs.DirModePerm, fs.FileModePerm = 0o700, 0o600
		ds := &dataStore{fs: fs, h: h}
		composer.UseCore(ds)
		composer.UseTerminater(ds)
		composer.UseConcater(ds)
		composer.UseLengthDeferrer(ds)
	}
	h.locker.UseIn(composer)
	h.tusd, err = handler.NewUnroutedHandler(handler.Config{
		StoreComposer:             composer,
		MaxSize:                   cfg.MaxSize,
		BasePath:                  base,
		NetworkTimeout:            cfg.NetworkTimeout,
		DisableDownload:           true,
		Logger:                    newExpLogger(h.log),
		RespectForwardedHeaders:   cfg.TrustForwarded,
		PreUploadCreateCallback:   h.preCreate,
		PreFinishResponseCallback: h.preFinish,
		// Shorter than tusd's 20 s: a HEAD that cannot get the lock is
		// answered 423 (retry) rather than hanging.
		AcquireLockTimeout: 5 * time.Second,
		Cors: &handler.CorsConfig{
			AllowOrigin:   origin,
			AllowMethods:  handler.DefaultCorsConfig.AllowMethods,
			AllowHeaders:  handler.DefaultCorsConfig.AllowHeaders + ", Upload-Checksum, Prefer",
			MaxAge:        handler.DefaultCorsConfig.MaxAge,
			ExposeHeaders: handler.DefaultCorsConfig.ExposeHeaders + ", Upload-Expires, Tus-Checksum-Algorithm, Progress-Location, Preference-Applied, Retry-After, ETag, OC-ETag, OC-FileId, OC-Perm",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	h.serve = h.tusd.Middleware(http.HandlerFunc(h.route))
	return h, nil
}

// Extensions is the Tus-Extension Wharf advertises.
func (h *Handler) Extensions() string {
	return h.tusd.SupportedExtensions() + ",checksum,expiration"
}

// SetOptionsHeaders adds the tus discovery headers (Tus-Resumable,
// Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm) to hdr,
// for OPTIONS answers on WebDAV collections, as oCIS does.
func (h *Handler) SetOptionsHeaders(hdr http.Header) {
	hdr.Set("Tus-Resumable", "1.0.0")
	hdr.Set("Tus-Version", "1.0.0")
	hdr.Set("Tus-Extension", h.Extensions())
	hdr.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
	hdr.Set("Tus-Max-Size", fmt.Sprint(h.maxSize))
}

// Routes are tus's endpoints, behind the server's authentication. An upload
// token may use them: the hooks check its space, prefix, limits and that
// it resumes only its own uploads.
func (h *Handler) Routes() []api.Route {
	return []api.Route{
		{Pattern: BasePath, Handler: h, Surface: api.SurfaceTus, UploadToken: api.Always},
		{Pattern: strings.TrimSuffix(BasePath, "/"), Handler: h, Surface: api.SurfaceTus, UploadToken: api.Always},
	}
}

// ServeHTTP serves /tus/ (POST creates an upload, OPTIONS describes the
// server) and /tus/<id> (HEAD, PATCH, DELETE). The request path must
// still carry the /tus/ prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok && r.URL.Path != strings.TrimSuffix(BasePath, "/") {
		h.writeError(w, r, http.StatusNotFound, "not a tus URL")
		return
	}
	h.dispatch(w, r, strings.Trim(rest, "/"), nil)
}

// ServeDAVCreate serves an oCIS-style creation: POST on the WebDAV
// collection dir (a path inside space spaceID, as in the URL, unescaped)
// with Tus-Resumable and Upload-Metadata "filename" (which may be a
// relative path below dir). It answers 201 with a Location under /tus/,
// where the client continues with HEAD and PATCH.
func (h *Handler) ServeDAVCreate(w http.ResponseWriter, r *http.Request, spaceID, dir string) {
	if r.Method != http.MethodPost && r.Method != http.MethodOptions {
		h.writeError(w, r, http.StatusMethodNotAllowed, "only POST creates uploads here")
		return
	}
	h.dispatch(w, r, "", &davTarget{space: spaceID, dir: dir})
}

// ServeLink serves the tus endpoint of a drop link for its holder p (the
// link's principal: auth.Service.LinkPrincipal): POST creates an upload in
// folder dir of space spaceID (metadata "filename", a name or a relative
// path below dir), HEAD, PATCH and DELETE go to upload id. base is the
// URL path of the endpoint (the link's URL with "/tus/"): the Location of
// a new upload is base + its id, so that the client continues through the
// link, the only credential it has. Uploads made so are the link's (see
// owns), counted against its upload limit, and recorded as made by
// "link:<id>". The caller has checked that the link is alive.
func (h *Handler) ServeLink(w http.ResponseWriter, r *http.Request, p *auth.Principal, base, spaceID, dir, id string) {
	if p == nil || p.Link == nil {
		h.writeError(w, r, http.StatusUnauthorized, "authentication required")
		return
	}
	r = r.WithContext(auth.NewContext(r.Context(), p))
	var target *davTarget
	if id == "" {
		target = &davTarget{space: spaceID, dir: dir, linkBase: base}
	} else {
		target = &davTarget{linkBase: base}
	}
	h.dispatch(w, r, id, target)
}

// davTarget is the destination named by an oCIS-style creation's URL.
// For a drop link (ServeLink), linkBase is the link's tus URL path, and
// space and dir are set for a creation only.
type davTarget struct{ space, dir, linkBase string }

// request is what the hooks and the data store learn of the request being
// served; it travels in the request context.
type request struct {
	r    *http.Request
	p    *auth.Principal
	dav  *davTarget
	sum  *chunkSum    // the PATCH's or POST's Upload-Checksum
	rec  store.Upload // the upload HEAD, PATCH or DELETE is for
	tusd bool         // the request was handed to tusd

	// Set by preFinish when this request completed an upload.
	done      *store.Upload // the upload, now processing
	submitErr error         // why its job could not be submitted
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	rq, _ := ctx.Value(requestKey{}).(*request)
	return rq
}

// dispatch lets tusd's middleware (OPTIONS, CORS, Tus-Resumable, body
// deadlines) and route serve the request through a holdWriter, and decides
// on the answer once tusd has returned and released the upload's lock.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, id string, dav *davTarget) {
	rq := &request{r: r, p: auth.FromContext(r.Context()), dav: dav}
	// tusd finds the upload id in the path, stripped of the base path.
	r2 := r.WithContext(context.WithValue(r.Context(), requestKey{}, rq))
	u := *r.URL
	u.Path, u.RawPath = "/"+id, ""
	r2.URL = &u
	var body *watchedBody
	if r2.Body != nil && r2.Body != http.NoBody {
		body = &watchedBody{ReadCloser: r2.Body}
		r2.Body = body
	}
	if dav != nil && dav.space == "" {
		rq.dav = nil // a drop link's HEAD, PATCH or DELETE: no destination
	}
	hw := newHoldWriter(w)
	h.serve.ServeHTTP(hw, r2)
	if dav != nil && dav.linkBase != "" {
		// The client goes on through the link's URL, not /tus/.
		if loc := hw.header.Get("Location"); loc != "" {
			hw.header.Set("Location", dav.linkBase+path.Base(loc))
		}
	}
	// tusd set read and write deadlines on the connection for the body
	// and its answer; once the body is in, net/http reads the connection
	// in the background to notice the client leaving, and a deadline
	// passing during the wait for processing would cancel the request.
	hw.detach()

	method, rec := r2.Method, rq.rec // the middleware applies X-HTTP-Method-Override to r2
	switch {
	case body != nil && body.timedOut.Load() && hw.status >= 500:
		// tusd says 500 for a body cut by a read deadline (its own
		// network timeout, or the server's minimum rate): the client
		// was too slow, and may resume from HEAD's offset.
		hw.keepBase()
		h.writeError(w, r, http.StatusRequestTimeout, "the request body arrived too slowly; resume from the offset HEAD gives")
	case method == http.MethodOptions:
		hw.header.Set("Tus-Extension", h.Extensions())
		hw.header.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
		hw.flush()
	case rq.done != nil && method == http.MethodPatch:
		hw.keepBase()
		h.answerFinal(w, r, *rq.done)
	case rq.submitErr != nil && method == http.MethodPatch:
		hw.keepBase()
		h.writeLocked(w, r, rec.ID, "the upload is complete but could not be queued for processing yet")
	case rq.done != nil && rq.dav != nil && !prefersAsync(r):
		// An oCIS-style creation that carried the whole file (the
		// ownCloud client's small files): like the final PATCH, wait for
		// processing, so that the file is there when the client looks
		// for it, and say its id and ETag.
		h.answerDAVCreation(w, r, hw, *rq.done)
	case rq.done != nil || rq.submitErr != nil:
		// Creation that completed the upload (with its body, empty, or
		// by concatenation): tus clients expect 201 here.
		hw.header.Set("Progress-Location", postproc.ProgressURL(hw.uploadID()))
		hw.flush()
	case rq.tusd && !rec.Partial && (method == http.MethodHead || method == http.MethodPatch) && hw.complete(rec):
		// All bytes in, yet no job: an earlier submission failed, or
		// another request completed it meanwhile. Never let tusd say
		// "complete" for an upload that is not done.
		hw.keepBase()
		h.recover(w, r, method, rec)
	case rq.tusd && method == http.MethodHead && hw.status >= 500:
		// Probably the lock; a retry is safe and a 5xx would make
		// tus-js-client start again from byte 0.
		hw.keepBase()
		h.writeLocked(w, r, rec.ID, "the upload is busy")
	default:
		hw.flush()
	}
}

// route serves a request that passed tusd's middleware: it checks what
// tusd cannot (the principal, the owner, the upload's state) and answers
// itself for uploads whose bytes are all in, or hands the request to tusd.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	rq := requestFrom(r.Context())
	if rq == nil || rq.p == nil {
		h.writeError(w, r, http.StatusUnauthorized, "authentication required")
		return
	}
	id := strings.Trim(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPost && id == "":
	case id == "" || strings.Contains(id, "/"):
		h.writeError(w, r, http.StatusNotFound, "no such upload")
		return
	case r.Method == http.MethodHead || r.Method == http.MethodPatch || r.Method == http.MethodDelete:
		rec, err := h.db.Upload(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || err == nil && !owns(rq.p, rec) {
			h.writeError(w, r, http.StatusNotFound, "no such upload")
			return
		}
		if err != nil {
			h.fail(w, r, fmt.Errorf("tus: %s %s: %w", r.Method, id, err))
			return
		}
		rq.rec = rec
		if rec.State != store.UploadReceiving {
			if r.Method == http.MethodDelete {
				h.deleteFinished(w, r, rec)
				return
			}
			h.answerFromRecord(w, r, r.Method, rec)
			return
		}
		if r.Method == http.MethodPatch {
			// A role revoked, or a token revoked or expired, since the
			// upload was created ends it: no more bytes, no submission.
			if err := h.authorize(r.Context(), rq.p, rec); err != nil {
				h.refuse(w, r, err)
				return
			}
		}
		w.Header().Set("Upload-Expires", rec.ExpiresAt.UTC().Format(http.TimeFormat))
	default:
		w.Header().Set("Allow", "POST, HEAD, PATCH, DELETE, OPTIONS")
		h.writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not supported here")
		return
	}
	if r.Method == http.MethodPatch && r.Header.Get("Content-Type") != "application/offset+octet-stream" {
		// tus 1.0.0: 415 (tusd would say 400).
		h.writeError(w, r, http.StatusUnsupportedMediaType, "a PATCH must have Content-Type: application/offset+octet-stream")
		return
	}
	if r.Method == http.MethodPost {
		if err := checkMetadata(r.Header.Values("Upload-Metadata")); err != nil {
			h.writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		if h.blobs != nil && r.Header.Get("Upload-Concat") != "" {
			h.refuse(w, r, errNoConcat)
			return
		}
		// Before tusd looks at the parts (their state, their sizes):
		// another user's part is answered as an unknown one.
		if err := h.checkParts(r.Context(), rq.p, r.Header.Get("Upload-Concat")); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	if r.Method == http.MethodPatch || r.Method == http.MethodPost {
		sum, err := parseChunkSum(r.Header.Get("Upload-Checksum"))
		if err != nil {
			h.writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		rq.sum = sum
	}
	rq.tusd = true
	switch r.Method {
	case http.MethodPost:
		h.tusd.PostFile(w, r)
	case http.MethodHead:
		h.tusd.HeadFile(w, r)
	case http.MethodPatch:
		h.tusd.PatchFile(w, r)
	case http.MethodDelete:
		h.tusd.DelFile(w, r)
	}
}

// owns reports whether p created upload u: the same user and, for an upload
// created with an upload token or a caller holding one, the same token (an
// upload token reaches only the uploads it created, not all of its user's);
// likewise for a drop link.
func owns(p *auth.Principal, u store.Upload) bool {
	if p == nil || p.User.ID != u.UserID {
		return false
	}
	// A drop link's uploads are reached only through that link, and a
	// link reaches nothing else of its creator's.
	if u.LinkID != "" || p.Link != nil {
		return p.Link != nil && p.Link.ID == u.LinkID
	}
	if u.TokenID != "" || p.Token != nil && p.Token.Kind == auth.KindUpload {
		return p.Token != nil && p.Token.ID == u.TokenID
	}
	return true
}

// writeError is the one place a refusal of this package's own becomes a
// response: the status, the tus headers, and a plain message (no body for
// HEAD).
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	hdr := w.Header()
	if status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Basic realm="Wharf", charset="UTF-8"`)
	}
	hdr.Set("Tus-Resumable", "1.0.0")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	hdr.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintln(w, msg)
	}
}

// refuse answers err: a refusal (tusError) with its status and message,
// anything else as fail does.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var refusal handler.Error
	if errors.As(err, &refusal) {
		h.writeError(w, r, refusal.HTTPResponse.StatusCode, refusal.Message)
		return
	}
	h.fail(w, r, err)
}

// fail logs an internal error and answers without details: 500, except
// for HEAD and PATCH, which get 423 so that clients retry rather than
// start over or give up.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "tus request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if r.Method == http.MethodHead || r.Method == http.MethodPatch {
		w.Header().Set("Retry-After", "5")
		h.writeError(w, r, http.StatusLocked, "the upload is busy, retry later")
		return
	}
	h.writeError(w, r, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError))
}

// tusError is a refusal from a tusd hook: its status and a plain message.
func tusError(status int, format string, args ...any) handler.Error {
	msg := fmt.Sprintf(format, args...)
	return handler.Error{
		ErrorCode: "ERR_WHARF_" + strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")),
		Message:   msg,
		HTTPResponse: handler.HTTPResponse{
			StatusCode: status,
			Body:       msg + "\n",
			Header:     handler.HTTPHeader{"Content-Type": "text/plain; charset=utf-8"},
		},
	}
}

// watchedBody notes whether reading a request body failed on a read
// deadline; dispatch looks once tusd has returned.
type watchedBody struct {
	io.ReadCloser
	timedOut atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut.Store(true)
	}
	return n, err
}

// MaxPendingBytes is how many bytes one user may hold in unfinished
// uploads (Config.MaxPendingBytes, its default applied): the server gives
// WebDAV's chunked uploads the same allowance.
func (h *Handler) MaxPendingBytes() int64 { return h.maxPending }
