package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var (
	evCreated = Event{Type: NodeCreated, Space: "files", Path: "photos/cat.jpg", User: "alice", MIME: "image/jpeg", Size: 2048}
	evDeleted = Event{Type: NodeDeleted, Space: "files", Path: "docs/a.txt", User: "bob"}
	evFinish  = Event{Type: ProcessingFinished, Space: "media", Path: "photos/big.mov", Upload: "u1", User: "alice", MIME: "video/quicktime", Size: 5 << 30}
	evCommit  = Event{Type: CommitPushed, Upload: "u2"}
)

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		name     string
		filter   string
		match    []Event
		nomatch  []Event
		spaces   []string
		types    []string
		typesNil bool
	}{
		{name: "empty", filter: `{}`, match: []Event{evCreated, evCommit}},
		{name: "null", filter: `null`, match: []Event{evCreated, evCommit}},
		{name: "nothing", filter: ``, match: []Event{evCreated}},
		{name: "equals space", filter: `{"equals":{"field":"space","value":"files"}}`,
			match: []Event{evCreated, evDeleted}, nomatch: []Event{evFinish, evCommit}, spaces: []string{"files"}},
		{name: "equals type exact", filter: `{"equals":{"field":"type","value":"node.deleted"}}`,
			match: []Event{evDeleted}, nomatch: []Event{evCreated}, types: []string{NodeDeleted}},
		{name: "equals user", filter: `{"equals":{"field":"user","value":"alice"}}`,
			match: []Event{evCreated, evFinish}, nomatch: []Event{evDeleted, evCommit}},
		{name: "equals mime", filter: `{"equals":{"field":"mime","value":"image/jpeg"}}`,
			match: []Event{evCreated}, nomatch: []Event{evFinish}},
		{name: "equals upload", filter: `{"equals":{"field":"upload","value":"u2"}}`,
			match: []Event{evCommit}, nomatch: []Event{evFinish}},
		{name: "equals size", filter: `{"equals":{"field":"size","value":2048}}`,
			match: []Event{evCreated}, nomatch: []Event{evFinish, evCommit}},
		{name: "equals path leading slash", filter: `{"equals":{"field":"path","value":"/docs/a.txt"}}`,
			match: []Event{evDeleted}, nomatch: []Event{evCreated}},
		{name: "equals empty string", filter: `{"equals":{"field":"space","value":""}}`,
			match: []Event{evCommit}, nomatch: []Event{evCreated}, spaces: []string{""}},
		{name: "wildcard suffix", filter: `{"equals":{"field":"type","value":"node.*"}}`,
			match: []Event{evCreated, evDeleted}, nomatch: []Event{evFinish, evCommit}, typesNil: true},
		{name: "wildcard prefix", filter: `{"type":"*.finished"}`,
			match: []Event{evFinish}, nomatch: []Event{evCreated}},
		{name: "wildcard middle", filter: `{"type":"c*t.p*d"}`,
			match: []Event{evCommit}, nomatch: []Event{evCreated, evFinish}},
		{name: "wildcard only", filter: `{"type":"*"}`, match: []Event{evCreated, evCommit}},
		{name: "wildcard parts do not overlap", filter: `{"type":"node.c*created"}`,
			match: []Event{{Type: "node.cxcreated"}}, nomatch: []Event{evCreated, evDeleted}},
		{name: "wildcard only in type", filter: `{"path":"photos/*"}`,
			match: []Event{{Path: "photos/*"}}, nomatch: []Event{evCreated}},
		{name: "in types", filter: `{"in":{"field":"type","values":["node.created","node.deleted"]}}`,
			match: []Event{evCreated, evDeleted}, nomatch: []Event{evFinish}, types: []string{NodeCreated, NodeDeleted}},
		{name: "in types with wildcard", filter: `{"in":{"field":"type","values":["commit.*","node.deleted"]}}`,
			match: []Event{evCommit, evDeleted}, nomatch: []Event{evCreated}, typesNil: true},
		{name: "in spaces shorthand", filter: `{"space":["media","files"]}`,
			match: []Event{evCreated, evFinish}, nomatch: []Event{evCommit}, spaces: []string{"media", "files"}},
		{name: "in many users (map)", filter: `{"user":["a","b","c","d","e","f","g","h","i","alice"]}`,
			match: []Event{evCreated}, nomatch: []Event{evDeleted}},
		{name: "in sizes", filter: `{"in":{"field":"size","values":[0,2048]}}`,
			match: []Event{evCreated, evCommit}, nomatch: []Event{evFinish}},
		{name: "prefix path", filter: `{"prefix":{"field":"path","value":"photos/"}}`,
			match: []Event{evCreated, evFinish}, nomatch: []Event{evDeleted, evCommit}},
		{name: "prefix mime", filter: `{"prefix":{"field":"mime","value":"video/"}}`,
			match: []Event{evFinish}, nomatch: []Event{evCreated}},
		{name: "range gt", filter: `{"range":{"field":"size","gt":2048}}`,
			match: []Event{evFinish}, nomatch: []Event{evCreated, evCommit}},
		{name: "range gte", filter: `{"range":{"field":"size","gte":2048}}`,
			match: []Event{evFinish, evCreated}, nomatch: []Event{evCommit}},
		{name: "range lt", filter: `{"range":{"field":"size","lt":2048}}`,
			match: []Event{evCommit}, nomatch: []Event{evCreated}},
		{name: "range lte", filter: `{"range":{"field":"size","lte":2048}}`,
			match: []Event{evCommit, evCreated}, nomatch: []Event{evFinish}},
		{name: "range both", filter: `{"range":{"field":"size","gt":0,"lt":1073741824}}`,
			match: []Event{evCreated}, nomatch: []Event{evFinish, evCommit}},
		{name: "range empty", filter: `{"range":{"field":"size","gt":10,"lt":5}}`,
			nomatch: []Event{evCreated, evCommit}},
		{name: "range gt max", filter: `{"range":{"field":"size","gt":9223372036854775807}}`,
			nomatch: []Event{evFinish, {Size: 1<<63 - 1}}},
		{name: "exists mime", filter: `{"exists":"mime"}`,
			match: []Event{evCreated}, nomatch: []Event{evDeleted}},
		{name: "exists size", filter: `{"exists":"size"}`,
			match: []Event{evCreated}, nomatch: []Event{evDeleted}},
		{name: "exists space", filter: `{"exists":"space"}`,
			match: []Event{evCreated}, nomatch: []Event{evCommit}},
		{name: "members are and", filter: `{"space":"files","type":"node.*","user":"alice"}`,
			match: []Event{evCreated}, nomatch: []Event{evDeleted, evFinish}, spaces: []string{"files"}},
		{name: "and", filter: `{"and":[{"space":"files"},{"prefix":{"field":"path","value":"docs/"}}]}`,
			match: []Event{evDeleted}, nomatch: []Event{evCreated, evFinish}, spaces: []string{"files"}},
		{name: "and of three", filter: `{"and":[{"space":"files"},{"user":"alice"},{"exists":"mime"}]}`,
			match: []Event{evCreated}, nomatch: []Event{evDeleted}, spaces: []string{"files"}},
		{name: "and intersects pins", filter: `{"space":["files","media"],"and":[{"space":["media","x"]}]}`,
			match: []Event{evFinish}, nomatch: []Event{evCreated}, spaces: []string{"media"}},
		{name: "contradiction pins nothing", filter: `{"space":"files","and":[{"space":"media"}]}`,
			nomatch: []Event{evCreated, evFinish}, spaces: []string{}},
		{name: "or", filter: `{"or":[{"type":"commit.*"},{"range":{"field":"size","gt":1000000}}]}`,
			match: []Event{evCommit, evFinish}, nomatch: []Event{evCreated}},
		{name: "or single", filter: `{"or":[{"user":"bob"}]}`, match: []Event{evDeleted}, nomatch: []Event{evCreated}},
		{name: "or with empty branch", filter: `{"or":[{"user":"bob"},{}]}`, match: []Event{evCreated, evDeleted}},
		{name: "or does not pin", filter: `{"or":[{"space":"files"},{"space":"media"}]}`,
			match: []Event{evCreated, evFinish}, nomatch: []Event{evCommit}},
		{name: "not", filter: `{"not":{"type":"node.*"}}`,
			match: []Event{evFinish, evCommit}, nomatch: []Event{evCreated}},
		{name: "not empty", filter: `{"not":{}}`, nomatch: []Event{evCreated, evCommit}},
		{name: "double not", filter: `{"not":{"not":{"space":"media"}}}`,
			match: []Event{evFinish}, nomatch: []Event{evCreated}},
		{name: "nested", filter: `{"space":"files","or":[{"and":[{"type":"node.created"},{"prefix":{"field":"mime","value":"image/"}}]},{"not":{"exists":"mime"}}]}`,
			match: []Event{evCreated, evDeleted}, nomatch: []Event{evFinish, {Type: NodeCreated, Space: "files", MIME: "text/plain"}}, spaces: []string{"files"}},
		{name: "max depth", filter: strings.Repeat(`{"not":`, MaxFilterDepth-1) + `{}` + strings.Repeat(`}`, MaxFilterDepth-1),
			nomatch: []Event{evCreated}},
		{name: "max clauses", filter: `{"and":[` + strings.Repeat(`{"exists":"type"},`, MaxFilterClauses-2) + `{"exists":"type"}]}`,
			match: []Event{evCreated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter([]byte(tt.filter))
			if err != nil {
				t.Fatalf("ParseFilter(%s): %v", tt.filter, err)
			}
			for _, e := range tt.match {
				if !f.Match(&e) {
					t.Errorf("%s does not match %+v", tt.filter, e)
				}
			}
			for _, e := range tt.nomatch {
				if f.Match(&e) {
					t.Errorf("%s matches %+v", tt.filter, e)
				}
			}
			if tt.spaces != nil && !slices.Equal(f.Spaces(), tt.spaces) || tt.spaces == nil && f.Spaces() != nil {
				t.Errorf("Spaces() = %#v, want %#v", f.Spaces(), tt.spaces)
			}
			if tt.types != nil && !slices.Equal(f.Types(), tt.types) || tt.typesNil && f.Types() != nil {
				t.Errorf("Types() = %#v, want %#v", f.Types(), tt.types)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	long := strings.Repeat("x", MaxFilterString+1)
	tests := []struct {
		name, filter, want string
	}{
		{"invalid JSON", `{"space":`, "invalid JSON: unexpected end of JSON input"},
		{"trailing data", `{} {}`, "invalid JSON: invalid character '{' after top-level value"},
		{"not an object", `["space"]`, "want a filter object, got an array"},
		{"string filter", `"node.*"`, "want a filter object, got a string"},
		{"unknown clause", `{"like":{"field":"path","value":"x"}}`, `like: unknown clause "like" (use equals, in, prefix, range, regexp, exists, missing, and, or, not, bool or a field name)`},
		{"duplicate clause", `{"space":"a","space":"b"}`, "space: given twice"},
		{"unknown field", `{"equals":{"field":"colour","value":"red"}}`, `equals.field: unknown field "colour" (use type, space, path, user, mime, size, upload or time)`},
		{"field not a string", `{"equals":{"field":3,"value":"red"}}`, "equals.field: want a field name, got a number"},
		{"missing field", `{"equals":{"value":"red"}}`, `equals: missing "field"`},
		{"missing value", `{"equals":{"field":"space"}}`, `equals: missing "value"`},
		{"unknown key", `{"equals":{"field":"space","value":"a","values":["b"]}}`, `equals: unknown key "values"`},
		{"operands not object", `{"equals":"space"}`, `equals: want an object with one field, or with "field", got a string`},
		{"equals value type", `{"equals":{"field":"space","value":3}}`, "equals.value: want a string, got a number"},
		{"equals size string", `{"equals":{"field":"size","value":"3"}}`, "equals.value: want an integer, got a string"},
		{"equals size float", `{"size":1.5}`, "size: want an integer, got 1.5"},
		{"shorthand object", `{"path":{"prefix":"a"}}`, "path: want a string, got an object"},
		{"string too long", `{"user":"` + long + `"}`, "user: string longer than 1024 bytes"},
		{"in not array", `{"in":{"field":"type","values":"node.created"}}`, "in.values: want an array, got a string"},
		{"in missing values", `{"in":{"field":"type"}}`, `in: missing "values"`},
		{"in empty", `{"in":{"field":"type","values":[]}}`, "in.values: empty list"},
		{"in bad value", `{"in":{"field":"type","values":["node.created",null]}}`, "in.values[1]: want a string, got null"},
		{"in bad size", `{"size":[1,"2"]}`, "size[1]: want an integer, got a string"},
		{"in too many", `{"user":[` + strings.TrimSuffix(strings.Repeat(`"u",`, MaxFilterValues+1), ",") + `]}`, "user: more than 256 values in all the in lists"},
		{"in long value", `{"and":[{"space":["a","` + long + `"]}]}`, "and[0].space[1]: string longer than 1024 bytes"},
		{"prefix on size", `{"prefix":{"field":"size","value":"1"}}`, `prefix.field: "size" is a number: use range`},
		{"prefix missing value", `{"prefix":{"field":"path"}}`, `prefix: missing "value"`},
		{"unknown bound", `{"and":[{},{},{"range":{"field":"size","gtt":3}}]}`, `and[2].range: unknown bound "gtt"`},
		{"range no bound", `{"range":{"field":"size"}}`, "range: no bound (use gt, gte, lt or lte)"},
		{"range on path", `{"range":{"field":"path","gt":3}}`, `range.field: range applies to "size" and "time" only`},
		{"range bound string", `{"range":{"field":"size","lte":"3"}}`, "range.lte: want an integer, got a string"},
		{"range bound too big", `{"range":{"field":"size","lte":1e30}}`, "range.lte: want an integer, got 1e30"},
		{"exists not string", `{"exists":["mime"]}`, "exists: want a field name, got an array"},
		{"exists unknown", `{"exists":"data"}`, `exists: unknown field "data" (use type, space, path, user, mime, size, upload or time)`},
		{"and not array", `{"and":{"space":"a"}}`, "and: want an array of filter objects, got an object"},
		{"and empty", `{"and":[]}`, "and: empty list"},
		{"or item not object", `{"or":[{"space":"a"},"b"]}`, "or[1]: want a filter object, got a string"},
		{"nested error path", `{"or":[{},{"not":{"and":[{"in":{"field":"size","values":[1,true]}}]}}]}`, "or[1].not.and[0].in.values[1]: want an integer, got a boolean"},
		{"not not object", `{"not":[]}`, "not: want a filter object, got an array"},
		{"too deep", strings.Repeat(`{"not":`, MaxFilterDepth) + `{}` + strings.Repeat(`}`, MaxFilterDepth),
			strings.TrimSuffix(strings.Repeat("not.", MaxFilterDepth), ".") + ": nested deeper than 8 levels"},
		{"too deep in and", `{"and":[{"and":[{"and":[{"and":[{"and":[{"and":[{"and":[{"and":[{}]}]}]}]}]}]}]}]}`,
			"and[0].and[0].and[0].and[0].and[0].and[0].and[0].and[0]: nested deeper than 8 levels"},
		{"too many clauses", `{"and":[` + strings.Repeat(`{"exists":"type"},`, MaxFilterClauses-1) + `{"exists":"type"}]}`,
			fmt.Sprintf("and[%d].exists: more than 64 clauses", MaxFilterClauses-1)},
		{"long unknown key truncated", `{"` + long + `":1}`, long[:64] + `…: unknown clause "` + long[:64] + `…" (use equals, in, prefix, range, regexp, exists, missing, and, or, not, bool or a field name)`},
		{"null field", `{"equals":{"field":null,"value":"a"}}`, "equals.field: want a field name, got null"},
		{"exists null", `{"exists":null}`, "exists: want a field name, got null"},
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

// FuzzParseFilter checks that the parser never panics, that what it
// accepts it can evaluate, and that errors always name a clause path or
// the filter as a whole. Seeds are in testdata/fuzz/FuzzParseFilter too.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"space":"files","type":"node.*"}`,
		`{"and":[{"in":{"field":"type","values":["a.*","b"]}},{"range":{"field":"size","gt":1,"lte":9}}]}`,
		`{"or":[{"not":{"exists":"mime"}},{"prefix":{"field":"path","value":"/x/"}}]}`,
		`{"equals":{"field":"size","value":-9223372036854775808}}`,
		`{"type":"*a*b**c*"}`, `{"and":[{},{},{"range":{"field":"size","gtt":3}}]}`,
		`{"user":["a","a","b"]}`, `[`, `{"not":{"not":{"not":{}}}}`,
		// Koncorde's syntax.
		`{"equals":{"space":"files"}}`, `{"in":{"type":["node.created","node.*"]}}`,
		`{"range":{"size":{"gte":1048576,"lt":1073741824}}}`, `{"range":{"time":{"gt":1780304400000,"lte":"2026-06-01T09:00:00Z"}}}`,
		`{"exists":{"field":"mime"}}`, `{"missing":"upload"}`, `{"exists":"time"}`,
		`{"regexp":{"path":{"value":"^photos/.*\.jpe?g$","flags":"i"}}}`,
		`{"regexp":{"field":"user","value":"(?i)a|b","flags":"msgu"}}`,
		`{"bool":{"must":[{"equals":{"space":"a"}}],"must_not":[{}],"should":[{"exists":"mime"}],"should_not":[{"in":{"size":[1]}}]}}`,
		`{"and":[{"or":[{"not":{"equals":{"upload":"u"}}}]}],"prefix":{"path":"/x"}}`,
	} {
		f.Add([]byte(s))
	}
	events := []Event{evCreated, evDeleted, evFinish, evCommit, {}, {Type: "abc", Path: "x/y"}, evEarly, evHour}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := ParseFilter(data)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Msg == "" {
				t.Fatalf("error %v (%T) is not a FilterError with a message", err, err)
			}
			return
		}
		for _, e := range events {
			m := flt.Match(&e)
			// A pinned filter never matches outside its pins: the bus
			// relies on it to index subscriptions.
			if sp := flt.Spaces(); m && sp != nil && !slices.Contains(sp, e.Space) {
				t.Fatalf("%s matches %+v outside its spaces %q", data, e, sp)
			}
			if ty := flt.Types(); m && ty != nil && !slices.Contains(ty, e.Type) {
				t.Fatalf("%s matches %+v outside its types %q", data, e, ty)
			}
		}
	})
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"a*", "abc", true}, {"a*", "b", false}, {"*c", "abc", true}, {"*c", "ab", false},
		{"a*c", "abc", true}, {"a*c", "ac", true}, {"a*c", "a", false}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false}, {"**", "", true}, {"a**a", "a", false}, {"a**a", "aa", true},
		{"*.*", "node.created", true}, {"*.*", "node", false},
		{"a**b***c", "abc", true}, {"a**b***c", "ac", false}, {"*x*x*x", "xxx", true}, {"*x*x*x", "xx", false},
		{"***", "anything", true}, {"n*x*d", "node.created", false}, {"n*e*e*d", "node.created", true},
	}
	for _, tt := range tests {
		if got := compileGlob(tt.pattern)(tt.s); got != tt.want {
			t.Errorf("glob %q on %q = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
