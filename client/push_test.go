package client

import (
	"strings"
	"testing"
)

func TestNameProblem(t *testing.T) {
	for _, tc := range []struct {
		name, want string // want: part of the problem, "" for a good name
	}{
		{"photo.jpg", ""},
		{"Ünïcode – ok.txt", ""},
		{"console.log", ""},
		{"COM10.txt", ""},
		{"a:b", `':'`},
		{`back\slash`, `'\\'`},
		{"what?", `'?'`},
		{"pipe|", `'|'`},
		{"tab\there", "control character"},
		{"dot.", "ends with a dot"},
		{"space ", "ends with a dot or a space"},
		{"CON", "reserved"},
		{"nul.txt", "reserved"},
		{"Lpt9.tar.gz", "reserved"},
		{"aux .md", "reserved"},
		{strings.Repeat("é", 128), "more than 255"},
		{"..", "relative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nameProblem(tc.name)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("nameProblem(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}
