package space

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/wharfhq/wharf/store"
)

type fixture struct {
	tree *Tree
	db   *store.DB
	dir  string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tree, err := New(Config{DB: db, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	return &fixture{tree: tree, db: db, dir: dir}
}

// space creates a space with the given id and quota.
func (f *fixture) space(t testing.TB, id string, quota int64) {
	t.Helper()
	if _, err := f.tree.CreateSpaceWithID(context.Background(), id, "Space "+id, quota); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) put(t testing.TB, space, p, content string) Node {
	t.Helper()
	n, _, err := f.tree.Put(context.Background(), space, p, strings.NewReader(content), PutOptions{ExpectedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) mkdir(t testing.TB, space, p string) Node {
	t.Helper()
	n, err := f.tree.Mkdir(context.Background(), space, p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// read returns a file's content through Open ("" and the error if it fails).
func (f *fixture) read(space, p string) (string, error) {
	file, _, err := f.tree.Open(context.Background(), space, p)
	if err != nil {
		return "", err
	}
	defer file.Close()
	b, err := io.ReadAll(file)
	return string(b), err
}

func (f *fixture) used(t testing.TB, space string) int64 {
	t.Helper()
	used, _, err := f.tree.Usage(context.Background(), space)
	if err != nil {
		t.Fatal(err)
	}
	return used
}

// staging lists the staging entries left in uploads/, but for the spares
// the tree keeps (spares.go).
func (f *fixture) staging(t testing.TB) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(f.dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), stagingPfx) && !f.tree.spares.holds(filepath.Join(f.dir, "uploads", e.Name())) {
			out = append(out, e.Name())
		}
	}
	return out
}

func names(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Path)
	}
	return out
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestClean(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: ""},
		{in: "/", want: ""},
		{in: ".", want: ""},
		{in: "/a/b", want: "a/b"},
		{in: "a/b/", want: "a/b"},
		{in: "a//./b/.", want: "a/b"},
		{in: "a/.../b..", want: "a/.../b.."},
		{in: "e\u0301t\u00e9", want: "\u00e9t\u00e9"}, // NFD from a Mac becomes NFC
		{in: "x/C:", want: "x/C:"},                    // a drive only matters first
		{in: "._photo.jpg", want: "._photo.jpg"},
		{in: strings.Repeat("a", 255), want: strings.Repeat("a", 255)},
		{in: "..", bad: true},
		{in: "a/../b", bad: true},
		{in: "a/..", bad: true},
		{in: "a\x00b", bad: true},
		{in: "a\nb", bad: true},
		{in: "a\u0085b", bad: true}, // C1 control
		{in: "a\\b", bad: true},
		{in: "C:/x", bad: true},
		{in: "c:", bad: true},
		{in: "/D:x", bad: true},
		{in: "a\xffb", bad: true},
		{in: strings.Repeat("a", 256), bad: true},
		{in: strings.Repeat("\u00e9", 128), bad: true}, // 256 bytes
		{in: strings.Repeat("abcdefg/", 600), bad: true},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			got, err := Clean(tc.in)
			if tc.bad {
				if !errors.Is(err, ErrBadPath) {
					t.Errorf("Clean(%q) = %q, %v; want ErrBadPath", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Clean(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCreateSpace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name, wantID string
		wantErr      error
	}{
		{"Photos 2024", "photos-2024", nil},
		{"Photos 2024", "", ErrExists},  // the same name again: refused
		{"photos  2024", "", ErrExists}, // the same but for case and spaces
		{"photos  2024!", "photos-2024-2", nil},
		{"Café Crème", "cafe-creme", nil},
		{"日本語", "space", nil},
		{strings.Repeat("Long name ", 10), "long-name-long-name-long-name-long-name-long-nam", nil},
		{strings.Repeat("Long name ", 9) + "Long name!", "long-name-long-name-long-name-long-name-long-n-2", nil},
		{"", "", ErrBadID},
		{"  ", "", ErrBadID},
		{"a\x00b", "", ErrBadID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := f.tree.CreateSpace(ctx, tc.name, 0)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("CreateSpace(%q) = %+v, %v; want %v", tc.name, s, err, tc.wantErr)
				}
				return
			}
			if err != nil || s.ID != tc.wantID || s.Name != tc.name || !ValidID(s.ID) {
				t.Fatalf("CreateSpace(%q) = %+v, %v; want id %q", tc.name, s, err, tc.wantID)
			}
			if fi, err := os.Stat(filepath.Join(f.dir, "spaces", s.ID)); err != nil || !fi.IsDir() {
				t.Errorf("space directory: %v", err)
			}
			if root, err := f.tree.Stat(ctx, s.ID, "/"); err != nil || !root.IsDir || root.Path != "" {
				t.Errorf("root node = %+v, %v", root, err)
			}
		})
	}
	for _, id := range []string{"Files", "-files", "files-", "fi$les", "a/b", "..", strings.Repeat("a", 49)} {
		if _, err := f.tree.CreateSpaceWithID(ctx, id, "x", 0); !errors.Is(err, ErrBadID) {
			t.Errorf("CreateSpaceWithID(%q) = %v, want ErrBadID", id, err)
		}
	}
	if _, err := f.tree.CreateSpaceWithID(ctx, "files", "Files", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tree.CreateSpaceWithID(ctx, "files", "Files", 0); !errors.Is(err, ErrExists) {
		t.Errorf("CreateSpaceWithID(taken) = %v, want ErrExists", err)
	}
	ss, err := f.tree.Spaces(ctx)
	if err != nil || len(ss) != 7 {
		t.Errorf("Spaces() = %d spaces, %v; want 7 (six made above, and files)", len(ss), err)
	}
}

func TestPutCreateReplace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.mkdir(t, "s", "docs")
	dirBefore, _ := f.tree.Stat(ctx, "s", "docs")
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

	n, created, err := f.tree.Put(ctx, "s", "/docs/a.txt", strings.NewReader("hello"), PutOptions{ExpectedSize: 5, MTime: mtime})
	if err != nil || !created {
		t.Fatalf("Put(new) = %v, %v; want created", created, err)
	}
	if n.Size != 5 || n.SHA256 != sum("hello") || !n.MTime.Equal(mtime) || n.IsDir || n.Name != "a.txt" ||
		!strings.HasPrefix(n.MIME, "text/plain") || len(n.ETag) != 18 || n.ETag[0] != '"' {
		t.Errorf("new node = %+v", n)
	}
	if got, _ := f.tree.Stat(ctx, "s", "docs/a.txt"); got != n {
		t.Errorf("Stat = %+v, want %+v", got, n)
	}
	dirAfter, _ := f.tree.Stat(ctx, "s", "docs")
	if dirAfter.ETag == dirBefore.ETag {
		t.Error("parent ETag unchanged after a file was added")
	}
	if fi, err := os.Stat(filepath.Join(f.dir, "spaces", "s", "docs", "a.txt")); err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != filePerm {
		t.Errorf("file on disk: %v, %v", fi, err)
	}

	n2, created, err := f.tree.Put(ctx, "s", "docs/a.txt", strings.NewReader("hello, world"), PutOptions{ExpectedSize: -1, MTime: mtime})
	if err != nil || created {
		t.Fatalf("Put(replace) = %v, %v; want not created", created, err)
	}
	if n2.ID != n.ID || n2.ETag == n.ETag || n2.SHA256 != sum("hello, world") || n2.Size != 12 || !n2.CTime.Equal(n.CTime) {
		t.Errorf("replaced node = %+v (was %+v)", n2, n)
	}
	if got, _ := f.read("s", "docs/a.txt"); got != "hello, world" {
		t.Errorf("content = %q", got)
	}
	// Sync clients skip a folder whose ETag is unchanged: new content
	// below must show at every level above (the root included).
	rootBefore, _ := f.tree.Stat(ctx, "s", "")
	if d, _ := f.tree.Stat(ctx, "s", "docs"); d.ETag == dirAfter.ETag {
		t.Error("parent ETag unchanged on a replace")
	}
	f.tree.Put(ctx, "s", "docs/a.txt", strings.NewReader("hello again"), PutOptions{ExpectedSize: -1, MTime: mtime})
	if root, _ := f.tree.Stat(ctx, "s", ""); root.ETag == rootBefore.ETag {
		t.Error("root ETag unchanged on a replace two levels down")
	}
	// Same bytes, new mtime: new ETag.
	n3, _, err := f.tree.Put(ctx, "s", "docs/a.txt", strings.NewReader("hello, world"), PutOptions{ExpectedSize: -1, MTime: mtime.Add(time.Second)})
	if err != nil || n3.ETag == n2.ETag {
		t.Errorf("ETag after an mtime-only change: %s vs %s, %v", n3.ETag, n2.ETag, err)
	}
	f.put(t, "s", "b.bin", "")
	if got := f.used(t, "s"); got != 12 {
		t.Errorf("used = %d, want 12", got)
	}
	if s := f.staging(t); len(s) != 0 {
		t.Errorf("staging files left: %v", s)
	}
}

// failingReader yields n bytes of 'x', then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n, 1000)
	for i := range k {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestPutAbortedKeepsOld(t *testing.T) {
	f := newFixture(t)
	f.space(t, "s", 0)
	old := f.put(t, "s", "f", "old content")
	boom := errors.New("connection reset")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		body    io.Reader
		o       PutOptions
		wantErr error
	}{
		{"reader error", context.Background(), &failingReader{n: 5000, err: boom}, PutOptions{ExpectedSize: -1}, boom},
		{"cancelled", cancelled, strings.NewReader("new"), PutOptions{ExpectedSize: -1}, context.Canceled},
		{"shorter than announced", context.Background(), strings.NewReader("new"), PutOptions{ExpectedSize: 10}, ErrSizeMismatch},
		{"longer than announced", context.Background(), strings.NewReader("new content"), PutOptions{ExpectedSize: 3}, ErrSizeMismatch},
		{"empty but announced", context.Background(), strings.NewReader(""), PutOptions{ExpectedSize: 3}, ErrSizeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.tree.Put(tc.ctx, "s", "f", tc.body, tc.o)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Put = %v, want %v", err, tc.wantErr)
			}
			if got, _ := f.read("s", "f"); got != "old content" {
				t.Errorf("content = %q, want the old one", got)
			}
			if n, _ := f.tree.Stat(context.Background(), "s", "f"); n != old {
				t.Errorf("node changed: %+v", n)
			}
			if s := f.staging(t); len(s) != 0 {
				t.Errorf("staging files left: %v", s)
			}
			if _, _, err := f.tree.Put(tc.ctx, "s", "new", tc.body, tc.o); err == nil {
				t.Error("Put of a new file succeeded")
			}
			if _, err := os.Lstat(filepath.Join(f.dir, "spaces", "s", "new")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed new file is on disk: %v", err)
			}
		})
	}
}

