package phraseanet

import (
	"fmt"
	"path"
	"strings"
)

// DefaultExclude is the operating-system and application junk a target
// never commits unless told otherwise: macOS Finder data and AppleDouble
// files, Windows thumbnails and folder settings, Office and LibreOffice
// lock files, editor swap and backup files, partial downloads, and the
// hidden folders of removable volumes. A pattern is matched, without
// regard to case, against every element of a file's path (path.Match
// syntax), so a folder pattern excludes what is in it.
var DefaultExclude = []string{
	".DS_Store", "._*", "Thumbs.db", "ehthumbs.db", "desktop.ini",
	"~$*", ".~lock.*#",
	"*.swp", "*.swo", "*~", ".#*",
	"*.part", "*.crdownload",
	"__MACOSX", ".Trashes", ".Spotlight-V100", ".fseventsd", ".TemporaryItems", "$RECYCLE.BIN",
}

// Words of a target's exclusion list.
const (
	excludeDefaults = "defaults" // the DefaultExclude list
	excludeNone     = "none"     // nothing (only alone)
)

// parseExclude checks a target's exclusion list and returns how it is
// stored: one pattern a line, "defaults" for DefaultExclude. nil means the
// defaults; ["none"] nothing. Errors wrap ErrBadInput.
func parseExclude(list []string) (string, error) {
	if list == nil {
		return excludeDefaults, nil
	}
	var out []string
	for _, p := range list {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case p == excludeNone:
			if len(list) > 1 {
				return "", fmt.Errorf("%w: exclude %q only alone", ErrBadInput, excludeNone)
			}
			return "", nil
		case strings.ContainsAny(p, "/\n\r"):
			return "", fmt.Errorf("%w: exclude %q: a pattern matches one name, without / or line breaks", ErrBadInput, p)
		case p != excludeDefaults:
			if _, err := path.Match(p, ""); err != nil {
				return "", fmt.Errorf("%w: exclude %q: %v", ErrBadInput, p, err)
			}
		}
		out = append(out, p)
	}
	return strings.Join(out, "\n"), nil
}

// excludePatterns expands a target's stored exclusion list.
func excludePatterns(t Target) []string {
	var out []string
	for _, p := range strings.Split(t.Exclude, "\n") {
		switch p {
		case "":
		case excludeDefaults:
			out = append(out, DefaultExclude...)
		default:
			out = append(out, p)
		}
	}
	return out
}

// ExcludeList is a target's exclusion list as given, "defaults" standing
// for DefaultExclude; empty: nothing excluded.
func ExcludeList(t Target) []string {
	if t.Exclude == "" {
		return []string{}
	}
	return strings.Split(t.Exclude, "\n")
}

// junk reports whether a file at p (a path in the space) matches one of
// patterns.
func junk(patterns []string, p string) bool {
	if len(patterns) == 0 {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		low := strings.ToLower(el)
		for _, pat := range patterns {
			if ok, _ := path.Match(strings.ToLower(pat), low); ok {
				return true
			}
		}
	}
	return false
}
