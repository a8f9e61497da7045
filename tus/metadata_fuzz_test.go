package tus

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"
)

// FuzzCheckMetadata: checkMetadata never panics, and a header it accepts
// loses nothing in tusd's lenient parser: every element becomes one key
// with the value it was sent with.
func FuzzCheckMetadata(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"space " + b64("files") + ",path " + b64("a/b.txt"), "space !!!,path " + b64("x"), "path " + b64("a") + ",path " + b64("b"),
		"is_confidential", " , ,", "filename " + b64("x") + " extra", "k\x00 " + b64("v"), "k=", "", "a  " + b64("b"),
		"filename " + b64("ü.txt") + ", filetype " + b64("text/plain"), strings.Repeat("k", maxMetadata+1),
	} {
		f.Add(s, false)
	}
	f.Add("path "+b64("x"), true)
	f.Fuzz(func(t *testing.T, v string, twice bool) {
		vals := []string{v}
		if twice {
			vals = append(vals, v)
		}
		if err := checkMetadata(vals); err != nil {
			return
		}
		if twice {
			t.Fatalf("checkMetadata accepted two headers")
		}
		if strings.TrimSpace(v) == "" {
			return
		}
		meta := handler.ParseMetadataHeader(v)
		elems := strings.Split(v, ",")
		if len(meta) != len(elems) {
			t.Fatalf("checkMetadata(%q) accepted %d elements, tusd reads %d keys", v, len(elems), len(meta))
		}
		for _, e := range elems {
			key, val, _ := strings.Cut(strings.TrimSpace(e), " ")
			want, _ := base64.StdEncoding.DecodeString(val)
			if got, ok := meta[key]; !ok || got != string(want) {
				t.Fatalf("checkMetadata(%q): key %q reads as %q, sent %q", v, key, got, want)
			}
		}
	})
}
