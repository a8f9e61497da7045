package dav

// Request bodies of PROPFIND and PROPPATCH, and the multistatus writer.
//
// encoding/xml alone is too lenient for WebDAV: its Token maps an undeclared
// prefix to itself and accepts a prefix bound to "" (litmus
// propfind_invalid2), and it would read a DOCTYPE. So bodies are read with
// RawToken under xmlReader, which resolves namespaces itself and rejects
// what XML Namespaces 1.0 forbids, checks that elements nest, and caps
// nesting depth; a DOCTYPE (or any <!...> directive) is refused outright.

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxXMLBody caps a PROPFIND or PROPPATCH body (413 beyond).
	maxXMLBody = 1 << 20
	// maxXMLDepth caps element nesting in a body.
	maxXMLDepth = 64
	// maxPropsPerRequest caps the properties one request names.
	maxPropsPerRequest = 1000
)

const (
	nsDAV = "DAV:"
	nsOC  = "http://owncloud.org/ns"
	nsXML = "http://www.w3.org/XML/1998/namespace"
)

// nsWharf is the namespace of Wharf's own properties (wharfprops.go).
const nsWharf = "https://wharf.dev/ns"

// errBadXML is wrapped by every parse error of a request body: 400.
var errBadXML = errors.New("malformed XML request body")

func badXML(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadXML, fmt.Sprintf(format, args...))
}

// readXMLBody reads a request body of at most maxXMLBody bytes.
func readXMLBody(r *http.Request) ([]byte, int, error) {
	if r.ContentLength > maxXMLBody {
		return nil, http.StatusRequestEntityTooLarge, clientError("the request body is larger than 1 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxXMLBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, clientError("cannot read the request body")
	}
	if len(body) > maxXMLBody {
		return nil, http.StatusRequestEntityTooLarge, clientError("the request body is larger than 1 MiB")
	}
	return body, 0, nil
}

// xmlToken is what xmlReader.next returns: a start or end element with its
// resolved name, or character data (valid until the next call).
type xmlToken struct {
	kind  tokenKind
	name  xml.Name   // start, end: Space is the namespace URI
	attrs []xml.Attr // start: resolved, namespace declarations left out
	lang  string     // start: xml:lang in scope
	text  []byte     // text
}

type tokenKind int

const (
	tokStart tokenKind = iota + 1
	tokEnd
	tokText
)

type nsBinding struct{ prefix, uri string }

type openElem struct {
	raw   xml.Name // as written: Space is the prefix
	name  xml.Name
	mark  int // len(bindings) before the element's declarations
	lang  string
	attrs []xml.Attr
}

// xmlReader reads one well-formed, namespace-well-formed document.
type xmlReader struct {
	d        *xml.Decoder
	bindings []nsBinding
	stack    []openElem
	rooted   bool // the root element has been opened
}

func newXMLReader(body []byte) *xmlReader {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	return &xmlReader{d: d}
}

// depth is the number of open elements.
func (x *xmlReader) depth() int { return len(x.stack) }

func (x *xmlReader) lookup(prefix string) (string, bool) {
	switch prefix {
	case "xml":
		return nsXML, true
	case "xmlns":
		return "", false
	}
	for i := len(x.bindings) - 1; i >= 0; i-- {
		if x.bindings[i].prefix == prefix {
			return x.bindings[i].uri, true
		}
	}
	return "", prefix == "" // no default namespace declared: none
}

// next returns the next token; io.EOF after the root element has closed.
func (x *xmlReader) next() (xmlToken, error) {
	for {
		t, err := x.d.RawToken()
		if err == io.EOF {
			if len(x.stack) > 0 || !x.rooted {
				return xmlToken{}, badXML("unexpected end of document")
			}
			return xmlToken{}, io.EOF
		}
		if err != nil {
			return xmlToken{}, fmt.Errorf("%w: %v", errBadXML, err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			return x.start(t)
		case xml.EndElement:
			if len(x.stack) == 0 {
				return xmlToken{}, badXML("unexpected </%s>", t.Name.Local)
			}
			top := x.stack[len(x.stack)-1]
			if top.raw != t.Name {
				return xmlToken{}, badXML("element <%s> closed by </%s>", top.raw.Local, t.Name.Local)
			}
			x.stack = x.stack[:len(x.stack)-1]
			x.bindings = x.bindings[:top.mark]
			return xmlToken{kind: tokEnd, name: top.name}, nil
		case xml.CharData:
			if len(x.stack) == 0 {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return xmlToken{}, badXML("text outside the root element")
				}
				continue
			}
			return xmlToken{kind: tokText, text: t}, nil
		case xml.Directive:
			return xmlToken{}, badXML("DOCTYPE and other declarations are not accepted")
		case xml.Comment, xml.ProcInst:
			// encoding/xml has checked the XML declaration's version and
			// encoding already.
		}
	}
}

func (x *xmlReader) start(t xml.StartElement) (xmlToken, error) {
	if len(x.stack) == 0 && x.rooted {
		return xmlToken{}, badXML("more than one root element")
	}
	if len(x.stack) >= maxXMLDepth {
		return xmlToken{}, badXML("elements nested deeper than %d", maxXMLDepth)
	}
	x.rooted = true
	e := openElem{raw: t.Name, mark: len(x.bindings)}
	if len(x.stack) > 0 {
		e.lang = x.stack[len(x.stack)-1].lang
	}
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xmlns":
			if a.Value == "" {
				return xmlToken{}, badXML("prefix %q bound to the empty namespace", a.Name.Local)
			}
			if a.Name.Local == "xmlns" || a.Name.Local == "xml" && a.Value != nsXML || a.Name.Local != "xml" && a.Value == nsXML {
				return xmlToken{}, badXML("reserved prefix or namespace redeclared")
			}
			x.bindings = append(x.bindings, nsBinding{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			if a.Value == nsXML {
				return xmlToken{}, badXML("the xml namespace declared as default")
			}
			x.bindings = append(x.bindings, nsBinding{"", a.Value})
		case a.Name.Space == "xml" && a.Name.Local == "lang":
			e.lang = a.Value
		}
	}
	uri, ok := x.lookup(t.Name.Space)
	if !ok {
		return xmlToken{}, badXML("undeclared prefix %q", t.Name.Space)
	}
	e.name = xml.Name{Space: uri, Local: t.Name.Local}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		if a.Name.Space != "" {
			uri, ok := x.lookup(a.Name.Space)
			if !ok {
				return xmlToken{}, badXML("undeclared prefix %q", a.Name.Space)
			}
			a.Name.Space = uri
		}
		for _, b := range e.attrs {
			if b.Name == a.Name {
				return xmlToken{}, badXML("attribute %s repeated", a.Name.Local)
			}
		}
		e.attrs = append(e.attrs, a)
	}
	x.stack = append(x.stack, e)
	return xmlToken{kind: tokStart, name: e.name, attrs: e.attrs, lang: e.lang}, nil
}

