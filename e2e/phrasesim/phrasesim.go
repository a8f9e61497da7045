// Package phrasesim is a Phraseanet simulator for tests: the other side of
// the hand-off described in docs/protocols/phraseanet.md, written from that
// document and not from Wharf's code. It serves Phraseanet's enqueue
// endpoint with its validation and envelope, then, like Phraseanet's
// workers, fetches each asset's metadata and bytes from the uploader,
// creates a record in a fake collection and acknowledges; it can also poll
// an uploader in pull mode. Every departure from the protocol is recorded as
// a deviation; a test asserts there are none.
//
// It imports only the standard library.
package phrasesim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Mode is the Phraseanet release the simulator behaves as.
type Mode int

const (
	// Current is Phraseanet >= 4.1.6: asset paths resolved relative to
	// base_url (RFC 3986), download through the signed url without any
	// Authorization header, one POST /assets/<id>/ack per asset, pull scope
	// commit:list.
	Current Mode = iota
	// V4_1_3 is 4.1.3 to 4.1.5: absolute /assets/<id> paths, download
	// through url, a single POST /commits/<id>/ack, pull scope
	// uploader:commit_list.
	V4_1_3
	// V4_1_2 is 4.1.2. The protocol document does not tell it apart from
	// 4.1.3-4.1.5 (it groups "<= 4.1.5" for paths and acks and "<= 4.1.1"
	// for the legacy download), so it behaves exactly as V4_1_3.
	V4_1_2
	// V4_1_0 is 4.1.0 and 4.1.1: absolute paths, legacy GET
	// /assets/<id>/download with the AssetToken, commit ack, scope
	// uploader:commit_list.
	V4_1_0
)

