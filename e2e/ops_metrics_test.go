package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const opsAdminPW = "metrics admin password"

var metricsLine = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

// metricsURL is the URL of the unauthenticated metrics listener of in.
func metricsURL(t *testing.T, in *instance) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := metricsLine.FindStringSubmatch(in.output()); m != nil {
			return "http://" + m[1] + "/metrics"
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no metrics listener in the log:\n%s", in.output())
	return ""
}

// scrape reads the Prometheus text at url into series -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return parseMetrics(t, resp.Body)
}

func parseMetrics(t *testing.T, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestOpsMetrics drives a real server through WebDAV and tus and checks that
// /metrics follows: requests by surface, method and status, bytes, uploads
// in progress, locks, processing durations; and that /metrics on the main
// listener is for instance admins only.
func TestOpsMetrics(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+opsAdminPW, "WHARF_METRICS_LISTEN=127.0.0.1:0")
	murl := metricsURL(t, in)
	mustWharf(t, data, "an ordinary password\n", "user", "add", "olga", "--password-stdin")

	// Authorization on the main listener.
	if resp := in.do("GET", "/metrics", "", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET /metrics: %d, want 401", resp.StatusCode)
	}
	if resp := in.do("GET", "/metrics", "olga", "an ordinary password", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /metrics as a user who is not admin: %d, want 403", resp.StatusCode)
	}
	resp := in.do("GET", "/metrics", "admin", opsAdminPW, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics as admin: %d", resp.StatusCode)
	}
	adminView := parseMetrics(t, resp.Body)
	for _, s := range []string{"go_goroutines", "process_resident_memory_bytes", "wharf_sqlite_busy_errors_total", "wharf_dav_locks"} {
		if _, ok := adminView[s]; !ok {
			t.Errorf("admin's /metrics lacks %s", s)
		}
	}

	before := scrape(t, murl)

	// WebDAV: a PUT of known size, a PROPFIND, a LOCK.
	body := strings.Repeat("w", 12345)
	if resp := in.do("PUT", "/dav/spaces/files/a.txt", "admin", opsAdminPW, strings.NewReader(body)); resp.StatusCode != 201 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("PROPFIND", in.URL+"/dav/spaces/files/", nil)
	req.SetBasicAuth("admin", opsAdminPW)
	req.Header.Set("Depth", "1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 207 {
		t.Fatalf("PROPFIND: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	req, _ = http.NewRequest("LOCK", in.URL+"/dav/spaces/files/a.txt", strings.NewReader(
		`<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>`+
			`<D:locktype><D:write/></D:locktype><D:owner><D:href>ops</D:href></D:owner></D:lockinfo>`))
	req.SetBasicAuth("admin", opsAdminPW)
	req.Header.Set("Timeout", "Second-600")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("LOCK: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// tus: one upload finished (processed), one left half-way.
	tusCreate := func(path string, size int) string {
		t.Helper()
		req, _ := http.NewRequest("POST", in.URL+"/tus/", nil)
		req.SetBasicAuth("admin", opsAdminPW)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", strconv.Itoa(size))
		req.Header.Set("Upload-Metadata", "space "+base64.StdEncoding.EncodeToString([]byte("files"))+
			",path "+base64.StdEncoding.EncodeToString([]byte(path)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("tus POST: %v %v", resp, err)
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	tusPatch := func(loc, chunk string, offset int) {
		t.Helper()
		if !strings.HasPrefix(loc, "http") {
			loc = in.URL + loc
		}
		req, _ := http.NewRequest("PATCH", loc, strings.NewReader(chunk))
		req.SetBasicAuth("admin", opsAdminPW)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.Itoa(offset))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("tus PATCH: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	done := tusCreate("b.bin", 4000)
	tusPatch(done, strings.Repeat("b", 4000), 0)
	half := tusCreate("c.bin", 8000)
	tusPatch(half, strings.Repeat("c", 3000), 0)

	after := scrape(t, murl)
	delta := func(series string) float64 { return after[series] - before[series] }
	for _, c := range []struct {
		series string
		min    float64
		exact  bool
	}{
		{`wharf_http_requests_total{method="PUT",status="201",surface="dav"}`, 1, true},
		{`wharf_http_requests_total{method="PROPFIND",status="207",surface="dav"}`, 1, true},
		{`wharf_http_requests_total{method="LOCK",status="200",surface="dav"}`, 1, true},
		{`wharf_http_requests_total{method="POST",status="201",surface="tus"}`, 2, true},
		{`wharf_http_requests_total{method="PATCH",status="204",surface="tus"}`, 2, true},
		{`wharf_http_request_bytes_total{surface="dav"}`, float64(len(body)), false},
		{`wharf_http_request_bytes_total{surface="tus"}`, 7000, true},
		{`wharf_http_response_bytes_total{surface="dav"}`, 1, false},
		{`wharf_processing_duration_seconds_count{outcome="done"}`, 1, false},
	} {
		d := delta(c.series)
		if d < c.min || c.exact && d != c.min {
			t.Errorf("%s moved by %v, want %v%s", c.series, d, c.min, map[bool]string{false: " or more", true: ""}[c.exact])
		}
	}
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`wharf_uploads_in_progress{state="receiving"}`, 1},
		{`wharf_dav_locks`, 1},
		{`wharf_processing_jobs{state="queued"}`, 0},
		{`wharf_phraseanet_commits{state="pending"}`, 0},
		{`wharf_sqlite_busy_errors_total`, 0},
	} {
		if got, ok := after[c.series]; !ok || got != c.want {
			t.Errorf("%s = %v (present %v), want %v", c.series, got, ok, c.want)
		}
	}
	if t.Failed() {
		t.Logf("metrics after:\n%v", after)
	}
}

// TestOpsSecretsNotLogged sends credentials of every kind through several
// surfaces and checks that none of them reaches the server's log, while the
// access log still has one line per request with its id, user and space.
func TestOpsSecretsNotLogged(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+opsAdminPW, "WHARF_LOG_LEVEL=debug")
	appPass := mustWharf(t, data, "", "apppass", "create", "admin", "--label", "laptop")
	token := mustWharf(t, data, "", "token", "create", "admin", "--label", "script")
	if appPass == "" || token == "" {
		t.Fatal("no app password or token printed")
	}

	// A session cookie from the web UI's login.
	st, h, _ := in.pubReq("POST", "/api/v1/session", "", []byte(`{"user":"admin","password":"`+opsAdminPW+`"}`))
	resp := &http.Response{StatusCode: st, Header: h}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "wharf_session" && c.Value != "" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("POST /api/v1/session: %d, no session cookie", resp.StatusCode)
	}
	// A session token from the token endpoint.
	st, _, body := in.pubReq("POST", "/api/v1/auth/token", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+opsAdminPW)), []byte(`{}`))
	var sess struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &sess); err != nil || sess.Token == "" {
		t.Fatalf("POST /api/v1/auth/token: %d %s", st, body)
	}
	sig := "c2lnbmF0dXJlLW9mLWEtc2lnbmVkLXVybA"
	wrongPW := "a wrong password guessed"

	type call struct {
		method, path string
		set          func(*http.Request)
	}
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	calls := []call{
		{"PROPFIND", "/dav/spaces/files/", basic("admin", opsAdminPW)},
		{"PUT", "/dav/spaces/files/s.txt", basic("admin", appPass)},
		{"GET", "/dav/spaces/files/s.txt", bearer(token)},
		{"GET", "/api/v1/me", bearer(sess.Token)},
		{"GET", "/api/v1/me", func(r *http.Request) { r.AddCookie(cookie) }},
		{"GET", "/api/v1/session", func(r *http.Request) { r.AddCookie(cookie) }},
		{"POST", "/tus/", bearer(token)},
		{"GET", "/metrics", basic("admin", appPass)},
		{"GET", "/api/v1/me", basic("admin", wrongPW)},
		{"GET", "/assets/nothing/file?expires=4102444800&sig=" + sig, nil},
		{"GET", "/dav/spaces/files/s.txt?expires=4102444800&sig=" + sig, bearer(token)},
	}
	for _, c := range calls {
		var body io.Reader
		if c.method == "PUT" {
			body = strings.NewReader("secret-free content")
		}
		req, _ := http.NewRequest(c.method, in.URL+c.path, body)
		if c.method == "PROPFIND" {
			req.Header.Set("Depth", "1")
		}
		if c.method == "POST" {
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Upload-Length", "10")
			req.Header.Set("Upload-Metadata", "space "+base64.StdEncoding.EncodeToString([]byte("files"))+
				",path "+base64.StdEncoding.EncodeToString([]byte("t.bin")))
		}
		if c.set != nil {
			c.set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d", c.method, c.path, resp.StatusCode)
		}
	}
	// Let the access log lines of the last requests reach the pipe.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(in.output(), "msg=request ") < len(calls)+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	in.stop()
	log := in.output()

	secrets := map[string]string{
		"admin password":      opsAdminPW,
		"wrong password":      wrongPW,
		"app password":        appPass,
		"bearer token":        token,
		"session token":       sess.Token,
		"session cookie":      cookie.Value,
		"URL signature":       sig,
		"Basic header (pw)":   base64.StdEncoding.EncodeToString([]byte("admin:" + opsAdminPW)),
		"Basic header (app)":  base64.StdEncoding.EncodeToString([]byte("admin:" + appPass)),
		"Basic header (miss)": base64.StdEncoding.EncodeToString([]byte("admin:" + wrongPW)),
	}
	for what, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the %s appears in the server's log", what)
		}
	}
	// The access log is still useful: the PUT with an app password has
	// its user, space and sizes.
	put := regexp.MustCompile(`msg=request request_id=\S+ method=PUT path=/dav/spaces/files/s.txt status=201 bytes_in=19 bytes_out=\d+ duration=\S+ user=admin space=files`)
	if !put.MatchString(log) {
		t.Errorf("no access log line for the PUT with request id, sizes, user and space:\n%s", log)
	}
}

// TestOpsUpgradeRefusesNewer checks, with the real binary, that a data
// directory from a newer Wharf is refused with the schema numbers and a
// non-zero exit, and that the database is left as it was.
func TestOpsUpgradeRefusesNewer(t *testing.T) {
	data := t.TempDir()
	makeNewer(t, data)
	res := wharf(t, data, "", "serve", "--listen", "127.0.0.1:0")
	if res.code == 0 {
		t.Fatalf("serve on a newer data directory exited 0:\n%s", res.stderr)
	}
	if !regexp.MustCompile(`written by a newer Wharf \(schema \d+\); this binary knows up to \d+ — upgrade wharf`).MatchString(res.stderr) {
		t.Errorf("serve on a newer data directory said:\n%s", res.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "backups")); err == nil {
		t.Errorf("a refused database was backed up as if it were upgraded")
	}
}
