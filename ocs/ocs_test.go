package ocs

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/fakeclock"
	"github.com/wharfhq/wharf/internal/testenv"
)

const pw = "correct horse battery staple 42"

func newTestHandler(t *testing.T) (*Handler, *http.ServeMux, *testenv.Env, *fakeclock.Clock) {
	env := testenv.New(t, testenv.Options{})
	env.User(t, "alice", pw, false)
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h, err := New(Config{Auth: env.Auth, Chunking: true, Tus: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	return h, mux, env, clock
}

func TestCapabilities(t *testing.T) {
	_, mux, env, _ := newTestHandler(t)
	u, _ := env.Auth.Login(t.Context(), "", "alice", pw)
	for _, v := range []struct {
		path string
		code float64
	}{{"/ocs/v1.php/cloud/capabilities", 100}, {"/ocs/v2.php/cloud/capabilities", 200}} {
		r := httptest.NewRequest("GET", v.path+"?format=json", nil)
		r = r.WithContext(auth.NewContext(r.Context(), u))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		var body struct {
			OCS struct {
				Meta struct{ Statuscode float64 }
				Data struct {
					Capabilities struct {
						Dav   map[string]any
						Files struct {
							TusSupport map[string]any `json:"tus_support"`
						}
						Checksums struct {
							SupportedTypes []string
						}
					}
				}
			}
		}
		if err := json.NewDecoder(w.Body).Decode(&body); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %v", v.path, w.Code, err)
		}
		c := body.OCS.Data.Capabilities
		if body.OCS.Meta.Statuscode != v.code || c.Dav["chunking"] != "1.0" || c.Files.TusSupport["version"] != "1.0.0" ||
			len(c.Checksums.SupportedTypes) == 0 || c.Checksums.SupportedTypes[0] != "SHA1" {
			t.Errorf("%s: %+v", v.path, body)
		}
	}
}

func TestLoginFlow(t *testing.T) {
	_, mux, env, clock := newTestHandler(t)
	do := func(method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	start := func() (poll, login string) {
		w := do("POST", FlowPath, "")
		var s struct {
			Poll  struct{ Token, Endpoint string }
			Login string
		}
		if err := json.NewDecoder(w.Body).Decode(&s); err != nil || s.Poll.Endpoint != "http://example.com"+FlowPath+"/poll" {
			t.Fatalf("start: %d %+v %v", w.Code, s, err)
		}
		u, _ := url.Parse(s.Login)
		return s.Poll.Token, u.Path
	}
	poll, login := start()
	if w := do("POST", FlowPath+"/poll", "token="+poll); w.Code != 404 {
		t.Errorf("poll before sign-in: %d", w.Code)
	}
	// An app password does not make another one.
	_, app, err := env.Auth.CreateAppPassword(t.Context(), "alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	if w := do("POST", login, url.Values{"user": {"alice"}, "password": {app}}.Encode()); w.Code != http.StatusForbidden {
		t.Errorf("sign-in with an app password: %d", w.Code)
	}
	if w := do("POST", login, url.Values{"user": {"alice"}, "password": {pw}}.Encode()); w.Code != 200 {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	if w := do("GET", login, ""); w.Code != 404 {
		t.Errorf("the sign-in page after use: %d", w.Code)
	}
	w := do("POST", FlowPath+"/poll", "token="+poll)
	var got struct{ Server, LoginName, AppPassword string }
	if json.NewDecoder(w.Body).Decode(&got) != nil || got.LoginName != "alice" {
		t.Fatalf("poll: %d %+v", w.Code, got)
	}
	if p, err := env.Auth.Login(t.Context(), "", "alice", got.AppPassword); err != nil || p.Via != auth.ViaAppPassword {
		t.Errorf("the minted password: %v, %v", p, err)
	}
	if w := do("POST", FlowPath+"/poll", "token="+poll); w.Code != 404 {
		t.Errorf("second poll: %d", w.Code)
	}
	// Flows expire.
	_, login = start()
	clock.Advance(flowTTL + time.Second)
	if w := do("GET", login, ""); w.Code != 404 {
		t.Errorf("expired sign-in page: %d", w.Code)
	}
}

// TestLoginFlowPerAddress: one client address cannot hold all the pending
// sign-ins (maxFlows), which would lock everyone else out of the login
// flow until they expire.
func TestLoginFlowPerAddress(t *testing.T) {
	_, mux, _, _ := newTestHandler(t)
	start := func(addr string) int {
		r := httptest.NewRequest("POST", FlowPath, nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w.Code
	}
	refused := 0
	for i := range maxFlows {
		if st := start("192.0.2.7:" + strconv.Itoa(1024+i)); st != 200 {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("one address started %d sign-ins", maxFlows)
	}
	if st := start("198.51.100.1:5555"); st != 200 {
		t.Errorf("another address's sign-in: %d", st)
	}
}