// skip reads up to and including the end of the element just started.
func (x *xmlReader) skip() error {
	for d := x.depth(); ; {
		t, err := x.next()
		if err != nil {
			return err
		}
		if t.kind == tokEnd && x.depth() < d {
			return nil
		}
	}
}

// rest reads to the end of the document, so that a malformed tail is an
// error however early the parser has what it wants.
func (x *xmlReader) rest() error {
	for {
		if _, err := x.next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// root reads the root element and checks its name.
func (x *xmlReader) root(want xml.Name) error {
	for {
		t, err := x.next()
		if err != nil {
			return err
		}
		if t.kind == tokStart {
			if t.name != want {
				return badXML("the root element is {%s}%s, want {%s}%s", t.name.Space, t.name.Local, want.Space, want.Local)
			}
			return nil
		}
	}
}

// children calls fn for each child element of the element just started,
// after which the reader is at the child's start; fn must consume the child
// (skip it or read to its end). Text between children is ignored.
func (x *xmlReader) children(fn func(t xmlToken) error) error {
	d := x.depth()
	for {
		t, err := x.next()
		if err != nil {
			return err
		}
		switch {
		case t.kind == tokEnd && x.depth() < d:
			return nil
		case t.kind == tokStart:
			if err := fn(t); err != nil {
				return err
			}
		}
	}
}

// propfindKind is what a PROPFIND asks for.
type propfindKind int

const (
	findAllProp propfindKind = iota
	findPropName
	findProp
)

// propfindRequest is a parsed PROPFIND body. Names lists the properties
// asked for (findProp) or included (findAllProp), without repeats.
type propfindRequest struct {
	Kind  propfindKind
	Names []xml.Name
}

// parsePropfind parses a PROPFIND body; an empty one means allprop.
func parsePropfind(body []byte) (propfindRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return propfindRequest{Kind: findAllProp}, nil
	}
	x := newXMLReader(body)
	if err := x.root(xml.Name{Space: nsDAV, Local: "propfind"}); err != nil {
		return propfindRequest{}, err
	}
	var pf propfindRequest
	kinds := 0
	var include []xml.Name
	err := x.children(func(t xmlToken) error {
		if t.name.Space != nsDAV {
			return x.skip() // an extension we do not know (litmus propextended)
		}
		switch t.name.Local {
		case "allprop":
			pf.Kind, kinds = findAllProp, kinds+1
			return x.skip()
		case "propname":
			pf.Kind, kinds = findPropName, kinds+1
			return x.skip()
		case "prop":
			pf.Kind, kinds = findProp, kinds+1
			return x.propNames(&pf.Names)
		case "include":
			return x.propNames(&include)
		}
		return x.skip()
	})
	if err == nil {
		err = x.rest()
	}
	if err != nil {
		return propfindRequest{}, err
	}
	if kinds != 1 {
		return propfindRequest{}, badXML("propfind needs exactly one of allprop, propname and prop")
	}
	if pf.Kind == findAllProp {
		pf.Names = include
	}
	return pf, nil
}

// propNames appends the names of the children of the element just started
// to names, skipping repeats.
func (x *xmlReader) propNames(names *[]xml.Name) error {
	return x.children(func(t xmlToken) error {
		if !containsName(*names, t.name) {
			if len(*names) >= maxPropsPerRequest {
				return badXML("more than %d properties", maxPropsPerRequest)
			}
			*names = append(*names, t.name)
		}
		return x.skip()
	})
}

func containsName(names []xml.Name, n xml.Name) bool {
	for _, m := range names {
		if m == n {
			return true
		}
	}
	return false
}

// propOp is one instruction of a PROPPATCH, in document order.
type propOp struct {
	Name   xml.Name
	Remove bool
	Lang   string // xml:lang in scope of the property element
	Value  string // set: the element's content, self-contained (see valueWriter)
}

// parseProppatch parses a PROPPATCH body (a DAV:propertyupdate).
func parseProppatch(body []byte) ([]propOp, error) {
	x := newXMLReader(body)
	if err := x.root(xml.Name{Space: nsDAV, Local: "propertyupdate"}); err != nil {
		return nil, err
	}
	var ops []propOp
	err := x.children(func(t xmlToken) error {
		if t.name.Space != nsDAV || t.name.Local != "set" && t.name.Local != "remove" {
			return x.skip()
		}
		remove := t.name.Local == "remove"
		return x.children(func(t xmlToken) error {
			if t.name != (xml.Name{Space: nsDAV, Local: "prop"}) {
				return x.skip()
			}
			return x.children(func(t xmlToken) error {
				if len(ops) >= maxPropsPerRequest {
					return badXML("more than %d properties", maxPropsPerRequest)
				}
				op := propOp{Name: t.name, Remove: remove, Lang: t.lang}
				if remove {
					ops = append(ops, op)
					return x.skip()
				}
				v, err := x.value()
				op.Value = v
				ops = append(ops, op)
				return err
			})
		})
	})
	if err == nil {
		err = x.rest()
	}
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, badXML("propertyupdate sets or removes no property")
	}
	return ops, nil
}

