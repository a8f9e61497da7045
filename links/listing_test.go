package links

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
)

// TestListingHrefsStayRelative: a file name that reads as a URL with a
// scheme ("https:evil.example", which a browser on an http page resolves
// to another site) is linked from a listing as a path below the folder.
func TestListingHrefsStayRelative(t *testing.T) {
	env, ann, mux := newFixture(t, auth.Manager)
	ctx := context.Background()
	if _, err := env.Tree.Mkdir(ctx, "files", "shared"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"https:evil.example", "javascript:alert(1)", "plain.txt"} {
		if _, _, err := env.Tree.Put(ctx, "files", "shared/"+name, strings.NewReader("x"), space.PutOptions{ExpectedSize: 1}); err != nil {
			t.Fatal(err)
		}
	}
	_, secret, err := env.Auth.CreateLink(ctx, ann, auth.LinkOptions{SpaceID: "files", Path: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", Prefix+secret+"/", nil))
	if w.Code != 200 {
		t.Fatalf("listing: %d %s", w.Code, w.Body)
	}
	page := w.Body.String()
	for _, bad := range []string{`href="https:`, `href="javascript:`} {
		if strings.Contains(page, bad) {
			t.Errorf("the listing links %s…: an absolute URL from a file name\n%s", bad, page)
		}
	}
	if !strings.Contains(page, `href="./plain.txt"`) {
		t.Errorf("plain.txt is not linked as ./plain.txt\n%s", page)
	}
}
