// Package server wires Wharf together: it opens the data directory and the
// store, builds the services (auth, space, the pipeline and every surface:
// dav, tus, web, publish, phraseanet), mounts their routes on one mux
// behind the middleware every request goes through, and runs the HTTP
// server (with TLS, systemd notification and metrics) until its context
// ends. It holds no business rules of its own beyond first-start setup.
//
// server may import every Wharf package; nothing imports server but cmd.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/dav"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/links"
	"github.com/wharfhq/wharf/ocs"
	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/publish"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/tus"
	"github.com/wharfhq/wharf/web"
)

// Config is everything Run needs. Zero values mean the documented defaults.
type Config struct {
	// Dir is the data directory (required). It is created if missing.
	Dir string
	// DB is the PostgreSQL database holding the metadata, a postgres://
	// URL (docs/postgres.md). "": the SQLite file Dir/wharf.db.
	DB string
	// Listen is the TCP address to serve on. "": 127.0.0.1:8080.
	Listen string
	// PublicURL is the address users and Phraseanet reach Wharf at, used in
	// absolute links. "": derived from Listen.
	PublicURL string
	// AdminPassword is the password given to the "admin" user created on
	// first start. "": a random one, shown once on Console if
	// ConsoleTerminal, else written to <Dir>/initial-admin-password
	// (InitialPasswordFile, mode 0600) and only that file's name logged.
	AdminPassword string
	// Console receives the one-time first-start message. nil: io.Discard.
	Console io.Writer
	// ConsoleTerminal says that Console is a terminal a person reads, where
	// a generated admin password may be shown. false (the safe default):
	// it may be a log (systemd's journal, a file), the password is not
	// written there.
	ConsoleTerminal bool
	// Logger receives every log line. nil: slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after the context ends. 0: 30s.
	ShutdownTimeout time.Duration
	// DAVAllowInfinity lets PROPFIND walk whole trees (Depth: infinity).
	// false: such requests get 403 propfind-finite-depth.
	DAVAllowInfinity bool
	// MaxUploadSize is the largest upload accepted, in bytes. 0: 64 GiB
	// (tus.DefaultMaxSize).
	MaxUploadSize int64
	// MaxPendingUpload is how many bytes one user may have received in tus
	// uploads not yet complete. 0: 10 GiB, or MaxUploadSize if larger
	// (tus.Config.MaxPendingBytes).
	MaxPendingUpload int64
	// UploadExpiry is how long an unfinished tus upload is kept after its
	// last chunk. 0: 24 hours.
	UploadExpiry time.Duration
	// ProcessingWait is how long the request that completes an upload
	// waits for processing before it answers 202. 0: 10 minutes.
	ProcessingWait time.Duration
	// UploadsPerUser caps each user's uploads in flight (PUT, PATCH,
	// POST with a body); beyond it requests get 429. 0: 16; negative: no
	// cap.
	UploadsPerUser int
	// BodyTimeout is the window in which a request body must make
	// progress (16 KiB) or be cut. 0: 60s.
	BodyTimeout time.Duration
	// Clamd is the clamd socket ("unix:/path" or "tcp:host:port") for
	// virus scans. "": no scan.
	Clamd string
	// Reject is what becomes of a rejected upload's bytes: "quarantine"
	// (the default, in <data>/quarantine) or "delete".
	Reject string
	// TLS is how HTTPS is served: "off", "internal" (a local CA under
	// <data>/certs) or "acme" (certmagic). "": off when Listen is a
	// loopback address, internal otherwise.
	TLS string
	// Domains are the names the certificate is for; acme needs one.
	Domains []string
	// ACMECA is the ACME directory URL. "": Let's Encrypt production.
	ACMECA string
	// ACMEEmail is the ACME account's contact address. "": none.
	ACMEEmail string
	// ACMEChallenges are the ACME challenge types to use: "http-01",
	// "tls-alpn-01". nil: both.
	ACMEChallenges []string
	// ACMECARoot is a PEM file of extra roots trusted for the ACME
	// directory's own HTTPS (a test CA). "": the system's.
	ACMECARoot string
	// HTTPListen is the plain-HTTP listener used when TLS is on: it
	// redirects to HTTPS and answers ACME HTTP-01 challenges. "": :80 if
	// it can be bound (a warning if not); "off": none.
	HTTPListen string
	// Blobs is the S3 bucket holding the files' contents (Locations.Blobs,
	// docs/scale-out.md). "": files under Dir/spaces.
	Blobs string
	// Events is the NATS server (nats://host:4222[?stream=…&subject=…])
	// through which several replicas share their events (events/natsbus).
	// "": the events stay in this process.
	Events string
	// MetricsListen is an extra listener that serves only /metrics,
	// without authentication, for a local Prometheus (metrics.go). "":
	// none; /metrics is then only for instance admins on Listen.
	MetricsListen string
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For is believed: when a request's TCP peer is in one of
	// them, its client address (for the login throttle, the access log and
	// every handler) is the right-most X-Forwarded-For address that is not
	// itself in one of them (proxy.go). nil: X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// PushDoubtHold is how long a commit whose push call may have reached
	// Phraseanet is held back before it is sent again (see
	// phraseanet.Config.DoubtHold). 0: 2 minutes.
	PushDoubtHold time.Duration
	// MetricsReady, if set, is called with the metrics listener's address
	// once it is open (tests).
	MetricsReady func(addr net.Addr)
	// Ready, if set, is called once the listener is open, with its address
	// (tests use it to learn the port of "127.0.0.1:0").
	Ready func(addr net.Addr)
	// Notify tells systemd (Type=notify) that the server is ready, alive
	// (the watchdog) and stopping. Zero: not started by systemd, nothing
	// is sent.
	Notify Notifier
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("server: no data directory")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Console == nil {
		c.Console = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	return nil
}

// Run opens the data directory, performs first-start setup if it is empty,
// and serves HTTP until ctx is cancelled; then it stops accepting
// connections, lets in-flight requests finish (up to ShutdownTimeout) and
// closes the store. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	// Every line logged with a request's context carries its request id.
	log := slog.New(api.LogHandler(cfg.Logger.Handler()))
	// The listener first: a port in use must fail before the first start
	// creates anything (an admin whose password scrolled by on a run that
	// never served). Connections queue in the kernel until Serve.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError(cfg.Listen, err)
	}
	defer ln.Close() // Serve closes it too; a second Close does nothing
	// With clamd, files found in a space unscanned (installed while no
	// scanner was configured, restored) are scanned on first exposure.
	bus, relay, err := openBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	if relay != nil {
		defer relay.Close() // after the workers and requests that publish
	}
	var scanner space.Scanner
	if cfg.Clamd != "" {
		sc, err := postproc.NewScanner(postproc.ScannerConfig{Clamd: cfg.Clamd, Reject: cfg.Reject,
			QuarantineDir: filepath.Join(cfg.Dir, "quarantine"), Bus: bus})
		if err != nil {
			return err
		}
		scanner = sc
	}
	svc, err := openServices(ctx, cfg.Dir, Locations{DB: cfg.DB, Blobs: cfg.Blobs}, true, log, scanner)
	if err != nil {
		return err
	}
	defer svc.Close()
	if svc.DB.Postgres() {
		log.InfoContext(ctx, "metadata in PostgreSQL", "db", svc.DB.Path())
	}
	if svc.Blobs != nil {
		log.InfoContext(ctx, "file contents in an object store", "blobs", fmt.Sprint(svc.Blobs))
	}
	if err := recoverRetained(ctx, svc.Tree, log.With("component", "space")); err != nil {
		return err
	}
	app := &app{cfg: cfg, svc: svc, log: log, bus: bus}
	app.met = newMetrics(svc.DB, log.With("component", "metrics"))
	app.met.watchRelay(relay)

	// The pipeline, the upload janitor and the Phraseanet workers run on
	// their own context: they stop after the HTTP server has drained, so
	// that no request is left waiting on a job that can no longer finish.
	bg := newBackground(ctx)
	var runner *postproc.Runner
	defer func() {
		bg.close()
		if runner != nil {
			runner.Close()
		}
	}()
	bg.run(func(ctx context.Context) { app.met.watchJobs(ctx, app.bus, svc.DB) })
	bg.run(func(ctx context.Context) { trashJanitor(ctx, svc.Tree, log.With("component", "space")) })
	if runner, err = app.startPipeline(bg); err != nil {
		return err
	}
	if err := app.buildSurfaces(bg, runner); err != nil {
		return err
	}
	if err := app.openTLS(ln); err != nil {
		return err
	}
	if app.tls != nil {
		defer app.tls.close()
	}
	// The Phraseanet hand-off needs the public URL, which may come from
	// the listener's address.
	if err := app.startHandOff(bg, runner, ln.Addr()); err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := app.serveMetrics(ctx)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	// Everything that can fail to start has started: only now may the
	// first start create the admin and show its password.
	if err := svc.bootstrap(ctx, cfg.AdminPassword, cfg.Console, cfg.ConsoleTerminal, log); err != nil {
		return err
	}
	app.recordPublicURL(ctx, ln.Addr())
	return app.serve(ctx, bg.ctx, ln)
}

