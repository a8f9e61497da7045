package dav

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// propFixture is a Handler over a real store and tree in a temporary data
// directory, with one space "files" (quota 1,000,000 bytes) that admin
// manages and vic views, and a space "other" without quota.
type propFixture struct {
	h      *Handler
	db     *store.DB
	tree   *space.Tree
	auth   *auth.Service
	dir    string
	admin  *auth.Principal
	viewer *auth.Principal
}

func newPropFixture(tb testing.TB, cfg Config) *propFixture {
	tb.Helper()
	env := testenv.New(tb, testenv.Options{})
	dir, db, tree, as := env.Dir, env.DB, env.Tree, env.Auth
	env.Space(tb, "files", "Team Files", 1_000_000)
	env.Space(tb, "other", "Other", 0)
	const pw = "correct horse battery staple 42"
	admin := env.User(tb, "admin", pw, true)
	vic := env.User(tb, "vic", pw, false)
	env.Grant(tb, "files", "vic", auth.Viewer)
	cfg.Tree, cfg.Auth, cfg.DB = tree, as, db
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &propFixture{h: h, db: db, tree: tree, auth: as, dir: dir,
		admin:  &auth.Principal{User: admin, Via: auth.ViaPassword},
		viewer: &auth.Principal{User: vic, Via: auth.ViaPassword}}
}