func (m Mode) String() string {
	switch m {
	case Current:
		return "current"
	case V4_1_3:
		return "4.1.3"
	case V4_1_2:
		return "4.1.2"
	case V4_1_0:
		return "4.1.0"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// relative reports whether the release resolves assets/<id> against base_url.
func (m Mode) relative() bool { return m == Current }

// assetAck reports whether the release acknowledges asset by asset.
func (m Mode) assetAck() bool { return m == Current }

// legacyDownload reports whether the release downloads /assets/<id>/download.
func (m Mode) legacyDownload() bool { return m == V4_1_0 }

// scope is the OAuth scope the release asks for in pull mode.
func (m Mode) scope() string {
	if m == Current {
		return "commit:list"
	}
	return "uploader:commit_list"
}

// EnqueuePath is where Phraseanet listens for push notifications, with the
// trailing slash it requires.
const EnqueuePath = "/api/v1/upload/enqueue/"

// Config configures a Sim. The zero value of every field is usable.
type Config struct {
	// Mode is the Phraseanet release simulated. Zero: Current.
	Mode Mode
	// Key is the Phraseanet API token expected in "Authorization: OAuth
	// <key>" on enqueue calls. Zero: "sim-key".
	Key string
	// Expect maps an asset's originalName to the bytes it must have; an
	// ingested file with another content, or a name not in the map when the
	// map is not nil, is a deviation. Nil: content is only recorded.
	Expect map[string][]byte
	// Forbidden are strings that must never appear in an asset's metadata,
	// such as the uploader's data directory. Zero: only the built-in check
	// for common absolute file system paths.
	Forbidden []string
	// RetryDelay is the pause between tries of one consumer step; real
	// Phraseanet waits 10 s. Zero: 10 s.
	RetryDelay time.Duration
	// Tries is how often a consumer step is tried before Phraseanet gives
	// up. Zero: 3.
	Tries int
	// Dial maps addresses the simulator computes ("127.0.0.1:80" once the
	// port of pullmodeUri is dropped) to addresses it really connects to.
	// Zero: connect where URLs point.
	Dial map[string]string
	// Timeout bounds each HTTP request of the consumer. Zero: 30 s.
	Timeout time.Duration
	// Logf, if set, receives a line per step. It must stay usable until
	// Close returns.
	Logf func(format string, args ...any)
}

// Record is one file Phraseanet ingested.
type Record struct {
	Commit       string
	Asset        string
	Name         string // originalName
	MimeType     string
	Size         int64
	Data         []byte
	SHA256       string // hex
	Collection   string // formData.collection_destination
	IsStory      bool
	FormData     map[string]any
	Acknowledged bool // the ack for this record's asset (or commit) was answered 200 true
}

// Sim is a running simulated Phraseanet. Its methods are safe for
// concurrent use. Close stops it.
type Sim struct {
	cfg    Config
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	addr      string
	srv       *http.Server
	ln        net.Listener
	down      bool
	fail500   int
	slow      int
	slowFor   time.Duration
	loseAck   int
	deviation []string
	errs      []string
	records   []Record
	enqueues  map[string]int // commit id -> enqueue calls answered 200
	calls     map[string]int // commit id -> enqueue calls received
	inflight  map[string]int
	abandoned int // slow calls the client gave up on
	probes    int // requests to the enqueue URL other than POST
	requests  []string
	consumed  map[string]bool // commit ids whose consumer sequence ended with an ack
	running   map[string]bool // commit ids being consumed
	gaveUp    map[string]string
	pull      *puller
}

// New starts a simulator listening on a free loopback port.
func New(cfg Config) (*Sim, error) {
	if cfg.Mode < Current || cfg.Mode > V4_1_0 {
		return nil, fmt.Errorf("phrasesim: unknown mode %d", cfg.Mode)
	}
	if cfg.Key == "" {
		cfg.Key = "sim-key"
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 10 * time.Second
	}
	if cfg.Tries == 0 {
		cfg.Tries = 3
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	s := &Sim{
		cfg:      cfg,
		enqueues: map[string]int{},
		calls:    map[string]int{},
		inflight: map[string]int{},
		consumed: map[string]bool{},
		running:  map[string]bool{},
		gaveUp:   map[string]string{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	s.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &recorder{s: s, next: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if to, ok := cfg.Dial[addr]; ok {
					addr = to
				}
				return dialer.DialContext(ctx, network, addr)
			},
			DisableCompression: true,
		}},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("phrasesim: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// URL is the simulator's base URL, http://127.0.0.1:port.
func (s *Sim) URL() string { return "http://" + s.addr }

// EnqueueURL is the URL to configure in the uploader for push mode.
func (s *Sim) EnqueueURL() string { return s.URL() + EnqueuePath }

// Key is the API token the enqueue endpoint accepts.
func (s *Sim) Key() string { return s.cfg.Key }

func (s *Sim) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.enqueue)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.srv, s.ln = srv, ln
	go srv.Serve(ln)
}

// Down stops listening: enqueue calls get "connection refused" until Up.
func (s *Sim) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.down = nil, true
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Up listens again on the same address after Down.
func (s *Sim) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("phrasesim: listen again on %s: %w", s.addr, err)
	}
	s.down = false
	s.serve(ln)
	return nil
}

// FailEnqueue makes the next n enqueue calls answer 500.
func (s *Sim) FailEnqueue(n int) {
	s.mu.Lock()
	s.fail500 = n
	s.mu.Unlock()
}

// SlowEnqueue makes the next n enqueue calls hang for d (or until the
// client gives up), then answer 504 as a proxy in front of a stuck
// Phraseanet would.
func (s *Sim) SlowEnqueue(n int, d time.Duration) {
	s.mu.Lock()
	s.slow, s.slowFor = n, d
	s.mu.Unlock()
}

// LoseAck makes the answers of the next n acks get lost: the ack reaches the
// uploader, but the simulator sees a 500 and redoes the step, as Phraseanet
// does after a failed ack. A correct uploader answers the retry 200 true.
func (s *Sim) LoseAck(n int) {
	s.mu.Lock()
	s.loseAck = n
	s.mu.Unlock()
}

// Abandoned is how many slowed enqueue calls the client hung up on before
// the simulator answered (its client-side timeout).
func (s *Sim) Abandoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abandoned
}

// Probes is how many requests other than POST reached the enqueue URL
// (answered 405, queueing nothing), such as a connectivity check.
func (s *Sim) Probes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes
}

// Deviations are the departures from the protocol seen so far.
func (s *Sim) Deviations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deviation...)
}

// Errors are the failures of the simulator's own steps (network errors,
// retried steps) seen so far; a step that failed on every try is also a
// deviation.
func (s *Sim) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// Records are the files ingested so far, in order.
func (s *Sim) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// Enqueued is how many enqueue calls for commit were answered 200.
func (s *Sim) Enqueued(commit string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enqueues[commit]
}

// EnqueueCalls is how many enqueue calls for commit arrived, whatever the
// answer.
func (s *Sim) EnqueueCalls(commit string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[commit]
}

