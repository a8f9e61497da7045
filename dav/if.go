package dav

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
)

// ifHeader is a parsed If header (RFC 4918 §10.4): a list of state lists,
// true if any of them is true.
type ifHeader struct {
	Lists []ifList
}

// ifList is one state list: true if all of its conditions are true for its
// resource.
type ifList struct {
	// Tag is the Resource-Tag the list applies to, as written between the
	// angle brackets (an absolute URI or an absolute path); "" in a
	// No-tag-list, which applies to the request URL.
	Tag   string
	Conds []ifCond
}

// ifCond is one condition: exactly one of Token and ETag is set.
type ifCond struct {
	Not bool
	// Token is a state token (a lock token or any absolute URI, like
	// DAV:no-lock), without its angle brackets.
	Token string
	// ETag is an entity tag with its quotes and any W/ prefix.
	ETag string
}

// noLock is the state token no lock ever has (RFC 4918 §10.4.8).
const noLock = "DAV:no-lock"

// Limits on what an If header may ask, so that evaluating one costs at
// most maxIfLists resource lookups.
const (
	maxIfLists = 64
	maxIfConds = 256 // in all lists together
)

var errBadIf = errors.New("malformed If header")

func badIf(at int, what string) error {
	return fmt.Errorf("%w: %s at byte %d", errBadIf, what, at)
}

// parseIf parses an If header value strictly: either only No-tag-lists or
// only Tagged-lists, no empty list, state tokens that are absolute URIs,
// entity tags as in RFC 9110. Errors wrap errBadIf. It runs in time linear
// in len(s).
func parseIf(s string) (ifHeader, error) {
	p := ifParser{s: s}
	var h ifHeader
	p.space()
	if p.eof() {
		return ifHeader{}, badIf(0, "empty header")
	}
	tagged := p.peek() == '<'
	tag, ntag, nconds := "", 0, 0
	for !p.eof() {
		switch p.peek() {
		case '<':
			if !tagged {
				return ifHeader{}, badIf(p.i, "resource tag after an untagged list")
			}
			if tag != "" && ntag == 0 {
				return ifHeader{}, badIf(p.i, "resource tag without a list")
			}
			at := p.i
			u, err := p.bracketed()
			if err != nil {
				return ifHeader{}, err
			}
			if !ifResourceTag(u) {
				return ifHeader{}, badIf(at, "resource tag is neither an absolute URI nor an absolute path")
			}
			tag, ntag = u, 0
		case '(':
			l, err := p.list(maxIfConds - nconds)
			if err != nil {
				return ifHeader{}, err
			}
			if len(h.Lists) == maxIfLists {
				return ifHeader{}, badIf(p.i, fmt.Sprintf("more than %d lists", maxIfLists))
			}
			l.Tag = tag
			nconds += len(l.Conds)
			ntag++
			h.Lists = append(h.Lists, l)
		default:
			return ifHeader{}, badIf(p.i, fmt.Sprintf("unexpected %q", p.peek()))
		}
		p.space()
	}
	if tagged && ntag == 0 {
		return ifHeader{}, badIf(p.i, "resource tag without a list")
	}
	return h, nil
}

type ifParser struct {
	s string
	i int
}

func (p *ifParser) eof() bool  { return p.i >= len(p.s) }
func (p *ifParser) peek() byte { return p.s[p.i] }

