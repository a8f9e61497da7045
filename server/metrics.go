package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/store"
)

// MetricsPath is where the Prometheus metrics are served: on the main
// listener to instance admins, and on Config.MetricsListen to anyone.
const MetricsPath = "/metrics"

// collectTimeout bounds the SQLite queries of one scrape: a scrape that
// cannot read the database in that time reports the error rather than
// piling up behind a busy writer.
const collectTimeout = 2 * time.Second

// metrics are the Prometheus metrics of one server. Request counters are fed
// by the access log (withAccessLog), processing durations by the event bus,
// and what is stored in SQLite (jobs, commits, locks, uploads) is counted
// at scrape time by dbCollector, so no package below server needs to know
// Prometheus exists. Safe for concurrent use.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	bytesIn     *prometheus.CounterVec
	bytesOut    *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	log         *slog.Logger
}

// newMetrics builds the registry: Go runtime and process collectors, the
// request and processing metrics, and the database collector on db.
func newMetrics(db *store.DB, log *slog.Logger) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), log: log}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wharf_http_requests_total",
		Help: "HTTP requests answered, by surface (dav, tus, api, events, phraseanet, ui, other), method and status code.",
	}, []string{"surface", "method", "status"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wharf_http_request_bytes_total",
		Help: "Bytes of request bodies read, by surface.",
	}, []string{"surface"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wharf_http_response_bytes_total",
		Help: "Bytes of response bodies written, by surface.",
	}, []string{"surface"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "wharf_processing_duration_seconds",
		Help: "Time from a processing job's creation to its end, by outcome (done or rejected).",
		// From a small file's checksum to a large video's virus scan.
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900},
	}, []string{"outcome"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.bytesIn, m.bytesOut, m.jobDuration,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wharf_sqlite_busy_errors_total",
			Help: "Write transactions that failed because another connection or process held SQLite's lock past the busy timeout.",
		}, func() float64 { return float64(db.BusyErrors()) }),
		&dbCollector{db: db, log: log},
	)
	return m
}

// handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks). An error of one collector is logged
// and the rest is still served.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// observeRequest counts one answered request; the access log calls it.
func (m *metrics) observeRequest(r *http.Request, surface api.Surface, status int, in, out int64) {
	s := string(surface)
	m.requests.WithLabelValues(s, methodLabel(r.Method), strconv.Itoa(status)).Inc()
	m.bytesIn.WithLabelValues(s).Add(float64(in))
	m.bytesOut.WithLabelValues(s).Add(float64(out))
}

// watchJobs feeds the processing-duration histogram from the bus until ctx
// ends: each processing.finished or processing.aborted is timed from its
// job's creation, which the store knows.
func (m *metrics) watchJobs(ctx context.Context, bus *events.Bus, db *store.DB) {
	sub := bus.Subscribe(func(e events.Event) bool {
		// Another replica's jobs are its to count (events shared through NATS).
		return !e.Remote && (e.Type == events.ProcessingFinished || e.Type == events.ProcessingAborted)
	}, 256)
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			qctx, cancel := context.WithTimeout(ctx, collectTimeout)
			j, err := db.Job(qctx, e.Upload)
			cancel()
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
					m.log.WarnContext(ctx, "metrics: cannot time a processing job", "job_id", e.Upload, "err", err)
				}
				continue
			}
			outcome := "done"
			if e.Type == events.ProcessingAborted {
				outcome = "rejected"
			}
			m.jobDuration.WithLabelValues(outcome).Observe(max(e.Time.Sub(j.CreatedAt), 0).Seconds())
		}
	}
}

// methodLabel keeps the method label to a known set: a client making up
// methods must not make up time series.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
		"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK":
		return m
	}
	return "other"
}

// dbCollector reads, at scrape time, the gauges that mirror what SQLite
// holds: processing jobs and Phraseanet commits by state, tus uploads in
// progress and live WebDAV locks. Each is one cheap COUNT query on the read
// pool.
type dbCollector struct {
	db  *store.DB
	log *slog.Logger
}

