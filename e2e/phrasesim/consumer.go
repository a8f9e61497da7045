package phrasesim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// job is one commit to ingest.
type job struct {
	commit, token, baseURL string
	assets                 []string
	totalSize              int64 // from a pull listing; -1 when unknown
}

// consume runs the consumer sequence of j in the background, as
// Phraseanet's workers do after queueing an enqueue call.
func (s *Sim) consume(j job) {
	j.totalSize = -1
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(j)
	}()
}

// run is the consumer sequence: metadata of the first asset (is_story), then
// per asset metadata, download, record creation and (>= 4.1.6) ack, then
// (<= 4.1.5) the commit ack.
func (s *Sim) run(j job) {
	s.mu.Lock()
	if s.running[j.commit] || s.consumed[j.commit] {
		s.mu.Unlock()
		return
	}
	s.running[j.commit] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, j.commit)
		s.mu.Unlock()
	}()
	if err := s.sequence(j); err != nil {
		s.mu.Lock()
		s.gaveUp[j.commit] = err.Error()
		s.mu.Unlock()
		if !errors.Is(err, errAbort) || s.ctx.Err() == nil {
			s.deviate("commit %s: Phraseanet gives up: %v", j.commit, err)
		}
		return
	}
	s.mu.Lock()
	s.consumed[j.commit] = true
	s.mu.Unlock()
	s.logf("commit %s: ingested and acknowledged", j.commit)
}

func (s *Sim) sequence(j job) error {
	base, err := url.Parse(j.baseURL)
	if err != nil {
		return fmt.Errorf("base_url %q: %w", j.baseURL, err)
	}
	if len(j.assets) == 0 {
		return fmt.Errorf("no assets: %w", errAbort)
	}
	var first assetMeta
	if err := s.try("metadata of the first asset (is_story)", func() (err error) {
		first, err = s.metadata(base, j, j.assets[0])
		return err
	}); err != nil {
		return err
	}
	isStory := truthy(first.FormData["is_story"])

	var total int64
	for _, id := range j.assets {
		var m assetMeta
		if err := s.try("metadata of asset "+id, func() (err error) {
			m, err = s.metadata(base, j, id)
			return err
		}); err != nil {
			return err
		}
		var data []byte
		if err := s.try("download of asset "+id, func() (err error) {
			data, err = s.download(base, j, m)
			return err
		}); err != nil {
			return err
		}
		total += int64(len(data))
		if int64(len(data)) != m.Size {
			s.deviate("asset %s (%s): metadata size %d, downloaded %d bytes", id, m.OriginalName, m.Size, len(data))
		}
		if s.cfg.Expect != nil {
			want, ok := s.cfg.Expect[m.OriginalName]
			switch {
			case !ok:
				s.deviate("asset %s: originalName %q is none of the files the test uploaded", id, m.OriginalName)
			case !bytes.Equal(want, data):
				s.deviate("asset %s (%s): downloaded %d bytes differ from the %d uploaded", id, m.OriginalName, len(data), len(want))
			}
		}
		coll, ok := collection(m.FormData)
		if !ok {
			// Phraseanet creates nothing and never acks: the commit hangs.
			return fmt.Errorf("asset %s: formData has no collection_destination (Phraseanet silently never acks): %w", id, errAbort)
		}
		sum := sha256.Sum256(data)
		if m.SHA256 != "" && m.SHA256 != hex.EncodeToString(sum[:]) {
			s.deviate("asset %s (%s): metadata sha256 %s, downloaded bytes have %x", id, m.OriginalName, m.SHA256, sum)
		}
		rec := Record{Commit: j.commit, Asset: id, Name: m.OriginalName, MimeType: m.MimeType, Size: int64(len(data)),
			Data: data, SHA256: hex.EncodeToString(sum[:]), Collection: coll, IsStory: isStory, FormData: m.FormData}
		s.mu.Lock()
		for _, r := range s.records {
			if r.Asset == id {
				s.mu.Unlock()
				s.deviate("asset %s (%s) ingested twice (commits %s and %s)", id, m.OriginalName, r.Commit, j.commit)
				s.mu.Lock()
			}
		}
		s.records = append(s.records, rec)
		s.mu.Unlock()
		s.logf("commit %s: record %q (%d bytes) created in collection %s", j.commit, m.OriginalName, len(data), coll)

		if s.cfg.Mode.assetAck() {
			u := s.assetURL(base, id) + "/ack"
			if err := s.try("ack of asset "+id, func() error { return s.ack(u, j.token, `{"acknowledged":true}`) }); err != nil {
				return err
			}
			s.markAcked(j.commit, id)
		}
	}
	if j.totalSize >= 0 && j.totalSize != total {
		s.deviate("commit %s: listing says totalSize %d, its assets hold %d bytes", j.commit, j.totalSize, total)
	}
	if !s.cfg.Mode.assetAck() {
		u := base.ResolveReference(&url.URL{Path: "/commits/" + j.commit + "/ack"}).String()
		if err := s.try("ack of commit "+j.commit, func() error { return s.ack(u, j.token, `{}`) }); err != nil {
			return err
		}
		s.markAcked(j.commit, "")
	}
	return nil
}