func (f *propFixture) put(tb testing.TB, p, body string) space.Node {
	tb.Helper()
	n, _, err := f.tree.Put(context.Background(), "files", p, strings.NewReader(body), space.PutOptions{ExpectedSize: int64(len(body))})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func (f *propFixture) mkdir(tb testing.TB, p string) space.Node {
	tb.Helper()
	n, err := f.tree.Mkdir(context.Background(), "files", p)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// do serves one request as p; hdr is name, value pairs.
func (f *propFixture) do(p *auth.Principal, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	r = r.WithContext(auth.NewContext(r.Context(), p))
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// The multistatus as a client reads it.
type msBody struct {
	Responses []msResponse `xml:"DAV: response"`
}

type msResponse struct {
	Href      string `xml:"DAV: href"`
	Propstats []struct {
		Prop struct {
			Any []msProp `xml:",any"`
		} `xml:"DAV: prop"`
		Status string `xml:"DAV: status"`
		Error  *struct {
			Inner string `xml:",innerxml"`
		} `xml:"DAV: error"`
	} `xml:"DAV: propstat"`
}

type msProp struct {
	XMLName xml.Name
	Lang    string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
	Inner   string `xml:",innerxml"`
}

// prop returns the property n of r and the status it came with ("" if
// absent).
func (r msResponse) prop(n xml.Name) (msProp, string) {
	for _, ps := range r.Propstats {
		for _, p := range ps.Prop.Any {
			if p.XMLName == n {
				return p, ps.Status
			}
		}
	}
	return msProp{}, ""
}

// value returns the content of property n, failing unless it came with 200.
func (r msResponse) value(t *testing.T, n xml.Name) string {
	t.Helper()
	p, status := r.prop(n)
	if status != "HTTP/1.1 200 OK" {
		t.Errorf("%s {%s}%s: status %q, want 200", r.Href, n.Space, n.Local, status)
	}
	return p.Inner
}

func parseMS(t *testing.T, w *httptest.ResponseRecorder) msBody {
	t.Helper()
	if w.Code != http.StatusMultiStatus {
		t.Fatalf("status %d, want 207: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("Content-Type %q", ct)
	}
	var ms msBody
	if err := xml.Unmarshal(w.Body.Bytes(), &ms); err != nil {
		t.Fatalf("multistatus does not parse: %v\n%s", err, w.Body)
	}
	return ms
}

func (ms msBody) byHref(t *testing.T, href string) msResponse {
	t.Helper()
	for _, r := range ms.Responses {
		if r.Href == href {
			return r
		}
	}
	t.Fatalf("no response for %s in %v", href, ms.hrefs())
	return msResponse{}
}

func (ms msBody) hrefs() []string {
	var out []string
	for _, r := range ms.Responses {
		out = append(out, r.Href)
	}
	return out
}

func davName(local string) xml.Name { return xml.Name{Space: "DAV:", Local: local} }
func ocName(local string) xml.Name  { return xml.Name{Space: nsOC, Local: local} }

const litmusNS = "http://example.com/neon/litmus/"

func propBody(names ...string) string {
	return `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:l="` +
		litmusNS + `"><D:prop>` + strings.Join(names, "") + `</D:prop></D:propfind>`
}

func TestPropfindDepth(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "docs")
	f.put(t, "docs/a.txt", "hello")
	f.mkdir(t, "docs/sub")
	f.put(t, "docs/sub/deep.txt", "x")

	for _, tc := range []struct {
		name, target, depth string
		want                []string
	}{
		{"depth 0 on a collection", "/dav/spaces/files/docs/", "0", []string{"/dav/spaces/files/docs/"}},
		{"depth 1 on a collection", "/dav/spaces/files/docs/", "1",
			[]string{"/dav/spaces/files/docs/", "/dav/spaces/files/docs/a.txt", "/dav/spaces/files/docs/sub/"}},
		{"collection without its slash", "/dav/spaces/files/docs", "1",
			[]string{"/dav/spaces/files/docs/", "/dav/spaces/files/docs/a.txt", "/dav/spaces/files/docs/sub/"}},
		{"depth 1 on a file", "/dav/spaces/files/docs/a.txt", "1", []string{"/dav/spaces/files/docs/a.txt"}},
		{"space root", "/dav/spaces/files/", "1", []string{"/dav/spaces/files/", "/dav/spaces/files/docs/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := parseMS(t, f.do(f.admin, "PROPFIND", tc.target, "", "Depth", tc.depth))
			if !slices.Equal(ms.hrefs(), tc.want) {
				t.Errorf("hrefs %v, want %v", ms.hrefs(), tc.want)
			}
		})
	}
	if w := f.do(f.admin, "PROPFIND", "/dav/spaces/files/nope", "", "Depth", "0"); w.Code != http.StatusNotFound {
		t.Errorf("PROPFIND of a missing resource: %d, want 404", w.Code)
	}
	if w := f.do(f.admin, "PROPFIND", "/dav/spaces/files/", "", "Depth", "2"); w.Code != http.StatusBadRequest {
		t.Errorf("Depth: 2 got %d, want 400", w.Code)
	}
}

func TestPropfindInfinity(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "d")
	f.put(t, "d/x", "1")
	for _, depth := range []string{"infinity", ""} {
		w := f.do(f.admin, "PROPFIND", "/dav/spaces/files/", "", "Depth", depth)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "<D:propfind-finite-depth/>") ||
			!strings.Contains(w.Body.String(), `<D:error xmlns:D="DAV:">`) {
			t.Errorf("Depth %q: %d %s, want 403 propfind-finite-depth", depth, w.Code, w.Body)
		}
	}
	if w := f.do(f.admin, "PROPFIND", "/dav/", "", "Depth", "infinity"); w.Code != http.StatusForbidden {
		t.Errorf("Depth infinity on /dav/: %d, want 403", w.Code)
	}

	f = newPropFixture(t, Config{AllowInfinity: true})
	f.mkdir(t, "d")
	f.put(t, "d/x", "1")
	f.put(t, "top", "2")
	f.do(f.admin, "PROPPATCH", "/dav/spaces/files/d/x", `<propertyupdate xmlns="DAV:"><set><prop><p xmlns="urn:t">deep</p></prop></set></propertyupdate>`)
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/", ""))
	want := []string{"/dav/spaces/files/", "/dav/spaces/files/d/", "/dav/spaces/files/d/x", "/dav/spaces/files/top"}
	if !slices.Equal(ms.hrefs(), want) {
		t.Errorf("hrefs %v, want %v", ms.hrefs(), want)
	}
	if v := ms.byHref(t, "/dav/spaces/files/d/x").value(t, xml.Name{Space: "urn:t", Local: "p"}); v != "deep" {
		t.Errorf("dead property in an infinite walk = %q", v)
	}
}

func TestPropfindHrefs(t *testing.T) {
	f := newPropFixture(t, Config{})
	names := []string{"a b.txt", "100%.txt", "#hash", "c+d=e", "emoji 😀.txt", "Zu\u0308rich", "a&b", "semi;colon", "q?uery", "'quote\"", "dir with space"}
	for _, n := range names[:len(names)-1] {
		f.put(t, n, n)
	}
	f.mkdir(t, names[len(names)-1])
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/", "", "Depth", "1"))
	if len(ms.Responses) != len(names)+1 {
		t.Fatalf("%d responses, want %d", len(ms.Responses), len(names)+1)
	}
	var got []string
	for _, r := range ms.Responses[1:] {
		if !strings.HasPrefix(r.Href, "/dav/spaces/files/") {
			t.Errorf("href %q", r.Href)
			continue
		}
		// Every href is what href() gives, and is a valid escaped path.
		name, _ := strings.CutPrefix(r.Href, "/dav/spaces/files/")
		dir := strings.HasSuffix(name, "/")
		p, err := url.PathUnescape(strings.TrimSuffix(name, "/"))
		if err != nil {
			t.Errorf("href %q does not unescape: %v", r.Href, err)
		}
		if want := href("files", p, dir); r.Href != want {
			t.Errorf("href %q, href() gives %q", r.Href, want)
		}
		if strings.ContainsAny(name, " #?%\"'") && !strings.Contains(name, "%") {
			t.Errorf("href %q is not escaped", r.Href)
		}
		if dn := unescapeXML(t, r.value(t, davName("displayname"))); dn != p {
			t.Errorf("displayname %q for %q", dn, p)
		}
		got = append(got, p)
	}
	want := slices.Clone(names)
	want[5] = "Z\u00fcrich" // stored NFC
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
}

// The escaping of the streaming writer equals net/url's for every byte.
func TestPathSegmentMatchesURL(t *testing.T) {
	var all []byte
	for c := 1; c < 256; c++ {
		if c != '/' {
			all = append(all, byte(c))
		}
	}
	for _, s := range []string{string(all), "plain", "ü 😀 ~-._", "a&b<c>"} {
		var b bytes.Buffer
		m := newMSWriter(&b)
		m.pathSegment(s)
		m.w.Flush()
		want := strings.ReplaceAll((&url.URL{Path: s}).EscapedPath(), "&", "&amp;")
		if b.String() != want {
			t.Errorf("pathSegment(%q) = %q, want %q", s, b.String(), want)
		}
	}
}

var (
	rfc1123GMT   = regexp.MustCompile(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$`)
	rfc3339NoFrc = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
)

func TestPropfindLiveProps(t *testing.T) {
	f := newPropFixture(t, Config{})
	mtime := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	n, _, err := f.tree.Put(context.Background(), "files", "photo.jpg", strings.NewReader("jpegdata"),
		space.PutOptions{ExpectedSize: 8, MTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	f.mkdir(t, "album")
	f.put(t, "album/inside", "123")
	f.mkdir(t, "empty")
	dir, _ := f.tree.Stat(context.Background(), "files", "album")
	all := propBody("<D:resourcetype/>", "<D:getcontentlength/>", "<D:getlastmodified/>", "<D:creationdate/>",
		"<D:getetag/>", "<D:getcontenttype/>", "<D:displayname/>", "<D:supportedlock/>", "<D:lockdiscovery/>",
		"<oc:fileid/>", "<oc:checksums/>", "<oc:permissions/>", "<oc:size/>")
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/", all, "Depth", "1"))

	file := ms.byHref(t, "/dav/spaces/files/photo.jpg")
	for name, want := range map[xml.Name]string{
		davName("resourcetype"):     "",
		davName("getcontentlength"): "8",
		davName("getlastmodified"):  "Thu, 21 Nov 2024 10:00:00 GMT",
		davName("getetag"):          xmlEscapeText(n.ETag),
		davName("getcontenttype"):   "image/jpeg",
		davName("displayname"):      "photo.jpg",
		davName("lockdiscovery"):    "",
		ocName("fileid"):            strconv.FormatInt(n.ID, 10),
		ocName("checksums"):         "<oc:checksum>SHA256:" + n.SHA256 + "</oc:checksum>",
		ocName("permissions"):       "RDNVW",
		ocName("size"):              "8",
	} {
		if got := file.value(t, name); got != want && !(name.Local == "getetag" && got == n.ETag) {
			t.Errorf("file {%s}%s = %q, want %q", name.Space, name.Local, got, want)
		}
	}
	if cd := file.value(t, davName("creationdate")); !rfc3339NoFrc.MatchString(cd) {
		t.Errorf("creationdate %q is not RFC 3339 without fractions", cd)
	}
	sl := file.value(t, davName("supportedlock"))
	if !strings.Contains(sl, "exclusive") || !strings.Contains(sl, "shared") || strings.Count(sl, "lockentry>") != 4 {
		t.Errorf("supportedlock = %q", sl)
	}

	album := ms.byHref(t, "/dav/spaces/files/album/")
	if rt := album.value(t, davName("resourcetype")); rt != "<D:collection/>" {
		t.Errorf("collection resourcetype = %q", rt)
	}
	if lm := album.value(t, davName("getlastmodified")); !rfc1123GMT.MatchString(lm) {
		t.Errorf("collection getlastmodified = %q", lm)
	}
	if et := album.value(t, davName("getetag")); et != dir.ETag && et != xmlEscapeText(dir.ETag) {
		t.Errorf("collection getetag = %q, want %q", et, dir.ETag)
	}
	if p := album.value(t, ocName("permissions")); p != "RDNVCK" {
		t.Errorf("collection permissions %q", p)
	}
	if sz := album.value(t, ocName("size")); sz != "3" {
		t.Errorf("oc:size of a listed collection %q, want 3", sz)
	}
	for _, n := range []xml.Name{davName("getcontentlength"), davName("getcontenttype"), ocName("checksums")} {
		if _, status := album.prop(n); status != "HTTP/1.1 404 Not Found" {
			t.Errorf("collection {%s}%s: status %q, want 404", n.Space, n.Local, status)
		}
	}
	if sz := ms.byHref(t, "/dav/spaces/files/empty/").value(t, ocName("size")); sz != "0" {
		t.Errorf("oc:size of an empty collection %q, want 0", sz)
	}
	root := ms.byHref(t, "/dav/spaces/files/")
	if dn := root.value(t, davName("displayname")); dn != "Team Files" {
		t.Errorf("space root displayname %q, want the space's name", dn)
	}
	if sz := root.value(t, ocName("size")); sz != "11" {
		t.Errorf("space root oc:size %q, want 11", sz)
	}
	// oc:size of a collection asked for directly is its subtree's.
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/album/", propBody("<oc:size/>"), "Depth", "0"))
	if sz := ms.Responses[0].value(t, ocName("size")); sz != "3" {
		t.Errorf("collection oc:size %q, want 3", sz)
	}

	ms = parseMS(t, f.do(f.viewer, "PROPFIND", "/dav/spaces/files/photo.jpg", propBody("<oc:permissions/>"), "Depth", "0"))
	if p := ms.Responses[0].value(t, ocName("permissions")); p != "" {
		t.Errorf("viewer's permissions %q, want none", p)
	}
}

// unescapeXML returns the text of an XML fragment without markup.
func unescapeXML(t *testing.T, s string) string {
	t.Helper()
	var v struct {
		Text string `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte("<v>"+s+"</v>"), &v); err != nil {
		t.Errorf("%q: %v", s, err)
	}
	return v.Text
}

func xmlEscapeText(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func TestPropfindQuota(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "d")
	f.put(t, "d/f", strings.Repeat("x", 400))
	q := propBody("<D:quota-available-bytes/>", "<D:quota-used-bytes/>")
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/", q, "Depth", "1"))
	for _, h := range []string{"/dav/spaces/files/", "/dav/spaces/files/d/"} {
		r := ms.byHref(t, h)
		if a, u := r.value(t, davName("quota-available-bytes")), r.value(t, davName("quota-used-bytes")); a != "999600" || u != "400" {
			t.Errorf("%s: available %q used %q, want 999600 and 400", h, a, u)
		}
	}
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/d/f", q, "Depth", "0"))
	if _, status := ms.Responses[0].prop(davName("quota-used-bytes")); status != "HTTP/1.1 404 Not Found" {
		t.Errorf("quota on a file: %q, want 404", status)
	}
	// Without a quota, what is available is the disk's free space.
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/other/", q, "Depth", "0"))
	a, err := strconv.ParseInt(ms.Responses[0].value(t, davName("quota-available-bytes")), 10, 64)
	if err != nil || a <= 0 {
		t.Errorf("quota-available-bytes without quota = %d, %v; want the disk's free bytes", a, err)
	}
	// Never in allprop (RFC 4331 §3), unless included.
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/", "", "Depth", "0"))
	if _, status := ms.Responses[0].prop(davName("quota-used-bytes")); status != "" {
		t.Errorf("quota-used-bytes in allprop")
	}
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/",
		`<propfind xmlns="DAV:"><allprop/><include><quota-used-bytes/></include></propfind>`, "Depth", "0"))
	if u := ms.Responses[0].value(t, davName("quota-used-bytes")); u != "400" {
		t.Errorf("included quota-used-bytes = %q", u)
	}
}