// Acknowledged reports whether the consumer sequence of commit ended with
// its acks answered.
func (s *Sim) Acknowledged(commit string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consumed[commit]
}

// Requests are the requests the simulator sent, as "METHOD URL" with the
// URL as the simulator computed it (before Config.Dial).
func (s *Sim) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Close stops the server, the pull loop and the consumers, and waits for
// them.
func (s *Sim) Close() {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.Down()
	s.wg.Wait()
}

func (s *Sim) deviate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	for _, d := range s.deviation {
		if d == msg {
			s.mu.Unlock()
			return
		}
	}
	s.deviation = append(s.deviation, msg)
	s.mu.Unlock()
	s.logf("DEVIATION: %s", msg)
}

func (s *Sim) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.errs = append(s.errs, msg)
	s.mu.Unlock()
	s.logf("error: %s", msg)
}

func (s *Sim) logf(format string, args ...any) {
	if s.cfg.Logf != nil && s.ctx.Err() == nil {
		s.cfg.Logf("phrasesim(%s): "+format, append([]any{s.cfg.Mode}, args...)...)
	}
}

// recorder notes each request the consumer sends.
type recorder struct {
	s    *Sim
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.s.mu.Lock()
	r.s.requests = append(r.s.requests, req.Method+" "+req.URL.String())
	r.s.mu.Unlock()
	return r.next.RoundTrip(req)
}

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	tokenRE     = regexp.MustCompile(`^[0-9a-f]{42}$`)
	createdAtRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)
)

// enqueue is Phraseanet's POST /api/v1/upload/enqueue/.
func (s *Sim) enqueue(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != EnqueuePath {
		if strings.TrimSuffix(r.URL.Path, "/")+"/" == EnqueuePath {
			s.deviate("enqueue: %s %s: the trailing slash of the enqueue URL was dropped", r.Method, r.URL.Path)
		} else {
			s.deviate("enqueue: %s %s: not the enqueue URL", r.Method, r.URL.Path)
		}
		envelope(w, r, http.StatusNotFound, nil)
		return
	}
	if r.Method != http.MethodPost {
		// A probe (wharf target test): Phraseanet queues nothing.
		s.mu.Lock()
		s.probes++
		s.mu.Unlock()
		envelope(w, r, http.StatusMethodNotAllowed, nil)
		return
	}
	auth := r.Header.Get("Authorization")
	scheme, key, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		s.deviate("enqueue: no Authorization header, want %q", "OAuth <key>")
		envelope(w, r, http.StatusUnauthorized, nil)
		return
	case scheme != "OAuth":
		s.deviate("enqueue: Authorization scheme %q, want OAuth", scheme)
		envelope(w, r, http.StatusBadRequest, nil)
		return
	case key != s.cfg.Key:
		s.deviate("enqueue: Authorization: OAuth %q, want the key %q", key, s.cfg.Key)
		envelope(w, r, http.StatusUnauthorized, nil)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.deviate("enqueue: Content-Type %q, want application/json", ct)
	}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil || body == nil {
		s.deviate("enqueue: body is not a JSON object: %v", err)
		envelope(w, r, http.StatusUnprocessableEntity, nil)
		return
	}
	req, problems := validateEnqueue(body)
	if commit := req.CommitID; commit != "" {
		s.mu.Lock()
		s.calls[commit]++
		s.mu.Unlock()
	}
	if len(problems) > 0 {
		for _, p := range problems {
			s.deviate("enqueue: %s", p)
		}
		envelope(w, r, http.StatusUnprocessableEntity, nil)
		return
	}
	// Past Phraseanet's schema; what follows breaks the consumer later.
	if !tokenRE.MatchString(req.Token) {
		s.deviate("enqueue: token %q is not 42 lowercase hex characters", req.Token)
	}
	if _, err := checkBaseURL(req.BaseURL); err != nil {
		s.deviate("enqueue: %v", err)
	}

	s.mu.Lock()
	s.inflight[req.CommitID]++
	if n := s.inflight[req.CommitID]; n > 1 {
		s.mu.Unlock()
		s.deviate("enqueue: commit %s sent %d times concurrently", req.CommitID, n)
		s.mu.Lock()
	}
	fail, slow, slowFor := s.fail500 > 0, s.slow > 0, s.slowFor
	if fail {
		s.fail500--
	} else if slow {
		s.slow--
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[req.CommitID]--
		s.mu.Unlock()
	}()

	switch {
	case fail:
		s.logf("enqueue %s: injected 500", req.CommitID)
		envelope(w, r, http.StatusInternalServerError, nil)
		return
	case slow:
		s.logf("enqueue %s: hanging for %s", req.CommitID, slowFor)
		select {
		case <-r.Context().Done():
			s.mu.Lock()
			s.abandoned++
			s.mu.Unlock()
			s.logf("enqueue %s: client gave up", req.CommitID)
		case <-time.After(slowFor):
			envelope(w, r, http.StatusGatewayTimeout, nil)
		case <-s.ctx.Done():
		}
		return
	}

	s.mu.Lock()
	s.enqueues[req.CommitID]++
	n := s.enqueues[req.CommitID]
	s.mu.Unlock()
	if n > 1 {
		s.deviate("enqueue: commit %s delivered %d times (already queued once; Phraseanet would ingest it again)", req.CommitID, n)
	}
	echo := map[string]any{}
	for k, v := range body {
		echo[k] = v
	}
	envelope(w, r, http.StatusOK, echo)
	s.logf("enqueue %s: queued %d assets from %s", req.CommitID, len(req.Assets), req.BaseURL)
	if n == 1 {
		s.consume(job{commit: req.CommitID, token: req.Token, baseURL: req.BaseURL, assets: req.Assets})
	}
}

