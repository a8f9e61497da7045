package events

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Events with times, for the ranges on time: 2026-06-01 09:00 UTC, and a
// second and an hour later.
var (
	t0       = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	evEarly  = Event{Type: NodeCreated, Space: "files", Path: "a/1.jpg", Time: t0, MIME: "image/jpeg", Size: 10}
	evSecond = Event{Type: NodeCreated, Space: "files", Path: "a/2.JPG", Time: t0.Add(time.Second), Size: 20}
	evHour   = Event{Type: NodeMoved, Space: "media", Path: "b/3.png", Time: t0.Add(time.Hour), MIME: "image/png"}
)

// TestKoncordeFilters: Kuzzle's filter language (Koncorde's terms and
// operands) on Wharf's events, next to the same filter in Wharf's own
// syntax where there is one: both match the same events.
func TestKoncordeFilters(t *testing.T) {
	ms := t0.UnixMilli()
	all := []Event{evCreated, evDeleted, evFinish, evCommit, evEarly, evSecond, evHour, {}}
	tests := []struct {
		name, koncorde, wharf string
		match                 []Event
		spaces, types         []string
	}{
		{name: "equals", koncorde: `{"equals":{"space":"files"}}`, wharf: `{"equals":{"field":"space","value":"files"}}`,
			match: []Event{evCreated, evDeleted, evEarly, evSecond}, spaces: []string{"files"}},
		{name: "equals size", koncorde: `{"equals":{"size":2048}}`, wharf: `{"size":2048}`, match: []Event{evCreated}},
		{name: "equals type", koncorde: `{"equals":{"type":"node.deleted"}}`, wharf: `{"type":"node.deleted"}`,
			match: []Event{evDeleted}, types: []string{NodeDeleted}},
		{name: "in", koncorde: `{"in":{"type":["node.moved","commit.pushed"]}}`,
			wharf: `{"in":{"field":"type","values":["node.moved","commit.pushed"]}}`,
			match: []Event{evCommit, evHour}, types: []string{NodeMoved, CommitPushed}},
		{name: "in spaces", koncorde: `{"in":{"space":["media"]}}`, wharf: `{"space":["media"]}`,
			match: []Event{evFinish, evHour}, spaces: []string{"media"}},
		{name: "range size", koncorde: `{"range":{"size":{"gte":20,"lt":3000}}}`, wharf: `{"range":{"field":"size","gte":20,"lt":3000}}`,
			match: []Event{evCreated, evSecond}},
		{name: "range time ms", koncorde: fmt.Sprintf(`{"range":{"time":{"gt":%d}}}`, ms),
			wharf: fmt.Sprintf(`{"range":{"field":"time","gt":%d}}`, ms), match: []Event{evSecond, evHour}},
		{name: "range time rfc3339", koncorde: `{"range":{"time":{"gte":"2026-06-01T09:00:01Z","lte":"2026-06-01T11:00:00+01:00"}}}`,
			wharf: `{"range":{"field":"time","gte":"2026-06-01T09:00:01Z","lte":"2026-06-01T11:00:00+01:00"}}`,
			match: []Event{evSecond, evHour}},
		{name: "range time between", koncorde: fmt.Sprintf(`{"range":{"time":{"gte":%d,"lt":"2026-06-01T09:30:00Z"}}}`, ms),
			match: []Event{evEarly, evSecond}},
		{name: "exists", koncorde: `{"exists":"mime"}`, wharf: `{"exists":{"field":"mime"}}`,
			match: []Event{evCreated, evFinish, evEarly, evHour}},
		{name: "exists time", koncorde: `{"exists":"time"}`, match: all},
		{name: "missing", koncorde: `{"missing":"mime"}`, wharf: `{"not":{"exists":"mime"}}`,
			match: []Event{evDeleted, evCommit, evSecond, {}}},
		{name: "missing deprecated form", koncorde: `{"missing":{"field":"upload"}}`, wharf: `{"not":{"exists":"upload"}}`,
			match: []Event{evCreated, evDeleted, evEarly, evSecond, evHour, {}}},
		{name: "missing time", koncorde: `{"missing":"time"}`},
		{name: "regexp", koncorde: `{"regexp":{"path":{"value":"\\.jpe?g$"}}}`, wharf: `{"regexp":{"field":"path","value":"\\.jpe?g$"}}`,
			match: []Event{evCreated, evEarly}},
		{name: "regexp flags", koncorde: `{"regexp":{"path":{"value":"\\.jpe?g$","flags":"ig"}}}`,
			wharf: `{"regexp":{"field":"path","value":"\\.jpe?g$","flags":"ig"}}`, match: []Event{evCreated, evEarly, evSecond}},
		{name: "regexp anchored", koncorde: `{"regexp":{"type":{"value":"^(node|commit)\\.(created|pushed)$"}}}`,
			match: []Event{evCreated, evCommit, evEarly, evSecond}},
		{name: "regexp dot all", koncorde: `{"regexp":{"user":{"value":"^a.b$","flags":"s"}}}`,
			match: []Event{{User: "a\nb"}}},
		{name: "prefix", koncorde: `{"prefix":{"path":"photos/"}}`, wharf: `{"prefix":{"field":"path","value":"photos/"}}`,
			match: []Event{evCreated, evFinish}},
		{name: "and", koncorde: `{"and":[{"equals":{"space":"files"}},{"equals":{"user":"alice"}}]}`,
			wharf: `{"space":"files","user":"alice"}`, match: []Event{evCreated}, spaces: []string{"files"}},
		{name: "or", koncorde: `{"or":[{"equals":{"space":"media"}},{"exists":"upload"}]}`,
			match: []Event{evFinish, evCommit, evHour}},
		{name: "not", koncorde: `{"not":{"in":{"space":["files","media"]}}}`, match: []Event{evCommit, {}}},
		{name: "bool must", koncorde: `{"bool":{"must":[{"equals":{"space":"files"}},{"exists":"mime"}]}}`,
			match: []Event{evCreated, evEarly}, spaces: []string{"files"}},
		{name: "bool must_not", koncorde: `{"bool":{"must_not":[{"equals":{"space":"files"}},{"exists":"mime"}]}}`,
			match: []Event{evCommit, {}}},
		{name: "bool should", koncorde: `{"bool":{"should":[{"equals":{"user":"bob"}},{"range":{"size":{"gt":4096}}}]}}`,
			match: []Event{evDeleted, evFinish}},
		{name: "bool should_not", koncorde: `{"bool":{"should_not":[{"equals":{"space":"files"}},{"exists":"mime"}]}}`,
			match: []Event{evDeleted, evFinish, evCommit, evSecond, evHour, {}}},
		{name: "bool all four", koncorde: `{"bool":{
			"must":[{"in":{"type":["node.created","node.moved"]}}],
			"must_not":[{"equals":{"path":"photos/cat.jpg"}}],
			"should":[{"regexp":{"mime":{"value":"^image/"}}},{"range":{"size":{"gte":20}}}],
			"should_not":[{"equals":{"space":"media"}},{"exists":"mime"}]}}`,
			match: []Event{evEarly, evSecond}, types: []string{NodeCreated, NodeMoved}},
		{name: "mixed with wharf clauses", koncorde: `{"space":"files","bool":{"should":[{"prefix":{"field":"path","value":"docs/"}},{"regexp":{"mime":{"value":"jpeg"}}}]}}`,
			match: []Event{evCreated, evDeleted, evEarly}, spaces: []string{"files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs := []string{tt.koncorde}
			if tt.wharf != "" {
				srcs = append(srcs, tt.wharf)
			}
			for _, src := range srcs {
				f, err := ParseFilter([]byte(src))
				if err != nil {
					t.Fatalf("ParseFilter(%s): %v", src, err)
				}
				for _, e := range all {
					want := false
					for _, m := range tt.match {
						if fmt.Sprint(m) == fmt.Sprint(e) {
							want = true
						}
					}
					if got := f.Match(&e); got != want {
						t.Errorf("%s on %+v: %v, want %v", src, e, got, want)
					}
				}
				if fmt.Sprint(f.Spaces()) != fmt.Sprint(tt.spaces) || fmt.Sprint(f.Types()) != fmt.Sprint(tt.types) {
					t.Errorf("%s pins spaces %q, types %q; want %q, %q", src, f.Spaces(), f.Types(), tt.spaces, tt.types)
				}
			}
		})
	}
}