func TestPropfindAllpropAndPropname(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.put(t, "f.txt", "abc")
	w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f.txt",
		`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:color xmlns:Z="urn:z">red</Z:color></D:prop></D:set></D:propertyupdate>`)
	parseMS(t, w)

	for _, body := range []string{"", "  \n", `<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>`,
		`<propfind xmlns="DAV:"><foobar/><allprop/></propfind>`} {
		ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/f.txt", body, "Depth", "0"))
		r := ms.Responses[0]
		for _, n := range []string{"resourcetype", "getcontentlength", "getlastmodified", "creationdate", "getetag",
			"getcontenttype", "displayname", "supportedlock", "lockdiscovery"} {
			if _, status := r.prop(davName(n)); status != "HTTP/1.1 200 OK" {
				t.Errorf("allprop (body %q): %s %q", body, n, status)
			}
		}
		if v := r.value(t, xml.Name{Space: "urn:z", Local: "color"}); v != "red" {
			t.Errorf("allprop: dead property %q", v)
		}
		if _, status := r.prop(ocName("fileid")); status != "" {
			t.Errorf("allprop has ownCloud properties")
		}
	}

	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/f.txt", `<propfind xmlns="DAV:"><propname/></propfind>`, "Depth", "0"))
	r := ms.Responses[0]
	if len(r.Propstats) != 1 {
		t.Fatalf("propname: %d propstats", len(r.Propstats))
	}
	var names []string
	for _, p := range r.Propstats[0].Prop.Any {
		if p.Inner != "" {
			t.Errorf("propname gave a value for %s: %q", p.XMLName.Local, p.Inner)
		}
		names = append(names, p.XMLName.Local)
	}
	if !slices.Contains(names, "color") || !slices.Contains(names, "getetag") || slices.Contains(names, "quota-used-bytes") {
		t.Errorf("propname names %v", names)
	}
}