// space skips linear white space.
func (p *ifParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// list parses "(" 1*Condition ")" with at most max conditions.
func (p *ifParser) list(max int) (ifList, error) {
	var l ifList
	p.i++ // '('
	for {
		p.space()
		if p.eof() {
			return ifList{}, badIf(p.i, "unterminated list")
		}
		if p.peek() == ')' {
			if len(l.Conds) == 0 {
				return ifList{}, badIf(p.i, "empty list")
			}
			p.i++
			return l, nil
		}
		if len(l.Conds) == max {
			return ifList{}, badIf(p.i, fmt.Sprintf("more than %d conditions", maxIfConds))
		}
		var c ifCond
		if len(p.s)-p.i >= 3 && strings.EqualFold(p.s[p.i:p.i+3], "not") {
			c.Not = true
			p.i += 3
			p.space()
			if p.eof() {
				return ifList{}, badIf(p.i, "unterminated list")
			}
		}
		switch p.peek() {
		case '<':
			at := p.i
			tok, err := p.bracketed()
			if err != nil {
				return ifList{}, err
			}
			if !ifAbsoluteURI(tok) {
				return ifList{}, badIf(at, "state token is not an absolute URI")
			}
			c.Token = tok
		case '[':
			tag, err := p.etag()
			if err != nil {
				return ifList{}, err
			}
			c.ETag = tag
		default:
			return ifList{}, badIf(p.i, "expected a state token or an entity tag")
		}
		l.Conds = append(l.Conds, c)
	}
}

// bracketed parses "<" uri ">", where uri has no white space, controls or
// angle brackets.
func (p *ifParser) bracketed() (string, error) {
	start := p.i
	p.i++ // '<'
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '>':
			u := p.s[start+1 : p.i]
			p.i++
			if u == "" {
				return "", badIf(start, "empty <>")
			}
			return u, nil
		case c <= ' ' || c == 0x7f || c == '<':
			return "", badIf(p.i, fmt.Sprintf("%q inside <>", c))
		}
		p.i++
	}
	return "", badIf(start, "unterminated <")
}

// etag parses "[" entity-tag "]", entity-tag being [ "W/" ] DQUOTE
// *etagc DQUOTE with etagc = %x21 / %x23-7E / obs-text.
func (p *ifParser) etag() (string, error) {
	start := p.i
	p.i++ // '['
	p.space()
	from := p.i
	if strings.HasPrefix(p.s[p.i:], "W/") {
		p.i += 2
	}
	if p.eof() || p.peek() != '"' {
		return "", badIf(p.i, "entity tag must be quoted")
	}
	p.i++
	for {
		if p.eof() {
			return "", badIf(start, "unterminated entity tag")
		}
		c := p.peek()
		if c == '"' {
			break
		}
		if c < 0x21 || c == 0x7f {
			return "", badIf(p.i, fmt.Sprintf("%q in an entity tag", c))
		}
		p.i++
	}
	p.i++ // closing quote
	tag := p.s[from:p.i]
	p.space()
	if p.eof() || p.peek() != ']' {
		return "", badIf(p.i, "expected ] after the entity tag")
	}
	p.i++
	return tag, nil
}

