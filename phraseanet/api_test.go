package phraseanet

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCommitAPI(t *testing.T) {
	f := newFixture(t, nil)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePull, Folder: "in",
		Params:     map[string]string{"statusbit-4": "1"},
		FormSchema: []byte(`{"fields":[{"name":"title","required":true},{"name":"rating","type":"number"},{"name":"kind","allowed":["a","b"]}]}`)})
	a := f.put(t, "in/a.jpg", "aaa")
	f.put(t, "in/b.jpg", "bbb")
	f.put(t, "in/c.jpg", "ccc")
	f.mkdirAll(t, "in/dir")
	commits := "/api/v1/targets/" + tg.ID + "/commits"

	t.Run("created", func(t *testing.T) {
		body := fmt.Sprintf(`{"nodes":[%d],"paths":["in/b.jpg"],"formData":{"title":"T","statusbit-4":"0","__notify":true}}`, a.ID)
		status, resp, _ := f.do(t, "POST", commits, basic("alice"), "application/json", body)
		if status != 201 {
			t.Fatalf("%d %s", status, resp)
		}
		var out struct {
			ID, Token, State string
			Assets           []struct{ ID, Path string }
		}
		json.Unmarshal([]byte(resp), &out)
		if out.ID == "" || len(out.Token) != 42 || out.State != "pending" || len(out.Assets) != 2 ||
			out.Assets[0].Path != "in/a.jpg" || out.Assets[1].Path != "in/b.jpg" || out.Assets[0].ID == "" {
			t.Errorf("response %s", resp)
		}
		c := f.getCommit(t, out.ID)
		var form map[string]any
		json.Unmarshal([]byte(c.FormData), &form)
		if form["title"] != "T" || form["statusbit-4"] != "1" || form["collection_destination"] != "42" || form["__notify"] != nil {
			t.Errorf("form data %v", form)
		}
		u, _ := f.auth.User(f.ctx, "alice")
		if c.UserID != u.ID {
			t.Errorf("user %d, want alice (%d)", c.UserID, u.ID)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			name, user, url, body string
			want                  int
			contains              string
		}{
			{"already committed", "alice", commits, `{"paths":["in/a.jpg"],"formData":{"title":"x"}}`, 409, "in/a.jpg"},
			{"unknown file", "alice", commits, `{"paths":["in/nope.jpg"],"formData":{"title":"x"}}`, 404, ""},
			{"unknown node", "alice", commits, `{"nodes":[99999],"formData":{"title":"x"}}`, 404, ""},
			{"unknown target", "alice", "/api/v1/targets/" + newUUID() + "/commits", `{"paths":["in/c.jpg"]}`, 404, ""},
			{"viewer", "bob", commits, `{"paths":["in/c.jpg"],"formData":{"title":"x"}}`, 403, ""},
			{"no role", "carol", commits, `{"paths":["in/c.jpg"],"formData":{"title":"x"}}`, 404, ""},
			{"no credentials", "", commits, `{"paths":["in/c.jpg"]}`, 401, ""},
			{"a directory", "alice", commits, `{"paths":["in/dir"],"formData":{"title":"x"}}`, 400, ""},
			{"no files", "alice", commits, `{"formData":{"title":"x"}}`, 400, ""},
			{"not JSON", "alice", commits, `nodes=1`, 400, ""},
			{"form not an object", "alice", commits, `{"paths":["in/c.jpg"],"formData":"x"}`, 400, "formData"},
			{"folder-relative path", "alice", commits, `{"paths":["c.jpg"],"formData":{"title":"x","rating":"high"}}`, 400, "rating"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				authz := ""
				if tt.user != "" {
					authz = basic(tt.user)
				}
				status, resp, _ := f.do(t, "POST", tt.url, authz, "application/json", tt.body)
				if status != tt.want || !strings.Contains(resp, tt.contains) {
					t.Errorf("%d %s, want %d containing %q", status, resp, tt.want, tt.contains)
				}
			})
		}
	})

	t.Run("invalid form data names each field", func(t *testing.T) {
		status, resp, _ := f.do(t, "POST", commits, basic("alice"), "application/json",
			`{"paths":["in/c.jpg"],"formData":{"rating":"high","kind":"z"}}`)
		m := decode(t, resp)
		fields, _ := m["fields"].(map[string]any)
		if status != 400 || m["error"] != "invalid form data" || len(fields) != 3 ||
			fields["title"] != "required" || fields["rating"] != "must be a number" || fields["kind"] == nil {
			t.Errorf("%d %s", status, resp)
		}
		if n, _ := f.db.HandedOff(f.ctx, []int64{a.ID + 2}); len(n) != 0 {
			t.Error("a refused commit took the file")
		}
	})

	t.Run("lists", func(t *testing.T) {
		status, resp, _ := f.do(t, "GET", "/api/v1/targets", basic("bob"), "", "")
		var ts []map[string]any
		json.Unmarshal([]byte(resp), &ts)
		if status != 200 || len(ts) != 1 || ts[0]["id"] != tg.ID || ts[0]["mode"] != "pull" || strings.Contains(resp, f.secrets[tg.ID]) || strings.Contains(resp, tg.ClientSecretHash) {
			t.Errorf("targets for bob: %d %s", status, resp)
		}
		if _, resp, _ := f.do(t, "GET", "/api/v1/targets", basic("carol"), "", ""); strings.TrimSpace(resp) != "[]" {
			t.Errorf("targets for carol: %s", resp)
		}
		status, resp, _ = f.do(t, "GET", commits, basic("bob"), "", "")
		var cs []map[string]any
		json.Unmarshal([]byte(resp), &cs)
		if status != 200 || len(cs) != 1 || cs[0]["state"] != "pending" || cs[0]["token"] != nil || len(cs[0]["assets"].([]any)) != 2 {
			t.Errorf("commits for bob: %d %s", status, resp)
		}
		if status, _, _ := f.do(t, "GET", commits, basic("carol"), "", ""); status != 404 {
			t.Errorf("commits for carol: %d", status)
		}
	})
}

