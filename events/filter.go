package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on a filter, so that a client cannot make the bus slow, the
// parser deep or a subscription big: within them a filter costs at most a
// few microseconds per event it is evaluated on and, compiled, at most
// 64 KiB of memory (TestMaximalFilterSize measures it).
const (
	MaxFilterSize    = 8 << 10 // bytes of the filter's JSON
	MaxFilterDepth   = 8       // nesting of objects: the filter itself is depth 1
	MaxFilterClauses = 64      // clauses in all, and/or/not included
	MaxFilterString  = 1024    // bytes in any string of a filter
	MaxFilterValues  = 256     // values of all the "in" lists together
	// MaxFilterRegexp bounds the pattern of a regexp clause, in bytes;
	// MaxFilterRegexps how many a filter holds, and MaxFilterRegexpInsts
	// what they compile to together (RE2 instructions: a{100} is about a
	// hundred, each 40 to 120 bytes once compiled), so that the regexps of a filter stay
	// within its memory budget.
	MaxFilterRegexp      = 512
	MaxFilterRegexps     = 8
	MaxFilterRegexpInsts = 300
)

// ErrBadFilter is matched (errors.Is) by every *FilterError.
var ErrBadFilter = errors.New("bad filter")

// FilterError is why ParseFilter rejected a filter. Clause locates the bad
// clause from the filter's root, as in `and[2].range` or `not.in.values[3]`
// (empty for the filter as a whole).
type FilterError struct {
	Clause string
	Msg    string
}

func (e *FilterError) Error() string {
	if e.Clause == "" {
		return e.Msg
	}
	return e.Clause + ": " + e.Msg
}

func (e *FilterError) Is(target error) bool { return target == ErrBadFilter }

// Filter is a compiled subscription filter (see the package documentation
// for the language). It is immutable and safe for concurrent use.
type Filter struct {
	match func(*Event) bool // nil: every event
	// spaces, when not nil, holds every space an event must be in to match
	// (the filter pins them with an equals or in clause joined by and); the
	// bus indexes the subscription under them. types likewise, for exact
	// event types.
	spaces []string
	types  []string
}

// Match reports whether f accepts e. A nil Filter accepts everything.
func (f *Filter) Match(e *Event) bool {
	return f == nil || f.match == nil || f.match(e)
}

// Spaces returns the spaces f is restricted to, or nil if it may match
// events of any space (or of none).
func (f *Filter) Spaces() []string {
	if f == nil {
		return nil
	}
	return slices.Clone(f.spaces)
}

// Types returns the exact event types f is restricted to, or nil if it may
// match any type.
func (f *Filter) Types() []string {
	if f == nil {
		return nil
	}
	return slices.Clone(f.types)
}