// background runs the goroutines that outlive requests, on a context of
// their own that close cancels before waiting for them.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground(ctx context.Context) *background {
	b := &background{}
	b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return b
}

func (b *background) run(fn func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
}

func (b *background) close() {
	b.cancel()
	b.wg.Wait()
}

// startPipeline starts the processing pipeline, resuming the jobs a
// previous run left, and its progress endpoint.
func (a *app) startPipeline(bg *background) (*postproc.Runner, error) {
	cfg, svc, log := a.cfg, a.svc, a.log.With("component", "postproc")
	runner, err := postproc.New(postproc.Config{
		DB:            svc.DB,
		Tree:          svc.Tree,
		Bus:           a.bus,
		Logger:        log,
		Clamd:         cfg.Clamd,
		Reject:        cfg.Reject,
		QuarantineDir: filepath.Join(cfg.Dir, "quarantine"),
		ThumbsDir:     filepath.Join(cfg.Dir, "thumbs"),
		Policy:        postproc.SpacePolicies(svc.DB, log),
	})
	if err != nil {
		return nil, err
	}
	if err := runner.Start(bg.ctx); err != nil {
		return nil, err
	}
	a.progress, err = postproc.NewProgress(postproc.ProgressConfig{Runner: runner, Auth: svc.Auth, Logger: log})
	if err != nil {
		runner.Close()
		return nil, err
	}
	return runner, nil
}