// countingReader is an endless body that counts what was read of it.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	r.n += int64(len(p))
	return len(p), nil
}

func TestPutQuota(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const quota = 1 << 20
	f.space(t, "s", quota)
	f.put(t, "s", "a", strings.Repeat("a", quota-100))

	body := &countingReader{}
	_, _, err := f.tree.Put(ctx, "s", "b", body, PutOptions{ExpectedSize: -1})
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("Put past the quota = %v, want ErrQuota", err)
	}
	if body.n > 1<<20 {
		t.Errorf("read %d bytes of an endless body before refusing", body.n)
	}
	body = &countingReader{}
	_, _, err = f.tree.Put(ctx, "s", "b", io.LimitReader(body, precheckMin+1), PutOptions{ExpectedSize: precheckMin + 1})
	if !errors.Is(err, ErrQuota) || body.n != 0 {
		t.Errorf("Put with ExpectedSize past the quota = %v after %d bytes, want ErrQuota before reading", err, body.n)
	}
	// A small body too, under a quota: precheck skips its lookups only
	// where there is none.
	body = &countingReader{}
	_, _, err = f.tree.Put(ctx, "s", "b", io.LimitReader(body, 200), PutOptions{ExpectedSize: 200})
	if !errors.Is(err, ErrQuota) || body.n != 0 {
		t.Errorf("Put of a small body past the quota = %v after %d bytes, want ErrQuota before reading", err, body.n)
	}
	if s := f.staging(t); len(s) != 0 {
		t.Errorf("staging files left: %v", s)
	}
	if _, err := f.tree.Stat(ctx, "s", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused file indexed: %v", err)
	}
	// Exactly up to the quota is fine, and so is replacing a file by one
	// no bigger, even when full.
	f.put(t, "s", "b", strings.Repeat("b", 100))
	f.put(t, "s", "a", "smaller")
	if got := f.used(t, "s"); got != 107 {
		t.Errorf("used = %d, want 107", got)
	}
	if err := f.tree.SetQuota(ctx, "s", 5); err != nil {
		t.Fatal(err)
	}
	f.put(t, "s", "b", "tiny") // shrinking while over quota
	if _, _, err := f.tree.Put(ctx, "s", "c", strings.NewReader("x"), PutOptions{ExpectedSize: -1}); !errors.Is(err, ErrQuota) {
		t.Errorf("growing while over quota = %v, want ErrQuota", err)
	}
}