// value reads the content of the element just started, to its end, and
// returns it re-serialised so that it means the same in any context that
// has no default namespace (see valueWriter).
func (x *xmlReader) value() (string, error) {
	var v valueWriter
	d := x.depth()
	for {
		t, err := x.next()
		if err != nil {
			return "", err
		}
		switch t.kind {
		case tokStart:
			v.start(t)
		case tokEnd:
			if x.depth() < d {
				return v.b.String(), nil
			}
			v.end(t)
		case tokText:
			v.text(t.text)
		}
	}
}

// valueWriter writes a property value as self-contained XML: each element
// declares its namespace as the default one wherever it differs from its
// parent's (a top-level element in a namespace always does; one in none
// never does), and each namespaced attribute gets a prefix declared on its
// own element. Prefixes of the request are not kept, so the value can be
// written inside any element that leaves the default namespace empty.
// Comments and processing instructions are dropped.
type valueWriter struct {
	b   strings.Builder
	nss []string // namespaces of the open elements
}

func (v *valueWriter) start(t xmlToken) {
	parent := ""
	if len(v.nss) > 0 {
		parent = v.nss[len(v.nss)-1]
	}
	v.nss = append(v.nss, t.name.Space)
	v.b.WriteByte('<')
	v.b.WriteString(t.name.Local)
	if t.name.Space != parent {
		v.b.WriteString(` xmlns="`)
		escapeAttr(&v.b, t.name.Space)
		v.b.WriteByte('"')
	}
	var prefixes []string // attribute namespaces, prefix "a<index>"
	for _, a := range t.attrs {
		v.b.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case nsXML:
			v.b.WriteString("xml:")
		default:
			i := 0
			for i < len(prefixes) && prefixes[i] != a.Name.Space {
				i++
			}
			p := "a" + strconv.Itoa(i)
			if i == len(prefixes) {
				prefixes = append(prefixes, a.Name.Space)
				v.b.WriteString("xmlns:" + p + `="`)
				escapeAttr(&v.b, a.Name.Space)
				v.b.WriteString(`" `)
			}
			v.b.WriteString(p + ":")
		}
		v.b.WriteString(a.Name.Local)
		v.b.WriteString(`="`)
		escapeAttr(&v.b, a.Value)
		v.b.WriteByte('"')
	}
	v.b.WriteByte('>')
}

