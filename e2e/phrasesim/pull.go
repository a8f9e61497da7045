package phrasesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// PullConfig is what a Phraseanet admin pastes for pull mode.
type PullConfig struct {
	URI          string // pullmodeUri, e.g. https://wharf.example.org/commits?target=<uuid>
	ClientID     string
	ClientSecret string
	// Every is the polling period; Phraseanet's default is 10 s. Zero: 10 s.
	Every time.Duration
}

// PullStats counts what the pull loop did.
type PullStats struct {
	Polls         int // listings answered 200
	TokenFetches  int // token requests answered 200
	Unauthorized  int // listings answered 401
	TokenRefusals int // token requests not answered 200
}

type puller struct {
	cfg   PullConfig
	token string
	stats PullStats
}

// Pull starts polling the uploader as Phraseanet's pull mode does; the loop
// runs until Close. Each poll ingests the unacknowledged commits listed,
// one after the other.
func (s *Sim) Pull(cfg PullConfig) error {
	if cfg.Every == 0 {
		cfg.Every = 10 * time.Second
	}
	if _, err := url.Parse(cfg.URI); err != nil {
		return fmt.Errorf("phrasesim: pullmodeUri %q: %w", cfg.URI, err)
	}
	s.mu.Lock()
	if s.pull != nil {
		s.mu.Unlock()
		return errors.New("phrasesim: already pulling")
	}
	s.pull = &puller{cfg: cfg}
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return errors.New("phrasesim: closed")
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			if err := s.poll(); err != nil && s.ctx.Err() == nil {
				s.fail("pull: %v", err)
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(cfg.Every):
			}
		}
	}()
	return nil
}

// PullStats returns the pull loop's counters.
func (s *Sim) PullStats() PullStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pull == nil {
		return PullStats{}
	}
	return s.pull.stats
}

// InvalidateToken replaces the pull token the simulator holds with one the
// uploader never issued, as if it had expired: the next listing must get
// 401, and the simulator fetches a new token once.
func (s *Sim) InvalidateToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pull != nil {
		s.pull.token = "expired" + s.pull.token
	}
}

// tokenURL is where Phraseanet asks for a token: scheme and host of
// pullmodeUri, its port and path dropped.
func tokenURL(pullURI string) (string, error) {
	return hostRoot(pullURI, "/oauth/v2/token")
}

// hostRoot is scheme://host (no port) of u, plus p.
func hostRoot(u, p string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme == "" || pu.Host == "" {
		return "", fmt.Errorf("pullmodeUri %q is not an absolute URL", u)
	}
	host := pu.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return pu.Scheme + "://" + host + p, nil
}

