package phraseanet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/store"
)

var atomTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$`)

func TestAssetEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePull})
	f.put(t, "photos/a.jpg", "jpeg bytes of a")
	f.put(t, "photos/b.png", "png bytes of b")
	uncommitted := f.put(t, "photos/c.jpg", "c")
	c, as := f.commit(t, tg.ID, "photos/a.jpg", "photos/b.png")
	f.put(t, "other.jpg", "o")
	other, otherAssets := f.commit(t, tg.ID, "other.jpg")
	a := as[0]
	tok := "AssetToken " + c.Token

	t.Run("metadata statuses", func(t *testing.T) {
		for _, tt := range []struct {
			name, id, authz string
			want            int
		}{
			{"no header", a.ID, "", 401},
			{"malformed", a.ID, "AssetToken", 401},
			{"other scheme", a.ID, "Bearer " + c.Token, 401},
			// Whether the asset exists is nobody's business but its
			// commit's: the same 404 as for an unknown id.
			{"wrong token", a.ID, "AssetToken " + strings.Repeat("0", 42), 404},
			{"token of another commit", a.ID, "AssetToken " + other.Token, 404},
			{"uncommitted file", strconv.FormatInt(uncommitted.ID, 10), tok, 404},
			{"unknown", newUUID(), tok, 404},
			{"ok", a.ID, tok, 200},
			{"scheme case-insensitive", a.ID, "assettoken " + c.Token, 200},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if status, body, _ := f.do(t, "GET", "/assets/"+tt.id, tt.authz, "", ""); status != tt.want {
					t.Errorf("status %d, want %d (%s)", status, tt.want, body)
				}
			})
		}
	})

	t.Run("exists or not, same answer", func(t *testing.T) {
		type answer struct {
			status int
			body   string
		}
		get := func(id, authz string) answer {
			status, body, _ := f.do(t, "GET", "/assets/"+id, authz, "", "")
			return answer{status, body}
		}
		unknown := get(newUUID(), tok)
		for name, got := range map[string]answer{
			"asset of another commit":         get(a.ID, "AssetToken "+other.Token),
			"asset, made-up token":            get(a.ID, "AssetToken "+strings.Repeat("0", 42)),
			"uncommitted file's node id":      get(strconv.FormatInt(uncommitted.ID, 10), tok),
			"unknown node id":                 get("999999", tok),
			"unknown asset, made-up token":    get(newUUID(), "AssetToken "+strings.Repeat("0", 42)),
			"uncommitted file, made-up token": get(strconv.FormatInt(uncommitted.ID, 10), "AssetToken "+strings.Repeat("0", 42)),
		} {
			if got != unknown {
				t.Errorf("%s: %d %q; an unknown asset gets %d %q", name, got.status, got.body, unknown.status, unknown.body)
			}
		}
		if unknown.status != 404 {
			t.Errorf("unknown asset: %d, want 404", unknown.status)
		}
	})

	t.Run("metadata body", func(t *testing.T) {
		status, body, h := f.do(t, "GET", "/assets/"+a.ID, tok, "", "")
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d, %s", status, h.Get("Content-Type"))
		}
		m := decode(t, body)
		for _, k := range []string{"@id", "@type", "id", "url", "size", "originalName", "mimeType", "createdAt", "acknowledged", "formData", "formLocale", "data"} {
			if _, ok := m[k]; !ok {
				t.Errorf("key %q missing", k)
			}
		}
		if _, ok := m["token"]; ok || strings.Contains(body, "photos/") {
			t.Errorf("the token or a server path leaked: %s", body)
		}
		form, _ := m["formData"].(map[string]any)
		if m["id"] != a.ID || m["@id"] != "/assets/"+a.ID || m["size"] != float64(15) || m["originalName"] != "a.jpg" ||
			m["mimeType"] != "image/jpeg" || m["acknowledged"] != false || !atomTime.MatchString(m["createdAt"].(string)) ||
			form["collection_destination"] != "42" {
			t.Errorf("body %s", body)
		}
		dl := m["url"].(string)
		if !strings.HasPrefix(dl, f.srv.URL+"/assets/"+a.ID+"/") {
			t.Fatalf("url %q is not absolute on the host root", dl)
		}
		// The download needs no Authorization at all.
		status, got, h := f.do(t, "GET", dl, "", "", "")
		if status != 200 || got != "jpeg bytes of a" || h.Get("Content-Type") != "image/jpeg" {
			t.Errorf("download: %d %q %s", status, got, h.Get("Content-Type"))
		}
		u, _ := url.Parse(dl)
		exp, _ := strconv.ParseInt(u.Query().Get("expires"), 10, 64)
		if time.Until(time.Unix(exp, 0)) < time.Hour {
			t.Errorf("the signed URL lives less than an hour: %v", time.Unix(exp, 0))
		}
		q := u.Query()
		q.Set("sig", "AAAA"+q.Get("sig")[4:])
		u.RawQuery = q.Encode()
		if status, _, _ := f.do(t, "GET", u.String(), "", "", ""); status != 403 {
			t.Errorf("bad signature: %d, want 403", status)
		}
		if status, _, _ := f.do(t, "GET", "/assets/"+a.ID+"/file", "", "", ""); status != 403 {
			t.Errorf("unsigned: %d, want 403", status)
		}
		other := strings.Replace(dl, a.ID, as[1].ID, 1)
		if status, _, _ := f.do(t, "GET", other, "", "", ""); status != 403 {
			t.Errorf("signature of another asset: %d, want 403", status)
		}
	})

	t.Run("expired signature", func(t *testing.T) {
		f.clock.Set(time.Now().Add(-24 * time.Hour)) // signed a day ago, for 6 hours
		defer f.clock.Set(time.Now())
		_, body, _ := f.do(t, "GET", "/assets/"+a.ID, tok, "", "")
		if status, _, _ := f.do(t, "GET", decode(t, body)["url"].(string), "", "", ""); status != 403 {
			t.Errorf("expired: %d, want 403", status)
		}
	})

	t.Run("legacy download", func(t *testing.T) {
		status, got, h := f.do(t, "GET", "/assets/"+as[1].ID+"/download", tok, "", "")
		if status != 200 || got != "png bytes of b" || h.Get("Content-Type") != "image/png" ||
			h.Get("Content-Disposition") != `attachment; filename="b.png"` {
			t.Errorf("download: %d %q %v", status, got, h)
		}
		for authz, want := range map[string]int{"": 401, "AssetToken " + other.Token: 404} {
			if status, _, _ := f.do(t, "GET", "/assets/"+as[1].ID+"/download", authz, "", ""); status != want {
				t.Errorf("download with %q: %d, want %d", authz, status, want)
			}
		}
		if status, _, _ := f.do(t, "GET", "/assets/"+newUUID()+"/download", tok, "", ""); status != 404 {
			t.Errorf("unknown: %d", status)
		}
	})

	t.Run("asset acks", func(t *testing.T) {
		evs := f.collect(t)
		for _, tt := range []struct {
			id, authz string
			want      int
		}{
			{a.ID, "", 401},
			{a.ID, "AssetToken " + other.Token, 404},
			{newUUID(), tok, 404},
		} {
			if status, _, _ := f.do(t, "POST", "/assets/"+tt.id+"/ack", tt.authz, "application/json", `{"acknowledged":true}`); status != tt.want {
				t.Errorf("ack %s with %q: %d, want %d", tt.id, tt.authz, status, tt.want)
			}
		}
		for i := range 2 { // idempotent
			status, body, _ := f.do(t, "POST", "/assets/"+a.ID+"/ack", tok, "application/json", `{"acknowledged":true}`)
			if status != 200 || strings.TrimSpace(body) != "true" {
				t.Errorf("ack %d: %d %q", i, status, body)
			}
		}
		if got := f.getCommit(t, c.ID); got.State == store.CommitAcknowledged {
			t.Fatal("commit acknowledged with one asset of two")
		}
		_, body, _ := f.do(t, "GET", "/assets/"+a.ID, tok, "", "")
		if decode(t, body)["acknowledged"] != true {
			t.Error("asset not shown acknowledged")
		}
		for range 2 {
			if status, body, _ := f.do(t, "POST", "/assets/"+as[1].ID+"/ack", tok, "", ""); status != 200 || body != "true" {
				t.Errorf("ack: %d %q", status, body)
			}
		}
		if got := f.getCommit(t, c.ID); got.State != store.CommitAcknowledged {
			t.Errorf("state %q after the last asset's ack", got.State)
		}
		if n := count(evs(), events.CommitAcknowledged); n != 1 {
			t.Errorf("%d acknowledged events, want 1", n)
		}
	})

	t.Run("commit ack", func(t *testing.T) {
		otok := "AssetToken " + other.Token
		for authz, want := range map[string]int{"": 401, "Basic eDp5": 401, tok: 403} {
			if status, _, _ := f.do(t, "POST", "/commits/"+other.ID+"/ack", authz, "", ""); status != want {
				t.Errorf("commit ack with %q: %d, want %d", authz, status, want)
			}
		}
		if status, _, _ := f.do(t, "POST", "/commits/"+newUUID()+"/ack", otok, "", ""); status != 404 {
			t.Errorf("unknown commit: %d", status)
		}
		for range 2 {
			if status, body, _ := f.do(t, "POST", "/commits/"+other.ID+"/ack", otok, "application/json", "{}"); status != 200 || body != "true" {
				t.Errorf("commit ack: %d %q", status, body)
			}
		}
		got := f.getCommit(t, other.ID)
		a, _ := f.db.Asset(f.ctx, otherAssets[0].ID)
		if got.State != store.CommitAcknowledged || a.AcknowledgedAt.IsZero() {
			t.Errorf("commit %+v asset %+v", got, a)
		}
	})
}

func TestPullMode(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenTTL = time.Hour })
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePull})
	pushOnly := f.target(t, TargetSpec{Name: "push", Mode: ModePush, URL: "https://dam/enqueue/", Key: "k"})
	second := f.target(t, TargetSpec{Name: "second", Mode: ModeBoth, URL: "https://dam/enqueue/", Key: "k"})
	var commits []Commit
	for i := range 32 {
		p := fmt.Sprintf("f%02d.jpg", i)
		f.put(t, p, "x")
		c, _ := f.commit(t, tg.ID, p)
		commits = append(commits, c)
		f.clock.Advance(time.Second)
	}
	f.put(t, "second.jpg", "x")
	secondCommit, _ := f.commit(t, second.ID, "second.jpg")
	// The oldest commit is acknowledged: it comes after the others.
	if status, _, _ := f.do(t, "POST", "/commits/"+commits[0].ID+"/ack", "AssetToken "+commits[0].Token, "", ""); status != 200 {
		t.Fatal("ack failed")
	}

	tokenFor := func(t *testing.T, contentType, body string) (int, map[string]any) {
		t.Helper()
		status, resp, _ := f.do(t, "POST", "/oauth/v2/token", "", contentType, body)
		return status, decode(t, resp)
	}
	creds := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_type":"client_credentials","scope":"commit:list"}`, tg.ClientID, f.secrets[tg.ID])
	var bearer string
	t.Run("token endpoint", func(t *testing.T) {
		status, m := tokenFor(t, "application/json", creds)
		if status != 200 || m["token_type"] != "bearer" || m["scope"] != "commit:list" || m["expires_in"] != float64(3600) || m["access_token"] == "" {
			t.Fatalf("%d %v", status, m)
		}
		bearer = "Bearer " + m["access_token"].(string)
		form := url.Values{"client_id": {tg.ClientID}, "client_secret": {f.secrets[tg.ID]}, "grant_type": {"client_credentials"}, "scope": {"uploader:commit_list"}}
		if status, m := tokenFor(t, "application/x-www-form-urlencoded", form.Encode()); status != 200 || m["scope"] != "uploader:commit_list" {
			t.Errorf("form, old scope: %d %v", status, m)
		}
		for name, tt := range map[string]struct {
			body string
			want int
		}{
			"bad secret":     {fmt.Sprintf(`{"client_id":%q,"client_secret":"nope","grant_type":"client_credentials"}`, tg.ClientID), 401},
			"unknown client": {`{"client_id":"nope","client_secret":"nope","grant_type":"client_credentials"}`, 401},
			"push target":    {fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_type":"client_credentials"}`, pushOnly.ClientID, f.secrets[pushOnly.ID]), 401},
			"grant type":     {fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_type":"password"}`, tg.ClientID, f.secrets[tg.ID]), 400},
			"scope":          {fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_type":"client_credentials","scope":"admin"}`, tg.ClientID, f.secrets[tg.ID]), 400},
		} {
			if status, m := tokenFor(t, "application/json", tt.body); status != tt.want || m["error"] == nil {
				t.Errorf("%s: %d %v, want %d", name, status, m, tt.want)
			}
		}
	})

	list := "/commits?target=" + tg.ID + "&acknowledged=false"
	t.Run("listing", func(t *testing.T) {
		status, body, _ := f.do(t, "GET", list, bearer, "", "")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		m := decode(t, body)
		if m["@context"] != "/contexts/commit" || m["@id"] != "/commits" || m["@type"] != "hydra:Collection" || m["hydra:totalItems"] != float64(31) {
			t.Errorf("collection %v", m["@type"])
		}
		members := m["hydra:member"].([]any)
		if len(members) != PageSize {
			t.Fatalf("%d members, want a page of %d", len(members), PageSize)
		}
		first := members[0].(map[string]any)
		assets := first["assets"].([]any)
		if first["id"] != commits[1].ID || first["token"] != commits[1].Token || first["target"] != "/targets/"+tg.ID ||
			first["userId"] != "7" || first["acknowledged"] != false || first["totalSize"] != float64(1) ||
			!atomTime.MatchString(first["createdAt"].(string)) || len(assets) != 1 {
			t.Errorf("first member %v", first)
		}
		if s, ok := assets[0].(string); !ok || !regexp.MustCompile(`^/assets/[0-9a-f-]{36}$`).MatchString(s) {
			t.Errorf("asset %v is not an IRI string", assets[0])
		}
		if _, ok := first["formData"].(map[string]any); !ok {
			t.Errorf("formData %v", first["formData"])
		}
		_, body, _ = f.do(t, "GET", "/commits?target="+tg.ID+"&page=2", bearer, "", "")
		m = decode(t, body)
		members = m["hydra:member"].([]any)
		if m["hydra:totalItems"] != float64(32) || len(members) != 2 || members[1].(map[string]any)["id"] != commits[0].ID {
			t.Errorf("page 2 (acknowledged last): %v", m)
		}
		_, body, _ = f.do(t, "GET", "/commits?acknowledged=true", bearer, "", "")
		if m := decode(t, body); m["hydra:totalItems"] != float64(1) {
			t.Errorf("acknowledged=true: %v", m["hydra:totalItems"])
		}
	})

	t.Run("listing statuses", func(t *testing.T) {
		for _, tt := range []struct {
			name, target, authz string
			want                int
		}{
			{"no header", list, "", 401},
			{"asset token", list, "AssetToken " + commits[1].Token, 401},
			{"unknown token", list, "Bearer nope", 401},
			{"other target", "/commits?target=" + second.ID, bearer, 403},
			{"unknown target", "/commits?target=" + newUUID(), bearer, 404},
			{"bad page", list + "&page=0", bearer, 400},
		} {
			if status, body, _ := f.do(t, "GET", tt.target, tt.authz, "", ""); status != tt.want {
				t.Errorf("%s: %d, want %d (%s)", tt.name, status, tt.want, body)
			}
		}
	})

	t.Run("one commit", func(t *testing.T) {
		c := commits[1]
		for _, tt := range []struct {
			name, id, authz string
			want            int
		}{
			{"asset token", c.ID, "AssetToken " + c.Token, 200},
			{"bearer", c.ID, bearer, 200},
			{"no header", c.ID, "", 401},
			{"wrong asset token", c.ID, "AssetToken " + commits[2].Token, 403},
			{"bearer of another target", secondCommit.ID, bearer, 403},
			{"unknown", newUUID(), bearer, 404},
		} {
			status, body, _ := f.do(t, "GET", "/commits/"+tt.id, tt.authz, "", "")
			if status != tt.want {
				t.Errorf("%s: %d, want %d (%s)", tt.name, status, tt.want, body)
			}
			if status == 200 {
				var m map[string]any
				json.Unmarshal([]byte(body), &m)
				if _, ok := m["assets"].([]any)[0].(string); !ok || m["id"] != c.ID {
					t.Errorf("%s: body %s", tt.name, body)
				}
			}
		}
	})

	t.Run("token expiry", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		status, _, h := f.do(t, "GET", list, bearer, "", "")
		if status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("expired token: %d %v", status, h.Get("WWW-Authenticate"))
		}
		if status, _, _ := f.do(t, "GET", "/commits/"+commits[1].ID, bearer, "", ""); status != 401 {
			t.Errorf("expired token on one commit: %d", status)
		}
		_, m := tokenFor(t, "", creds) // no Content-Type: JSON recognised
		if status, _, _ := f.do(t, "GET", list, "Bearer "+m["access_token"].(string), "", ""); status != 200 {
			t.Errorf("fresh token: %d", status)
		}
	})

	t.Run("methods", func(t *testing.T) {
		if status, _, _ := f.do(t, "DELETE", "/commits/"+commits[1].ID, bearer, "", ""); status != http.StatusMethodNotAllowed {
			t.Errorf("DELETE: %d", status)
		}
	})
}
