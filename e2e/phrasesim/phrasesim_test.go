package phrasesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUploader is the smallest uploader that follows the protocol, with
// switches to break it one way at a time.
type fakeUploader struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []string
	commit   string
	token    string
	assets   []fakeAsset
	acked    map[string]bool // asset id -> acked
	bearer   string
	formData string // JSON

	// faults
	createdAtZ   bool // createdAt in UTC "Z" form
	tokenKey     bool // serve "token" in the metadata
	urlNeedsAuth bool // the signed url wants the AssetToken
	assetObjects bool // listing assets as objects
}

type fakeAsset struct {
	id, name, mime string
	data           []byte
}

const (
	fakeCommit = "11111111-2222-3333-4444-555555555555"
	fakeTarget = "99999999-2222-3333-4444-555555555555"
	fakeToken  = "0123456789abcdef0123456789abcdef0123456789"
)

func newFakeUploader(t *testing.T) *fakeUploader {
	f := &fakeUploader{
		commit: fakeCommit, token: fakeToken, acked: map[string]bool{},
		formData: `{"collection_destination":"42","is_story":"0"}`,
		assets: []fakeAsset{
			{"aaaaaaaa-0000-0000-0000-000000000001", "photo.jpg", "image/jpeg", []byte("\xff\xd8\xff jpeg bytes")},
			{"aaaaaaaa-0000-0000-0000-000000000002", "notes été.txt", "text/plain", []byte("hello")},
		},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUploader) expect() map[string][]byte {
	m := map[string][]byte{}
	for _, a := range f.assets {
		m[a.name] = a.data
	}
	return m
}

func (f *fakeUploader) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeUploader) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	auth := r.Header.Get("Authorization")
	assetAuth := func() bool {
		if auth != "AssetToken "+f.token {
			http.Error(w, "no", http.StatusForbidden)
			return false
		}
		return true
	}
	find := func(id string) *fakeAsset {
		for i := range f.assets {
			if f.assets[i].id == id {
				return &f.assets[i]
			}
		}
		return nil
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/oauth/v2/token":
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		if body["client_id"] != "cid" || body["client_secret"] != "secret" || body["grant_type"] != "client_credentials" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		f.bearer = fmt.Sprintf("tok%d", len(f.requests))
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":3600,"scope":%q}`, f.bearer, body["scope"])
	case r.URL.Path == "/commits":
		if f.bearer == "" || auth != "Bearer "+f.bearer {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		var members []any
		acked := true
		var ids []any
		var total int
		for _, a := range f.assets {
			acked = acked && f.acked[a.id]
			total += len(a.data)
			if f.assetObjects {
				ids = append(ids, map[string]string{"@id": "/assets/" + a.id})
			} else {
				ids = append(ids, "/assets/"+a.id)
			}
		}
		if !acked || r.URL.Query().Get("acknowledged") != "false" {
			members = append(members, map[string]any{"id": f.commit, "assets": ids, "userId": "1", "token": f.token,
				"acknowledged": acked, "formData": json.RawMessage(f.formData), "createdAt": "2024-05-15T14:13:54+00:00",
				"target": "/targets/" + fakeTarget, "totalSize": total})
		}
		json.NewEncoder(w).Encode(map[string]any{"@context": "/contexts/commit", "@id": "/commits", "@type": "hydra:Collection",
			"hydra:member": members, "hydra:totalItems": len(members)})
	case len(p) == 2 && p[0] == "assets" && r.Method == "GET":
		if !assetAuth() {
			return
		}
		a := find(p[1])
		if a == nil {
			http.NotFound(w, r)
			return
		}
		m := map[string]any{"@id": "/assets/" + a.id, "@type": "asset", "id": a.id, "url": f.srv.URL + "/dl/" + a.id + "?sig=ok",
			"size": len(a.data), "originalName": a.name, "mimeType": a.mime, "createdAt": "2024-05-15T14:13:54+00:00",
			"acknowledged": f.acked[a.id], "formData": json.RawMessage(f.formData), "formLocale": "en", "data": []any{}}
		if f.createdAtZ {
			m["createdAt"] = "2024-05-15T14:13:54Z"
		}
		if f.tokenKey {
			m["token"] = f.token
		}
		json.NewEncoder(w).Encode(m)
	case len(p) == 2 && p[0] == "dl":
		if f.urlNeedsAuth && !assetAuth() {
			return
		}
		if r.URL.Query().Get("sig") != "ok" || auth != "" && !f.urlNeedsAuth {
			http.Error(w, "", http.StatusForbidden)
			return
		}
		if a := find(p[1]); a != nil {
			w.Write(a.data)
			return
		}
		http.NotFound(w, r)
	case len(p) == 3 && p[0] == "assets" && p[2] == "download":
		if !assetAuth() {
			return
		}
		if a := find(p[1]); a != nil {
			w.Header().Set("Content-Type", a.mime)
			w.Header().Set("Content-Disposition", `attachment; filename*=UTF-8''`+url.PathEscape(a.name))
			w.Write(a.data)
			return
		}
		http.NotFound(w, r)
	case len(p) == 3 && p[0] == "assets" && p[2] == "ack" && r.Method == "POST":
		if !assetAuth() {
			return
		}
		f.acked[p[1]] = true
		io.WriteString(w, "true")
	case len(p) == 3 && p[0] == "commits" && p[1] == f.commit && p[2] == "ack" && r.Method == "POST":
		if !assetAuth() {
			return
		}
		for _, a := range f.assets {
			f.acked[a.id] = true
		}
		io.WriteString(w, "true")
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeUploader) enqueueBody() string {
	var ids []string
	for _, a := range f.assets {
		ids = append(ids, a.id)
	}
	b, _ := json.Marshal(map[string]any{"assets": ids, "publisher": "1", "commit_id": f.commit, "token": f.token, "base_url": f.srv.URL})
	return string(b)
}

func newSim(t *testing.T, cfg Config) *Sim {
	t.Helper()
	cfg.RetryDelay = 10 * time.Millisecond
	cfg.Logf = t.Logf
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func post(t *testing.T, u, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEnqueueValidation(t *testing.T) {
	f := newFakeUploader(t)
	good := f.enqueueBody()
	var m map[string]any
	json.Unmarshal([]byte(good), &m)
	without := func(k string) string {
		c := map[string]any{}
		for kk, v := range m {
			if kk != k {
				c[kk] = v
			}
		}
		b, _ := json.Marshal(c)
		return string(b)
	}
	with := func(k string, v any) string {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		c[k] = v
		b, _ := json.Marshal(c)
		return string(b)
	}
	cases := []struct {
		name, path, auth, body string
		want                   int
		deviation              string // "" = none expected
	}{
		{"valid with an extra key", EnqueuePath, "OAuth sim-key", with("extra", 1), 200, ""},
		{"no Authorization", EnqueuePath, "", good, 401, "no Authorization"},
		{"Bearer scheme", EnqueuePath, "Bearer sim-key", good, 400, "scheme"},
		{"wrong key", EnqueuePath, "OAuth nope", good, 401, "want the key"},
		{"trailing slash dropped", strings.TrimSuffix(EnqueuePath, "/"), "OAuth sim-key", good, 404, "trailing slash"},
		{"not JSON", EnqueuePath, "OAuth sim-key", "assets=1", 422, "not a JSON object"},
		{"assets missing", EnqueuePath, "OAuth sim-key", without("assets"), 422, `"assets" missing`},
		{"publisher missing", EnqueuePath, "OAuth sim-key", without("publisher"), 422, `"publisher" missing`},
		{"commit_id missing", EnqueuePath, "OAuth sim-key", without("commit_id"), 422, `"commit_id" missing`},
		{"token missing", EnqueuePath, "OAuth sim-key", without("token"), 422, `"token" missing`},
		{"base_url missing", EnqueuePath, "OAuth sim-key", without("base_url"), 422, `"base_url" missing`},
		{"assets not an array", EnqueuePath, "OAuth sim-key", with("assets", "x"), 422, "want an array"},
		{"assets empty", EnqueuePath, "OAuth sim-key", with("assets", []string{}), 422, "empty"},
		{"assets as IRIs", EnqueuePath, "OAuth sim-key", with("assets", []string{"/assets/x"}), 422, "not an asset uuid"},
		{"publisher a number", EnqueuePath, "OAuth sim-key", with("publisher", 1), 422, "want a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSim(t, Config{Expect: f.expect()})
			code, body := post(t, s.URL()+c.path, c.auth, c.body)
			if code != c.want {
				t.Fatalf("status %d, want %d: %s", code, c.want, body)
			}
			var env struct {
				Meta struct {
					HTTPCode int `json:"http_code"`
				}
				Response map[string]json.RawMessage
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil || env.Meta.HTTPCode != c.want {
				t.Errorf("envelope %s: meta.http_code want %d", body, c.want)
			}
			devs := s.Deviations()
			if c.deviation == "" {
				if !strings.Contains(string(env.Response["data"]), f.commit) {
					t.Errorf("response.data %s does not echo the request", env.Response["data"])
				}
				waitFor(t, "the commit acknowledged", func() bool { return s.Acknowledged(f.commit) })
				if devs := s.Deviations(); len(devs) > 0 {
					t.Errorf("deviations on a valid call: %q", devs)
				}
				return
			}
			if len(devs) == 0 || !strings.Contains(strings.Join(devs, "\n"), c.deviation) {
				t.Errorf("deviations %q, want one mentioning %q", devs, c.deviation)
			}
		})
	}
}

func TestAssetURL(t *testing.T) {
	for _, c := range []struct {
		mode       Mode
		base, want string
	}{
		{Current, "http://h:1", "http://h:1/assets/x"},
		{Current, "http://h:1/", "http://h:1/assets/x"},
		{Current, "http://h:1/up/", "http://h:1/up/assets/x"},
		{Current, "http://h:1/up", "http://h:1/assets/x"}, // RFC 3986: the last segment is replaced
		{V4_1_3, "http://h:1/up/", "http://h:1/assets/x"},
		{V4_1_2, "http://h:1/up/", "http://h:1/assets/x"},
		{V4_1_0, "http://h:1", "http://h:1/assets/x"},
	} {
		b, _ := url.Parse(c.base)
		if got := assetURL(c.mode, b, "x"); got != c.want {
			t.Errorf("%s: assets/x against %s = %s, want %s", c.mode, c.base, got, c.want)
		}
	}
}

func TestTokenURLDropsPortAndPath(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/commits?target=t":         "http://127.0.0.1/oauth/v2/token",
		"https://dam.example.org:8443/wharf/commits?t=1": "https://dam.example.org/oauth/v2/token",
		"https://[::1]:9/commits?target=t":               "https://[::1]/oauth/v2/token",
	} {
		if got, err := tokenURL(in); err != nil || got != want {
			t.Errorf("tokenURL(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// TestPushModes: every release ingests a commit from a correct uploader, the
// way that release does it.
func TestPushModes(t *testing.T) {
	for _, mode := range []Mode{Current, V4_1_3, V4_1_2, V4_1_0} {
		t.Run(mode.String(), func(t *testing.T) {
			f := newFakeUploader(t)
			s := newSim(t, Config{Mode: mode, Expect: f.expect()})
			if code, body := post(t, s.EnqueueURL(), "OAuth sim-key", f.enqueueBody()); code != 200 {
				t.Fatalf("enqueue: %d %s", code, body)
			}
			waitFor(t, "the commit acknowledged", func() bool { return s.Acknowledged(f.commit) })
			if devs := s.Deviations(); len(devs) > 0 {
				t.Fatalf("deviations: %q", devs)
			}
			recs := s.Records()
			if len(recs) != 2 || !bytes.Equal(recs[1].Data, []byte("hello")) || recs[1].Collection != "42" || !recs[1].Acknowledged {
				t.Errorf("records %+v", recs)
			}
			log := strings.Join(f.log(), "\n")
			assetAcks := strings.Count(log, "/ack") - strings.Count(log, "/commits/")
			commitAcks := strings.Count(log, "POST /commits/"+f.commit+"/ack")
			downloads := strings.Count(log, "/download")
			switch mode {
			case Current:
				if assetAcks != 2 || commitAcks != 0 || downloads != 0 {
					t.Errorf("current: %d asset acks, %d commit acks, %d legacy downloads; want 2, 0, 0:\n%s", assetAcks, commitAcks, downloads, log)
				}
			case V4_1_0:
				if commitAcks != 1 || assetAcks != 0 || downloads != 2 {
					t.Errorf("4.1.0: %d commit acks, %d asset acks, %d legacy downloads; want 1, 0, 2:\n%s", commitAcks, assetAcks, downloads, log)
				}
			default:
				if commitAcks != 1 || assetAcks != 0 || downloads != 0 {
					t.Errorf("%s: %d commit acks, %d asset acks, %d legacy downloads; want 1, 0, 0:\n%s", mode, commitAcks, assetAcks, downloads, log)
				}
			}
		})
	}
}

// TestDeviationsReported: each way of breaking the protocol is caught.
func TestDeviationsReported(t *testing.T) {
	for _, c := range []struct {
		name   string
		mode   Mode
		break_ func(*fakeUploader)
		want   string
	}{
		{"createdAt with Z", Current, func(f *fakeUploader) { f.createdAtZ = true }, "createdAt"},
		{"token served", Current, func(f *fakeUploader) { f.tokenKey = true }, `"token" key`},
		{"url needs auth", V4_1_3, func(f *fakeUploader) { f.urlNeedsAuth = true }, "without any Authorization header"},
		{"no collection_destination", Current, func(f *fakeUploader) { f.formData = `{"is_story":"0"}` }, "collection_destination"},
		{"formData a list", Current, func(f *fakeUploader) { f.formData = `["x"]` }, "formData"},
		{"wrong bytes", V4_1_0, func(f *fakeUploader) { f.assets[0].data = []byte("other") }, "differ"},
		{"server path", Current, func(f *fakeUploader) { f.assets[0].name = "/var/lib/wharf/photo.jpg" }, "path"},
		{"no extension", Current, func(f *fakeUploader) { f.assets[0].name = "photo" }, "extension"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeUploader(t)
			expect := f.expect()
			c.break_(f)
			s := newSim(t, Config{Mode: c.mode, Expect: expect})
			if code, body := post(t, s.EnqueueURL(), "OAuth sim-key", f.enqueueBody()); code != 200 {
				t.Fatalf("enqueue: %d %s", code, body)
			}
			waitFor(t, "a deviation", func() bool { return strings.Contains(strings.Join(s.Deviations(), "\n"), c.want) })
		})
	}
}

func TestPull(t *testing.T) {
	f := newFakeUploader(t)
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	s := newSim(t, Config{Expect: f.expect(), Dial: map[string]string{"127.0.0.1:80": addr}})
	if err := s.Pull(PullConfig{URI: f.srv.URL + "/commits?target=" + fakeTarget, ClientID: "cid", ClientSecret: "secret", Every: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the commit acknowledged", func() bool { return s.Acknowledged(f.commit) })
	reqs := strings.Join(s.Requests(), "\n")
	for _, want := range []string{
		"POST http://127.0.0.1/oauth/v2/token",
		"GET " + f.srv.URL + "/commits?target=" + fakeTarget + "&acknowledged=false",
		"GET http://127.0.0.1/assets/" + f.assets[0].id,
		"POST http://127.0.0.1/assets/" + f.assets[1].id + "/ack",
	} {
		if !strings.Contains(reqs, want) {
			t.Errorf("the simulator did not send %q; it sent:\n%s", want, reqs)
		}
	}
	polls := s.PullStats().Polls
	waitFor(t, "two more polls", func() bool { return s.PullStats().Polls >= polls+2 })
	if devs := s.Deviations(); len(devs) > 0 {
		t.Fatalf("deviations: %q", devs)
	}

	s.InvalidateToken()
	st := s.PullStats()
	waitFor(t, "a 401 and a new token", func() bool {
		n := s.PullStats()
		return n.Unauthorized > st.Unauthorized && n.TokenFetches > st.TokenFetches && n.Polls > st.Polls
	})
}

func TestPullAssetObjects(t *testing.T) {
	f := newFakeUploader(t)
	f.assetObjects = true
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	s := newSim(t, Config{Dial: map[string]string{"127.0.0.1:80": addr}})
	s.Pull(PullConfig{URI: f.srv.URL + "/commits?target=" + fakeTarget, ClientID: "cid", ClientSecret: "secret", Every: 20 * time.Millisecond})
	waitFor(t, "a deviation", func() bool { return strings.Contains(strings.Join(s.Deviations(), "\n"), "is not a string") })
	if len(s.Records()) != 0 {
		t.Errorf("ingested %d records from a listing Phraseanet cannot read", len(s.Records()))
	}
}

func TestFaults(t *testing.T) {
	t.Run("500s then delivered once", func(t *testing.T) {
		f := newFakeUploader(t)
		s := newSim(t, Config{Expect: f.expect()})
		s.FailEnqueue(2)
		for i, want := range []int{500, 500, 200} {
			if code, _ := post(t, s.EnqueueURL(), "OAuth sim-key", f.enqueueBody()); code != want {
				t.Fatalf("call %d: %d, want %d", i, code, want)
			}
		}
		waitFor(t, "ack", func() bool { return s.Acknowledged(f.commit) })
		if s.EnqueueCalls(f.commit) != 3 || s.Enqueued(f.commit) != 1 {
			t.Errorf("calls %d, enqueued %d", s.EnqueueCalls(f.commit), s.Enqueued(f.commit))
		}
		post(t, s.EnqueueURL(), "OAuth sim-key", f.enqueueBody())
		if !strings.Contains(strings.Join(s.Deviations(), "\n"), "delivered 2 times") {
			t.Errorf("a second delivery is not reported: %q", s.Deviations())
		}
	})
	t.Run("down then up", func(t *testing.T) {
		f := newFakeUploader(t)
		s := newSim(t, Config{})
		s.Down()
		if _, err := http.Post(s.EnqueueURL(), "application/json", strings.NewReader("{}")); err == nil {
			t.Fatal("enqueue answered while down")
		}
		if err := s.Up(); err != nil {
			t.Fatal(err)
		}
		if code, _ := post(t, s.EnqueueURL(), "OAuth sim-key", f.enqueueBody()); code != 200 {
			t.Fatalf("after Up: %d", code)
		}
	})
	t.Run("probe", func(t *testing.T) {
		s := newSim(t, Config{})
		resp, err := http.Head(s.EnqueueURL())
		if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || s.Probes() != 1 || len(s.Deviations()) != 0 {
			t.Fatalf("HEAD: %v %v, probes %d, deviations %q; want 405, one probe, no deviation", resp, err, s.Probes(), s.Deviations())
		}
	})
	t.Run("slow", func(t *testing.T) {
		f := newFakeUploader(t)
		s := newSim(t, Config{})
		s.SlowEnqueue(1, time.Minute)
		c := &http.Client{Timeout: 200 * time.Millisecond}
		req, _ := http.NewRequest("POST", s.EnqueueURL(), strings.NewReader(f.enqueueBody()))
		req.Header.Set("Authorization", "OAuth sim-key")
		if _, err := c.Do(req); err == nil {
			t.Fatal("slow enqueue answered in time")
		}
		waitFor(t, "the abandoned call noticed", func() bool { return s.Abandoned() == 1 })
	})
	t.Run("lost ack redone", func(t *testing.T) {
		f := newFakeUploader(t)
		s := newSim(t, Config{Mode: V4_1_3, Expect: f.expect()})
		s.LoseAck(1)
		post(t, s.EnqueueURL(), "OAuth sim-key", f.enqueueBody())
		waitFor(t, "ack", func() bool { return s.Acknowledged(f.commit) })
		if n := strings.Count(strings.Join(f.log(), "\n"), "/ack"); n != 2 {
			t.Errorf("%d acks sent, want 2 (one lost, one redone)", n)
		}
		if devs := s.Deviations(); len(devs) > 0 {
			t.Errorf("deviations: %q", devs)
		}
	})
}