func (s *Sim) fetchToken() error {
	s.mu.Lock()
	cfg, scope := s.pull.cfg, s.cfg.Mode.scope()
	s.mu.Unlock()
	u, err := tokenURL(cfg.URI)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{
		"client_id": cfg.ClientID, "client_secret": cfg.ClientSecret,
		"grant_type": "client_credentials", "scope": scope,
	})
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	got, resp, err := s.do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		s.mu.Lock()
		s.pull.stats.TokenRefusals++
		s.mu.Unlock()
		return fmt.Errorf("POST %s: %d, want 200: %.200s", u, resp.StatusCode, got)
	}
	var tok struct {
		AccessToken *string         `json:"access_token"`
		TokenType   *string         `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Scope       *string         `json:"scope"`
	}
	if err := json.Unmarshal(got, &tok); err != nil {
		s.deviate("POST %s: answer is not JSON: %v: %.200s", u, err, got)
		return err
	}
	if tok.AccessToken == nil || *tok.AccessToken == "" {
		s.deviate("POST %s: no access_token: %.200s", u, got)
		return errors.New("no access_token")
	}
	if tok.TokenType == nil || !strings.EqualFold(*tok.TokenType, "bearer") {
		s.deviate("POST %s: token_type %v, want bearer", u, deref(tok.TokenType))
	}
	var exp int64
	if json.Unmarshal(tok.ExpiresIn, &exp) != nil || exp <= 0 {
		s.deviate("POST %s: expires_in %s, want a positive number of seconds", u, tok.ExpiresIn)
	}
	if tok.Scope == nil || !strings.Contains(*tok.Scope, scope) {
		s.deviate("POST %s: scope %v, want %q", u, deref(tok.Scope), scope)
	}
	s.mu.Lock()
	s.pull.token = *tok.AccessToken
	s.pull.stats.TokenFetches++
	s.mu.Unlock()
	return nil
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

var (
	assetIRI  = regexp.MustCompile(`^/assets/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	targetIRI = regexp.MustCompile(`^/targets/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
)

// poll is one round: token if none, listing (one new token on 401), then
// the consumer sequence for each unacknowledged commit.
func (s *Sim) poll() error {
	s.mu.Lock()
	cfg, token := s.pull.cfg, s.pull.token
	s.mu.Unlock()
	if token == "" {
		if err := s.fetchToken(); err != nil {
			return err
		}
	}
	if !strings.Contains(cfg.URI, "?") {
		s.deviate("pullmodeUri %q has no '?': Phraseanet appends &acknowledged=false to it", cfg.URI)
	}
	listURL := cfg.URI + "&acknowledged=false"
	var body []byte
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		token = s.pull.token
		s.mu.Unlock()
		req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, listURL, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		got, resp, err := s.do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			s.mu.Lock()
			s.pull.stats.Unauthorized++
			s.mu.Unlock()
			s.logf("pull: listing got 401, fetching a new token")
			if err := s.fetchToken(); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized {
			s.mu.Lock()
			s.pull.stats.Unauthorized++
			s.mu.Unlock()
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d, want 200: %.200s", listURL, resp.StatusCode, got)
		}
		body = got
		break
	}
	s.mu.Lock()
	s.pull.stats.Polls++
	s.mu.Unlock()

	jobs := s.parseListing(listURL, cfg.URI, body)
	base, err := hostRoot(cfg.URI, "")
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if s.ctx.Err() != nil {
			return nil
		}
		s.mu.Lock()
		done := s.consumed[j.commit]
		_, failed := s.gaveUp[j.commit]
		s.mu.Unlock()
		if done {
			s.deviate("pull: commit %s was acknowledged but is still listed with acknowledged=false", j.commit)
			continue
		}
		if failed {
			continue // Phraseanet would try again; the deviation is already reported
		}
		j.baseURL = base
		s.run(j)
	}
	return nil
}

// parseListing reads the hydra collection and returns the commits to
// ingest; everything that would break Phraseanet is a deviation.
func (s *Sim) parseListing(listURL, pullURI string, body []byte) []job {
	var coll map[string]json.RawMessage
	if err := json.Unmarshal(body, &coll); err != nil || coll == nil {
		s.deviate("GET %s: not a JSON object: %v: %.200s", listURL, err, body)
		return nil
	}
	for k, want := range map[string]string{"@context": `"/contexts/commit"`, "@id": `"/commits"`, "@type": `"hydra:Collection"`} {
		if string(coll[k]) != want {
			s.deviate("GET %s: %s is %s, want %s", listURL, k, coll[k], want)
		}
	}
	var members []map[string]json.RawMessage
	if err := json.Unmarshal(coll["hydra:member"], &members); err != nil || coll["hydra:member"] == nil {
		s.deviate("GET %s: hydra:member is %.100s, want an array of commits", listURL, coll["hydra:member"])
		return nil
	}
	var total int
	if json.Unmarshal(coll["hydra:totalItems"], &total) != nil || total < len(members) {
		s.deviate("GET %s: hydra:totalItems is %s with %d members", listURL, coll["hydra:totalItems"], len(members))
	}
	if len(members) > 30 {
		s.deviate("GET %s: %d members on a page, want at most 30", listURL, len(members))
	}
	var wantTarget string
	if pu, err := url.Parse(pullURI); err == nil {
		wantTarget = pu.Query().Get("target")
	}
	var jobs []job
	var last time.Time
	for i, m := range members {
		var j job
		where := fmt.Sprintf("GET %s: hydra:member[%d]", listURL, i)
		if json.Unmarshal(m["id"], &j.commit) != nil || !uuidRE.MatchString(j.commit) {
			s.deviate("%s: id is %s, want a commit uuid", where, m["id"])
			continue
		}
		where += " (commit " + j.commit + ")"
		if json.Unmarshal(m["token"], &j.token) != nil || !tokenRE.MatchString(j.token) {
			s.deviate("%s: token is %s, want 42 lowercase hex characters", where, m["token"])
		}
		var assets []json.RawMessage
		if err := json.Unmarshal(m["assets"], &assets); err != nil {
			s.deviate("%s: assets is %.100s, want an array of \"/assets/<uuid>\" strings", where, m["assets"])
			continue
		}
		ok := true
		for _, a := range assets {
			var iri string
			if json.Unmarshal(a, &iri) != nil {
				s.deviate("%s: asset entry %.100s is not a string: Phraseanet needs \"/assets/<uuid>\"", where, a)
				ok = false
				continue
			}
			sm := assetIRI.FindStringSubmatch(iri)
			if sm == nil {
				s.deviate("%s: asset entry %q, want \"/assets/<uuid>\"", where, iri)
				ok = false
				continue
			}
			j.assets = append(j.assets, sm[1])
		}
		if len(j.assets) == 0 {
			s.deviate("%s: no assets", where)
			ok = false
		}
		var acked bool
		if json.Unmarshal(m["acknowledged"], &acked) != nil {
			s.deviate("%s: acknowledged is %s, want a boolean", where, m["acknowledged"])
		}
		if acked {
			s.deviate("%s: acknowledged commit in a listing filtered with acknowledged=false", where)
			continue
		}
		if _, err := formData(m["formData"]); err != nil {
			s.deviate("%s: %v", where, err)
		}
		var userID any
		if json.Unmarshal(m["userId"], &userID) != nil || m["userId"] == nil {
			s.deviate("%s: userId missing", where)
		}
		var created string
		if json.Unmarshal(m["createdAt"], &created) != nil || !createdAtRE.MatchString(created) {
			s.deviate("%s: createdAt is %s, want the form 2024-05-15T14:13:54+00:00", where, m["createdAt"])
		} else if t, err := time.Parse("2006-01-02T15:04:05-07:00", created); err == nil {
			if t.Before(last) {
				s.deviate("%s: created %s, before the member above it: want oldest first", where, created)
			}
			last = t
		}
		var target string
		if json.Unmarshal(m["target"], &target) != nil || !targetIRI.MatchString(target) {
			s.deviate("%s: target is %s, want \"/targets/<uuid>\"", where, m["target"])
		} else if wantTarget != "" && target != "/targets/"+wantTarget {
			s.deviate("%s: target %s in a listing filtered with target=%s", where, target, wantTarget)
		}
		if json.Unmarshal(m["totalSize"], &j.totalSize) != nil {
			s.deviate("%s: totalSize is %s, want an integer", where, m["totalSize"])
			j.totalSize = -1
		}
		if ok {
			jobs = append(jobs, j)
		}
	}
	return jobs
}