func TestPropfindUnknownProps(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.put(t, "f", "x")
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/f",
		propBody("<D:getetag/>", "<l:nothere/>", `<nons xmlns=""/>`, "<D:getcontentlanguage/>"), "Depth", "0"))
	r := ms.Responses[0]
	if len(r.Propstats) != 2 {
		t.Fatalf("%d propstats, want 200 and 404", len(r.Propstats))
	}
	for _, n := range []xml.Name{{Space: litmusNS, Local: "nothere"}, {Local: "nons"}, davName("getcontentlanguage")} {
		if _, status := r.prop(n); status != "HTTP/1.1 404 Not Found" {
			t.Errorf("{%s}%s: %q, want 404", n.Space, n.Local, status)
		}
	}
	// Only unknown properties: no empty 200 propstat.
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/f", propBody("<l:nothere/>"), "Depth", "0"))
	if len(ms.Responses[0].Propstats) != 1 {
		t.Errorf("%d propstats, want only the 404", len(ms.Responses[0].Propstats))
	}
}

func TestPropfindBadBodies(t *testing.T) {
	f := newPropFixture(t, Config{})
	deep := strings.Repeat("<a>", 70) + strings.Repeat("</a>", 70)
	many := `<propfind xmlns="DAV:"><prop>`
	for i := range 1001 {
		many += fmt.Sprintf("<p%d/>", i)
	}
	many += "</prop></propfind>"
	for name, body := range map[string]string{
		"propfind_invalid":  "<foo>",
		"propfind_invalid2": `<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>`,
		"doctype":           `<?xml version="1.0"?><!DOCTYPE propfind [<!ENTITY x "y">]><propfind xmlns="DAV:"><allprop/></propfind>`,
		"entity":            `<propfind xmlns="DAV:"><prop><x>&x;</x></prop></propfind>`,
		"undeclared prefix": `<D:propfind xmlns:D="DAV:"><D:prop><z:foo/></D:prop></D:propfind>`,
		"mismatched":        `<D:propfind xmlns:D="DAV:"><D:prop></D:propfind></D:prop>`,
		"wrong root":        `<propertyupdate xmlns="DAV:"/>`,
		"no DAV namespace":  `<propfind><allprop/></propfind>`,
		"two kinds":         `<propfind xmlns="DAV:"><allprop/><propname/></propfind>`,
		"nothing asked":     `<propfind xmlns="DAV:"/>`,
		"too deep":          `<propfind xmlns="DAV:"><prop>` + deep + `</prop></propfind>`,
		"too many":          many,
		"trailing garbage":  `<propfind xmlns="DAV:"><allprop/></propfind><x/>`,
		"latin1":            `<?xml version="1.0" encoding="ISO-8859-1"?><propfind xmlns="DAV:"><allprop/></propfind>`,
	} {
		t.Run(name, func(t *testing.T) {
			if w := f.do(f.admin, "PROPFIND", "/dav/spaces/files/", body, "Depth", "0"); w.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", w.Code, w.Body)
			}
		})
	}
	big := `<propfind xmlns="DAV:"><allprop/></propfind>` + strings.Repeat(" ", maxXMLBody)
	if w := f.do(f.admin, "PROPFIND", "/dav/spaces/files/", big, "Depth", "0"); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %d, want 413", w.Code)
	}
	if w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/", big); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a PROPPATCH body over 1 MiB: %d, want 413", w.Code)
	}
}

const xmlDecl = `<?xml version="1.0" encoding="utf-8" ?>`

func patch(sets ...string) string {
	return xmlDecl + `<propertyupdate xmlns='DAV:'>` + strings.Join(sets, "") + `</propertyupdate>`
}

func setOp(props ...string) string { return "<set><prop>" + strings.Join(props, "") + "</prop></set>" }
func removeOp(props ...string) string {
	return "<remove><prop>" + strings.Join(props, "") + "</prop></remove>"
}

