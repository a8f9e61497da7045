package tus

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/store"
)

// uploadToken gives alice an upload token for s/dir with the limits, and
// registers its principal as user name.
func (f *fixture) uploadToken(t *testing.T, name string, maxBytes, maxFiles int64) *auth.Token {
	t.Helper()
	ctx := t.Context()
	tok, secret, err := f.auth.CreateToken(ctx, "alice", auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s", Prefix: "dir", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if maxBytes > 0 || maxFiles > 0 {
		err := f.db.Update(ctx, func(tx *store.Tx) error {
			return tx.PutUploadTokenLimits(ctx, store.UploadTokenLimits{TokenID: tok.ID, MaxBytes: maxBytes, MaxFiles: maxFiles})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.auth.AuthenticateToken(ctx, "127.0.0.1:1", secret)
	if err != nil {
		t.Fatal(err)
	}
	f.users[name] = p
	return p.Token
}

// TestUploadTokenLimits: an upload token is refused at creation, before
// any byte, outside its space and prefix, over its byte and file limits,
// once expired or revoked, and for what its limits cannot count.
func TestUploadTokenLimits(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.uploadToken(t, "partner", 100, 2)
	post := func(user string, hdr ...string) (*http.Response, string) {
		return f.do(t, user, http.MethodPost, "/tus/", nil, hdr...)
	}
	for _, c := range []struct {
		name string
		hdr  []string
		want int
		msg  string
	}{
		{"outside the prefix", []string{"Upload-Length: 5", meta("space", "s", "path", "other.txt")}, http.StatusForbidden,
			"this upload token only allows uploads under s/dir"},
		{"another space", []string{"Upload-Length: 5", meta("space", "t", "path", "dir/x.txt")}, http.StatusForbidden,
			"this upload token only allows uploads under s/dir"},
		{"climbing out", []string{"Upload-Length: 5", meta("space", "s", "path", "dir/../x.txt")}, http.StatusBadRequest, ".."},
		{"over max_bytes", []string{"Upload-Length: 101", meta("space", "s", "path", "dir/big.bin")}, http.StatusRequestEntityTooLarge,
			"allows 100 bytes"},
		{"deferred length", []string{"Upload-Defer-Length: 1", meta("space", "s", "path", "dir/d.bin")}, http.StatusBadRequest,
			"needs Upload-Length"},
		{"partial", []string{"Upload-Length: 5", "Upload-Concat: partial"}, http.StatusForbidden, "partial"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post("partner", c.hdr...)
			if resp.StatusCode != c.want || !strings.Contains(body, c.msg) {
				t.Errorf("%d %q, want %d saying %q", resp.StatusCode, body, c.want, c.msg)
			}
		})
	}
	if files := f.tusFiles(t); len(files) != 0 {
		t.Errorf("refused creations left %v in uploads/tus", files)
	}

	f.create(t, "partner", "dir/a.txt", 60)
	if resp, body := post("partner", "Upload-Length: 41", meta("space", "s", "path", "dir/b.txt")); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("60+41 bytes of 100: %d %s, want 413", resp.StatusCode, body)
	}
	f.create(t, "partner", "dir/b.txt", 40)
	if resp, body := post("partner", "Upload-Length: 0", meta("space", "s", "path", "dir/c.txt")); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "allows 2 files") {
		t.Errorf("third file of 2: %d %s, want 403", resp.StatusCode, body)
	}
	lim, err := f.db.UploadTokenLimits(t.Context(), tok.ID)
	if err != nil || lim.UsedBytes != 100 || lim.UsedFiles != 2 {
		t.Errorf("usage %+v, %v; want 100 bytes, 2 files", lim, err)
	}

	// Without limits a token is held to its prefix only; revoked, it is
	// refused even by a request that authenticated before.
	free := f.uploadToken(t, "free", 0, 0)
	f.create(t, "free", "dir/free.txt", 1000)
	if err := f.auth.RevokeToken(t.Context(), free.ID); err != nil {
		t.Fatal(err)
	}
	if resp, body := post("free", "Upload-Length: 1", meta("space", "s", "path", "dir/late.txt")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d %s, want 401", resp.StatusCode, body)
	}
	f.uploadToken(t, "expiring", 0, 0)
	f.clock.Advance(2 * time.Hour)
	if resp, body := post("expiring", "Upload-Length: 1", meta("space", "s", "path", "dir/late.txt")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %d %s, want 401", resp.StatusCode, body)
	}
}

// TestUploadTokenOwnsItsUploads: the user who made a token cannot resume
// the token's uploads with other credentials, nor another token of theirs.
func TestUploadTokenOwnsItsUploads(t *testing.T) {
	f := newFixture(t, nil)
	f.uploadToken(t, "partner", 0, 0)
	f.uploadToken(t, "other", 0, 0)
	url := f.create(t, "partner", "dir/a.txt", 3)
	for _, user := range []string{"alice", "other"} {
		if resp, body := f.patch(t, user, url, 0, []byte("abc")); resp.StatusCode != http.StatusNotFound {
			t.Errorf("PATCH by %s: %d %s, want 404", user, resp.StatusCode, body)
		}
	}
	if resp, body := f.patch(t, "partner", url, 0, []byte("abc")); resp.StatusCode != http.StatusNoContent {
		t.Errorf("PATCH by the token: %d %s", resp.StatusCode, body)
	}
}
