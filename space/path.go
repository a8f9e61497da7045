package space

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	maxName = 255  // bytes in one path element, the common file system limit
	maxPath = 4096 // bytes in a cleaned path, Linux's PATH_MAX
	maxID   = 48   // bytes in a space id
)

// Clean checks and normalises a path inside a space. p is slash-separated
// and relative to the space root; a leading or trailing slash, empty and "."
// elements are dropped ("", "/" and "." all mean the root, returned as "").
// The result is NFC-normalised, so a name typed on a Mac (NFD) and on Linux
// is one file, and has no leading or trailing slash.
//
// It returns an error wrapping ErrBadPath for invalid UTF-8, control
// characters (NUL included), backslashes, ".." elements, a first element
// that looks like a Windows drive ("C:"), an element longer than 255 bytes
// or a path longer than 4096 bytes.
func Clean(p string) (string, error) {
	if !utf8.ValidString(p) {
		return "", fmt.Errorf("%w: %q is not valid UTF-8", ErrBadPath, p)
	}
	for _, r := range p {
		switch {
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: %q contains a control character", ErrBadPath, p)
		case r == '\\':
			return "", fmt.Errorf("%w: %q contains a backslash", ErrBadPath, p)
		}
	}
	p = norm.NFC.String(p)
	// A path clean already (every request's, mostly) is returned as it
	// is; one with empty or "." elements is joined again without them.
	first, dropped := true, false
	for e := range strings.SplitSeq(p, "/") {
		switch {
		case e == "" || e == ".":
			dropped = true
			continue
		case e == "..":
			return "", fmt.Errorf("%w: %q has a \"..\" element", ErrBadPath, p)
		case len(e) > maxName:
			return "", fmt.Errorf("%w: an element of %q is longer than %d bytes", ErrBadPath, p, maxName)
		case first && len(e) >= 2 && e[1] == ':' && isASCIILetter(e[0]):
			return "", fmt.Errorf("%w: %q looks like a Windows drive path", ErrBadPath, p)
		}
		first = false
	}
	c := p
	if dropped {
		var kept []string
		for e := range strings.SplitSeq(p, "/") {
			if e != "" && e != "." {
				kept = append(kept, e)
			}
		}
		c = strings.Join(kept, "/")
	}
	if len(c) > maxPath {
		return "", fmt.Errorf("%w: %q is longer than %d bytes", ErrBadPath, c[:64]+"…", maxPath)
	}
	return c, nil
}

func isASCIILetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// split returns the parent path and the name of a cleaned, non-root path.
func split(p string) (dir, name string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// within reports whether p is inside (strictly below) dir; every path but
// the root is within the root.
func within(p, dir string) bool {
	if dir == "" {
		return p != ""
	}
	return strings.HasPrefix(p, dir+"/")
}

// ValidID reports whether id can name a space: 1 to 48 bytes of lowercase
// ASCII letters, digits and '-', not starting or ending with '-'. Such ids
// are safe in URLs and as directory names.
func ValidID(id string) bool {
	if id == "" || len(id) > maxID || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkName validates a space's display name.
func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: the space name is empty", ErrBadID)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: the space name %q is not valid UTF-8", ErrBadID, name)
	case len(name) > maxName:
		return fmt.Errorf("%w: the space name is longer than %d bytes", ErrBadID, maxName)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%w: the space name %q contains a control character", ErrBadID, name)
	}
	return nil
}

// slug derives a space id from a name: accents are dropped (NFKD, then
// combining marks removed), ASCII letters are lowercased, every other run
// of characters becomes one '-'. A name with nothing usable (all CJK, say)
// gives "space".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case unicode.Is(unicode.Mn, r):
			continue
		default:
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "space"
	}
	return trimID(b.String(), maxID)
}

// withSuffix returns base with "-n" appended, cut to stay within maxID.
func withSuffix(base string, n int) string {
	suffix := "-" + strconv.Itoa(n)
	return trimID(base, maxID-len(suffix)) + suffix
}

func trimID(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}