func TestPutConditions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	cur := f.put(t, "s", "f", "v1")
	tests := []struct {
		name        string
		path        string
		o           PutOptions
		wantCreated bool
		wantErr     error
	}{
		{"If-Match * on missing", "nope", PutOptions{IfMatch: "*"}, false, ErrPreconditionFailed},
		{"If-Match other", "f", PutOptions{IfMatch: `"0000000000000000"`}, false, ErrPreconditionFailed},
		{"If-Match weak never matches", "f", PutOptions{IfMatch: "W/" + cur.ETag}, false, ErrPreconditionFailed},
		{"If-None-Match * on existing", "f", PutOptions{IfNoneMatch: "*"}, false, ErrPreconditionFailed},
		{"If-None-Match current", "f", PutOptions{IfNoneMatch: `"x", ` + cur.ETag}, false, ErrPreconditionFailed},
		{"If-None-Match * on missing", "g", PutOptions{IfNoneMatch: "*"}, true, nil},
		{"If-Match current in list", "f", PutOptions{IfMatch: `"x", ` + cur.ETag}, false, nil},
		{"If-Match * on existing", "f", PutOptions{IfMatch: "*"}, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.ExpectedSize = -1
			_, created, err := f.tree.Put(ctx, "s", tc.path, strings.NewReader(tc.name), tc.o)
			if !errors.Is(err, tc.wantErr) || (err == nil && created != tc.wantCreated) {
				t.Errorf("Put = %v, %v; want %v, %v", created, err, tc.wantCreated, tc.wantErr)
			}
		})
	}
}

func TestPutErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.put(t, "s", "file", "x")
	f.mkdir(t, "s", "dir")
	for _, tc := range []struct {
		path    string
		wantErr error
	}{
		{"missing/f", ErrParentMissing},
		{"file/f", ErrNotDir},
		{"dir", ErrIsDir},
		{"/", ErrIsDir},
		{"../f", ErrBadPath},
	} {
		_, _, err := f.tree.Put(ctx, "s", tc.path, strings.NewReader("y"), PutOptions{ExpectedSize: -1})
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("Put(%q) = %v, want %v", tc.path, err, tc.wantErr)
		}
	}
	if _, _, err := f.tree.Put(ctx, "nope", "f", strings.NewReader("y"), PutOptions{ExpectedSize: -1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Put in an unknown space = %v, want ErrNotFound", err)
	}
	if s := f.staging(t); len(s) != 0 {
		t.Errorf("staging files left: %v", s)
	}
}

func TestPutFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	staged := filepath.Join(f.dir, "uploads", "tus-123")
	if err := os.WriteFile(staged, []byte("from tus"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, created, err := f.tree.PutFile(ctx, "s", "t.txt", staged, "", PutOptions{ExpectedSize: 8})
	if err != nil || !created || n.SHA256 != sum("from tus") {
		t.Fatalf("PutFile = %+v, %v, %v", n, created, err)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file still there: %v", err)
	}
	if got, _ := f.read("s", "t.txt"); got != "from tus" {
		t.Errorf("content = %q", got)
	}
	outside := filepath.Join(t.TempDir(), "x")
	os.WriteFile(outside, []byte("x"), 0o600)
	if _, _, err := f.tree.PutFile(ctx, "s", "x", outside, "", PutOptions{ExpectedSize: -1}); !errors.Is(err, ErrBadPath) {
		t.Errorf("PutFile from outside uploads/ = %v, want ErrBadPath", err)
	}
}

// TestPutFileRecord: PutOptions.Record writes in the install's own
// transaction, and its failure undoes the install.
func TestPutFileRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	stage := func(name, content string) string {
		p := filepath.Join(f.dir, "uploads", name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.put(t, "s", "keep.txt", "old")
	boom := errors.New("record refused")
	_, _, err := f.tree.PutFile(ctx, "s", "keep.txt", stage("a", "new"), "", PutOptions{ExpectedSize: 3,
		Record: func(tx *store.Tx, n Node, created bool) error {
			if n.Path != "keep.txt" || created || n.SHA256 != sum("new") {
				t.Errorf("Record got %+v, created %v", n, created)
			}
			return boom
		}})
	if !errors.Is(err, boom) {
		t.Fatalf("PutFile with a failing Record = %v, want it wrapped", err)
	}
	if got, _ := f.read("s", "keep.txt"); got != "old" {
		t.Errorf("after a failed Record the file reads %q, want the old content", got)
	}
	if n, err := f.tree.Stat(ctx, "s", "keep.txt"); err != nil || n.SHA256 != sum("old") {
		t.Errorf("after a failed Record the index has %+v, %v", n, err)
	}

	// What Record writes commits with the file: a space policy set in the
	// same transaction stands for any record of the caller's.
	var id int64
	n, created, err := f.tree.PutFile(ctx, "s", "new.txt", stage("b", "fresh"), "", PutOptions{ExpectedSize: 5,
		Record: func(tx *store.Tx, n Node, created bool) error {
			id = n.ID
			return tx.SetSpacePolicy(ctx, "s", `{"note":"with the file"}`)
		}})
	if err != nil || !created || n.ID != id || id == 0 {
		t.Fatalf("PutFile = %+v, %v, %v; Record saw id %d", n, created, err, id)
	}
	if pol, err := f.db.SpacePolicy(ctx, "s"); err != nil || pol != `{"note":"with the file"}` {
		t.Errorf("Record's write: %q, %v", pol, err)
	}
}

func TestMkdirList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	for _, p := range []string{"b", "a", "b/z", "b/c"} {
		f.mkdir(t, "s", p)
	}
	f.put(t, "s", "b/y.txt", "y")
	f.put(t, "s", "B", "upper")
	if fi, err := os.Stat(filepath.Join(f.dir, "spaces", "s", "b", "z")); err != nil || !fi.IsDir() {
		t.Errorf("directory on disk: %v", err)
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"", []string{"B", "a", "b"}},
		{"/b/", []string{"b/c", "b/y.txt", "b/z"}},
		{"a", nil},
	} {
		ns, err := f.tree.List(ctx, "s", tc.path)
		if err != nil || !slices.Equal(names(ns), tc.want) {
			t.Errorf("List(%q) = %v, %v; want %v", tc.path, names(ns), err, tc.want)
		}
	}
	for _, tc := range []struct {
		op, path string
		wantErr  error
	}{
		{"list", "B", ErrNotDir},
		{"list", "nope", ErrNotFound},
		{"mkdir", "b", ErrExists},
		{"mkdir", "B", ErrExists},
		{"mkdir", "", ErrExists},
		{"mkdir", "x/y", ErrParentMissing},
		{"mkdir", "B/y", ErrNotDir},
	} {
		var err error
		if tc.op == "list" {
			_, err = f.tree.List(ctx, "s", tc.path)
		} else {
			_, err = f.tree.Mkdir(ctx, "s", tc.path)
		}
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s(%q) = %v, want %v", tc.op, tc.path, err, tc.wantErr)
		}
	}
}