type enqueueReq struct {
	Assets    []string
	Publisher string
	CommitID  string
	Token     string
	BaseURL   string
}

// validateEnqueue is Phraseanet's assets_enqueue.json schema: the five keys
// required, assets an array (of asset ids, never empty), the others strings;
// other keys allowed.
func validateEnqueue(body map[string]json.RawMessage) (enqueueReq, []string) {
	var req enqueueReq
	var problems []string
	str := func(key string, dst *string) {
		raw, ok := body[key]
		if !ok {
			problems = append(problems, fmt.Sprintf("required key %q missing", key))
			return
		}
		if err := json.Unmarshal(raw, dst); err != nil || string(raw) == "null" {
			problems = append(problems, fmt.Sprintf("%q is %s, want a string", key, raw))
		}
	}
	str("publisher", &req.Publisher)
	str("commit_id", &req.CommitID)
	str("token", &req.Token)
	str("base_url", &req.BaseURL)
	raw, ok := body["assets"]
	switch {
	case !ok:
		problems = append(problems, `required key "assets" missing`)
	default:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil || string(raw) == "null" {
			problems = append(problems, fmt.Sprintf(`"assets" is %s, want an array`, raw))
			break
		}
		if len(items) == 0 {
			problems = append(problems, `"assets" is empty: an empty commit must never be sent`)
		}
		for _, it := range items {
			var id string
			if err := json.Unmarshal(it, &id); err != nil || !uuidRE.MatchString(id) {
				problems = append(problems, fmt.Sprintf(`"assets" item %s is not an asset uuid string`, it))
				continue
			}
			req.Assets = append(req.Assets, id)
		}
	}
	return req, problems
}

// checkBaseURL checks that base_url is an absolute URL of a host root, the
// only form every release resolves the same way.
func checkBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base_url %q is not an absolute http(s) URL", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return u, fmt.Errorf("base_url %q has a path, query or fragment: releases <= 4.1.5 and >= 4.1.6 resolve assets/<id> differently against it; send the host root", s)
	}
	return u, nil
}

// envelope writes Phraseanet's API v1 response envelope.
func envelope(w http.ResponseWriter, r *http.Request, code int, data any) {
	meta := map[string]any{
		"api_version":   "1.5.0",
		"request":       r.Method + " " + r.URL.Path,
		"response_time": time.Now().Format(time.RFC3339),
		"http_code":     code,
		"error_type":    nil,
		"error_message": nil,
		"error_details": nil,
		"charset":       "UTF-8",
	}
	resp := any(map[string]any{})
	if code == http.StatusOK {
		resp = map[string]any{"data": data}
	} else {
		meta["error_type"] = http.StatusText(code)
		meta["error_message"] = http.StatusText(code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"meta": meta, "response": resp})
}

// errAbort ends a consumer sequence without ack, as Phraseanet gives up.
var errAbort = errors.New("phrasesim: sequence aborted")