// The litmus props sequence, and what a client reads back.
func TestProppatchLitmus(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.put(t, "prop", "foo")
	const uri = "/dav/spaces/files/prop"
	get := func(t *testing.T, names ...string) msResponse {
		t.Helper()
		ms := parseMS(t, f.do(f.admin, "PROPFIND", uri, propBody(names...), "Depth", "0"))
		return ms.Responses[0]
	}
	ok := func(t *testing.T, body string) {
		t.Helper()
		ms := parseMS(t, f.do(f.admin, "PROPPATCH", uri, body))
		for _, ps := range ms.Responses[0].Propstats {
			if ps.Status != "HTTP/1.1 200 OK" {
				t.Errorf("PROPPATCH propstat %q", ps.Status)
			}
		}
	}
	ln := func(local string) xml.Name { return xml.Name{Space: litmusNS, Local: local} }

	t.Run("propset/propget", func(t *testing.T) {
		var sets []string
		for i := range 10 {
			sets = append(sets, fmt.Sprintf("<prop%d xmlns='%s'>value%d</prop%d>", i, litmusNS, i, i))
		}
		ok(t, patch(setOp(sets...)))
		r := get(t, "<l:prop0/>", "<l:prop9/>")
		if r.value(t, ln("prop0")) != "value0" || r.value(t, ln("prop9")) != "value9" {
			t.Errorf("values %+v", r.Propstats)
		}
	})
	t.Run("propmove", func(t *testing.T) {
		if w := f.do(f.admin, "MOVE", uri, "", "Destination", "http://example.com/dav/spaces/files/prop2"); w.Code/100 != 2 {
			t.Fatalf("MOVE: %d %s", w.Code, w.Body)
		}
		ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/prop2", propBody("<l:prop3/>"), "Depth", "0"))
		if v := ms.Responses[0].value(t, ln("prop3")); v != "value3" {
			t.Errorf("after MOVE: %q", v)
		}
		f.do(f.admin, "MOVE", "/dav/spaces/files/prop2", "", "Destination", "http://example.com"+uri)
	})
	t.Run("propdeletes/propreplace", func(t *testing.T) {
		var rm, sets []string
		for i := range 5 {
			rm = append(rm, fmt.Sprintf("<prop%d xmlns='%s'/>", i, litmusNS))
		}
		for i := 5; i < 10; i++ {
			sets = append(sets, fmt.Sprintf("<prop%d xmlns='%s'>newvalue%d</prop%d>", i, litmusNS, i, i))
		}
		ok(t, patch(removeOp(rm...), setOp(sets...)))
		r := get(t, "<l:prop0/>", "<l:prop5/>")
		if _, status := r.prop(ln("prop0")); status != "HTTP/1.1 404 Not Found" {
			t.Errorf("removed prop0: %q", status)
		}
		if v := r.value(t, ln("prop5")); v != "newvalue5" {
			t.Errorf("replaced prop5 = %q", v)
		}
	})
	t.Run("propnullns", func(t *testing.T) {
		ok(t, patch(setOp(`<nonamespace xmlns="">randomvalue</nonamespace>`)))
		r := get(t, `<nonamespace xmlns=""/>`)
		if v := r.value(t, xml.Name{Local: "nonamespace"}); v != "randomvalue" {
			t.Errorf("null namespace property = %q", v)
		}
	})
	t.Run("prophighunicode", func(t *testing.T) {
		ok(t, patch(setOp(`<high-unicode xmlns='`+litmusNS+`'>&#65536;</high-unicode>`)))
		if v := get(t, "<l:high-unicode/>").value(t, ln("high-unicode")); v != "\U00010000" {
			t.Errorf("high unicode = %q", v)
		}
	})
	t.Run("propremoveset", func(t *testing.T) {
		rs := `<removeset xmlns='` + litmusNS + `'>`
		ok(t, patch(removeOp(`<removeset xmlns='`+litmusNS+`'/>`), setOp(rs+"x</removeset>"), setOp(rs+"y</removeset>")))
		if v := get(t, "<l:removeset/>").value(t, ln("removeset")); v != "y" {
			t.Errorf("remove, set x, set y = %q", v)
		}
	})
	t.Run("propsetremove", func(t *testing.T) {
		ok(t, patch(setOp(`<removeset xmlns='`+litmusNS+`'>x</removeset>`), removeOp(`<removeset xmlns='`+litmusNS+`'/>`)))
		if _, status := get(t, "<l:removeset/>").prop(ln("removeset")); status != "HTTP/1.1 404 Not Found" {
			t.Errorf("set then remove: %q", status)
		}
	})
	t.Run("propvalnspace/propwformed", func(t *testing.T) {
		ok(t, patch(setOp(`<t:valnspace xmlns:t='`+litmusNS+`'><foo xmlns='http://bar'/></t:valnspace>`)))
		w := f.do(f.admin, "PROPFIND", uri, xmlDecl+`<propfind xmlns='DAV:'><prop><valnspace xmlns='`+litmusNS+`'/></prop></propfind>`, "Depth", "0")
		ms := parseMS(t, w)
		if v := ms.Responses[0].value(t, ln("valnspace")); v != `<foo xmlns="http://bar"></foo>` {
			t.Errorf("value with a namespace = %q", v)
		}
		// The value keeps its meaning: a namespace-aware parse sees {http://bar}foo.
		var got struct {
			R []struct {
				P []struct {
					V struct {
						Foo struct{ XMLName xml.Name } `xml:",any"`
					} `xml:"http://example.com/neon/litmus/ valnspace"`
				} `xml:"propstat>prop"`
			} `xml:"response"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &got); err != nil || got.R[0].P[0].V.Foo.XMLName != (xml.Name{Space: "http://bar", Local: "foo"}) {
			t.Errorf("parsed value: %+v, %v", got, err)
		}
	})
	t.Run("propmanyns", func(t *testing.T) {
		var sets, names []string
		for i, ns := range []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"} {
			sets = append(sets, fmt.Sprintf("<somename xmlns='http://example.com/%s'>manynsvalue</somename>", ns))
			names = append(names, fmt.Sprintf("<n%d:somename xmlns:n%d='http://example.com/%s'/>", i, i, ns))
		}
		ok(t, patch(setOp(sets...)))
		r := get(t, names...)
		if v := r.value(t, xml.Name{Space: "http://example.com/kappa", Local: "somename"}); v != "manynsvalue" {
			t.Errorf("kappa = %q", v)
		}
	})
	t.Run("markup, attributes and xml:lang", func(t *testing.T) {
		ok(t, patch(setOp(`<a:rich xmlns:a="urn:a" xmlns:b="urn:b" xml:lang="de"><b:x b:attr="1 &amp; 2" plain="p">text &lt; <a:y/></b:x>tail</a:rich>`)))
		p, status := get(t, `<r:rich xmlns:r="urn:a"/>`).prop(xml.Name{Space: "urn:a", Local: "rich"})
		want := `<x xmlns="urn:b" xmlns:a0="urn:b" a0:attr="1 &amp; 2" plain="p">text &lt; <y xmlns="urn:a"></y></x>tail`
		if status != "HTTP/1.1 200 OK" || p.Inner != want || p.Lang != "de" {
			t.Errorf("rich value: %q %q lang %q\nwant %q", status, p.Inner, p.Lang, want)
		}
	})
}

func TestProppatchProtectedIsAtomic(t *testing.T) {
	f := newPropFixture(t, Config{})
	n := f.put(t, "f", "data")
	w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f", patch(setOp(`<x:a xmlns:x="urn:x">1</x:a>`, `<getetag>"forged"</getetag>`),
		removeOp(`<quota-used-bytes/>`, `<x:b xmlns:x="urn:x"/>`)))
	ms := parseMS(t, w)
	r := ms.Responses[0]
	if r.Href != "/dav/spaces/files/f" {
		t.Errorf("href %q", r.Href)
	}
	for n, want := range map[xml.Name]string{
		{Space: "urn:x", Local: "a"}: "HTTP/1.1 424 Failed Dependency",
		{Space: "urn:x", Local: "b"}: "HTTP/1.1 424 Failed Dependency",
		davName("getetag"):           "HTTP/1.1 403 Forbidden",
		davName("quota-used-bytes"):  "HTTP/1.1 403 Forbidden",
	} {
		if _, status := r.prop(n); status != want {
			t.Errorf("{%s}%s: %q, want %q", n.Space, n.Local, status, want)
		}
	}
	if len(r.Propstats) != 2 {
		t.Errorf("%d propstats, want one per status", len(r.Propstats))
	}
	for _, ps := range r.Propstats {
		if strings.Contains(ps.Status, "403") && (ps.Error == nil || !strings.Contains(ps.Error.Inner, "cannot-modify-protected-property")) {
			t.Errorf("403 propstat without cannot-modify-protected-property: %+v", ps.Error)
		}
	}
	if props, _ := f.db.Props(context.Background(), n.ID); len(props) != 0 {
		t.Errorf("a failed PROPPATCH stored %+v", props)
	}
	if got, _ := f.tree.Stat(context.Background(), "files", "f"); got.ETag != n.ETag {
		t.Errorf("ETag changed")
	}
}

func TestProppatchErrors(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.put(t, "f", "x")
	body := patch(setOp(`<x:a xmlns:x="urn:x">1</x:a>`))
	if w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/missing", body); w.Code != http.StatusNotFound {
		t.Errorf("PROPPATCH of a missing resource: %d, want 404", w.Code)
	}
	if w := f.do(f.admin, "PROPPATCH", "/dav/spaces/", body); w.Code != http.StatusForbidden {
		t.Errorf("PROPPATCH of a virtual collection: %d, want 403", w.Code)
	}
	if w := f.do(f.viewer, "PROPPATCH", "/dav/spaces/files/f", body); w.Code != http.StatusForbidden {
		t.Errorf("PROPPATCH by a viewer: %d, want 403", w.Code)
	}
	for name, b := range map[string]string{
		"empty":           "",
		"nothing to do":   patch(),
		"not well-formed": `<propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:x">`,
		"doctype":         `<!DOCTYPE x><propertyupdate xmlns="DAV:"/>`,
		"wrong root":      `<propfind xmlns="DAV:"><allprop/></propfind>`,
	} {
		if w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f", b); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, w.Code)
		}
	}
}

// Dead properties on collections show in their parent's listing.
func TestDeadPropsOnCollections(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "d")
	f.put(t, "d/f", "x")
	for _, target := range []string{"/dav/spaces/files/d/", "/dav/spaces/files/d/f", "/dav/spaces/files/"} {
		parseMS(t, f.do(f.admin, "PROPPATCH", target, patch(setOp(`<c:tag xmlns:c="urn:c">`+target+`</c:tag>`)), "Depth", "0"))
	}
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/", propBody(`<c:tag xmlns:c="urn:c"/>`), "Depth", "1"))
	for _, h := range []string{"/dav/spaces/files/", "/dav/spaces/files/d/"} {
		if v := ms.byHref(t, h).value(t, xml.Name{Space: "urn:c", Local: "tag"}); v != h {
			t.Errorf("%s: %q", h, v)
		}
	}
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/d/", "", "Depth", "1"))
	if v := ms.byHref(t, "/dav/spaces/files/d/f").value(t, xml.Name{Space: "urn:c", Local: "tag"}); v != "/dav/spaces/files/d/f" {
		t.Errorf("file in allprop listing: %q", v)
	}
}

