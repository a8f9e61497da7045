package store

import (
	"strings"
	"unicode"
)

// Fold returns s in the form name search compares: lower case, Latin
// letters without their diacritics (é, È, ê -> e; ß -> ss; æ -> ae),
// combining marks dropped. It covers Latin-1 and Latin Extended-A, what
// the search index's trigram tokenizer folds too, so that short queries
// (which the index cannot answer) and long ones agree.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(unicode.ToLower(r))
		case r >= 0x300 && r <= 0x36f: // combining diacritical marks (NFD input)
		default:
			if f, ok := foldTable[unicode.ToLower(r)]; ok {
				b.WriteString(f)
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
		}
	}
	return b.String()
}

// foldTable maps lower-case Latin letters with diacritics to their base.
var foldTable = func() map[rune]string {
	m := map[rune]string{}
	for base, letters := range map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđ", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
		"ss": "ß", "ae": "æ", "oe": "œ", "th": "þ", "dh": "ð",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()