// buildSurfaces builds tus (and starts its janitor), the events websocket,
// WebDAV and the web UI with its API.
func (a *app) buildSurfaces(bg *background, runner *postproc.Runner) error {
	cfg, svc, log := a.cfg, a.svc, a.log
	var err error
	a.tus, err = tus.New(tus.Config{
		Blobs:           stager(svc.Blobs),
		Tree:            svc.Tree,
		Auth:            svc.Auth,
		DB:              svc.DB,
		Pipeline:        runner,
		Bus:             a.bus,
		Logger:          log.With("component", "tus"),
		UploadsDir:      filepath.Join(cfg.Dir, "uploads"),
		PublicURL:       cfg.PublicURL,
		MaxSize:         cfg.MaxUploadSize,
		MaxPendingBytes: cfg.MaxPendingUpload,
		NetworkTimeout:  cfg.BodyTimeout,
		Expiry:          cfg.UploadExpiry,
		ProcessingWait:  cfg.ProcessingWait,
	})
	if err != nil {
		return err
	}
	bg.run(func(ctx context.Context) { a.tus.Run(ctx) })
	a.links, err = links.New(links.Config{Auth: svc.Auth, Tree: svc.Tree, DB: svc.DB, Uploads: gatedLinkUploads{a, a.tus},
		PublicURL: cfg.PublicURL, Logger: log.With("component", "links")})
	if err != nil {
		return err
	}
	a.evh, err = web.NewEvents(web.EventsConfig{Bus: a.bus, Auth: svc.Auth, Tree: svc.Tree,
		Logger: log.With("component", "events")})
	if err != nil {
		return err
	}
	a.dav, err = dav.New(dav.Config{
		Tree:          svc.Tree,
		Auth:          svc.Auth,
		DB:            svc.DB,
		Logger:        log.With("component", "dav"),
		AllowInfinity: cfg.DAVAllowInfinity,
		Processor:     runner,
		Bus:           a.bus,
		Creator:       a.tus,
		ChunkDir:      filepath.Join(cfg.Dir, "uploads", "chunks"),
		MaxChunkBytes: a.tus.MaxPendingBytes(),
	})
	if err != nil {
		return err
	}
	a.ocs, err = ocs.New(ocs.Config{Auth: svc.Auth, PublicURL: cfg.PublicURL, Chunking: true, Tus: true,
		Logger: log.With("component", "ocs")})
	if err != nil {
		return err
	}
	a.web, err = web.New(web.Config{
		Tree:         svc.Tree,
		Auth:         svc.Auth,
		Bus:          a.bus,
		Logger:       log.With("component", "web"),
		ThumbsDir:    filepath.Join(cfg.Dir, "thumbs"),
		SecureCookie: strings.HasPrefix(cfg.PublicURL, "https://"),
		Locks:        svc.DB,
	})
	return err
}

