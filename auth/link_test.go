package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/store"
)

// linkNodes indexes in s1 a root, a folder "drop" and a file "a.txt".
func linkNodes(t *testing.T, e *env) {
	t.Helper()
	now := e.clock.Now()
	err := e.db.Update(t.Context(), func(tx *store.Tx) error {
		root, err := tx.InsertNode(t.Context(), store.Node{SpaceID: "s1", IsDir: true, MTime: now, CTime: now, ETag: `"r"`})
		if err != nil {
			return err
		}
		if _, err := tx.InsertNode(t.Context(), store.Node{SpaceID: "s1", ParentID: root.ID, Path: "drop", Name: "drop", IsDir: true, MTime: now, CTime: now, ETag: `"d"`}); err != nil {
			return err
		}
		_, err = tx.InsertNode(t.Context(), store.Node{SpaceID: "s1", ParentID: root.ID, Path: "a.txt", Name: "a.txt", Size: 1, MTime: now, CTime: now, ETag: `"a"`})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLinkRoles: editors make read links, managers drop links; viewers
// neither; a link dies with its creator's role and with its expiry.
func TestLinkRoles(t *testing.T) {
	e := newEnv(t, nil)
	linkNodes(t, e)
	ctx := t.Context()
	for _, u := range []struct{ name, role string }{{"vic", "viewer"}, {"eve", "editor"}, {"max", "manager"}} {
		e.addUser(t, u.name, false)
		if err := e.svc.Grant(ctx, "s1", u.name, auth.Role(u.role)); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) *auth.Principal {
		u, err := e.svc.User(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return &auth.Principal{User: u}
	}
	for _, c := range []struct {
		user, kind, path string
		want             error
	}{
		{"vic", store.LinkRead, "a.txt", auth.ErrForbidden},
		{"eve", store.LinkRead, "a.txt", nil},
		{"eve", store.LinkUpload, "drop", auth.ErrForbidden},
		{"max", store.LinkUpload, "drop", nil},
		{"max", store.LinkUpload, "a.txt", auth.ErrBadToken},
		{"max", store.LinkRead, "nothing", auth.ErrNotFound},
	} {
		_, secret, err := e.svc.CreateLink(ctx, p(c.user), auth.LinkOptions{SpaceID: "s1", Path: c.path, Kind: c.kind})
		if c.want == nil && (err != nil || len(secret) < 22) || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s makes a %s link to %s: %v (secret %d chars), want %v", c.user, c.kind, c.path, err, len(secret), c.want)
		}
	}
	// A link of eve's lives while she is an editor and until it expires.
	_, secret, err := e.svc.CreateLink(ctx, p("eve"), auth.LinkOptions{SpaceID: "s1", Path: "a.txt", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ResolveLink(ctx, secret); err != nil {
		t.Fatalf("fresh link: %v", err)
	}
	if _, err := e.svc.ResolveLink(ctx, secret+"x"); !errors.Is(err, auth.ErrLinkGone) {
		t.Errorf("a wrong secret: %v", err)
	}
	if err := e.svc.Grant(ctx, "s1", "eve", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ResolveLink(ctx, secret); !errors.Is(err, auth.ErrLinkGone) || !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("link of a creator now viewer: %v, want ErrLinkGone", err)
	}
	if err := e.svc.Grant(ctx, "s1", "eve", auth.Editor); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ResolveLink(ctx, secret); err != nil {
		t.Errorf("role given back: %v", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.svc.ResolveLink(ctx, secret); !errors.Is(err, auth.ErrLinkGone) {
		t.Errorf("expired link: %v", err)
	}
	// Only its creator and the space's managers see and revoke a link.
	l, secret, err := e.svc.CreateLink(ctx, p("eve"), auth.LinkOptions{SpaceID: "s1", Path: "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if ls, _ := e.svc.Links(ctx, p("vic"), "s1"); len(ls) != 0 {
		t.Errorf("a viewer sees %d links", len(ls))
	}
	if _, err := e.svc.RevokeLink(ctx, p("vic"), l.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("a viewer revokes a link: %v", err)
	}
	if _, err := e.svc.RevokeLink(ctx, p("max"), "https://wharf.example/s/"+secret); err != nil {
		t.Errorf("a manager revokes by URL: %v", err)
	}
	if _, err := e.svc.ResolveLink(ctx, secret); !errors.Is(err, auth.ErrLinkGone) {
		t.Errorf("revoked link: %v", err)
	}
}

// TestLinkPrincipal: a link's principal reaches only its node, at most as
// an editor, and is named after the link.
func TestLinkPrincipal(t *testing.T) {
	e := newEnv(t, nil)
	linkNodes(t, e)
	ctx := t.Context()
	admin := e.addUser(t, "root", true)
	l, _, err := e.svc.CreateLink(ctx, &auth.Principal{User: admin}, auth.LinkOptions{SpaceID: "s1", Path: "drop", Kind: store.LinkUpload})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.LinkPrincipal(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "link:"+l.ID {
		t.Errorf("Name() = %q", p.Name())
	}
	if role, ok, _ := e.svc.RoleIn(ctx, p, "s1"); !ok || role != auth.Editor {
		t.Errorf("role in s1: %q %v, want editor", role, ok)
	}
	if _, ok, _ := e.svc.RoleIn(ctx, p, "s2"); ok {
		t.Errorf("a link reaches another space")
	}
	for path, want := range map[string]bool{"drop": true, "drop/x.jpg": true, "a.txt": false, "dropx": false, "": false} {
		if got := p.Covers("s1", path); got != want {
			t.Errorf("Covers(s1, %q) = %v, want %v", path, got, want)
		}
	}
}

// TestLinkPasswordThrottle: a link's password is checked with argon2id;
// wrong guesses are throttled for that link, even for the right one.
func TestLinkPasswordThrottle(t *testing.T) { forEachThrottle(t, testLinkPasswordThrottle) }

func testLinkPasswordThrottle(t *testing.T, newEnv envMaker) {
	e := newEnv(t, func(c *auth.Config) { c.MaxFailures = 3; c.FailureDelay = -1 })
	linkNodes(t, e)
	ctx := t.Context()
	admin := e.addUser(t, "root", true)
	l, _, err := e.svc.CreateLink(ctx, &auth.Principal{User: admin}, auth.LinkOptions{SpaceID: "s1", Path: "a.txt", Password: "open sesame"})
	if err != nil {
		t.Fatal(err)
	}
	if l.PasswordHash == "" || l.PasswordHash == "open sesame" {
		t.Fatalf("password kept as %q", l.PasswordHash)
	}
	if err := e.svc.CheckLinkPassword(ctx, "192.0.2.1:1", l, "open sesame"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := e.svc.CheckLinkPassword(ctx, "192.0.2.1:1", l, ""); !errors.Is(err, auth.ErrLinkPassword) {
		t.Errorf("no password: %v", err)
	}
	for range 3 {
		if err := e.svc.CheckLinkPassword(ctx, "192.0.2.1:1", l, "guess"); !errors.Is(err, auth.ErrLinkPassword) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if err := e.svc.CheckLinkPassword(ctx, "192.0.2.1:1", l, "open sesame"); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("after 3 failures: %v, want throttled", err)
	}
	e.clock.Advance(16 * time.Minute)
	if err := e.svc.CheckLinkPassword(ctx, "192.0.2.1:1", l, "open sesame"); err != nil {
		t.Errorf("after the window: %v", err)
	}
	// The browser's cookie: valid for this link and password only.
	c := e.svc.LinkCookie(l)
	if !e.svc.LinkCookieOK(l, c) {
		t.Errorf("fresh cookie refused")
	}
	other := l
	other.PasswordHash = "changed"
	if e.svc.LinkCookieOK(other, c) || e.svc.LinkCookieOK(l, c+"0") {
		t.Errorf("cookie accepted for another password or altered")
	}
}