// ifAbsoluteURI reports whether u starts with a URI scheme and a colon (RFC
// 3986 §3.1), as lock tokens and DAV:no-lock do.
func ifAbsoluteURI(u string) bool {
	i := strings.IndexByte(u, ':')
	if i <= 0 || !ifAlpha(u[0]) {
		return false
	}
	for j := 1; j < i; j++ {
		c := u[j]
		if !ifAlpha(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func ifAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// ifResourceTag reports whether u is a Simple-ref: an absolute URI or an
// absolute path (not a network-path reference "//host").
func ifResourceTag(u string) bool {
	if strings.HasPrefix(u, "/") {
		return !strings.HasPrefix(u, "//")
	}
	return ifAbsoluteURI(u)
}

// String writes h back in canonical form; parseIf(h.String()) gives h.
func (h ifHeader) String() string {
	var b strings.Builder
	tag := ""
	for i, l := range h.Lists {
		if i > 0 {
			b.WriteByte(' ')
		}
		if l.Tag != "" && (i == 0 || l.Tag != tag) {
			b.WriteString("<" + l.Tag + "> ")
		}
		tag = l.Tag
		b.WriteByte('(')
		for j, c := range l.Conds {
			if j > 0 {
				b.WriteByte(' ')
			}
			if c.Not {
				b.WriteString("Not ")
			}
			if c.Token != "" {
				b.WriteString("<" + c.Token + ">")
			} else {
				b.WriteString("[" + c.ETag + "]")
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// tokens returns the state tokens h submits: those in conditions without
// Not, DAV:no-lock aside.
func (h ifHeader) tokens() map[string]bool {
	m := map[string]bool{}
	for _, l := range h.Lists {
		for _, c := range l.Conds {
			if c.Token != "" && !c.Not && c.Token != noLock {
				m[c.Token] = true
			}
		}
	}
	return m
}

// ifTarget is the state of one resource an If header's lists name, loaded
// on first use.
type ifTarget struct {
	ok          bool // the resource is in a space the caller sees
	space, path string

	locksLoaded bool
	locks       []Lock // covering it
	etagLoaded  bool
	etag        string // "" if nothing is there
}

// readIf parses the request's If header; present is false without one.
// Several If fields are read as one list of lists.
func readIf(r *http.Request) (h ifHeader, present bool, err error) {
	vs := r.Header.Values("If")
	if len(vs) == 0 {
		return ifHeader{}, false, nil
	}
	h, err = parseIf(strings.Join(vs, " "))
	return h, true, err
}

// evalIf evaluates an If header against the current state (RFC 4918
// §10.4): true if any list is true. A list is false if its resource tag
// names another host, or a resource outside the caller's spaces; a state
// token is true if it is an unexpired lock covering the list's resource
// (DAV:no-lock never is); an entity tag is true if it matches the
// resource's current ETag, strongly unless the condition's tag is weak. An
// error means the state could not be read.
func (h *Handler) evalIf(r *http.Request, ih ifHeader) (bool, error) {
	targets := map[string]*ifTarget{}
	for _, l := range ih.Lists {
		t, ok := targets[l.Tag]
		if !ok {
			var err error
			if t, err = h.ifTarget(r, l.Tag); err != nil {
				return false, err
			}
			targets[l.Tag] = t
		}
		if !t.ok {
			continue
		}
		all := true
		for _, c := range l.Conds {
			v, err := h.evalCond(r, t, c)
			if err != nil {
				return false, err
			}
			if v == c.Not {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

// ifTarget resolves a list's resource tag ("" for the request URL).
func (h *Handler) ifTarget(r *http.Request, tag string) (*ifTarget, error) {
	urlPath := r.URL.Path
	if tag != "" {
		u, err := url.Parse(tag)
		if err != nil {
			return &ifTarget{}, nil
		}
		if u.Scheme != "" && (u.Host == "" || !strings.EqualFold(u.Host, r.Host) ||
			!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
			return &ifTarget{}, nil
		}
		urlPath = u.Path
	}
	p := auth.FromContext(r.Context())
	if p == nil {
		return &ifTarget{}, nil
	}
	res, status, err := h.resolve(r, urlPath, p)
	if err != nil {
		if status >= 500 {
			return nil, err
		}
		return &ifTarget{}, nil
	}
	if res.virtual() {
		return &ifTarget{}, nil
	}
	return &ifTarget{ok: true, space: res.Space, path: res.Path}, nil
}

func (h *Handler) evalCond(r *http.Request, t *ifTarget, c ifCond) (bool, error) {
	ctx := r.Context()
	if c.Token != "" {
		if c.Token == noLock {
			return false, nil
		}
		if !t.locksLoaded {
			ls, err := h.locks.Covering(ctx, t.space, t.path)
			if err != nil {
				return false, err
			}
			t.locks, t.locksLoaded = ls, true
		}
		for _, l := range t.locks {
			if l.Token == c.Token {
				return true, nil
			}
		}
		return false, nil
	}
	if !t.etagLoaded {
		n, err := h.tree.Stat(ctx, t.space, t.path)
		switch {
		case err == nil:
			t.etag = n.ETag
		case errors.Is(err, space.ErrNotFound), errors.Is(err, space.ErrBadPath):
		default:
			return false, err
		}
		t.etagLoaded = true
	}
	return t.etag != "" && etagMatches(c.ETag, t.etag), nil
}

// etagMatches compares a condition's entity tag with the current one:
// weakly if the condition's tag is weak, else strongly (both strong and
// equal).
func etagMatches(cond, cur string) bool {
	if c, ok := strings.CutPrefix(cond, "W/"); ok {
		return c == strings.TrimPrefix(cur, "W/")
	}
	return cond == cur && !strings.HasPrefix(cur, "W/")
}
