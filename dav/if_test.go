package dav

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const tok1 = "opaquelocktoken:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"

func TestParseIf(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []ifList
	}{
		{"one token", "(<" + tok1 + ">)",
			[]ifList{{Conds: []ifCond{{Token: tok1}}}}},
		{"litmus cond_put", `(<` + tok1 + `> ["abc"])`,
			[]ifList{{Conds: []ifCond{{Token: tok1}, {ETag: `"abc"`}}}}},
		{"litmus complex_cond_put", `(<` + tok1 + `> ["e"]) (Not <DAV:no-lock> ["e"])`,
			[]ifList{{Conds: []ifCond{{Token: tok1}, {ETag: `"e"`}}},
				{Conds: []ifCond{{Not: true, Token: "DAV:no-lock"}, {ETag: `"e"`}}}}},
		{"weak etag, spaces and tabs", " \t( [W/\"x\"]\t[ \"y\" ] ) ",
			[]ifList{{Conds: []ifCond{{ETag: `W/"x"`}, {ETag: `"y"`}}}}},
		{"not without space, any case", "(not<DAV:no-lock>)(NOT [\"\"])",
			[]ifList{{Conds: []ifCond{{Not: true, Token: "DAV:no-lock"}}}, {Conds: []ifCond{{Not: true, ETag: `""`}}}}},
		{"tagged absolute URI", "<http://example.com/dav/spaces/s/a%20b> (<" + tok1 + ">)",
			[]ifList{{Tag: "http://example.com/dav/spaces/s/a%20b", Conds: []ifCond{{Token: tok1}}}}},
		{"tagged path, two lists, two tags", "</a> (<urn:x>) ([\"1\"]) </b?q=1> (Not <urn:y>)",
			[]ifList{{Tag: "/a", Conds: []ifCond{{Token: "urn:x"}}}, {Tag: "/a", Conds: []ifCond{{ETag: `"1"`}}},
				{Tag: "/b?q=1", Conds: []ifCond{{Not: true, Token: "urn:y"}}}}},
		{"non-ASCII etag bytes", "([\"\xc3\xa9\"])",
			[]ifList{{Conds: []ifCond{{ETag: "\"\xc3\xa9\""}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseIf(tc.in)
			if err != nil {
				t.Fatalf("parseIf(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(h.Lists, tc.want) {
				t.Errorf("parseIf(%q)\n got %+v\nwant %+v", tc.in, h.Lists, tc.want)
			}
			again, err := parseIf(h.String())
			if err != nil || !reflect.DeepEqual(again, h) {
				t.Errorf("round trip through %q: %+v, %v", h.String(), again, err)
			}
		})
	}
}

func TestParseIfRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"   ",
		"()",
		"( )",
		"(",
		"(<urn:x>",
		"<urn:x>)",
		"<" + tok1 + ">",                // a tag without a list
		"</a> (<urn:x>) </b>",           // the second tag has no list
		"</a> </b> (<urn:x>)",           // nor has the first
		"(<urn:x>) </a> (<urn:y>)",      // tagged after untagged
		"(" + tok1 + ")",                // token without brackets
		"(<no-scheme>)",                 // state token not an absolute URI
		"(<1abc:x>)",                    // scheme must start with a letter
		"(<>)",                          // empty
		"(<urn:a b>)",                   // space in a URI
		"(<urn:a<b>)",                   // < in a URI
		"(<urn:x)",                      // unterminated
		"<relative/path> (<urn:x>)",     // tag neither absolute URI nor absolute path
		"<//host/path> (<urn:x>)",       // network-path reference
		"([abc])",                       // unquoted etag
		"([\"abc])",                     // unterminated etag
		"([\"abc\")",                    // missing ]
		"([\"a\"b\"])",                  // stray character
		"([\"a b\"])",                   // space inside
		"([w/\"a\"])",                   // lowercase w/ is not the weak prefix
		"(Not)",                         // Not without a condition
		"(Not Not <urn:x>)",             // Not twice
		"(<urn:x>) x",                   // garbage after
		"(<urn:x>),(<urn:y>)",           // comma is not a separator
		"(<urn:x>)\n(<urn:y>)",          // newline is not LWS
		"(<urn:x> \x00)",                // control
		"[\"e\"]",                       // etag outside a list
		strings.Repeat("(<urn:x>)", 65), // too many lists
		"(" + strings.Repeat("<urn:x>", 257) + ")", // too many conditions
	} {
		if h, err := parseIf(in); !errors.Is(err, errBadIf) {
			t.Errorf("parseIf(%q) = %+v, %v; want errBadIf", in, h, err)
		}
	}
}

func TestIfTokens(t *testing.T) {
	if _, err := parseIf("(<urn:a> Not <urn:b>) (<DAV:no-lock> [\"e\"]) </x> (<urn:c>)"); err == nil {
		t.Fatal("mixed tagged and untagged lists parsed")
	}
	h, err := parseIf("(<urn:a> Not <urn:b>) (<DAV:no-lock> [\"e\"]) (<urn:c>)")
	if err != nil {
		t.Fatal(err)
	}
	got := h.tokens()
	want := map[string]bool{"urn:a": true, "urn:c": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tokens = %v, want %v", got, want)
	}
}

func TestETagMatches(t *testing.T) {
	for _, tc := range []struct {
		cond, cur string
		want      bool
	}{
		{`"a"`, `"a"`, true},
		{`"a"`, `"b"`, false},
		{`"a"`, `W/"a"`, false},
		{`W/"a"`, `"a"`, true},
		{`W/"a"`, `W/"a"`, true},
		{`W/"a"`, `"b"`, false},
	} {
		if got := etagMatches(tc.cond, tc.cur); got != tc.want {
			t.Errorf("etagMatches(%s, %s) = %v, want %v", tc.cond, tc.cur, got, tc.want)
		}
	}
}

// FuzzParseIf checks that parseIf never panics, rejects only with errBadIf,
// and that whatever it accepts survives a round trip through String.
func FuzzParseIf(f *testing.F) {
	for _, s := range []string{
		"(<" + tok1 + ">)",
		`(<` + tok1 + `> ["abc"])`,
		`(<DAV:no-lock> ["abc"])`,
		`(<` + tok1 + `x>) (Not <DAV:no-lock>)`,
		`(<` + tok1 + `> ["e"]) (Not <DAV:no-lock> ["e"])`,
		`<http://localhost:8080/dav/spaces/s/lockme> (<` + tok1 + `>)`,
		`</dav/spaces/s/a%20b/> (<urn:x> [W/"1"]) (Not ["2"]) </b> ([""])`,
		"(not<urn:x>)",
		"((",
		"(<",
		"([",
		"([W/",
		"(Not",
		"<",
		"</a>",
		"(<urn:x>) </a> (<urn:y>)",
		"\x00(\xff)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseIf(s)
		if err != nil {
			if !errors.Is(err, errBadIf) {
				t.Fatalf("parseIf(%q): error %v does not wrap errBadIf", s, err)
			}
			return
		}
		if len(h.Lists) == 0 {
			t.Fatalf("parseIf(%q) accepted no list", s)
		}
		for _, l := range h.Lists {
			for _, c := range l.Conds {
				if (c.Token == "") == (c.ETag == "") {
					t.Fatalf("parseIf(%q): condition %+v has both or neither of token and etag", s, c)
				}
			}
		}
		out := h.String()
		again, err := parseIf(out)
		if err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("parseIf(%q) = %+v; its String %q parses to %+v, %v", s, h, out, again, err)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("String of valid UTF-8 input %q is not valid UTF-8: %q", s, out)
		}
	})
}