// TestKoncordeErrors: Koncorde's syntax is checked as Wharf's is, with the
// same limits and errors that name the clause.
func TestKoncordeErrors(t *testing.T) {
	long := strings.Repeat("x", MaxFilterString+1)
	users := func(n int) string {
		return `[` + strings.TrimSuffix(strings.Repeat(`"u",`, n), ",") + `]`
	}
	tests := []struct {
		name, filter, want string
	}{
		{"equals two fields", `{"equals":{"space":"a","user":"b"}}`, `equals: want one field, as in {"space": …}, or "field" and its operands; got 2 members`},
		{"equals no field", `{"equals":{}}`, `equals: want one field, as in {"space": …}, or "field" and its operands; got 0 members`},
		{"equals unknown field", `{"equals":{"colour":"red"}}`, `equals.colour: unknown field "colour" (use type, space, path, user, mime, size, upload or time)`},
		{"equals wrong type", `{"equals":{"space":3}}`, "equals.space: want a string, got a number"},
		{"equals time", `{"equals":{"time":"2026-06-01T09:00:00Z"}}`, `equals.time: "time" is a time: use range`},
		{"equals long", `{"equals":{"user":"` + long + `"}}`, "equals.user: string longer than 1024 bytes"},
		{"in not array", `{"in":{"type":"node.created"}}`, "in.type: want an array, got a string"},
		{"in empty", `{"in":{"type":[]}}`, "in.type: empty list"},
		{"in bad value", `{"and":[{"in":{"size":[1,"2"]}}]}`, "and[0].in.size[1]: want an integer, got a string"},
		{"in too many across syntaxes", `{"user":` + users(200) + `,"in":{"path":` + users(57) + `}}`, "in.path: more than 256 values in all the in lists"},
		{"in time", `{"in":{"time":[1]}}`, `in.time: "time" is a time: use range`},
		{"range unknown bound", `{"range":{"size":{"gtt":3}}}`, `range.size: unknown bound "gtt"`},
		{"range no bound", `{"range":{"size":{}}}`, "range.size: no bound (use gt, gte, lt or lte)"},
		{"range not object", `{"range":{"size":3}}`, "range.size: want an object of bounds, got a number"},
		{"range on path", `{"range":{"path":{"gt":"a"}}}`, `range.path: range applies to "size" and "time" only`},
		{"range float", `{"range":{"size":{"gt":1.5}}}`, "range.size.gt: want an integer, got 1.5"},
		{"range bad time", `{"range":{"time":{"gt":"yesterday"}}}`, `range.time.gt: want an RFC 3339 time or milliseconds since 1970, got "yesterday"`},
		{"range time bool", `{"range":{"time":{"gt":true}}}`, "range.time.gt: want an RFC 3339 time or milliseconds since 1970, got a boolean"},
		{"range time far", `{"range":{"time":{"gt":"3000-01-01T00:00:00Z"}}}`, `range.time.gt: time out of range: "3000-01-01T00:00:00Z"`},
		{"range time ms overflow", `{"range":{"field":"time","lt":9223372036854775807}}`, "range.lt: time out of range: 9223372036854775807"},
		{"wharf form without field", `{"range":{"gte":3}}`, `range: missing "field"`},
		{"exists object extra", `{"exists":{"field":"mime","value":1}}`, `exists: want a field name, or an object with "field" only`},
		{"exists object not string", `{"exists":{"field":1}}`, "exists.field: want a field name, got a number"},
		{"missing unknown", `{"missing":"colour"}`, `missing: unknown field "colour" (use type, space, path, user, mime, size, upload or time)`},
		{"missing array", `{"missing":["mime"]}`, "missing: want a field name, got an array"},
		{"regexp missing value", `{"regexp":{"path":{"flags":"i"}}}`, `regexp.path: missing "value"`},
		{"regexp string operand", `{"regexp":{"path":"^a"}}`, `regexp.path: want an object with "value", got a string`},
		{"regexp unknown key", `{"regexp":{"path":{"value":"a","flag":"i"}}}`, `regexp.path: unknown key "flag"`},
		{"regexp bad flag", `{"regexp":{"path":{"value":"a","flags":"ix"}}}`, `regexp.path.flags: unknown flag 'x' (use i, m, s, g or u)`},
		{"regexp flag twice", `{"regexp":{"path":{"value":"a","flags":"ii"}}}`, `regexp.path.flags: flag 'i' given twice`},
		{"regexp bad syntax", `{"regexp":{"path":{"value":"a(b"}}}`, "regexp.path.value: missing closing ): a(b"},
		{"regexp lookahead", `{"regexp":{"field":"path","value":"a(?=b)"}}`, "regexp.value: invalid or unsupported Perl syntax: (?="},
		{"regexp on size", `{"regexp":{"size":{"value":"1"}}}`, `regexp.size: "size" is a number: use range`},
		{"regexp too long", `{"regexp":{"path":{"value":"` + strings.Repeat("a", MaxFilterRegexp+1) + `"}}}`,
			"regexp.path.value: regular expression longer than 512 bytes"},
		{"regexp too large", `{"or":[` + strings.Repeat(`{"regexp":{"path":{"value":"x{200}"}}},`, 2) + `{}]}`,
			"or[1].regexp.path.value: regular expressions too large: more than 300 instructions in all"},
		{"too many regexps", `{"or":[` + strings.Repeat(`{"regexp":{"path":{"value":"x"}}},`, MaxFilterRegexps) + `{"regexp":{"field":"user","value":"y"}}]}`,
			fmt.Sprintf("or[%d].regexp: more than %d regular expressions", MaxFilterRegexps, MaxFilterRegexps)},
		{"regexp repeat over RE2's bound", `{"regexp":{"path":{"value":"x{1001}"}}}`, "regexp.path.value: invalid repeat count: {1001}"},
		{"bool empty", `{"bool":{}}`, "bool: empty bool (use must, must_not, should or should_not)"},
		{"bool filter", `{"bool":{"filter":[{}]}}`, `bool: unknown attribute "filter" (use must, must_not, should or should_not)`},
		{"bool not list", `{"bool":{"must":{"exists":"mime"}}}`, "bool.must: want an array of filter objects, got an object"},
		{"bool empty list", `{"bool":{"should":[]}}`, "bool.should: empty list"},
		{"bool nested error", `{"bool":{"must":[{},{"equals":{"size":"x"}}]}}`, "bool.must[1].equals.size: want an integer, got a string"},
		{"bool too deep", strings.Repeat(`{"bool":{"must":[`, MaxFilterDepth) + `{}` + strings.Repeat(`]}}`, MaxFilterDepth),
			strings.TrimSuffix(strings.Repeat("bool.must[0].", MaxFilterDepth), ".") + ": nested deeper than 8 levels"},
		{"bool too many clauses", `{"bool":{"must":[` + strings.Repeat(`{"missing":"mime"},`, MaxFilterClauses-1) + `{"missing":"mime"}]}}`,
			fmt.Sprintf("bool.must[%d].missing: more than 64 clauses", MaxFilterClauses-1)},
		{"size", `{"equals":{"path":"` + strings.Repeat("x", MaxFilterSize) + `"}}`, "more than 8192 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter([]byte(tt.filter))
			if err == nil {
				t.Fatalf("ParseFilter(%.80s) = %v, want error %q", tt.filter, f, tt.want)
			}
			if !errors.Is(err, ErrBadFilter) {
				t.Errorf("error %v does not match ErrBadFilter", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
}