func (s *Sim) markAcked(commit, asset string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.records {
		if s.records[i].Commit == commit && (asset == "" || s.records[i].Asset == asset) {
			s.records[i].Acknowledged = true
		}
	}
}

// try runs one step up to Config.Tries times, Config.RetryDelay apart.
func (s *Sim) try(step string, f func() error) error {
	var err error
	for i := range s.cfg.Tries {
		if i > 0 {
			select {
			case <-time.After(s.cfg.RetryDelay):
			case <-s.ctx.Done():
				return errAbort
			}
		}
		if err = f(); err == nil {
			return nil
		}
		if s.ctx.Err() != nil {
			return errAbort
		}
		s.fail("%s, try %d/%d: %v", step, i+1, s.cfg.Tries, err)
	}
	return fmt.Errorf("%s failed %d times, last: %w", step, s.cfg.Tries, err)
}

// assetURL is where the release looks for asset id: assets/<id> relative to
// base_url from 4.1.6, the absolute path /assets/<id> before.
func (s *Sim) assetURL(base *url.URL, id string) string {
	return assetURL(s.cfg.Mode, base, id)
}

func assetURL(m Mode, base *url.URL, id string) string {
	ref := "/assets/" + id
	if m.relative() {
		ref = "assets/" + id
	}
	return base.ResolveReference(&url.URL{Path: ref}).String()
}

// assetMeta is what the consumer reads from GET /assets/<id>.
type assetMeta struct {
	ID           string
	URL          string
	Size         int64
	OriginalName string
	MimeType     string
	CreatedAt    string
	Acknowledged bool
	FormData     map[string]any
	SHA256       string // optional: Wharf announces the checksum of the bytes it serves
}

func (s *Sim) metadata(base *url.URL, j job, id string) (assetMeta, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.assetURL(base, id), nil)
	if err != nil {
		return assetMeta{}, err
	}
	req.Header.Set("Authorization", "AssetToken "+j.token) // and no Accept header, as Phraseanet
	body, resp, err := s.do(req)
	if err != nil {
		return assetMeta{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return assetMeta{}, fmt.Errorf("GET %s: %d, want 200: %.200s", req.URL, resp.StatusCode, body)
	}
	m, problems := parseAsset(body, id, j.token, s.cfg.Forbidden)
	for _, p := range problems {
		s.deviate("GET %s: %s", req.URL.Path, p)
	}
	if m.ID == "" {
		return m, fmt.Errorf("GET %s: unusable metadata", req.URL)
	}
	return m, nil
}

func (s *Sim) download(base *url.URL, j job, m assetMeta) ([]byte, error) {
	var req *http.Request
	var err error
	if s.cfg.Mode.legacyDownload() {
		req, err = http.NewRequestWithContext(s.ctx, http.MethodGet, s.assetURL(base, m.ID)+"/download", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "AssetToken "+j.token)
	} else {
		if req, err = http.NewRequestWithContext(s.ctx, http.MethodGet, m.URL, nil); err != nil {
			return nil, fmt.Errorf("url %q: %w", m.URL, err)
		}
		// No Authorization header: the url must authorize itself.
	}
	body, resp, err := s.do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d, want 200 (without any Authorization header: %v): %.200s",
			req.URL, resp.StatusCode, !s.cfg.Mode.legacyDownload(), body)
	}
	if s.cfg.Mode.legacyDownload() {
		ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if want, _, _ := mime.ParseMediaType(m.MimeType); err != nil || ct != want {
			s.deviate("GET %s: Content-Type %q, want the asset's mimeType %q", req.URL.Path, resp.Header.Get("Content-Type"), m.MimeType)
		}
		disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || params["filename"] != m.OriginalName {
			s.deviate("GET %s: Content-Disposition %q, want attachment with filename %q", req.URL.Path, resp.Header.Get("Content-Disposition"), m.OriginalName)
		}
	}
	return body, nil
}

// ack posts an acknowledgement and wants 200 true.
func (s *Sim) ack(u, token, body string) error {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "AssetToken "+token)
	req.Header.Set("Content-Type", "application/json")
	got, resp, err := s.do(req)
	if err != nil {
		return err
	}
	s.mu.Lock()
	lose := s.loseAck > 0
	if lose {
		s.loseAck--
	}
	s.mu.Unlock()
	if lose {
		return fmt.Errorf("POST %s: answer %d lost (injected), redoing the step", req.URL, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d, want 200: %.200s", req.URL, resp.StatusCode, got)
	}
	if strings.TrimSpace(string(got)) != "true" {
		s.deviate("POST %s: body %q, want true", req.URL.Path, got)
	}
	return nil
}

// do sends req and reads the whole answer (at most 256 MiB).
func (s *Sim) do(req *http.Request) ([]byte, *http.Response, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL, err)
	}
	return body, resp, nil
}