func TestProppatchWin32(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "folder")
	f.put(t, "file.docx", "x")
	for _, target := range []string{"/dav/spaces/files/folder", "/dav/spaces/files/file.docx"} {
		body := `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>` +
			`<Z:Win32CreationTime>Wed, 20 Nov 2024 09:00:00 GMT</Z:Win32CreationTime>` +
			`<Z:Win32LastAccessTime>Thu, 21 Nov 2024 11:00:00 GMT</Z:Win32LastAccessTime>` +
			`<Z:Win32LastModifiedTime>Thu, 21 Nov 2024 10:00:00 GMT</Z:Win32LastModifiedTime>` +
			`<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>` +
			`</D:prop></D:set></D:propertyupdate>`
		ms := parseMS(t, f.do(f.admin, "PROPPATCH", target, body))
		r := ms.Responses[0]
		if len(r.Propstats) != 1 || r.Propstats[0].Status != "HTTP/1.1 200 OK" || len(r.Propstats[0].Prop.Any) != 4 {
			t.Errorf("%s: %+v", target, r.Propstats)
		}
		n, err := f.tree.Stat(context.Background(), "files", strings.TrimPrefix(target, "/dav/spaces/files/"))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC); !n.MTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", target, n.MTime, want)
		}
		ms = parseMS(t, f.do(f.admin, "PROPFIND", target, propBody(`<Z:Win32FileAttributes xmlns:Z="urn:schemas-microsoft-com:"/>`, "<D:getlastmodified/>"), "Depth", "0"))
		if v := ms.Responses[0].value(t, xml.Name{Space: nsMS, Local: "Win32FileAttributes"}); v != "00000020" {
			t.Errorf("stored Win32FileAttributes = %q", v)
		}
		if v := ms.Responses[0].value(t, davName("getlastmodified")); v != "Thu, 21 Nov 2024 10:00:00 GMT" {
			t.Errorf("getlastmodified after Win32LastModifiedTime = %q", v)
		}
	}
	bad := patch(setOp(`<Z:Win32LastModifiedTime xmlns:Z="urn:schemas-microsoft-com:">yesterday</Z:Win32LastModifiedTime>`, `<x:a xmlns:x="urn:x">1</x:a>`))
	ms := parseMS(t, f.do(f.admin, "PROPPATCH", "/dav/spaces/files/file.docx", bad))
	if _, status := ms.Responses[0].prop(xml.Name{Space: nsMS, Local: "Win32LastModifiedTime"}); status != "HTTP/1.1 409 Conflict" {
		t.Errorf("a bad date: %q, want 409", status)
	}
}