// ParseFilter compiles a filter written in the language of the package
// documentation. Empty input, "null" and "{}" accept every event. It
// returns a *FilterError (matching ErrBadFilter) naming the bad clause.
func ParseFilter(data []byte) (*Filter, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return &Filter{}, nil
	}
	if len(data) > MaxFilterSize {
		return nil, &FilterError{Msg: fmt.Sprintf("more than %d bytes", MaxFilterSize)}
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, &FilterError{Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	p := &parser{}
	c, err := p.object("", data, 1)
	if err != nil {
		return nil, err
	}
	return &Filter{match: c.match, spaces: c.spaces, types: c.types}, nil
}

// field is an Event field a filter may test.
type field int

const (
	fieldType field = iota + 1
	fieldSpace
	fieldPath
	fieldUser
	fieldMIME
	fieldUpload
	fieldSize
	fieldTime
)

var fields = map[string]field{
	"type": fieldType, "space": fieldSpace, "path": fieldPath, "user": fieldUser,
	"mime": fieldMIME, "upload": fieldUpload, "size": fieldSize, "time": fieldTime,
}

const fieldNames = "type, space, path, user, mime, size, upload or time"

// str returns the getter of a string field.
func (f field) str() func(*Event) string {
	switch f {
	case fieldType:
		return func(e *Event) string { return e.Type }
	case fieldSpace:
		return func(e *Event) string { return e.Space }
	case fieldPath:
		return func(e *Event) string { return e.Path }
	case fieldUser:
		return func(e *Event) string { return e.User }
	case fieldMIME:
		return func(e *Event) string { return e.MIME }
	case fieldUpload:
		return func(e *Event) string { return e.Upload }
	}
	panic("events: not a string field")
}

// compiled is a parsed object or clause: its matcher (nil: always true) and
// what it pins (see Filter).
type compiled struct {
	match  func(*Event) bool
	spaces []string
	types  []string
}

type parser struct {
	clauses int // so far, against MaxFilterClauses
	values  int // in the in lists so far, against MaxFilterValues
	regexps int // so far, against MaxFilterRegexps
	insts   int // of the regexps so far, against MaxFilterRegexpInsts
}

func bad(clause, format string, args ...any) error {
	return &FilterError{Clause: clause, Msg: fmt.Sprintf(format, args...)}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name string
	val  json.RawMessage
}

// members splits a valid JSON value that must be an object, rejecting
// duplicate names (encoding/json would silently keep the last one).
func members(path string, raw json.RawMessage, what string) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad(path, "want %s, got %s", what, kind(raw))
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(path, "%v", err)
		}
		name := tok.(string) // a valid object's keys are strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad(path, "%v", err)
		}
		for _, m := range ms {
			if m.name == name {
				return nil, bad(join(path, truncate(name)), "given twice")
			}
		}
		ms = append(ms, member{name, v})
	}
	return ms, nil
}

// kind names the JSON type of a valid value, for error messages.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// object compiles a filter object: all its clauses must hold.
func (p *parser) object(path string, raw json.RawMessage, depth int) (compiled, error) {
	if depth > MaxFilterDepth {
		return compiled{}, bad(path, "nested deeper than %d levels", MaxFilterDepth)
	}
	ms, err := members(path, raw, "a filter object")
	if err != nil {
		return compiled{}, err
	}
	parts := make([]compiled, 0, len(ms))
	for _, m := range ms {
		cpath := join(path, truncate(m.name))
		if p.clauses++; p.clauses > MaxFilterClauses {
			return compiled{}, bad(cpath, "more than %d clauses", MaxFilterClauses)
		}
		c, err := p.clause(cpath, m.name, m.val, depth)
		if err != nil {
			return compiled{}, err
		}
		parts = append(parts, c)
	}
	return and(parts), nil
}

func (p *parser) clause(path, op string, raw json.RawMessage, depth int) (compiled, error) {
	switch op {
	case "equals":
		if !hasFieldKey(raw) {
			return p.koncorde(path, raw, p.equalsValue)
		}
		return p.equals(path, raw)
	case "in":
		if !hasFieldKey(raw) {
			return p.koncorde(path, raw, p.inValues)
		}
		return p.in(path, raw)
	case "prefix":
		if !hasFieldKey(raw) {
			return p.koncorde(path, raw, p.prefixValue)
		}
		return p.prefix(path, raw)
	case "range":
		if !hasFieldKey(raw) {
			return p.koncorde(path, raw, p.rangeBounds)
		}
		return p.rangeClause(path, raw)
	case "regexp":
		if !hasFieldKey(raw) {
			return p.koncorde(path, raw, p.regexpOperands)
		}
		return p.regexpClause(path, raw)
	case "exists":
		return p.exists(path, raw, false)
	case "missing":
		return p.exists(path, raw, true)
	case "bool":
		return p.boolClause(path, raw, depth)
	case "and", "or":
		list, err := p.list(path, raw, depth)
		if err != nil {
			return compiled{}, err
		}
		if op == "and" {
			return and(list), nil
		}
		return or(list), nil
	case "not":
		c, err := p.object(path, raw, depth+1)
		if err != nil {
			return compiled{}, err
		}
		return negate(c), nil
	}
	if f, ok := fields[op]; ok {
		// Shorthand: "field": value is equals, "field": [values] is in.
		if kind(raw) == "an array" {
			return p.inValues(path, f, raw)
		}
		return p.equalsValue(path, f, raw)
	}
	return compiled{}, bad(path, "unknown clause %q (use %s or a field name)", truncate(op), clauseNames)
}