func TestMove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.space(t, "small", 10)
	f.mkdir(t, "s", "d")
	f.mkdir(t, "s", "d/sub")
	deep := f.put(t, "s", "d/sub/deep.txt", "deeper content")
	file := f.put(t, "s", "f.txt", "file")
	f.mkdir(t, "s", "other")
	d, _ := f.tree.Stat(ctx, "s", "d")

	// A file, renamed.
	if created, err := f.tree.Move(ctx, "s", "f.txt", "s", "other/g.jpg", false); err != nil || !created {
		t.Fatalf("Move(file) = %v, %v", created, err)
	}
	g, _ := f.tree.Stat(ctx, "s", "other/g.jpg")
	if g.ID != file.ID || g.ETag != file.ETag || g.MIME != "image/jpeg" || g.Name != "g.jpg" {
		t.Errorf("moved file = %+v", g)
	}
	if got, _ := f.read("s", "other/g.jpg"); got != "file" {
		t.Errorf("moved content = %q", got)
	}
	if _, err := f.tree.Stat(ctx, "s", "f.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("source still indexed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "spaces", "s", "f.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("source still on disk: %v", err)
	}

	// A directory, with its descendants.
	if _, err := f.tree.Move(ctx, "s", "d", "s", "other/e", false); err != nil {
		t.Fatal(err)
	}
	all, _ := f.tree.Descendants(ctx, "s", "")
	if want := []string{"other", "other/e", "other/e/sub", "other/e/sub/deep.txt", "other/g.jpg"}; !slices.Equal(names(all), want) {
		t.Errorf("after moving d: %v, want %v", names(all), want)
	}
	if e, _ := f.tree.Stat(ctx, "s", "other/e"); e.ID != d.ID {
		t.Errorf("moved dir id %d, want %d", e.ID, d.ID)
	}
	if n, _ := f.tree.Stat(ctx, "s", "other/e/sub/deep.txt"); n.ID != deep.ID {
		t.Errorf("moved descendant id %d, want %d", n.ID, deep.ID)
	}
	if got, _ := f.read("s", "other/e/sub/deep.txt"); got != "deeper content" {
		t.Errorf("descendant content = %q", got)
	}

	for _, tc := range []struct {
		name, src, dstSpace, dst string
		overwrite                bool
		wantErr                  error
	}{
		{"into itself", "other", "s", "other/e/x", true, ErrBadPath},
		{"onto itself", "other", "s", "other", true, ErrBadPath},
		{"onto its parent", "other/e", "s", "other", true, ErrBadPath},
		{"root", "", "s", "x", true, ErrBadPath},
		{"exists", "other/g.jpg", "s", "other/e", false, ErrExists},
		{"missing", "nope", "s", "x", true, ErrNotFound},
		{"no parent", "other/g.jpg", "s", "x/y", true, ErrParentMissing},
		{"over quota", "other/e", "small", "e", false, ErrQuota},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.tree.Move(ctx, "s", tc.src, tc.dstSpace, tc.dst, tc.overwrite); !errors.Is(err, tc.wantErr) {
				t.Errorf("Move = %v, want %v", err, tc.wantErr)
			}
		})
	}

	// Overwrite a directory with a file; then move across spaces.
	if created, err := f.tree.Move(ctx, "s", "other/g.jpg", "s", "other/e", true); err != nil || created {
		t.Fatalf("Move(overwrite) = %v, %v", created, err)
	}
	if all, _ := f.tree.Descendants(ctx, "s", ""); !slices.Equal(names(all), []string{"other", "other/e"}) {
		t.Errorf("after overwrite: %v", names(all))
	}
	if got := f.used(t, "s"); got != 4 {
		t.Errorf("used = %d, want 4", got)
	}
	if _, err := f.tree.Move(ctx, "s", "other", "small", "o", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.read("small", "o/e"); got != "file" {
		t.Errorf("content across spaces = %q", got)
	}
	if us, usmall := f.used(t, "s"), f.used(t, "small"); us != 0 || usmall != 4 {
		t.Errorf("used = %d, %d; want 0, 4", us, usmall)
	}
	if s := f.staging(t); len(s) != 0 {
		t.Errorf("staging left: %v", s)
	}
}

func TestCopy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.space(t, "small", 10)
	f.mkdir(t, "s", "d")
	f.mkdir(t, "s", "d/sub")
	src := map[string]Node{
		"d/a.txt":       f.put(t, "s", "d/a.txt", "alpha"),
		"d/sub/b.txt":   f.put(t, "s", "d/sub/b.txt", "bravo!"),
		"d/sub/c.empty": f.put(t, "s", "d/sub/c.empty", ""),
	}
	if created, err := f.tree.Copy(ctx, "s", "d", "s", "copy", false, -1); err != nil || !created {
		t.Fatalf("Copy(tree) = %v, %v", created, err)
	}
	all, _ := f.tree.Descendants(ctx, "s", "copy")
	if want := []string{"copy/a.txt", "copy/sub", "copy/sub/b.txt", "copy/sub/c.empty"}; !slices.Equal(names(all), want) {
		t.Errorf("copy = %v, want %v", names(all), want)
	}
	for p, orig := range src {
		cp := "copy/" + strings.TrimPrefix(p, "d/")
		n, err := f.tree.Stat(ctx, "s", cp)
		if err != nil || n.ID == orig.ID || n.SHA256 != orig.SHA256 || !n.MTime.Equal(orig.MTime) {
			t.Errorf("%s = %+v, %v (original %+v)", cp, n, err, orig)
		}
		a, _ := f.read("s", p)
		b, err := f.read("s", cp)
		if err != nil || a != b {
			t.Errorf("%s = %q, %v; want %q", cp, b, err, a)
		}
	}
	if got := f.used(t, "s"); got != 22 {
		t.Errorf("used = %d, want 22", got)
	}
	// Depth 0: the collection only; across spaces; quota.
	if _, err := f.tree.Copy(ctx, "s", "d", "small", "empty", false, 0); err != nil {
		t.Fatal(err)
	}
	if ns, err := f.tree.List(ctx, "small", "empty"); err != nil || len(ns) != 0 {
		t.Errorf("depth-0 copy has %v, %v", names(ns), err)
	}
	if _, err := f.tree.Copy(ctx, "s", "d", "small", "full", false, -1); !errors.Is(err, ErrQuota) {
		t.Errorf("copy over quota = %v, want ErrQuota", err)
	}
	if _, err := f.tree.Copy(ctx, "s", "d/a.txt", "s", "copy", false, 0); !errors.Is(err, ErrExists) {
		t.Errorf("copy onto existing = %v, want ErrExists", err)
	}
	if _, err := f.tree.Copy(ctx, "s", "d", "s", "d/sub/x", true, -1); !errors.Is(err, ErrBadPath) {
		t.Errorf("copy into itself = %v, want ErrBadPath", err)
	}
	if created, err := f.tree.Copy(ctx, "s", "d/a.txt", "s", "copy", true, 0); err != nil || created {
		t.Errorf("copy overwriting a tree = %v, %v", created, err)
	}
	if got := f.used(t, "s"); got != 16 {
		t.Errorf("used = %d, want 16", got)
	}
	if s := f.staging(t); len(s) != 0 {
		t.Errorf("staging left: %v", s)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.mkdir(t, "s", "d")
	f.mkdir(t, "s", "d/sub")
	f.put(t, "s", "d/sub/x", "12345")
	f.put(t, "s", "d/y", "123")
	f.put(t, "s", "d-z", "1")
	if err := f.tree.Delete(ctx, "s", "d"); err != nil {
		t.Fatal(err)
	}
	if all, _ := f.tree.Descendants(ctx, "s", ""); !slices.Equal(names(all), []string{"d-z"}) {
		t.Errorf("left: %v", names(all))
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "spaces", "s", "d")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tree still on disk: %v", err)
	}
	if err := f.tree.Delete(ctx, "s", "d-z"); err != nil {
		t.Fatal(err)
	}
	if got := f.used(t, "s"); got != 0 {
		t.Errorf("used = %d, want 0", got)
	}
	if err := f.tree.Delete(ctx, "s", "d"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(gone) = %v, want ErrNotFound", err)
	}
	if err := f.tree.Delete(ctx, "s", "/"); !errors.Is(err, ErrBadPath) {
		t.Errorf("Delete(root) = %v, want ErrBadPath", err)
	}
	if s := f.staging(t); len(s) != 0 {
		t.Errorf("staging left: %v", s)
	}

	if err := f.tree.DeleteSpace(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tree.Space(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Space after DeleteSpace = %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "spaces", "s")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("space directory left: %v", err)
	}
}