// COPY copies dead properties, MOVE keeps them, DELETE removes them.
func TestPropsFollowCopyMoveDelete(t *testing.T) {
	ctx := context.Background()
	f := newPropFixture(t, Config{})
	f.mkdir(t, "src")
	f.put(t, "src/f", "x")
	for _, p := range []string{"src", "src/f"} {
		parseMS(t, f.do(f.admin, "PROPPATCH", "/dav/spaces/files/"+p, patch(setOp(`<x:p xmlns:x="urn:x">`+p+`</x:p>`))))
	}
	if _, err := f.tree.Copy(ctx, "files", "src", "other", "copy", false, -1); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"copy": "src", "copy/f": "src/f"} {
		n, err := f.tree.Stat(ctx, "other", p)
		if err != nil {
			t.Fatal(err)
		}
		props, _ := f.db.Props(ctx, n.ID)
		if len(props) != 1 || props[0].XML != want {
			t.Errorf("props of copied %s: %+v", p, props)
		}
	}
	if _, err := f.tree.Move(ctx, "files", "src", "files", "moved", false); err != nil {
		t.Fatal(err)
	}
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/moved/f", propBody(`<x:p xmlns:x="urn:x"/>`), "Depth", "0"))
	if v := ms.Responses[0].value(t, xml.Name{Space: "urn:x", Local: "p"}); v != "src/f" {
		t.Errorf("after MOVE: %q", v)
	}
	for _, s := range []struct{ space, p string }{{"files", "moved"}, {"other", "copy"}} {
		if err := f.tree.Delete(ctx, s.space, s.p); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"files", "other"} {
		if left, err := f.db.SubtreeProps(ctx, id, ""); err != nil || len(left) != 0 {
			t.Errorf("props left in %s after DELETE: %v %v", id, left, err)
		}
	}
}

func TestPropfindVirtual(t *testing.T) {
	f := newPropFixture(t, Config{})
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/", "", "Depth", "1"))
	if !slices.Equal(ms.hrefs(), []string{"/dav/", "/dav/spaces/"}) {
		t.Errorf("/dav/: %v", ms.hrefs())
	}
	if rt := ms.byHref(t, "/dav/spaces/").value(t, davName("resourcetype")); rt != "<D:collection/>" {
		t.Errorf("resourcetype %q", rt)
	}

	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/",
		propBody("<D:displayname/>", "<D:resourcetype/>", "<D:quota-used-bytes/>"), "Depth", "1"))
	if !slices.Equal(ms.hrefs(), []string{"/dav/spaces/", "/dav/spaces/files/", "/dav/spaces/other/"}) {
		t.Errorf("admin's /dav/spaces/: %v", ms.hrefs())
	}
	r := ms.byHref(t, "/dav/spaces/files/")
	if dn := r.value(t, davName("displayname")); dn != "Team Files" {
		t.Errorf("space displayname %q", dn)
	}
	if _, status := r.prop(davName("quota-used-bytes")); status != "HTTP/1.1 404 Not Found" {
		t.Errorf("quota on a virtual listing: %q", status)
	}
	ms = parseMS(t, f.do(f.viewer, "PROPFIND", "/dav/spaces", "", "Depth", "1"))
	if !slices.Equal(ms.hrefs(), []string{"/dav/spaces/", "/dav/spaces/files/"}) {
		t.Errorf("viewer's /dav/spaces/: %v", ms.hrefs())
	}
	if cd := ms.byHref(t, "/dav/spaces/files/").value(t, davName("creationdate")); !rfc3339NoFrc.MatchString(cd) {
		t.Errorf("space creationdate %q", cd)
	}
}

