package space

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzClean: Clean never panics, refuses only with ErrBadPath, and what it
// returns stays inside the space: no ".." element, no leading or trailing
// "/", no empty element, no NUL or other control character, no backslash,
// valid NFC UTF-8 within the length limits; and cleaning again changes
// nothing. Seeds: testdata/fuzz/FuzzClean.
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"", "/", ".", "a/b/c", "/a//b/./c/", "..", "a/../b", "a/..", "%2e%2e/x", "a\\..\\b",
		"a\x00b", "C:/Windows", "c:", "CON", "a/c:", "u\u0308ber", "\xc0\xae\xc0\xae/etc",
		"\xed\xa0\x80", ". ./x", "...", "a/./../b", strings.Repeat("x", 256), strings.Repeat("a/", 2100),
		"a\u202eb", "\u2024\u2024/x", "\uff0e\uff0e/x", "a/\u0085/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := Clean(p)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("Clean(%q): error %v does not wrap ErrBadPath", p, err)
			}
			return
		}
		switch {
		case !utf8.ValidString(c):
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", p, c)
		case strings.HasPrefix(c, "/") || strings.HasSuffix(c, "/"):
			t.Fatalf("Clean(%q) = %q: leading or trailing slash", p, c)
		case strings.ContainsRune(c, 0) || strings.ContainsRune(c, '\\'):
			t.Fatalf("Clean(%q) = %q: NUL or backslash", p, c)
		case len(c) > maxPath:
			t.Fatalf("Clean(%q): %d bytes", p, len(c))
		case !norm.NFC.IsNormalString(c):
			t.Fatalf("Clean(%q) = %q: not NFC", p, c)
		}
		if c != "" {
			for _, e := range strings.Split(c, "/") {
				if e == "" || e == "." || e == ".." || len(e) > maxName {
					t.Fatalf("Clean(%q) = %q: element %q", p, c, e)
				}
			}
		}
		for _, r := range c {
			if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 {
				t.Fatalf("Clean(%q) = %q: control character %U", p, c, r)
			}
		}
		if again, err := Clean(c); err != nil || again != c {
			t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q", p, again, err, c)
		}
	})
}
