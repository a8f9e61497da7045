package web

import (
	"strings"
	"testing"
)

// TestAdminUserEmail: admins give users the e-mail address Phraseanet gets
// with their commits, when adding them or later; bad addresses are 400.
func TestAdminUserEmail(t *testing.T) {
	f := newFixture(t)
	alice, admin := f.login("alice"), f.login("admin")
	if code, body := f.call(admin, "POST", AdminPrefix+"users", `{"name":"dora","email":"dora@example.org"}`); code != 201 || !strings.Contains(body, `"email":"dora@example.org"`) {
		t.Fatalf("add user with e-mail = %d %s", code, body)
	}
	if code, body := f.call(admin, "POST", AdminPrefix+"users", `{"name":"eve","email":"Eve <eve@example.org>"}`); code != 400 {
		t.Errorf("add user with a display name = %d %s, want 400", code, body)
	}
	if code, _ := f.call(alice, "PUT", AdminPrefix+"users/dora/email", `{"email":"x@example.org"}`); code != 403 {
		t.Errorf("alice sets an e-mail = %d, want 403", code)
	}
	if code, body := f.call(admin, "PUT", AdminPrefix+"users/alice/email", `{"email":"alice@example.org"}`); code != 204 {
		t.Fatalf("set e-mail = %d %s", code, body)
	}
	if code, body := f.call(admin, "PUT", AdminPrefix+"users/nobody/email", `{"email":"n@example.org"}`); code != 404 {
		t.Errorf("set e-mail of an unknown user = %d %s, want 404", code, body)
	}
	code, body := f.call(admin, "GET", AdminPrefix+"users", "")
	if code != 200 || !strings.Contains(body, `{"name":"alice","admin":false,"email":"alice@example.org"}`) ||
		!strings.Contains(body, `"email":"dora@example.org"`) {
		t.Errorf("list users = %d %s", code, body)
	}
	if code, _ := f.call(admin, "PUT", AdminPrefix+"users/alice/email", `{"email":""}`); code != 204 {
		t.Errorf("remove e-mail = %d", code)
	}
	if _, body := f.call(admin, "GET", AdminPrefix+"users", ""); !strings.Contains(body, `{"name":"alice","admin":false}`) {
		t.Errorf("after removing the e-mail: %s", body)
	}
}
