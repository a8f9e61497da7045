package links

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
)

// TestRangeCountsDownloads: a GET whose Range reaches the first byte (a
// suffix range as long as the file, several ranges one of them at 0) is a
// download like a GET without Range, and counts against --max-downloads;
// only a range that continues past byte 0 is free.
func TestRangeCountsDownloads(t *testing.T) {
	env, ann, mux := newFixture(t, auth.Editor)
	ctx := context.Background()
	body := "the whole secret file"
	if _, _, err := env.Tree.Put(ctx, "files", "f.txt", strings.NewReader(body), space.PutOptions{ExpectedSize: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	_, secret, err := env.Auth.CreateLink(ctx, ann,
		auth.LinkOptions{SpaceID: "files", Path: "f.txt", MaxDownloads: 1})
	if err != nil {
		t.Fatal(err)
	}
	get := func(rg string) (int, string) {
		r := httptest.NewRequest("GET", Prefix+secret, nil)
		if rg != "" {
			r.Header.Set("Range", rg)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if st, got := get(""); st != 200 || got != body {
		t.Fatalf("the one download: %d %q", st, got)
	}
	for _, rg := range []string{"bytes=-1000", "bytes=5-,0-4", "bytes= 0-", "bytes=00-"} {
		if st, got := get(rg); st != http.StatusGone {
			t.Errorf("Range %q past the limit: %d %q, want 410", rg, st, got)
		}
	}
	if st, _ := get("bytes=4-"); st != http.StatusPartialContent {
		t.Errorf("a continuing range: %d, want 206", st)
	}
}