// CheckAsset checks an answer of GET /assets/<id> for asset id of the commit
// whose token is token, against the protocol; it returns the problems.
// forbidden are strings that must not appear in it (the data directory).
func CheckAsset(body []byte, id, token string, forbidden ...string) []string {
	_, problems := parseAsset(body, id, token, forbidden)
	return problems
}

var assetKeys = []string{"id", "url", "size", "originalName", "mimeType", "createdAt", "acknowledged", "formData", "formLocale", "data"}

func parseAsset(body []byte, id, token string, forbidden []string) (assetMeta, []string) {
	var m assetMeta
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		bad("body is not a JSON object: %v: %.200s", err, body)
		return m, problems
	}
	for _, k := range assetKeys {
		if _, ok := raw[k]; !ok {
			bad("key %q missing", k)
		}
	}
	if _, ok := raw["token"]; ok {
		bad(`has a "token" key: the AssetToken must not be served`)
	}
	if token != "" && bytes.Contains(body, []byte(token)) {
		bad("contains the commit token")
	}
	if json.Unmarshal(raw["id"], &m.ID) != nil || m.ID != id {
		bad("id is %s, want %q", raw["id"], id)
		m.ID = id
	}
	if json.Unmarshal(raw["url"], &m.URL) != nil {
		bad("url is %s, want a string", raw["url"])
	} else if u, err := url.Parse(m.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url %q is not an absolute http(s) URL", m.URL)
	}
	if json.Unmarshal(raw["size"], &m.Size) != nil || m.Size < 0 {
		bad("size is %s, want a non-negative integer", raw["size"])
	}
	if json.Unmarshal(raw["originalName"], &m.OriginalName) != nil || m.OriginalName == "" {
		bad("originalName is %s, want a non-empty string", raw["originalName"])
	} else if ext := path.Ext(m.OriginalName); len(ext) < 2 {
		bad("originalName %q has no extension: Phraseanet picks the file type from it", m.OriginalName)
	} else if strings.ContainsAny(m.OriginalName, `/\`) {
		bad("originalName %q is a path, want a file name", m.OriginalName)
	}
	if json.Unmarshal(raw["mimeType"], &m.MimeType) != nil || m.MimeType == "" {
		bad("mimeType is %s, want a non-empty string", raw["mimeType"])
	}
	if json.Unmarshal(raw["createdAt"], &m.CreatedAt) != nil || !createdAtRE.MatchString(m.CreatedAt) {
		bad("createdAt is %s, want the form 2024-05-15T14:13:54+00:00", raw["createdAt"])
	} else if _, err := time.Parse("2006-01-02T15:04:05-07:00", m.CreatedAt); err != nil {
		bad("createdAt %q: %v", m.CreatedAt, err)
	}
	if v, ok := raw["sha256"]; ok && (json.Unmarshal(v, &m.SHA256) != nil || len(m.SHA256) != 64) {
		bad("sha256 is %s, want 64 hex characters", v)
	}
	if json.Unmarshal(raw["acknowledged"], &m.Acknowledged) != nil {
		bad("acknowledged is %s, want a boolean", raw["acknowledged"])
	}
	fd, err := formData(raw["formData"])
	if err != nil {
		bad("%v", err)
	}
	m.FormData = fd
	var all any
	json.Unmarshal(body, &all)
	for _, p := range serverPaths(all, forbidden) {
		bad("exposes the server path %q", p)
	}
	return m, problems
}

// formData reads formData, which PHP sends as [] when empty.
func formData(raw json.RawMessage) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err == nil && obj != nil {
		return obj, nil
	}
	var arr []any
	if err := json.Unmarshal(raw, &arr); err == nil && arr != nil && len(arr) == 0 {
		return map[string]any{}, nil
	}
	return map[string]any{}, fmt.Errorf("formData is %s, want an object (or [] when empty)", raw)
}

var fsPrefixes = []string{"/tmp/", "/var/", "/home/", "/root/", "/srv/", "/data/", "/opt/", "/usr/", "/etc/", "/mnt/", "/run/"}

// serverPaths finds string values that are server file system paths.
func serverPaths(v any, forbidden []string) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			for _, f := range forbidden {
				if f != "" && strings.Contains(v, f) {
					out = append(out, v)
					return
				}
			}
			for _, p := range fsPrefixes {
				if strings.HasPrefix(v, p) || strings.Contains(v, "file://") || (len(v) > 2 && v[1] == ':' && v[2] == '\\') {
					out = append(out, v)
					return
				}
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

// collection is formData.collection_destination (a base_id, string or number).
func collection(fd map[string]any) (string, bool) {
	switch v := fd["collection_destination"].(type) {
	case string:
		return v, v != ""
	case float64:
		return fmt.Sprint(v), true
	}
	return "", false
}

// truthy reads a PHP-ish boolean form value.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "on")
	case float64:
		return v != 0
	}
	return false
}