func TestAfterAck(t *testing.T) {
	f := newFixture(t, nil)
	keep := f.target(t, TargetSpec{Name: "keep", Mode: ModePull, Folder: "keep", Retention: time.Hour, Every: "1m"})
	del := f.target(t, TargetSpec{Name: "delete", Mode: ModePull, Folder: "del", AfterAck: "delete"})
	move := f.target(t, TargetSpec{Name: "move", Mode: ModePull, Folder: "mv", AfterAck: "move:_ingested", Grace: time.Hour})
	f.put(t, "keep/a.jpg", "a")
	f.put(t, "del/a.jpg", "a")
	f.put(t, "mv/sub/a.jpg", "a")
	f.put(t, "_ingested/sub/a.jpg", "taken") // the move picks another name
	ck, _ := f.commit(t, keep.ID, "keep/a.jpg")
	cd, _ := f.commit(t, del.ID, "del/a.jpg")
	cm, _ := f.commit(t, move.ID, "mv/sub/a.jpg")
	for _, c := range []Commit{ck, cd, cm} {
		if status, _, _ := f.do(t, "POST", "/commits/"+c.ID+"/ack", "AssetToken "+c.Token, "", ""); status != 200 {
			t.Fatal("ack failed")
		}
	}
	f.svc.sweep(f.ctx)
	if !f.exists("keep/a.jpg") || f.exists("del/a.jpg") || !f.exists("mv/sub/a.jpg") {
		t.Errorf("after the sweep: keep %v, delete %v, move (grace) %v",
			f.exists("keep/a.jpg"), f.exists("del/a.jpg"), f.exists("mv/sub/a.jpg"))
	}
	f.clock.Advance(time.Hour)
	f.svc.sweep(f.ctx)
	if f.exists("mv/sub/a.jpg") || !f.exists("_ingested/sub/a (2).jpg") {
		t.Errorf("after the grace period: source %v, moved %v", f.exists("mv/sub/a.jpg"), f.exists("_ingested/sub/a (2).jpg"))
	}
	if r, _, _ := f.tree.Open(f.ctx, "s", "_ingested/sub/a.jpg"); r != nil {
		r.Close()
	} else {
		t.Error("the file already in the move folder is gone")
	}
	for _, c := range []Commit{ck, cd, cm} {
		if got := f.getCommit(t, c.ID); got.DisposedAt.IsZero() {
			t.Errorf("commit %s not disposed", c.ID)
		}
	}
	// Retention: the keep target's rows go after an hour, the file stays
	// handed off.
	f.clock.Advance(time.Minute)
	f.svc.sweep(f.ctx)
	if _, err := f.db.Commit(f.ctx, ck.ID); err == nil {
		t.Error("commit kept past its retention")
	}
	if _, err := f.db.Commit(f.ctx, cd.ID); err != nil {
		t.Error("commit pruned before its retention (30 days)")
	}
	if n, _ := f.svc.RunSchedule(f.ctx, keep.ID); n != 0 || !f.exists("keep/a.jpg") {
		t.Error("a kept file was committed again after its commit was pruned")
	}
	if status, _, _ := f.do(t, "GET", "/commits/"+ck.ID, "AssetToken "+ck.Token, "", ""); status != 404 {
		t.Errorf("pruned commit: %d", status)
	}
}
