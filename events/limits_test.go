package events

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// maximalFilters are filters at the limits, each shaped to cost the most
// of one thing once compiled: distinct values in a set (strings, sizes),
// closures (clauses, nesting), retained strings, wildcard patterns. Each is
// at most MaxFilterSize bytes long.
func maximalFilters() map[string]string {
	list := func(n int, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return strings.Join(items, ",")
	}
	// As long as a value may be for n of them, quoted and comma-separated,
	// to fill a filter with room left for the wrapper.
	fill := func(n, wrapper int) int { return (MaxFilterSize-wrapper)/n - 3 }
	val := func(i, size int) string {
		s := fmt.Sprintf("%d-", i)
		return `"` + s + strings.Repeat("v", size-len(s)) + `"`
	}
	star := func(size int) string { return `"` + strings.Repeat("*x", size/2) + `"` }
	return map[string]string{
		"strings in one set": `{"user":[` + list(MaxFilterValues, func(i int) string { return val(i, fill(MaxFilterValues, 16)) }) + `]}`,
		"sizes in one set":   `{"size":[` + list(MaxFilterValues, func(i int) string { return fmt.Sprint(int64(i) << 40) }) + `]}`,
		"many small sets": `{"and":[` + list(MaxFilterClauses/2-1, func(i int) string {
			return `{"path":[` + list(MaxFilterValues/(MaxFilterClauses/2), func(j int) string { return fmt.Sprintf(`"%d/%d"`, i, j) }) + `]}`
		}) + `]}`,
		"clauses": `{"or":[` + list(MaxFilterClauses-1, func(i int) string {
			return fmt.Sprintf(`{"range":{"field":"size","gt":%d,"lt":%d}}`, i, i+9)
		}) + `]}`,
		"nesting": `{"and":[` + list(MaxFilterClauses/8, func(i int) string {
			return strings.Repeat(`{"not":`, 6) + `{"exists":"mime"}` + strings.Repeat(`}`, 6)
		}) + `]}`,
		"long strings": `{"and":[` + list(7, func(i int) string {
			return `{"prefix":{"field":"path","value":` + val(i, MaxFilterString) + `}}`
		}) + `]}`,
		"wildcards":        `{"or":[` + list(7, func(i int) string { return `{"type":` + star(MaxFilterString) + `}` }) + `]}`,
		"one large regexp": `{"regexp":{"path":{"value":"^x{` + fmt.Sprint(MaxFilterRegexpInsts-10) + `}$"}}}`,
		"large regexps": `{"or":[` + list(2, func(i int) string {
			return `{"regexp":{"path":{"value":"[a-z]{` + fmt.Sprint(MaxFilterRegexpInsts/2-10) + `}"}}}`
		}) + `]}`,
		"many regexps": `{"or":[` + list(MaxFilterRegexps, func(i int) string {
			return fmt.Sprintf(`{"regexp":{"path":{"value":"%d[a-z]{%d}","flags":"i"}}}`, i, MaxFilterRegexpInsts/MaxFilterRegexps-12)
		}) + `]}`,
		"a large regexp and strings": `{"regexp":{"path":{"value":"^x{` + fmt.Sprint(MaxFilterRegexpInsts-10) + `}$"}},"user":[` +
			list(MaxFilterValues, func(i int) string { return val(i, fill(MaxFilterValues, 64)) }) + `]}`,
		"many long regexps": `{"or":[` + list(MaxFilterRegexps, func(i int) string {
			return fmt.Sprintf(`{"regexp":{"path":{"value":"%d%s"}}}`, i, strings.Repeat("ab", MaxFilterRegexpInsts/MaxFilterRegexps/2-4))
		}) + `]}`,
		"wildcards in a list": `{"type":[` + list(MaxFilterValues, func(i int) string {
			return star(fill(MaxFilterValues, 16))
		}) + `]}`,
	}
}

