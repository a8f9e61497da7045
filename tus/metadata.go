package tus

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// maxMetadata caps the Upload-Metadata header: far more than a path, a
// file name and a few fields need.
const maxMetadata = 16 << 10

// checkMetadata reads the Upload-Metadata header values of a creation as
// the tus protocol defines them — comma-separated pairs of a key (printable
// ASCII without spaces or commas, unique) and an optional standard base64
// value — and says what is wrong with them, if anything. tusd's own parser
// silently drops what it cannot read (a value that is not base64 loses the
// key, a later duplicate wins), which would turn "path <garbage>" into an
// upload to a default place: the request is refused instead.
func checkMetadata(vals []string) error {
	switch {
	case len(vals) == 0:
		return nil
	case len(vals) > 1:
		return fmt.Errorf("more than one Upload-Metadata header")
	case len(vals[0]) > maxMetadata:
		return fmt.Errorf("Upload-Metadata is longer than %d bytes", maxMetadata)
	case strings.TrimSpace(vals[0]) == "":
		return nil
	}
	seen := map[string]bool{}
	for elem := range strings.SplitSeq(vals[0], ",") {
		elem = strings.TrimSpace(elem)
		key, value, hasValue := strings.Cut(elem, " ")
		switch {
		case key == "":
			return fmt.Errorf("Upload-Metadata has an empty key")
		case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r > '~' }):
			return fmt.Errorf("Upload-Metadata key %q is not printable ASCII", key)
		case seen[key]:
			return fmt.Errorf("Upload-Metadata key %q appears twice", key)
		case hasValue && strings.Contains(value, " "):
			return fmt.Errorf("Upload-Metadata %q: a key and one base64 value, separated by one space", key)
		}
		seen[key] = true
		if _, err := base64.StdEncoding.DecodeString(value); hasValue && err != nil {
			return fmt.Errorf("Upload-Metadata value of %q is not base64", key)
		}
	}
	return nil
}