func TestPropfindLockDiscovery(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.mkdir(t, "d")
	f.put(t, "d/locked", "x")
	f.put(t, "d/free", "y")
	w := f.do(f.admin, "LOCK", "/dav/spaces/files/d/locked",
		`<?xml version="1.0"?><lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype><owner>me</owner></lockinfo>`,
		"Timeout", "Second-600")
	if w.Code != http.StatusOK {
		t.Fatalf("LOCK: %d %s", w.Code, w.Body)
	}
	token := strings.Trim(w.Header().Get("Lock-Token"), "<>")
	ms := parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/d/", propBody("<D:lockdiscovery/>"), "Depth", "1"))
	locked := ms.byHref(t, "/dav/spaces/files/d/locked").value(t, davName("lockdiscovery"))
	if !strings.Contains(locked, token) || !strings.Contains(locked, "<D:exclusive/>") || !strings.Contains(locked, "/dav/spaces/files/d/locked") {
		t.Errorf("lockdiscovery of the locked file = %q (token %s)", locked, token)
	}
	for _, h := range []string{"/dav/spaces/files/d/free", "/dav/spaces/files/d/"} {
		if v := ms.byHref(t, h).value(t, davName("lockdiscovery")); v != "" {
			t.Errorf("%s lockdiscovery = %q, want empty", h, v)
		}
	}
	// A locked resource refuses PROPPATCH without its token.
	if w := f.do(f.admin, "PROPPATCH", "/dav/spaces/files/d/locked", patch(setOp(`<x:a xmlns:x="urn:x">1</x:a>`))); w.Code != http.StatusLocked {
		t.Errorf("PROPPATCH of a locked file without its token: %d, want 423", w.Code)
	}
	w = f.do(f.admin, "PROPPATCH", "/dav/spaces/files/d/locked", patch(setOp(`<x:a xmlns:x="urn:x">1</x:a>`)), "If", "(<"+token+">)")
	parseMS(t, w)
}

func TestDateFormats(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", 3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1<<33, 0),
		time.Unix(0, 0),
	} {
		var b bytes.Buffer
		m := newMSWriter(&b)
		m.httpDate(tm)
		m.raw("|")
		m.isoDate(tm)
		m.w.Flush()
		want := tm.UTC().Format(http.TimeFormat) + "|" + tm.UTC().Format("2006-01-02T15:04:05Z")
		if b.String() != want {
			t.Errorf("%v: %q, want %q", tm, b.String(), want)
		}
	}
}

func TestProppatchLimit(t *testing.T) {
	f := newPropFixture(t, Config{})
	f.put(t, "f", "x")
	var sets []string
	for i := range maxDeadProps {
		sets = append(sets, fmt.Sprintf("<p%d xmlns='urn:x'>v</p%d>", i, i))
	}
	parseMS(t, f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f", patch(setOp(sets...))))
	ms := parseMS(t, f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f", patch(setOp(`<one xmlns='urn:x'>more</one>`, `<p0 xmlns='urn:x'>changed</p0>`))))
	for _, ps := range ms.Responses[0].Propstats {
		if ps.Status != "HTTP/1.1 507 Insufficient Storage" {
			t.Errorf("PROPPATCH over the limit: %q, want 507", ps.Status)
		}
	}
	ms = parseMS(t, f.do(f.admin, "PROPPATCH", "/dav/spaces/files/f", patch(removeOp(`<p1 xmlns='urn:x'/>`), setOp(`<one xmlns='urn:x'>more</one>`))))
	if ms.Responses[0].Propstats[0].Status != "HTTP/1.1 200 OK" {
		t.Errorf("PROPPATCH that stays at the limit: %q", ms.Responses[0].Propstats[0].Status)
	}
	ms = parseMS(t, f.do(f.admin, "PROPFIND", "/dav/spaces/files/f", propBody(`<x:p0 xmlns:x="urn:x"/>`), "Depth", "0"))
	if v := ms.Responses[0].value(t, xml.Name{Space: "urn:x", Local: "p0"}); v != "v" {
		t.Errorf("a refused PROPPATCH changed p0 to %q", v)
	}
}

// BenchmarkPropfindDepth1_10k lists a collection of 10,000 files with the
// properties a file manager asks for.
func BenchmarkPropfindDepth1_10k(b *testing.B) {
	f := newPropFixture(b, Config{})
	ctx := context.Background()
	dir := filepath.Join(f.dir, "spaces", "files", "big")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("IMG_%05d.jpg", i)), []byte(strconv.Itoa(i)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.tree.Reindex(ctx, "files"); err != nil {
		b.Fatal(err)
	}
	body := propBody("<D:resourcetype/>", "<D:getcontentlength/>", "<D:getlastmodified/>", "<D:getetag/>",
		"<D:getcontenttype/>", "<D:displayname/>", "<D:lockdiscovery/>", "<D:quota-available-bytes/>",
		"<D:quota-used-bytes/>", "<oc:checksums/>", "<l:dead/>")
	r := httptest.NewRequest("PROPFIND", "/dav/spaces/files/big/", nil)
	r.Header.Set("Depth", "1")
	r = r.WithContext(auth.NewContext(r.Context(), f.admin))
	w := &countingWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r.Body = httpBody(body)
		w.n, w.code = 0, 0
		f.h.ServeHTTP(w, r)
		if w.code != http.StatusMultiStatus {
			b.Fatalf("status %d", w.code)
		}
	}
	b.ReportMetric(float64(w.n), "bytes/response")
}

type countingWriter struct {
	h    http.Header
	n    int
	code int
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) WriteHeader(code int)        { w.code = code }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

type bodyReader struct{ *strings.Reader }

func (bodyReader) Close() error { return nil }

func httpBody(s string) bodyReader { return bodyReader{strings.NewReader(s)} }