func (v *valueWriter) end(t xmlToken) {
	v.nss = v.nss[:len(v.nss)-1]
	v.b.WriteString("</")
	v.b.WriteString(t.name.Local)
	v.b.WriteByte('>')
}

func (v *valueWriter) text(s []byte) {
	for _, c := range s {
		switch c {
		case '&':
			v.b.WriteString("&amp;")
		case '<':
			v.b.WriteString("&lt;")
		case '>':
			v.b.WriteString("&gt;")
		case '\r':
			v.b.WriteString("&#xD;")
		default:
			v.b.WriteByte(c)
		}
	}
}

// escapeAttr writes s escaped for a double-quoted attribute value,
// whitespace included so that it survives attribute normalisation.
func escapeAttr(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteByte(c)
		}
	}
}

// msWriter streams a 207 multistatus body through a bufio.Writer. Its
// methods write without allocating: text is escaped byte by byte, numbers
// and dates go through a scratch buffer. Write errors are sticky in the
// bufio.Writer and come back from flush.
type msWriter struct {
	w       *bufio.Writer
	scratch []byte
}

func newMSWriter(w io.Writer) *msWriter {
	return &msWriter{w: bufio.NewWriterSize(w, 32<<10), scratch: make([]byte, 0, 64)}
}

// open writes the XML declaration and the multistatus start tag; the D
// prefix is bound to DAV: and oc to ownCloud's namespace, nothing else and
// no default namespace (dead property values rely on that).
func (m *msWriter) open() {
	m.raw(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<D:multistatus xmlns:D="DAV:" xmlns:oc="` + nsOC + `">`)
}

func (m *msWriter) close() error {
	m.raw("</D:multistatus>\n")
	return m.w.Flush()
}

func (m *msWriter) raw(s string) { m.w.WriteString(s) }

// text writes s escaped as character data.
func (m *msWriter) text(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		m.w.WriteString(s[start:i])
		m.w.WriteString(esc)
		start = i + 1
	}
	m.w.WriteString(s[start:])
}

// attr writes s escaped as a double-quoted attribute value.
func (m *msWriter) attr(s string) {
	var b strings.Builder
	if strings.ContainsAny(s, "&<>\"\t\n\r") {
		escapeAttr(&b, s)
		s = b.String()
	}
	m.w.WriteString(s)
}

func (m *msWriter) int(n int64) {
	m.scratch = strconv.AppendInt(m.scratch[:0], n, 10)
	m.w.Write(m.scratch)
}

// httpDate writes t as an HTTP date (RFC 1123, GMT: http.TimeFormat), by
// hand: AppendFormat costs a tenth of a 10,000-entry listing.
func (m *msWriter) httpDate(t time.Time) {
	const days = "SunMonTueWedThuFriSat"
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		m.scratch = t.AppendFormat(m.scratch[:0], http.TimeFormat)
		m.w.Write(m.scratch)
		return
	}
	hh, mm, ss := t.Clock()
	wd := int(t.Weekday())
	b := append(m.scratch[:0], days[3*wd:3*wd+3]...)
	b = append(b, ',', ' ')
	b = append2(b, d)
	b = append(b, ' ')
	b = append(b, months[3*(mo-1):3*mo]...)
	b = append(b, ' ')
	b = append2(append2(b, y/100), y%100)
	b = append(b, ' ')
	b = append2(b, hh)
	b = append(b, ':')
	b = append2(b, mm)
	b = append(b, ':')
	b = append2(b, ss)
	b = append(b, " GMT"...)
	m.scratch = b
	m.w.Write(b)
}

// isoDate writes t as RFC 3339 in UTC without fractional seconds.
func (m *msWriter) isoDate(t time.Time) {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		m.scratch = t.AppendFormat(m.scratch[:0], "2006-01-02T15:04:05Z")
		m.w.Write(m.scratch)
		return
	}
	hh, mm, ss := t.Clock()
	b := append2(append2(m.scratch[:0], y/100), y%100)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, hh)
	b = append(b, ':')
	b = append2(b, mm)
	b = append(b, ':')
	b = append2(b, ss)
	b = append(b, 'Z')
	m.scratch = b
	m.w.Write(b)
}

// append2 appends n (0-99) as two digits.
func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// status writes a DAV:status element for code.
func (m *msWriter) status(code int) {
	m.raw("<D:status>HTTP/1.1 ")
	m.int(int64(code))
	m.raw(" ")
	m.raw(http.StatusText(code))
	m.raw("</D:status>")
}

// href writes a DAV:href of prefix (an escaped path ending in "/")
// followed by name escaped as a path segment and, for a collection, a
// slash.
func (m *msWriter) href(prefix, name string, isDir bool) {
	m.raw("<D:href>")
	m.hrefText(prefix)
	m.pathSegment(name)
	if isDir {
		m.raw("/")
	}
	m.raw("</D:href>")
}

// hrefText writes an escaped URL path as character data: only '&' can need
// escaping there.
func (m *msWriter) hrefText(s string) {
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			m.w.WriteString(s)
			return
		}
		m.w.WriteString(s[:i])
		m.w.WriteString("&amp;")
		s = s[i+1:]
	}
}

// pathSegment writes name escaped as net/url escapes a path (so that hrefs
// written here equal href's), as character data.
func (m *msWriter) pathSegment(name string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '&':
			m.w.WriteString("&amp;")
		case c != '/' && pathSafe[c]:
			m.w.WriteByte(c)
		default:
			m.w.WriteByte('%')
			m.w.WriteByte(hex[c>>4])
			m.w.WriteByte(hex[c&15])
		}
	}
}

// pathSafe tells the bytes net/url leaves alone in a path. Escaping works
// byte by byte there, so a table taken from url itself gives the same
// result for every string.
var pathSafe = func() (t [256]bool) {
	for c := range 256 {
		s := "a" + string([]byte{byte(c)}) // not alone: "*" is special
		t[c] = (&url.URL{Path: s}).EscapedPath() == s
	}
	return t
}()

// name writes the start or empty tag of a property name: DAV: and ownCloud
// names with their bound prefixes, others declaring their namespace on the
// element (the empty namespace as xmlns="").
func (m *msWriter) name(n xml.Name, lang string, empty bool) {
	switch n.Space {
	case nsDAV:
		m.raw("<D:")
		m.raw(n.Local)
	case nsOC:
		m.raw("<oc:")
		m.raw(n.Local)
	case "":
		m.raw("<")
		m.raw(n.Local)
		m.raw(` xmlns=""`)
	default:
		m.raw("<x:")
		m.raw(n.Local)
		m.raw(` xmlns:x="`)
		m.attr(n.Space)
		m.raw(`"`)
	}
	if lang != "" {
		m.raw(` xml:lang="`)
		m.attr(lang)
		m.raw(`"`)
	}
	if empty {
		m.raw("/>")
	} else {
		m.raw(">")
	}
}

// endName writes the end tag matching name.
func (m *msWriter) endName(n xml.Name) {
	switch n.Space {
	case nsDAV:
		m.raw("</D:")
	case nsOC:
		m.raw("</oc:")
	case "":
		m.raw("</")
	default:
		m.raw("</x:")
	}
	m.raw(n.Local)
	m.raw(">")
}