var (
	descJobs = prometheus.NewDesc("wharf_processing_jobs",
		"Processing jobs in the database, by state (queued, running, installing, done, rejected; finished ones are pruned after a while).",
		[]string{"state"}, nil)
	descCommits = prometheus.NewDesc("wharf_phraseanet_commits",
		"Phraseanet commits in the database, by state.", []string{"state"}, nil)
	descUploads = prometheus.NewDesc("wharf_uploads_in_progress",
		"tus uploads still receiving bytes or being processed, by state.", []string{"state"}, nil)
	descLocks = prometheus.NewDesc("wharf_dav_locks",
		"WebDAV locks that have not expired.", nil, nil)
)

var _ prometheus.Collector = (*dbCollector)(nil)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descCommits
	ch <- descUploads
	ch <- descLocks
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	byState := func(desc *prometheus.Desc, table string, always []string, only map[string]bool) {
		counts, err := c.db.CountRows(ctx, table, "state")
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			return
		}
		// States with no rows are reported as 0, so that a series does not
		// vanish when its last job moves on.
		for _, s := range always {
			if _, ok := counts[s]; !ok {
				counts[s] = 0
			}
		}
		for s, n := range counts {
			if only != nil && !only[s] {
				continue
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), s)
		}
	}
	byState(descJobs, "jobs", []string{store.JobQueued, store.JobRunning, store.JobInstalling, store.JobDone, store.JobRejected}, nil)
	byState(descCommits, "phraseanet_commits", []string{store.CommitPending, store.CommitPushed, store.CommitFailing, store.CommitAcknowledged}, nil)
	inProgress := []string{store.UploadReceiving, store.UploadProcessing}
	byState(descUploads, "uploads", inProgress, map[string]bool{inProgress[0]: true, inProgress[1]: true})
	if n, err := c.db.CountLocks(ctx, time.Now()); err != nil {
		ch <- prometheus.NewInvalidMetric(descLocks, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descLocks, prometheus.GaugeValue, float64(n))
	}
}

// handleMetrics serves the metrics on the main listener: only to instance
// admins, whose credentials requireAuth has checked.
func (a *app) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if p := auth.FromContext(r.Context()); p == nil || !p.User.Admin {
		a.writeError(w, r, api.Forbidden("metrics are for instance admins (or use --metrics-listen)"))
		return
	}
	a.met.handler().ServeHTTP(w, r)
}

// serveMetrics listens on cfg.MetricsListen and serves only MetricsPath
// there, without authentication, until ctx ends. It returns once the
// listener is open; the returned func stops the server and waits for it.
func (a *app) serveMetrics(ctx context.Context) (stop func(), err error) {
	addr := a.cfg.MetricsListen
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: metrics: listen on %s: %w", addr, err)
	}
	if host, _, _ := net.SplitHostPort(addr); !isLoopbackHost(host) {
		a.log.WarnContext(ctx, "metrics are served without authentication on a non-loopback address; restrict it with a firewall", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, a.met.handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.InfoContext(ctx, "serving metrics", "addr", ln.Addr().String(), "path", MetricsPath)
	if a.cfg.MetricsReady != nil {
		a.cfg.MetricsReady(ln.Addr())
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.ErrorContext(ctx, "metrics listener stopped", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		wg.Wait()
	}, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// countingBody counts the bytes a handler reads of a request body, for the
// access log and the metrics.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// spaceIDPattern is what a space id may look like in a log line; anything
// else a client sends is not logged as a space.
var spaceIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// spaceOfRequest names the space a request is about, for the access log,
// where the request itself says so: the path of WebDAV and the spaces API,
// or the Upload-Metadata of a tus creation. "" otherwise (a tus PATCH names
// only its upload).
func spaceOfRequest(r *http.Request) string {
	var id string
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/dav/spaces/"):
		id, _, _ = strings.Cut(strings.TrimPrefix(p, "/dav/spaces/"), "/")
	case strings.HasPrefix(p, "/api/v1/spaces/"):
		id, _, _ = strings.Cut(strings.TrimPrefix(p, "/api/v1/spaces/"), "/")
	case r.Method == http.MethodPost && (p == "/tus" || p == "/tus/"):
		for _, kv := range strings.Split(r.Header.Get("Upload-Metadata"), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
			if k != "space" {
				continue
			}
			if b, err := base64.StdEncoding.DecodeString(v); err == nil {
				id = string(b)
			}
			break
		}
	}
	if !spaceIDPattern.MatchString(id) {
		return ""
	}
	return id
}