// startHandOff builds the Phraseanet service (and starts its workers) and
// the publish API, which commits through it. addr is the listener's, for
// the public URL when none is configured.
func (a *app) startHandOff(bg *background, runner *postproc.Runner, addr net.Addr) error {
	cfg, svc, log := a.cfg, a.svc, a.log
	var err error
	a.ph, err = phraseanet.New(phraseanet.Config{
		Blobs:     svc.Tree.Objects(),
		DB:        svc.DB,
		Tree:      svc.Tree,
		Auth:      svc.Auth,
		Bus:       a.bus,
		Logger:    log.With("component", "phraseanet"),
		PublicURL: a.publicURL(addr),
		DoubtHold: cfg.PushDoubtHold,
		Dir:       filepath.Join(cfg.Dir, CommitsDir),
	})
	if err != nil {
		return err
	}
	a.pub, err = publish.New(publish.Config{Auth: svc.Auth, DB: svc.DB, Tree: svc.Tree, Jobs: runner,
		Phraseanet: a.ph, TusPath: tus.BasePath, PublicURL: cfg.PublicURL, Logger: log.With("component", "publish")})
	if err != nil {
		return err
	}
	bg.run(func(ctx context.Context) { a.ph.Run(ctx) })
	return nil
}

// serve serves HTTP on ln until ctx ends, telling systemd when it is ready
// and stopping, then shuts the server down gracefully. bg is the context
// of the work that outlives requests (TLS certificate maintenance).
func (a *app) serve(ctx, bg context.Context, ln net.Listener) error {
	cfg, log := a.cfg, a.log
	srv := &http.Server{
		Handler: a.handler(),
		// No ReadTimeout/WriteTimeout: they would cut large uploads and
		// downloads. Headers must arrive promptly; idle keep-alive
		// connections are closed; body-level deadlines belong to the
		// handlers that read bodies.
		ReadHeaderTimeout: 15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext:       connContext,
	}
	if a.tls != nil {
		a.tls.start(bg, a, srv)
	}
	log.InfoContext(ctx, "serving", "addr", ln.Addr().String(), "data", cfg.Dir, "url", a.publicURL(ln.Addr()))
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	// The listener is open: connections queue in the kernel until Serve
	// accepts them, so systemd may start what depends on Wharf now.
	if err := cfg.Notify.Notify("READY=1"); err != nil {
		log.WarnContext(ctx, "cannot notify systemd", "err", err)
	}
	wdCtx, stopWatchdog := context.WithCancel(context.WithoutCancel(ctx))
	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		cfg.Notify.RunWatchdog(wdCtx, a.svc.DB.Ping, func(err error) { log.WarnContext(ctx, "systemd watchdog", "err", err) })
	}()
	defer func() { stopWatchdog(); <-wdDone }()

	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates come from TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	log.InfoContext(ctx, "shutting down", "timeout", cfg.ShutdownTimeout)
	if err := cfg.Notify.Notify("STOPPING=1"); err != nil {
		log.WarnContext(ctx, "cannot notify systemd", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// app is the HTTP face of a running server.
type app struct {
	cfg      Config
	copyBufs sync.Pool // logWriter's copy buffers (http.go)
	svc      *Services
	log      *slog.Logger
	dav      *dav.Handler
	tus      *tus.Handler
	bus      *events.Bus
	progress *postproc.Progress
	ph       *phraseanet.Service
	evh      *web.Events
	web      *web.Handler
	ocs      *ocs.Handler
	pub      *publish.Service
	links    *links.Handler
	tls      *https   // nil: plain HTTP (https.go)
	met      *metrics // nil in tests that build an app by hand (metrics.go)
	// mux and byPattern are the mounted routes (handler), for what is
	// answered before the mux and needs the request's route.
	mux       *http.ServeMux
	byPattern map[string]*api.Route
	// gate is the gate of uploads in flight per user (uploadGate).
	gateOnce sync.Once
	gate     *uploadGate
}

func (a *app) publicURL(addr net.Addr) string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	return a.tls.scheme() + "://" + a.tls.publicHost(a, addr)
}

// CommitsDir is the commits area in the data directory: the files of
// Phraseanet commits, frozen there from the commit until its after-ack
// action (phraseanet.Config.Dir).
const CommitsDir = "commits"

// stager is the tus staging store of an object store (nil without one: a
// nil Backend must stay a nil interface).
func stager(b blob.Backend) blob.Stager {
	if b == nil {
		return nil
	}
	return b
}