const clauseNames = "equals, in, prefix, range, regexp, exists, missing, and, or, not, bool"

// list compiles the array of filter objects of an and or an or.
func (p *parser) list(path string, raw json.RawMessage, depth int) ([]compiled, error) {
	var items []json.RawMessage
	if kind(raw) != "an array" {
		return nil, bad(path, "want an array of filter objects, got %s", kind(raw))
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, bad(path, "%v", err)
	}
	if len(items) == 0 {
		return nil, bad(path, "empty list")
	}
	out := make([]compiled, len(items))
	for i, it := range items {
		c, err := p.object(fmt.Sprintf("%s[%d]", path, i), it, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// operands splits {"field": …, <others>} and returns the field with the
// other members, which must be among allowed (else unknown is the message
// for them).
func operands(path string, raw json.RawMessage, allowed []string, unknown string) (field, map[string]json.RawMessage, error) {
	ms, err := members(path, raw, `an object with "field"`)
	if err != nil {
		return 0, nil, err
	}
	var f field
	rest := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		switch {
		case m.name == "field":
			var name string
			if err := json.Unmarshal(m.val, &name); err != nil || kind(m.val) != "a string" {
				return 0, nil, bad(join(path, "field"), "want a field name, got %s", kind(m.val))
			}
			if f = fields[name]; f == 0 {
				return 0, nil, bad(join(path, "field"), "unknown field %q (use %s)", truncate(name), fieldNames)
			}
		case slices.Contains(allowed, m.name):
			rest[m.name] = m.val
		default:
			return 0, nil, bad(path, "%s %q", unknown, truncate(m.name))
		}
	}
	if f == 0 {
		return 0, nil, bad(path, `missing "field"`)
	}
	return f, rest, nil
}

func (p *parser) equals(path string, raw json.RawMessage) (compiled, error) {
	f, ops, err := operands(path, raw, []string{"value"}, "unknown key")
	if err != nil {
		return compiled{}, err
	}
	v, ok := ops["value"]
	if !ok {
		return compiled{}, bad(path, `missing "value"`)
	}
	return p.equalsValue(join(path, "value"), f, v)
}

func (p *parser) equalsValue(path string, f field, raw json.RawMessage) (compiled, error) {
	if f == fieldTime {
		return compiled{}, errTime(path)
	}
	if f == fieldSize {
		n, err := integer(path, raw)
		if err != nil {
			return compiled{}, err
		}
		return compiled{match: func(e *Event) bool { return e.Size == n }}, nil
	}
	s, err := str(path, f, raw)
	if err != nil {
		return compiled{}, err
	}
	get := f.str()
	c := compiled{}
	if f == fieldType && strings.Contains(s, "*") {
		g := compileGlob(s)
		c.match = func(e *Event) bool { return g(e.Type) }
		return c, nil
	}
	c.match = func(e *Event) bool { return get(e) == s }
	switch f {
	case fieldSpace:
		c.spaces = []string{s}
	case fieldType:
		c.types = []string{s}
	}
	return c, nil
}

func (p *parser) in(path string, raw json.RawMessage) (compiled, error) {
	f, ops, err := operands(path, raw, []string{"values"}, "unknown key")
	if err != nil {
		return compiled{}, err
	}
	v, ok := ops["values"]
	if !ok {
		return compiled{}, bad(path, `missing "values"`)
	}
	return p.inValues(join(path, "values"), f, v)
}

func (p *parser) inValues(path string, f field, raw json.RawMessage) (compiled, error) {
	var items []json.RawMessage
	if kind(raw) != "an array" {
		return compiled{}, bad(path, "want an array, got %s", kind(raw))
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return compiled{}, bad(path, "%v", err)
	}
	if len(items) == 0 {
		return compiled{}, bad(path, "empty list")
	}
	if f == fieldTime {
		return compiled{}, errTime(path)
	}
	if p.values += len(items); p.values > MaxFilterValues {
		return compiled{}, bad(path, "more than %d values in all the in lists", MaxFilterValues)
	}
	if f == fieldSize {
		set := make(map[int64]struct{}, len(items))
		for i, it := range items {
			n, err := integer(fmt.Sprintf("%s[%d]", path, i), it)
			if err != nil {
				return compiled{}, err
			}
			set[n] = struct{}{}
		}
		return compiled{match: func(e *Event) bool { _, ok := set[e.Size]; return ok }}, nil
	}
	var exact []string
	var globs []func(string) bool
	for i, it := range items {
		s, err := str(fmt.Sprintf("%s[%d]", path, i), f, it)
		if err != nil {
			return compiled{}, err
		}
		if f == fieldType && strings.Contains(s, "*") {
			globs = append(globs, compileGlob(s))
		} else if !slices.Contains(exact, s) {
			exact = append(exact, s)
		}
	}
	get := f.str()
	var isExact func(string) bool
	if len(exact) <= 8 {
		isExact = func(s string) bool { return slices.Contains(exact, s) }
	} else {
		set := make(map[string]struct{}, len(exact))
		for _, s := range exact {
			set[s] = struct{}{}
		}
		isExact = func(s string) bool { _, ok := set[s]; return ok }
	}
	c := compiled{}
	if len(globs) == 0 {
		c.match = func(e *Event) bool { return isExact(get(e)) }
		switch f {
		case fieldSpace:
			c.spaces = exact
		case fieldType:
			c.types = exact
		}
		return c, nil
	}
	c.match = func(e *Event) bool {
		v := get(e)
		if isExact(v) {
			return true
		}
		for _, g := range globs {
			if g(v) {
				return true
			}
		}
		return false
	}
	return c, nil
}

func (p *parser) prefix(path string, raw json.RawMessage) (compiled, error) {
	f, ops, err := operands(path, raw, []string{"value"}, "unknown key")
	if err != nil {
		return compiled{}, err
	}
	v, ok := ops["value"]
	if !ok {
		return compiled{}, bad(path, `missing "value"`)
	}
	if f == fieldSize || f == fieldTime {
		return compiled{}, notString(join(path, "field"), f)
	}
	return p.prefixValue(join(path, "value"), f, v)
}

// prefixValue compiles a prefix clause on f with value raw.
func (p *parser) prefixValue(path string, f field, raw json.RawMessage) (compiled, error) {
	if f == fieldSize || f == fieldTime {
		return compiled{}, notString(path, f)
	}
	s, err := str(path, f, raw)
	if err != nil {
		return compiled{}, err
	}
	get := f.str()
	return compiled{match: func(e *Event) bool { return strings.HasPrefix(get(e), s) }}, nil
}

// notString refuses a string clause on a number or a time.
func notString(path string, f field) error {
	if f == fieldTime {
		return errTime(path)
	}
	return bad(path, `"size" is a number: use range`)
}

func errTime(path string) error { return bad(path, `"time" is a time: use range`) }

var bounds = []string{"gt", "gte", "lt", "lte"}

func (p *parser) rangeClause(path string, raw json.RawMessage) (compiled, error) {
	f, ops, err := operands(path, raw, bounds, "unknown bound")
	if err != nil {
		return compiled{}, err
	}
	if f != fieldSize && f != fieldTime {
		return compiled{}, bad(join(path, "field"), `range applies to "size" and "time" only`)
	}
	return p.bounds(path, f, ops)
}

// rangeBounds compiles Koncorde's range, {"<field>": {"gte": …}}: raw is
// the object of bounds.
func (p *parser) rangeBounds(path string, f field, raw json.RawMessage) (compiled, error) {
	if f != fieldSize && f != fieldTime {
		return compiled{}, bad(path, `range applies to "size" and "time" only`)
	}
	ms, err := members(path, raw, "an object of bounds")
	if err != nil {
		return compiled{}, err
	}
	ops := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		if !slices.Contains(bounds, m.name) {
			return compiled{}, bad(path, "unknown bound %q", truncate(m.name))
		}
		ops[m.name] = m.val
	}
	return p.bounds(path, f, ops)
}

// bounds compiles the bounds of a range on size (integers) or time
// (milliseconds since 1970 as integers, or RFC 3339 strings).
func (p *parser) bounds(path string, f field, ops map[string]json.RawMessage) (compiled, error) {
	if len(ops) == 0 {
		return compiled{}, bad(path, "no bound (use gt, gte, lt or lte)")
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	empty := false
	for _, b := range bounds {
		v, ok := ops[b]
		if !ok {
			continue
		}
		var n int64
		var err error
		if f == fieldTime {
			n, err = instant(join(path, b), v)
		} else {
			n, err = integer(join(path, b), v)
		}
		if err != nil {
			return compiled{}, err
		}
		switch b {
		case "gt":
			if n == math.MaxInt64 {
				empty = true
			}
			lo = max(lo, n+1)
		case "gte":
			lo = max(lo, n)
		case "lt":
			if n == math.MinInt64 {
				empty = true
			}
			hi = min(hi, n-1)
		case "lte":
			hi = min(hi, n)
		}
	}
	if empty || lo > hi {
		return compiled{match: func(*Event) bool { return false }}, nil
	}
	if f == fieldTime {
		return compiled{match: func(e *Event) bool {
			t := e.Time.UnixNano()
			return t >= lo && t <= hi
		}}, nil
	}
	return compiled{match: func(e *Event) bool { return e.Size >= lo && e.Size <= hi }}, nil
}

// Times a range may name: those whose nanoseconds since 1970 fit an int64
// (1678 to 2262).
var (
	minInstant = time.Unix(0, math.MinInt64)
	maxInstant = time.Unix(0, math.MaxInt64)
)

// instant decodes a bound of a range on time, in nanoseconds since 1970:
// an integer is milliseconds (as Kuzzle's timestamps are), a string an
// RFC 3339 time.
func instant(path string, raw json.RawMessage) (int64, error) {
	if kind(raw) == "a string" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, bad(path, "%v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, bad(path, "want an RFC 3339 time or milliseconds since 1970, got %q", truncate(s))
		}
		if t.Before(minInstant) || t.After(maxInstant) {
			return 0, bad(path, "time out of range: %q", truncate(s))
		}
		return t.UnixNano(), nil
	}
	if kind(raw) != "a number" {
		return 0, bad(path, "want an RFC 3339 time or milliseconds since 1970, got %s", kind(raw))
	}
	ms, err := integer(path, raw)
	if err != nil {
		return 0, err
	}
	const lim = math.MaxInt64 / int64(time.Millisecond)
	if ms > lim || ms < -lim {
		return 0, bad(path, "time out of range: %d", ms)
	}
	return ms * int64(time.Millisecond), nil
}

// exists compiles exists (or, negated, missing): "field", or Koncorde's
// older {"field": "field"}.
func (p *parser) exists(path string, raw json.RawMessage, missing bool) (compiled, error) {
	var name string
	switch kind(raw) {
	case "a string":
		if err := json.Unmarshal(raw, &name); err != nil {
			return compiled{}, bad(path, "%v", err)
		}
	case "an object":
		ms, err := members(path, raw, "a field name")
		if err != nil {
			return compiled{}, err
		}
		if len(ms) != 1 || ms[0].name != "field" {
			return compiled{}, bad(path, `want a field name, or an object with "field" only`)
		}
		if kind(ms[0].val) != "a string" {
			return compiled{}, bad(join(path, "field"), "want a field name, got %s", kind(ms[0].val))
		}
		if err := json.Unmarshal(ms[0].val, &name); err != nil {
			return compiled{}, bad(path, "%v", err)
		}
	default:
		return compiled{}, bad(path, "want a field name, got %s", kind(raw))
	}
	f := fields[name]
	if f == 0 {
		return compiled{}, bad(path, "unknown field %q (use %s)", truncate(name), fieldNames)
	}
	var set func(*Event) bool
	switch f {
	case fieldTime:
		if missing {
			return compiled{match: func(*Event) bool { return false }}, nil
		}
		return compiled{}, nil // every event has a time
	case fieldSize:
		set = func(e *Event) bool { return e.Size != 0 }
	default:
		get := f.str()
		set = func(e *Event) bool { return get(e) != "" }
	}
	if missing {
		return compiled{match: func(e *Event) bool { return !set(e) }}, nil
	}
	return compiled{match: set}, nil
}

// hasFieldKey reports whether raw is an object with a "field" member: the
// operands of Wharf's own syntax ({"field": "space", "value": "files"}),
// where Koncorde's names the field itself ({"space": "files"}). No event
// field is called "field", so the two cannot be confused.
func hasFieldKey(raw json.RawMessage) bool {
	if kind(raw) != "an object" {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if tok == "field" {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// koncorde compiles a term in Koncorde's syntax, {"<field>": <operand>}:
// exactly one member, named after a field, whose value compile turns into
// the clause.
func (p *parser) koncorde(path string, raw json.RawMessage, compile func(string, field, json.RawMessage) (compiled, error)) (compiled, error) {
	ms, err := members(path, raw, `an object with one field, or with "field"`)
	if err != nil {
		return compiled{}, err
	}
	if len(ms) != 1 {
		for _, m := range ms {
			if fields[m.name] == 0 {
				return compiled{}, bad(path, `missing "field"`) // Wharf's syntax
			}
		}
		return compiled{}, bad(path, `want one field, as in {"space": …}, or "field" and its operands; got %d members`, len(ms))
	}
	m := ms[0]
	cpath := join(path, truncate(m.name))
	f := fields[m.name]
	if f == 0 && slices.Contains([]string{"value", "values", "flags", "gt", "gte", "lt", "lte"}, m.name) {
		return compiled{}, bad(path, `missing "field"`) // Wharf's syntax
	}
	if f == 0 {
		return compiled{}, bad(cpath, "unknown field %q (use %s)", truncate(m.name), fieldNames)
	}
	return compile(cpath, f, m.val)
}

// regexpClause compiles {"field": …, "value": "<pattern>", "flags": "i"}.
func (p *parser) regexpClause(path string, raw json.RawMessage) (compiled, error) {
	f, ops, err := operands(path, raw, []string{"value", "flags"}, "unknown key")
	if err != nil {
		return compiled{}, err
	}
	return p.regexp(path, f, ops)
}

// regexpOperands compiles Koncorde's {"<field>": {"value": …, "flags": …}}.
func (p *parser) regexpOperands(path string, f field, raw json.RawMessage) (compiled, error) {
	ms, err := members(path, raw, `an object with "value"`)
	if err != nil {
		return compiled{}, err
	}
	ops := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		if m.name != "value" && m.name != "flags" {
			return compiled{}, bad(path, "unknown key %q", truncate(m.name))
		}
		ops[m.name] = m.val
	}
	return p.regexp(path, f, ops)
}

// regexp compiles a regular expression (RE2 syntax, Go's regexp) on a
// string field, once. It matches anywhere in the value unless anchored.
// The flags are JavaScript's that mean something to a match: i (case
// insensitive), m (^ and $ at line ends), s (. matches \n); g and u are
// accepted and change nothing.
func (p *parser) regexp(path string, f field, ops map[string]json.RawMessage) (compiled, error) {
	if f == fieldSize || f == fieldTime {
		return compiled{}, notString(path, f)
	}
	v, ok := ops["value"]
	if !ok {
		return compiled{}, bad(path, `missing "value"`)
	}
	vpath := join(path, "value")
	var pattern string
	if kind(v) != "a string" || json.Unmarshal(v, &pattern) != nil {
		return compiled{}, bad(vpath, "want a regular expression, got %s", kind(v))
	}
	if p.regexps++; p.regexps > MaxFilterRegexps {
		return compiled{}, bad(path, "more than %d regular expressions", MaxFilterRegexps)
	}
	if len(pattern) > MaxFilterRegexp {
		return compiled{}, bad(vpath, "regular expression longer than %d bytes", MaxFilterRegexp)
	}
	var mods string
	if fl, ok := ops["flags"]; ok {
		var flags string
		if kind(fl) != "a string" || json.Unmarshal(fl, &flags) != nil {
			return compiled{}, bad(join(path, "flags"), "want a string of flags, got %s", kind(fl))
		}
		for i, c := range flags {
			if strings.ContainsRune(flags[:i], c) {
				return compiled{}, bad(join(path, "flags"), "flag %q given twice", c)
			}
			switch c {
			case 'i', 'm', 's':
				mods += string(c)
			case 'g', 'u':
			default:
				return compiled{}, bad(join(path, "flags"), "unknown flag %q (use i, m, s, g or u)", c)
			}
		}
	}
	if mods != "" {
		pattern = "(?" + mods + ")" + pattern
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return compiled{}, bad(vpath, "%s", regexpError(err))
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return compiled{}, bad(vpath, "%s", regexpError(err))
	}
	if p.insts += len(prog.Inst); p.insts > MaxFilterRegexpInsts {
		return compiled{}, bad(vpath, "regular expressions too large: more than %d instructions in all", MaxFilterRegexpInsts)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return compiled{}, bad(vpath, "%s", regexpError(err))
	}
	get := f.str()
	return compiled{match: func(e *Event) bool { return re.MatchString(get(e)) }}, nil
}

// regexpError words a regexp's error without its package's prefix.
func regexpError(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: %s", se.Code, truncate(se.Expr))
	}
	return err.Error()
}

// boolClause compiles Koncorde's bool: every filter of must holds, none of
// must_not, at least one of should, and at least one of should_not does
// not; the lists given are joined by and.
func (p *parser) boolClause(path string, raw json.RawMessage, depth int) (compiled, error) {
	ms, err := members(path, raw, "an object of must, must_not, should or should_not")
	if err != nil {
		return compiled{}, err
	}
	if len(ms) == 0 {
		return compiled{}, bad(path, "empty bool (use must, must_not, should or should_not)")
	}
	parts := make([]compiled, 0, len(ms))
	for _, m := range ms {
		mpath := join(path, truncate(m.name))
		switch m.name {
		case "must", "must_not", "should", "should_not":
		default:
			return compiled{}, bad(path, "unknown attribute %q (use must, must_not, should or should_not)", truncate(m.name))
		}
		list, err := p.list(mpath, m.val, depth)
		if err != nil {
			return compiled{}, err
		}
		switch m.name {
		case "must":
			parts = append(parts, and(list))
		case "must_not":
			parts = append(parts, negate(or(list)))
		case "should":
			parts = append(parts, or(list))
		case "should_not":
			parts = append(parts, negate(and(list)))
		}
	}
	return and(parts), nil
}

// negate is the compiled c that holds when c does not. Pins are dropped.
func negate(c compiled) compiled {
	if c.match == nil {
		return compiled{match: func(*Event) bool { return false }}
	}
	m := c.match
	return compiled{match: func(e *Event) bool { return !m(e) }}
}

// str decodes the string value of a clause on string field f. Paths are
// compared without their leading slash, as events carry them.
func str(path string, f field, raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || kind(raw) != "a string" {
		return "", bad(path, "want a string, got %s", kind(raw))
	}
	if len(s) > MaxFilterString {
		return "", bad(path, "string longer than %d bytes", MaxFilterString)
	}
	if f == fieldPath {
		s = strings.TrimLeft(s, "/")
	}
	return s, nil
}

func integer(path string, raw json.RawMessage) (int64, error) {
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil || kind(raw) != "a number" {
		return 0, bad(path, "want an integer, got %s", kind(raw))
	}
	n, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		return 0, bad(path, "want an integer, got %s", truncate(num.String()))
	}
	return n, nil
}

// truncate shortens client input quoted back in an error.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// and joins parts: all must match. Their pins are intersected.
func and(parts []compiled) compiled {
	var c compiled
	var ms []func(*Event) bool
	for _, p := range parts {
		if p.match != nil {
			ms = append(ms, p.match)
		}
		c.spaces = intersect(c.spaces, p.spaces)
		c.types = intersect(c.types, p.types)
	}
	switch len(ms) {
	case 0:
	case 1:
		c.match = ms[0]
	case 2:
		a, b := ms[0], ms[1]
		c.match = func(e *Event) bool { return a(e) && b(e) }
	default:
		c.match = func(e *Event) bool {
			for _, m := range ms {
				if !m(e) {
					return false
				}
			}
			return true
		}
	}
	return c
}

// or joins parts: one must match. Pins are not kept (a union would do, but
// or is rare in subscriptions that pin).
func or(parts []compiled) compiled {
	ms := make([]func(*Event) bool, 0, len(parts))
	for _, p := range parts {
		if p.match == nil {
			return compiled{} // one branch accepts everything
		}
		ms = append(ms, p.match)
	}
	if len(ms) == 1 {
		return compiled{match: ms[0]}
	}
	return compiled{match: func(e *Event) bool {
		for _, m := range ms {
			if m(e) {
				return true
			}
		}
		return false
	}}
}

// intersect returns the pins of two conjuncts: nil is "anything". An empty
// non-nil result pins to nothing (the filter can never match).
func intersect(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// compileGlob returns a matcher for pattern, where each * stands for any
// run of characters (dots included). The matcher keeps the pattern as one
// string (runs of * made one) and walks its parts at each match, rather
// than holding a slice of them: a pattern of many *s costs no more memory
// than its text.
func compileGlob(pattern string) func(string) bool {
	if strings.Contains(pattern, "**") {
		var b strings.Builder
		for i := range len(pattern) {
			if pattern[i] != '*' || i == 0 || pattern[i-1] != '*' {
				b.WriteByte(pattern[i])
			}
		}
		pattern = b.String()
	}
	first, rest, _ := strings.Cut(pattern, "*")
	i := strings.LastIndexByte(rest, '*')
	mid, last := "", rest // the parts between the first * and the last, joined by *
	if i >= 0 {
		mid, last = rest[:i], rest[i+1:]
	}
	if mid == "" {
		switch {
		case last == "":
			return func(s string) bool { return strings.HasPrefix(s, first) }
		case first == "":
			return func(s string) bool { return strings.HasSuffix(s, last) }
		}
	}
	minLen := len(first) + len(last)
	return func(s string) bool {
		if len(s) < minLen || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
			return false
		}
		s = s[len(first) : len(s)-len(last)]
		for m, ms := "", mid; ms != ""; {
			m, ms, _ = strings.Cut(ms, "*")
			i := strings.Index(s, m)
			if i < 0 {
				return false
			}
			s = s[i+len(m):]
		}
		return true
	}
}