// TestMaximalFilterSize measures the memory a maximal subscription holds:
// its compiled filter and the Subscription (its queue is allocated with
// its first event, and bounded by the caller). A client may hold many, so
// the bound matters: 64 KiB.
func TestMaximalFilterSize(t *testing.T) {
	const bound = 64 << 10
	for name, src := range maximalFilters() {
		t.Run(name, func(t *testing.T) {
			if len(src) > MaxFilterSize {
				t.Fatalf("the filter is %d bytes, over the limit", len(src))
			}
			per := bytesPerSubscription(t, src)
			t.Logf("%d bytes of JSON: %d bytes per subscription", len(src), per)
			if per > bound {
				t.Errorf("a maximal subscription (%s) holds %d bytes, want at most %d", name, per, bound)
			}
		})
	}
}

// bytesPerSubscription is the heap a subscription with filter src holds,
// on average over many.
func bytesPerSubscription(tb testing.TB, src string) int {
	const n = 200
	b := New()
	subs := make([]*Subscription, n)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	for i := range subs {
		f, err := ParseFilter([]byte(src))
		if err != nil {
			tb.Fatal(err)
		}
		subs[i] = b.SubscribeWith(SubscribeOptions{Filter: f, Buffer: 64})
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	after := ms.HeapAlloc
	runtime.KeepAlive(subs)
	for _, s := range subs {
		s.Close()
	}
	if after < before {
		return 0
	}
	return int(after-before) / n
}

// BenchmarkMaximalFilter reports, for each maximal filter, what one
// evaluation costs (ns/op, on an event it must look at in full) and the
// memory a subscription with it holds (B/sub).
func BenchmarkMaximalFilter(b *testing.B) {
	e := &Event{Type: "node.created", Space: "files", Path: "photos/2026/06/cat.jpg", User: "alice", MIME: "image/jpeg", Size: 1 << 20}
	for name, src := range maximalFilters() {
		b.Run(strings.ReplaceAll(name, " ", "-"), func(b *testing.B) {
			f := mustFilter(b, src)
			b.ReportMetric(float64(bytesPerSubscription(b, src)), "B/sub")
			b.ResetTimer()
			for range b.N {
				f.Match(e)
			}
		})
	}
}

// TestFilterLimits: a filter over a limit is refused with a FilterError
// that names the limit, at the clause that crosses it.
func TestFilterLimits(t *testing.T) {
	users := func(n int) string {
		return `[` + strings.TrimSuffix(strings.Repeat(`"u",`, n), ",") + `]`
	}
	tests := []struct {
		name, filter, want string
	}{
		{"size", `{"path":"` + strings.Repeat("x", MaxFilterSize) + `"}`, "more than 8192 bytes"},
		{"size with spaces around", "  " + `{"and":[` + strings.Repeat(`{"exists":"type"}, `, 500) + `{}]}`, "more than 8192 bytes"},
		{"values of one list", `{"user":` + users(MaxFilterValues+1) + `}`, "user: more than 256 values in all the in lists"},
		{"values across lists", `{"user":` + users(200) + `,"or":[{"path":` + users(56) + `},{"in":{"field":"mime","values":` + users(1) + `}}]}`,
			"or[1].in.values: more than 256 values in all the in lists"},
		{"clauses", `{"and":[` + strings.Repeat(`{"exists":"type"},`, MaxFilterClauses-1) + `{"exists":"type"}]}`,
			fmt.Sprintf("and[%d].exists: more than 64 clauses", MaxFilterClauses-1)},
		{"depth", strings.Repeat(`{"not":`, MaxFilterDepth) + `{}` + strings.Repeat(`}`, MaxFilterDepth),
			strings.TrimSuffix(strings.Repeat("not.", MaxFilterDepth), ".") + ": nested deeper than 8 levels"},
		{"string", `{"mime":"` + strings.Repeat("x", MaxFilterString+1) + `"}`, "mime: string longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFilter([]byte(tt.filter))
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFilter(%.60s…) = %v, want a FilterError", tt.filter, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
	// At the limits, accepted.
	at := []string{
		`{"user":` + users(MaxFilterValues) + `}`,
		`{"user":` + users(200) + `,"or":[{"path":` + users(56) + `}]}`,
	}
	for name, f := range maximalFilters() {
		at = append(at, f)
		_ = name
	}
	for _, f := range at {
		if _, err := ParseFilter([]byte(f)); err != nil {
			t.Errorf("ParseFilter(%.60s…): %v", f, err)
		}
	}
}
