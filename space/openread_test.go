//go:build linux

package space

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenReadConfined: openRead (openat2) opens what the space's os.Root
// opens and refuses what it refuses: names inside, links that stay
// inside; links or folders that lead outside, whether absolute or
// climbing with "..".
func TestOpenReadConfined(t *testing.T) {
	f := newFixture(t)
	f.space(t, "s", 0)
	st, err := f.tree.open("s")
	if err != nil {
		t.Fatal(err)
	}
	if st.rd.f == nil {
		t.Fatal("no directory held for openat2")
	}
	dir := filepath.Join(f.dir, "spaces", "s")
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	must(os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "f.txt"), []byte("inside"), 0o644))
	must(os.Symlink("b/f.txt", filepath.Join(dir, "a", "in-link")))
	must(os.Symlink("../../../..", filepath.Join(dir, "a", "up")))
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "abs-link")))
	rel, err := filepath.Rel(dir, filepath.Join(outside, "secret"))
	must(err)
	must(os.Symlink(rel, filepath.Join(dir, "rel-link")))
	must(os.Symlink(outside, filepath.Join(dir, "dir-link")))

	for _, c := range []struct {
		path string
		want string // content; "" for a refusal
	}{
		{"a/b/f.txt", "inside"},
		{"a/in-link", "inside"},
		{"abs-link", ""},
		{"rel-link", ""},
		{"dir-link/secret", ""},
		{"a/up/" + rel, ""},
	} {
		t.Run(c.path, func(t *testing.T) {
			got, err := readAll(st.openRead(c.path))
			if c.want == "" {
				if err == nil {
					t.Fatalf("openRead read %q from outside the space", got)
				}
			} else if err != nil || got != c.want {
				t.Fatalf("openRead = %q, %v; want %q", got, err, c.want)
			}
			// The same answer as the root's.
			rgot, rerr := readAll(st.root.Open(filepath.FromSlash(c.path)))
			if (rerr == nil) != (err == nil) || rgot != got {
				t.Errorf("root.Open = %q, %v; openRead = %q, %v", rgot, rerr, got, err)
			}
		})
	}
	if _, err := st.openRead("a/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("openRead(missing) = %v, want fs.ErrNotExist", err)
	}
	if noOpenat2.Load() {
		t.Log("openat2 is not available here: the root's Open was used")
	}
}

func readAll(f *os.File, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}