func TestSetMTime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	n := f.put(t, "s", "f", "x")
	want := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	got, err := f.tree.SetMTime(ctx, "s", "f", want)
	if err != nil || !got.MTime.Equal(want) || got.ETag == n.ETag || got.ETag != fileETag(n.SHA256, 1, want) {
		t.Errorf("SetMTime = %+v, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(f.dir, "spaces", "s", "f")); !fi.ModTime().Equal(want) {
		t.Errorf("mtime on disk = %v", fi.ModTime())
	}
	if file, n, err := f.tree.Open(ctx, "s", "f"); err != nil || !n.MTime.Equal(want) {
		t.Errorf("Open after SetMTime = %+v, %v", n, err)
	} else {
		file.Close()
	}
}

func TestSymlinkEscape(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	spaceDir := filepath.Join(f.dir, "spaces", "s")
	if err := os.Symlink(secret, filepath.Join(spaceDir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(spaceDir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	// Not indexed: not there.
	if _, err := f.read("s", "link"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(unindexed link) = %v, want ErrNotFound", err)
	}
	// Indexed by mistake (as if the index were stale): the root still
	// refuses to leave the space.
	err := f.db.Update(ctx, func(tx *store.Tx) error {
		root, _ := tx.Node(ctx, "s", "")
		now := time.Now()
		for _, n := range []Node{
			{SpaceID: "s", ParentID: root.ID, Path: "link", Name: "link", Size: 6, MTime: now, CTime: now, ETag: `"l"`},
			{SpaceID: "s", ParentID: root.ID, Path: "dirlink", Name: "dirlink", IsDir: true, MTime: now, CTime: now, ETag: `"d"`},
		} {
			if _, err := tx.InsertNode(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.read("s", "link"); err == nil || got != "" {
		t.Errorf("Open(link to outside) = %q, %v; want an error", got, err)
	}
	if _, _, err := f.tree.Put(ctx, "s", "dirlink/new", strings.NewReader("x"), PutOptions{ExpectedSize: -1}); err == nil {
		t.Error("Put through a directory link to outside succeeded")
	}
	if _, err := f.tree.Mkdir(ctx, "s", "dirlink/newdir"); err == nil {
		t.Error("Mkdir through a directory link to outside succeeded")
	}
	if _, err := f.tree.SetMTime(ctx, "s", "dirlink", time.Unix(0, 0)); err == nil {
		// Chtimes on the link's target would touch outside.
		if fi, _ := os.Stat(outside); fi.ModTime().Equal(time.Unix(0, 0)) {
			t.Error("SetMTime changed a directory outside the space")
		}
	}
	// Writing to the link's name replaces the link, never its target.
	if _, _, err := f.tree.Put(ctx, "s", "link", strings.NewReader("mine"), PutOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Errorf("file outside the space now holds %q", b)
	}
	if got, err := f.read("s", "link"); got != "mine" || err != nil {
		t.Errorf("link replaced by = %q, %v", got, err)
	}
	es, _ := os.ReadDir(outside)
	if len(es) != 1 {
		t.Errorf("outside dir has %d entries, want 1", len(es))
	}
	// Reindex drops the stale directory row and skips the link.
	if err := f.tree.Reindex(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tree.Stat(ctx, "s", "dirlink"); !errors.Is(err, ErrNotFound) {
		t.Errorf("dirlink still indexed after Reindex: %v", err)
	}
}

func TestReindex(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.put(t, "s", "kept", "kept")
	f.put(t, "s", "gone", "gone!")
	dir := filepath.Join(f.dir, "spaces", "s")
	os.MkdirAll(filepath.Join(dir, "hand", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "hand", "sub", "x.txt"), []byte("by hand"), 0o644)
	os.WriteFile(filepath.Join(dir, "e\u0301.txt"), []byte("nfd"), 0o644) // not NFC: skipped
	os.Remove(filepath.Join(dir, "gone"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))

	if err := f.tree.Reindex(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	all, _ := f.tree.Descendants(ctx, "s", "")
	if want := []string{"hand", "hand/sub", "hand/sub/x.txt", "kept"}; !slices.Equal(names(all), want) {
		t.Errorf("index = %v, want %v", names(all), want)
	}
	n, _ := f.tree.Stat(ctx, "s", "hand/sub/x.txt")
	if n.SHA256 != sum("by hand") || n.Size != 7 || !strings.HasPrefix(n.MIME, "text/plain") {
		t.Errorf("indexed file = %+v", n)
	}
	if got := f.used(t, "s"); got != 4+7 {
		t.Errorf("used = %d, want 11", got)
	}
	if got, _ := f.read("s", "hand/sub/x.txt"); got != "by hand" {
		t.Errorf("content = %q", got)
	}
	// A hand-edited file (new size) is re-hashed.
	os.WriteFile(filepath.Join(dir, "kept"), []byte("changed"), 0o644)
	if err := f.tree.Reindex(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.tree.Stat(ctx, "s", "kept"); n.SHA256 != sum("changed") || n.Size != 7 {
		t.Errorf("re-hashed file = %+v", n)
	}

	// A space directory that exists before the space is adopted.
	os.MkdirAll(filepath.Join(f.dir, "spaces", "pre", "a"), 0o755)
	os.WriteFile(filepath.Join(f.dir, "spaces", "pre", "a", "b"), []byte("bb"), 0o644)
	s, err := f.tree.CreateSpaceWithID(ctx, "pre", "Pre", 0)
	if err != nil || s.UsedBytes != 2 {
		t.Errorf("adopted space = %+v, %v", s, err)
	}
	if got, _ := f.read("pre", "a/b"); got != "bb" {
		t.Errorf("adopted content = %q", got)
	}
}

func TestNewRemovesStaging(t *testing.T) {
	f := newFixture(t)
	up := filepath.Join(f.dir, "uploads")
	os.WriteFile(filepath.Join(up, ".put-stale"), []byte("x"), 0o600)
	os.MkdirAll(filepath.Join(up, ".put-dir", "a"), 0o700)
	os.WriteFile(filepath.Join(up, "tus-upload"), []byte("x"), 0o600)
	if _, err := New(Config{DB: f.db, Dir: f.dir}); err != nil {
		t.Fatal(err)
	}
	es, _ := os.ReadDir(up)
	if len(es) != 1 || es[0].Name() != "tus-upload" {
		t.Errorf("uploads/ after New: %v", es)
	}
}

func TestConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat(fmt.Sprint(i), 1000*(i+1))
			if _, _, err := f.tree.Put(ctx, "s", "same", strings.NewReader(body), PutOptions{ExpectedSize: -1}); err != nil {
				t.Error(err)
			}
			if _, _, err := f.tree.Put(ctx, "s", fmt.Sprint("own", i), strings.NewReader(body), PutOptions{ExpectedSize: -1}); err != nil {
				t.Error(err)
			}
			if _, err := f.tree.Stat(ctx, "s", "same"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, _ := f.tree.Stat(ctx, "s", "same")
	got, _ := f.read("s", "same")
	if sum(got) != n.SHA256 || int64(len(got)) != n.Size {
		t.Errorf("index and disk disagree: %d bytes on disk, node %+v", len(got), n)
	}
	if used := f.used(t, "s"); used != n.Size+36000 {
		t.Errorf("used = %d, want %d", used, n.Size+36000)
	}
}

func BenchmarkList10k(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	f.space(b, "s", 0)
	dir := f.mkdir(b, "s", "big")
	err := f.db.Update(ctx, func(tx *store.Tx) error {
		now := time.Now()
		for i := range 10000 {
			name := fmt.Sprintf("file-%05d.jpg", i)
			_, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: dir.ID, Path: "big/" + name, Name: name,
				Size: int64(i), MTime: now, CTime: now, ETag: fmt.Sprintf(`"%016x"`, i), SHA256: sum(name), MIME: "image/jpeg"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		ns, err := f.tree.List(ctx, "s", "big")
		if err != nil || len(ns) != 10000 {
			b.Fatal(len(ns), err)
		}
	}
}

// A copy racing with writes to its source must still index exactly the
// bytes it copied.
func TestCopyWhileWriting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.mkdir(t, "s", "d")
	for i := range 5 {
		f.put(t, "s", fmt.Sprint("d/f", i), "v0")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 40 {
			f.put(t, "s", fmt.Sprint("d/f", i%5), strings.Repeat("v", i+1))
		}
	}()
	for i := range 10 {
		dst := fmt.Sprint("copy", i)
		if _, err := f.tree.Copy(ctx, "s", "d", "s", dst, false, -1); err != nil {
			if strings.Contains(err.Error(), errSourceChanged.Error()) {
				continue // three changes in a row: allowed to give up
			}
			t.Fatal(err)
		}
		ns, _ := f.tree.Descendants(ctx, "s", dst)
		for _, n := range ns {
			if got, err := f.read("s", n.Path); err != nil || sum(got) != n.SHA256 {
				t.Errorf("%s: index says %s, disk has %q (%v)", n.Path, n.SHA256, got, err)
			}
		}
	}
	<-done
}

// TestStageKeep: a staged file kept for a job survives the clean-up of a
// restart, and PutFile installs it with the sums Stage computed.
func TestStageKeep(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	sf, err := f.tree.Stage(ctx, "s", "/a.txt", strings.NewReader("hello"), PutOptions{ExpectedSize: 5})
	if err != nil || sf.Path != "a.txt" || sf.Size != 5 || sf.Sums.SHA256 != sum("hello") {
		t.Fatalf("Stage = %+v, %v", sf, err)
	}
	if _, err := f.tree.Keep(sf, "../x"); !errors.Is(err, ErrBadPath) {
		t.Errorf("Keep(../x) = %v, want ErrBadPath", err)
	}
	kept, err := f.tree.Keep(sf, "job-1")
	if err != nil {
		t.Fatal(err)
	}
	// A restart removes staging files, not kept ones.
	restarted, err := New(Config{DB: f.db, Dir: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	restarted.Close()
	n, created, err := f.tree.PutFile(ctx, "s", sf.Path, kept, sf.Sums.SHA256, PutOptions{ExpectedSize: -1})
	if err != nil || !created || n.Size != 5 {
		t.Fatalf("PutFile(kept) = %+v, %v, %v", n, created, err)
	}
	if len(f.staging(t)) != 0 {
		t.Errorf("staging files left: %v", f.staging(t))
	}
}

// TestStageHead: Stage keeps the body's first HeadSize bytes, gathered
// across the reads the body comes in, or the whole of a shorter body;
// with SyncLater it hands the staged file's fsync back under way, and
// PutFile installs the file once it is done.
func TestStageHead(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	body := strings.Repeat("0123456789", 1000)
	sf, err := f.tree.Stage(ctx, "s", "big.txt", iotest.OneByteReader(strings.NewReader(body)), PutOptions{ExpectedSize: -1, SyncLater: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(sf.Head) != body[:HeadSize] {
		t.Errorf("Head of a %d-byte body: %d bytes, want its first %d", len(body), len(sf.Head), HeadSize)
	}
	if sf.Flush == nil {
		t.Error("SyncLater: no fsync under way")
	}
	if n, _, err := f.tree.PutFile(ctx, "s", sf.Path, sf.Name, sf.Sums.SHA256, PutOptions{ExpectedSize: -1, MTime: sf.MTime, Flush: sf.Flush}); err != nil || n.Size != int64(len(body)) {
		t.Fatalf("PutFile = %+v, %v", n, err)
	}
	sf, err = f.tree.Stage(ctx, "s", "small.txt", strings.NewReader("hello"), PutOptions{ExpectedSize: 5})
	if err != nil || string(sf.Head) != "hello" || sf.Flush != nil {
		t.Fatalf("Stage of a short body: Head %q, Flush %v, %v", sf.Head, sf.Flush, err)
	}
	os.Remove(sf.Name)
}

// TestListBatchesCache: a listing served from the cache is never stale,
// whatever changed the space and whoever changed it.
func TestListBatchesCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.mkdir(t, "s", "d")
	f.put(t, "s", "d/a", "1")
	list := func(tr *Tree) string {
		t.Helper()
		dir, err := tr.Stat(ctx, "s", "d")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		err = tr.ListBatches(ctx, dir, 2, func(b []Node) error {
			for _, n := range b {
				out = append(out, fmt.Sprintf("%s:%d", n.Name, n.Size))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, " ")
	}
	other, err := New(Config{DB: f.db, Dir: f.dir}) // another process on the same data
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	steps := []struct {
		change func()
		want   string
	}{
		{func() {}, "a:1"},
		{func() {}, "a:1"}, // from the cache
		{func() { f.put(t, "s", "d/b", "22") }, "a:1 b:2"},
		{func() { f.put(t, "s", "d/a", "333") }, "a:3 b:2"},
		{func() {
			if _, _, err := other.Put(ctx, "s", "d/c", strings.NewReader("4444"), PutOptions{ExpectedSize: -1}); err != nil {
				t.Fatal(err)
			}
		}, "a:3 b:2 c:4"},
		{func() {
			if _, err := other.SetMTime(ctx, "s", "d/c", time.Unix(5, 0)); err != nil {
				t.Fatal(err)
			}
		}, "a:3 b:2 c:4"},
		{func() {
			if _, err := f.tree.Move(ctx, "s", "d/b", "s", "d/e", false); err != nil {
				t.Fatal(err)
			}
		}, "a:3 c:4 e:2"},
		{func() {
			if err := other.Delete(ctx, "s", "d/a"); err != nil {
				t.Fatal(err)
			}
		}, "c:4 e:2"},
	}
	for i, s := range steps {
		s.change()
		if got := list(f.tree); got != s.want {
			t.Errorf("step %d: listing %q, want %q", i, got, s.want)
		}
	}
	// The mtime change above must show too, not just names and sizes.
	dir, _ := f.tree.Stat(ctx, "s", "d")
	f.tree.ListBatches(ctx, dir, 10, func(b []Node) error {
		for _, n := range b {
			if n.Name == "c" && !n.MTime.Equal(time.Unix(5, 0)) {
				t.Errorf("cached listing shows c's old mtime %v", n.MTime)
			}
		}
		return nil
	})
}

// TestCreateSpaceSameName: a second space of the same name is refused with
// a message naming the first; a deliberate second one takes its own id.
func TestCreateSpaceSameName(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.tree.CreateSpace(ctx, "Team", 0); err != nil {
		t.Fatal(err)
	}
	_, err := f.tree.CreateSpace(ctx, "team", 0)
	if !errors.Is(err, ErrExists) || err.Error() != `a space named "Team" exists already (id team)` {
		t.Errorf("CreateSpace(team) = %v; want ErrExists naming Team and its id", err)
	}
	if s, err := f.tree.CreateSpaceWithID(ctx, "team-archive", "Team", 0); err != nil || s.Name != "Team" {
		t.Errorf("CreateSpaceWithID(team-archive, Team) = %+v, %v", s, err)
	}
	if _, err := f.tree.Space(ctx, "nope"); !errors.Is(err, ErrNotFound) || err.Error() != `space "nope" not found` {
		t.Errorf("Space(nope) = %v; want ErrNotFound, one clean line", err)
	}
}
