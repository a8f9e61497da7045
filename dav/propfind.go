package dav

// PROPFIND and PROPPATCH (RFC 4918 §9.1-9.2), served from the node index
// and the store's dead properties: a Depth 1 listing costs one query for
// the children, at most one for their dead properties and at most one for
// the locks below, whatever the number of children, and is streamed.

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// liveProp is a property the server computes.
type liveProp uint8

const (
	// The live properties of RFC 4918, which allprop returns.
	lpResourceType liveProp = iota
	lpDisplayName
	lpContentLength
	lpLastModified
	lpCreationDate
	lpETag
	lpContentType
	lpSupportedLock
	lpLockDiscovery
	numAllProp
)

const (
	// RFC 4331 quota (never in allprop) and ownCloud's properties.
	lpQuotaAvailable = numAllProp + iota
	lpQuotaUsed
	lpOCFileID
	lpOCChecksums
	lpOCPermissions
	lpOCSize
	lpOCID
	lpOCDataFingerprint
	// Wharf's own (wharfprops.go): what processing knows of a file's
	// content. Never in allprop (each needs a look-up beyond the node).
	lpWharfWidth
	lpWharfHeight
	lpWharfMake
	lpWharfModel
	lpWharfCaptured
	lpWharfOrientation
	lpWharfScanned
	numLiveProps
)

var liveNames = [numLiveProps]xml.Name{
	lpResourceType:   {Space: nsDAV, Local: "resourcetype"},
	lpDisplayName:    {Space: nsDAV, Local: "displayname"},
	lpContentLength:  {Space: nsDAV, Local: "getcontentlength"},
	lpLastModified:   {Space: nsDAV, Local: "getlastmodified"},
	lpCreationDate:   {Space: nsDAV, Local: "creationdate"},
	lpETag:           {Space: nsDAV, Local: "getetag"},
	lpContentType:    {Space: nsDAV, Local: "getcontenttype"},
	lpSupportedLock:  {Space: nsDAV, Local: "supportedlock"},
	lpLockDiscovery:  {Space: nsDAV, Local: "lockdiscovery"},
	lpQuotaAvailable: {Space: nsDAV, Local: "quota-available-bytes"},
	lpQuotaUsed:      {Space: nsDAV, Local: "quota-used-bytes"},
	lpOCFileID:       {Space: nsOC, Local: "fileid"},
	lpOCChecksums:    {Space: nsOC, Local: "checksums"},
	lpOCPermissions:  {Space: nsOC, Local: "permissions"},
	lpOCSize:         {Space: nsOC, Local: "size"},
	lpOCID:           {Space: nsOC, Local: "id"},
	// What ownCloud changes after restoring a backup, to make clients
	// compare instead of believing; Wharf's is always empty.
	lpOCDataFingerprint: {Space: nsOC, Local: "data-fingerprint"},

	lpWharfWidth:       {Space: nsWharf, Local: "width"},
	lpWharfHeight:      {Space: nsWharf, Local: "height"},
	lpWharfMake:        {Space: nsWharf, Local: "make"},
	lpWharfModel:       {Space: nsWharf, Local: "model"},
	lpWharfCaptured:    {Space: nsWharf, Local: "captured"},
	lpWharfOrientation: {Space: nsWharf, Local: "orientation"},
	lpWharfScanned:     {Space: nsWharf, Local: "scanned"},
}

// liveTags are the start and end tags of each live property.
var liveTags = func() (t [numLiveProps][2]string) {
	for i, n := range liveNames {
		prefix := "D:"
		if n.Space == nsOC {
			prefix = "oc:"
		}
		if n.Space == nsWharf {
			t[i] = [2]string{"<w:" + n.Local + ` xmlns:w="` + nsWharf + `">`, "</w:" + n.Local + ">"}
			continue
		}
		t[i] = [2]string{"<" + prefix + n.Local + ">", "</" + prefix + n.Local + ">"}
	}
	return t
}()

// lookupLive reports whether n is a live property. Every live property is
// protected: PROPPATCH cannot set or remove it.
func lookupLive(n xml.Name) (liveProp, bool) {
	if n.Space != nsDAV && n.Space != nsOC && n.Space != nsWharf {
		return 0, false
	}
	for i, m := range liveNames {
		if m == n {
			return liveProp(i), true
		}
	}
	return 0, false
}

const (
	// nsMS is the namespace of the Win32* properties Windows Explorer sets.
	nsMS = "urn:schemas-microsoft-com:"
	// Caps on the dead properties of one resource (507 beyond).
	maxDeadProps     = 1000
	maxDeadPropBytes = 2 << 20
)

const supportedLockXML = "<D:supportedlock>" +
	"<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>" +
	"<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>" +
	"</D:supportedlock>"

// parseDepth reads the Depth header of a PROPFIND: 0, 1, or -1 for
// infinity (also when the header is missing).
func parseDepth(r *http.Request) (int, bool) {
	switch v := r.Header.Get("Depth"); {
	case v == "":
		return -1, true
	case v == "0":
		return 0, true
	case v == "1":
		return 1, true
	case strings.EqualFold(v, "infinity"):
		return -1, true
	}
	return 0, false
}

// propEntry is one resource of a multistatus.
type propEntry struct {
	node    *store.Node // nil for a virtual collection
	name    string      // displayname
	created time.Time   // creationdate of a virtual collection; zero: none
	dead    []store.Prop
	path    string // in its space, for locks
	locks   *lockIndex
	size    int64 // oc:size of a collection, if hasSize
	hasSize bool
	role    auth.Role // the caller's role here, if ownRole (else the listing's)
	ownRole bool
}

func (e *propEntry) isDir() bool { return e.node == nil || e.node.IsDir }

// propWriter writes the responses of one PROPFIND.
type propWriter struct {
	m     *msWriter
	req   propfindRequest
	names []reqProp          // req.Names, looked up once
	want  [numLiveProps]bool // live properties asked for by name
	role  auth.Role
	now   time.Time
	// contents reads what is known of files' contents, for Wharf's
	// properties (nil: nothing); known caches it by SHA-256.
	contents func([]store.Node) map[string]store.Content
	known    map[string]store.Content
	quota    struct {
		ok               bool
		available, used  int64
		availableMissing bool // no quota and no free-space figure
	}
}

func newPropWriter(m *msWriter, req propfindRequest, role auth.Role, now time.Time) *propWriter {
	pw := &propWriter{m: m, req: req, role: role, now: now}
	for _, n := range req.Names {
		lp, ok := lookupLive(n)
		pw.names = append(pw.names, reqProp{name: n, live: lp, isLive: ok})
		if ok {
			pw.want[lp] = true
		}
	}
	if req.Kind != findProp {
		for lp := range numAllProp {
			pw.want[lp] = true
		}
	}
	return pw
}

// needsDead reports whether the request shows dead properties.
func (pw *propWriter) needsDead() bool {
	if pw.req.Kind != findProp {
		return true
	}
	for _, rp := range pw.names {
		if !rp.isLive {
			return true
		}
	}
	return false
}

// reqProp is a property named in the request.
type reqProp struct {
	name   xml.Name
	live   liveProp
	isLive bool
}

// has reports whether e has live property lp.
func (pw *propWriter) has(e *propEntry, lp liveProp) bool {
	n := e.node
	switch lp {
	case lpResourceType, lpDisplayName, lpSupportedLock, lpLockDiscovery:
		return true
	case lpContentLength, lpContentType:
		return n != nil && !n.IsDir
	case lpLastModified, lpETag, lpOCFileID, lpOCPermissions, lpOCID, lpOCDataFingerprint:
		return n != nil
	case lpCreationDate:
		return n != nil || !e.created.IsZero()
	case lpQuotaAvailable:
		return n != nil && n.IsDir && pw.quota.ok && !pw.quota.availableMissing
	case lpQuotaUsed:
		return n != nil && n.IsDir && pw.quota.ok
	case lpOCChecksums:
		return n != nil && !n.IsDir && n.SHA256 != ""
	case lpOCSize:
		return n != nil && (!n.IsDir || e.hasSize)
	}
	if lp >= lpWharfWidth {
		return pw.hasWharf(e, lp)
	}
	return false
}

// writeLive writes live property lp of e, which has it.
func (pw *propWriter) writeLive(e *propEntry, lp liveProp) {
	m, n := pw.m, e.node
	switch lp {
	case lpResourceType:
		if e.isDir() {
			m.raw("<D:resourcetype><D:collection/></D:resourcetype>")
		} else {
			m.raw("<D:resourcetype/>")
		}
		return
	case lpSupportedLock:
		if n == nil {
			m.raw("<D:supportedlock/>")
		} else {
			m.raw(supportedLockXML)
		}
		return
	case lpLockDiscovery:
		pw.writeLockDiscovery(e)
		return
	case lpOCChecksums:
		// ownCloud's form: one oc:checksum holding "ALGO:hex" fields.
		m.raw("<oc:checksums><oc:checksum>")
		if n.SHA1 != "" {
			m.raw("SHA1:")
			m.text(n.SHA1)
			m.raw(" ")
		}
		m.raw("SHA256:")
		m.text(n.SHA256)
		m.raw("</oc:checksum></oc:checksums>")
		return
	}
	m.raw(liveTags[lp][0])
	switch lp {
	case lpDisplayName:
		m.text(e.name)
	case lpContentLength:
		m.int(n.Size)
	case lpLastModified:
		m.httpDate(n.MTime)
	case lpCreationDate:
		if n != nil {
			m.isoDate(n.CTime)
		} else {
			m.isoDate(e.created)
		}
	case lpETag:
		m.text(n.ETag)
	case lpContentType:
		if n.MIME == "" {
			m.raw("application/octet-stream")
		} else {
			m.text(n.MIME)
		}
	case lpQuotaAvailable:
		m.int(pw.quota.available)
	case lpQuotaUsed:
		m.int(pw.quota.used)
	case lpOCFileID, lpOCID:
		// oc:id is ownCloud's opaque id, the same as OC-FileId: the
		// node's, which renames and moves keep.
		m.int(n.ID)
	case lpOCDataFingerprint:
	case lpOCPermissions:
		role := pw.role
		if e.ownRole {
			role = e.role
		}
		m.raw(ocPermissions(role, n))
	case lpOCSize:
		if n.IsDir {
			m.int(e.size)
		} else {
			m.int(n.Size)
		}
	default:
		pw.writeWharf(e, lp)
	}
	m.raw(liveTags[lp][1])
}

func (pw *propWriter) writeLockDiscovery(e *propEntry) {
	m := pw.m
	if e.locks == nil || !e.locks.any(e.path) {
		m.raw("<D:lockdiscovery/>")
		return
	}
	m.raw("<D:lockdiscovery>")
	e.locks.each(e.path, func(l Lock) { writeActiveLock(m.w, l, pw.now) })
	m.raw("</D:lockdiscovery>")
}

func (pw *propWriter) writeDead(p *store.Prop, nameOnly bool) {
	n := xml.Name{Space: p.NS, Local: p.Name}
	if nameOnly {
		pw.m.name(n, "", true)
		return
	}
	pw.m.name(n, p.Lang, false)
	pw.m.raw(p.XML)
	pw.m.endName(n)
}

func findDead(props []store.Prop, n xml.Name) *store.Prop {
	for i := range props {
		if props[i].NS == n.Space && props[i].Name == n.Local {
			return &props[i]
		}
	}
	return nil
}

// found reports whether e has property rp (live or dead).
func (pw *propWriter) found(e *propEntry, rp *reqProp) bool {
	if rp.isLive {
		return pw.has(e, rp.live)
	}
	return findDead(e.dead, rp.name) != nil
}

// response writes e's DAV:response; href is written by writeHref.
func (pw *propWriter) response(e *propEntry, writeHref func()) {
	m := pw.m
	m.raw("<D:response>")
	writeHref()
	opened := false
	open := func() {
		if !opened {
			m.raw("<D:propstat><D:prop>")
			opened = true
		}
	}
	switch pw.req.Kind {
	case findAllProp, findPropName:
		nameOnly := pw.req.Kind == findPropName
		for lp := range numAllProp {
			if pw.has(e, lp) {
				open()
				if nameOnly {
					m.name(liveNames[lp], "", true)
				} else {
					pw.writeLive(e, lp)
				}
			}
		}
		if nameOnly { // propname lists the live properties beyond allprop's too
			for lp := lpWharfWidth; lp < numLiveProps; lp++ {
				if pw.has(e, lp) {
					open()
					m.name(liveNames[lp], "", true)
				}
			}
		}
		for i := range e.dead {
			open()
			pw.writeDead(&e.dead[i], nameOnly)
		}
		for i := range pw.names { // allprop's include
			if rp := &pw.names[i]; rp.isLive && rp.live >= numAllProp && pw.has(e, rp.live) {
				open()
				pw.writeLive(e, rp.live)
			}
		}
	case findProp:
		for i := range pw.names {
			if rp := &pw.names[i]; rp.isLive {
				if pw.has(e, rp.live) {
					open()
					pw.writeLive(e, rp.live)
				}
			} else if p := findDead(e.dead, rp.name); p != nil {
				open()
				pw.writeDead(p, false)
			}
		}
	}
	if opened {
		m.raw("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>")
	}
	if pw.req.Kind != findPropName {
		missing := false
		for i := range pw.names {
			if rp := &pw.names[i]; !pw.found(e, rp) {
				if !missing {
					m.raw("<D:propstat><D:prop>")
					missing = true
				}
				m.name(rp.name, "", true)
			}
		}
		if missing {
			m.raw("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
		}
	}
	m.raw("</D:response>")
}

// lockIndex finds the locks that apply to each resource of a listing.
type lockIndex struct {
	at   map[string][]Lock // by root
	deep []Lock            // depth infinity: apply below their root too
}

func newLockIndex(locks []Lock) *lockIndex {
	x := &lockIndex{at: map[string][]Lock{}}
	for _, l := range locks {
		x.at[l.Root] = append(x.at[l.Root], l)
		if l.Depth < 0 {
			x.deep = append(x.deep, l)
		}
	}
	return x
}

func (x *lockIndex) any(p string) bool {
	if len(x.at[p]) > 0 {
		return true
	}
	for _, l := range x.deep {
		if isBelow(p, l.Root) {
			return true
		}
	}
	return false
}

func (x *lockIndex) each(p string, fn func(Lock)) {
	for _, l := range x.at[p] {
		fn(l)
	}
	for _, l := range x.deep {
		if isBelow(p, l.Root) {
			fn(l)
		}
	}
}

// handlePropfind answers a PROPFIND with a streamed 207 multistatus.
func (h *Handler) handlePropfind(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	ctx := r.Context()
	depth, ok := parseDepth(r)
	if !ok {
		return http.StatusBadRequest, clientError("Depth must be 0, 1 or infinity")
	}
	if depth < 0 && (!h.cfg.AllowInfinity || res.virtual()) {
		return http.StatusForbidden, &condError{Cond: "propfind-finite-depth"}
	}
	body, status, err := readXMLBody(r)
	if status != 0 {
		return status, err
	}
	req, err := parsePropfind(body)
	if err != nil {
		return http.StatusBadRequest, clientError(err.Error())
	}
	if res.syncRoot() {
		return h.propfindSyncRoot(w, r, res, req, depth)
	}
	if res.virtual() {
		return h.propfindVirtual(w, r, res, req, depth)
	}

	n, err := h.tree.Stat(ctx, res.Space, res.Path)
	if err != nil {
		return spaceStatus(err)
	}
	// A Depth 1 listing is read in a goroutine while it is written out
	// (streamChildren); Depth infinity, a rare request, is read whole.
	var (
		children []store.Node
		batches  <-chan []store.Node
		first    []store.Node
	)
	stream := n.IsDir && depth == 1
	writing := false // the 207 has been sent
	if stream {
		var stop func() error
		batches, stop = h.streamChildren(ctx, n)
		defer func() {
			if err := stop(); err != nil && writing && ctx.Err() == nil {
				// The 207 is under way: all that is left is to cut it
				// short, so that the client does not take a truncated
				// listing for a whole one.
				h.log.ErrorContext(r.Context(), "PROPFIND listing failed midway", "space", res.Space, "path", n.Path, "err", err)
				panic(http.ErrAbortHandler)
			}
		}()
		var ok bool
		if first, ok = <-batches; !ok {
			if err := stop(); err != nil {
				return spaceStatus(err)
			}
		}
	} else if n.IsDir && depth != 0 {
		if children, err = h.tree.Descendants(ctx, res.Space, n.Path); err != nil {
			return spaceStatus(err)
		}
	}
	listing := stream || len(children) > 0
	pw := newPropWriter(nil, req, res.Role, h.now())
	pw.contents = h.contentsFor(r)

	dead, locks, err := h.propfindExtras(ctx, res, n, pw, listing, depth)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	self := propEntry{node: &n, name: n.Name, dead: dead[n.ID], path: n.Path, locks: locks}
	wantSize := pw.want[lpOCSize] && n.IsDir
	if status, err := h.propfindSizes(r, res, n, pw, &self, wantSize); status != 0 {
		return status, err
	}
	var dirSizes map[string]int64
	if wantSize && listing {
		if dirSizes, err = h.listedDirSizes(ctx, res, n, depth, children); err != nil {
			return http.StatusInternalServerError, err
		}
	}

	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	writing = true
	m := newMSWriter(w)
	pw.m = m
	m.open()
	pw.response(&self, func() {
		m.raw("<D:href>")
		m.hrefText(res.href(res.Space, n.Path, n.IsDir))
		m.raw("</D:href>")
	})
	prefix := res.href(res.Space, n.Path, true)
	for b := first; b != nil; b = <-batches {
		pw.prefetch(b)
		for i := range b {
			c := &b[i]
			e := propEntry{node: c, name: c.Name, dead: dead[c.ID], path: c.Path, locks: locks}
			if c.IsDir && dirSizes != nil {
				e.size, e.hasSize = dirSizes[c.Path], true
			}
			pw.response(&e, func() { m.href(prefix, c.Name, c.IsDir) })
		}
	}
	pw.prefetch(children)
	for i := range children {
		c := &children[i]
		e := propEntry{node: c, name: c.Name, dead: dead[c.ID], path: c.Path, locks: locks}
		if c.IsDir && dirSizes != nil {
			e.size, e.hasSize = dirSizes[c.Path], true
		}
		if depth == 1 {
			pw.response(&e, func() { m.href(prefix, c.Name, c.IsDir) })
		} else {
			pw.response(&e, func() {
				m.raw("<D:href>")
				m.hrefText(res.href(res.Space, c.Path, c.IsDir))
				m.raw("</D:href>")
			})
		}
	}
	if err := m.close(); err != nil {
		h.log.DebugContext(r.Context(), "writing PROPFIND response", "err", err)
	}
	return 0, nil
}

// propfindExtras reads what the properties asked for need beyond the
// nodes: the dead properties of the node (and of its listing) and the
// locks that cover it or lie below it.
func (h *Handler) propfindExtras(ctx context.Context, res resource, n store.Node, pw *propWriter, listing bool, depth int) (dead map[int64][]store.Prop, locks *lockIndex, err error) {
	if pw.needsDead() {
		switch {
		case !listing:
			var ps []store.Prop
			ps, err = h.db.Props(ctx, n.ID)
			dead = map[int64][]store.Prop{n.ID: ps}
		case depth == 1:
			dead, err = h.db.ListingProps(ctx, n.ID)
		default:
			dead, err = h.db.SubtreeProps(ctx, res.Space, n.Path)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if pw.want[lpLockDiscovery] {
		var ls []Lock
		if listing {
			ls, err = h.locks.Under(ctx, res.Space, n.Path)
		} else {
			ls, err = h.locks.Covering(ctx, res.Space, n.Path)
		}
		if err != nil {
			return nil, nil, err
		}
		locks = newLockIndex(ls)
	}
	return dead, locks, nil
}

// propfindSizes fills in what the space says of the node: the space's name
// and size for its root, the quota properties, and the folder's size when
// oc:size is asked for (wantSize). A status of 0 means it went well.
func (h *Handler) propfindSizes(r *http.Request, res resource, n store.Node, pw *propWriter, self *propEntry, wantSize bool) (int, error) {
	ctx := r.Context()
	if n.Path == "" || n.IsDir && (pw.want[lpQuotaAvailable] || pw.want[lpQuotaUsed] || wantSize) {
		sp, err := h.tree.Space(ctx, res.Space)
		if err != nil {
			return spaceStatus(err)
		}
		if n.Path == "" {
			self.name = sp.Name
			self.size, self.hasSize = sp.UsedBytes, true
		}
		pw.quota.ok, pw.quota.used = true, sp.UsedBytes
		if sp.QuotaBytes > 0 {
			pw.quota.available = max(sp.QuotaBytes-sp.UsedBytes, 0)
		} else if pw.want[lpQuotaAvailable] {
			free, err := diskFree(h.tree.FilesDir())
			if err != nil {
				h.log.WarnContext(ctx, "cannot read free disk space for quota-available-bytes", "err", err)
				pw.quota.availableMissing = true
			}
			pw.quota.available = free
		}
	}
	if wantSize && !self.hasSize {
		size, err := h.db.SubtreeBytes(ctx, res.Space, n.Path)
		if err != nil {
			return http.StatusInternalServerError, err
		}
		self.size, self.hasSize = size, true
	}
	return 0, nil
}

// listedDirSizes are the sizes of the folders a listing shows, by path: in
// one query for a Depth 1 listing, added up from the files listed for
// Depth infinity.
func (h *Handler) listedDirSizes(ctx context.Context, res resource, n store.Node, depth int, children []store.Node) (map[string]int64, error) {
	dirSizes := map[string]int64{}
	if depth == 1 {
		byName, err := h.db.ChildDirBytes(ctx, res.Space, n.Path)
		if err != nil {
			return nil, err
		}
		prefix := ""
		if n.Path != "" {
			prefix = n.Path + "/"
		}
		for name, size := range byName {
			dirSizes[prefix+name] = size
		}
		return dirSizes, nil
	}
	for i := range children {
		c := &children[i]
		for dir := c.Path; !c.IsDir && dir != n.Path; {
			dir, _, _ = cutLast(dir)
			dirSizes[dir] += c.Size
		}
	}
	return dirSizes, nil
}

// streamChildren reads dir's children in a goroutine, in batches, so that
// writing a long listing overlaps with reading it (two cores, two halves of
// the work). stop cancels the reading, waits for the goroutine and returns
// its error; it may be called more than once.
func (h *Handler) streamChildren(ctx context.Context, dir store.Node) (batches <-chan []store.Node, stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan []store.Node, 4)
	done := make(chan error, 1)
	go func() {
		defer close(c)
		done <- h.tree.ListBatches(ctx, dir, 512, func(b []store.Node) error {
			select {
			case c <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var err error
	var once sync.Once
	return c, func() error {
		once.Do(func() {
			cancel()
			for range c {
			}
			err = <-done
			if errors.Is(err, context.Canceled) {
				err = nil
			}
		})
		return err
	}
}

// propfindVirtual answers for /dav/ (which holds spaces/) and /dav/spaces/
// (which holds the caller's spaces): collections with live properties only.
func (h *Handler) propfindVirtual(w http.ResponseWriter, r *http.Request, res resource, req propfindRequest, depth int) (int, error) {
	type virtualEntry struct {
		href, name string
		created    time.Time
	}
	var entries []virtualEntry
	if res.Path == "" {
		entries = append(entries, virtualEntry{href: Prefix, name: "dav"})
		if depth != 0 {
			entries = append(entries, virtualEntry{href: SpacesPrefix, name: "spaces"})
		}
	} else {
		entries = append(entries, virtualEntry{href: SpacesPrefix, name: "spaces"})
		if depth != 0 {
			ctx := r.Context()
			roles, err := h.auth.SpaceRoles(ctx, auth.FromContext(ctx))
			if err != nil {
				return http.StatusInternalServerError, err
			}
			spaces, err := h.tree.Spaces(ctx)
			if err != nil {
				return http.StatusInternalServerError, err
			}
			for _, s := range spaces {
				if _, ok := roles[s.ID]; ok {
					entries = append(entries, virtualEntry{href: href(s.ID, "", true), name: s.Name, created: s.CreatedAt})
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	m := newMSWriter(w)
	pw := newPropWriter(m, req, auth.Viewer, h.now())
	m.open()
	for _, v := range entries {
		e := propEntry{name: v.name, created: v.created}
		pw.response(&e, func() {
			m.raw("<D:href>")
			m.hrefText(v.href)
			m.raw("</D:href>")
		})
	}
	if err := m.close(); err != nil {
		h.log.DebugContext(r.Context(), "writing PROPFIND response", "err", err)
	}
	return 0, nil
}

// checksumRE finds the "ALGO:hex" fields of an oc:checksums value.
var checksumRE = regexp.MustCompile(`(?i)\b(sha1|sha256|md5|adler32):([0-9a-f]+)`)

// checksumsAgree reports whether the SHA-1 and SHA-256 that value names
// (others cannot be checked) are n's.
func checksumsAgree(value string, n store.Node) bool {
	for _, m := range checksumRE.FindAllStringSubmatch(value, -1) {
		var have string
		switch strings.ToLower(m[1]) {
		case "sha1":
			have = n.SHA1
		case "sha256":
			have = n.SHA256
		}
		if have != "" && !strings.EqualFold(have, m[2]) {
			return false
		}
	}
	return true
}

// davLastModified is the property through which ownCloud's WebDAV sets a
// file's mtime, in Unix seconds.
var davLastModified = xml.Name{Space: nsDAV, Local: "lastmodified"}

// errPropLimit: a PROPPATCH would leave a resource with too many or too
// large dead properties.
var errPropLimit = errors.New("too many dead properties")

// handleProppatch sets and removes dead properties, all or nothing, and
// answers 207 with one propstat per status. Live properties are protected
// (403 cannot-modify-protected-property, the others 424). Windows'
// Win32* properties are stored like any other, and Win32LastModifiedTime
// also sets the mtime.
func (h *Handler) handleProppatch(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	ctx := r.Context()
	if status, err := h.precondition(r, lockTarget{Space: res.Space, Path: res.Path}); status != 0 {
		return status, err
	}
	body, status, err := readXMLBody(r)
	if status != 0 {
		return status, err
	}
	ops, err := parseProppatch(body)
	if err != nil {
		return http.StatusBadRequest, clientError(err.Error())
	}
	n, err := h.tree.Stat(ctx, res.Space, res.Path)
	if err != nil {
		return spaceStatus(err)
	}

	statuses := make([]int, len(ops))
	failed := false
	var mtime time.Time
	setMTime := false
	for i, op := range ops {
		statuses[i] = http.StatusOK
		if lp, live := lookupLive(op.Name); live {
			if lp == lpOCChecksums && !op.Remove {
				// rclone's owncloud vendor sends the file's checksums
				// along with its time: what Wharf computed itself stands,
				// and agreeing with it is not an error.
				if !checksumsAgree(op.Value, n) {
					statuses[i], failed = http.StatusConflict, true
				}
				continue
			}
			statuses[i], failed = http.StatusForbidden, true
			continue
		}
		if op.Name == (xml.Name{Space: nsMS, Local: "Win32LastModifiedTime"}) {
			if op.Remove {
				continue // the mtime stays as it is
			}
			t, err := http.ParseTime(strings.TrimSpace(op.Value))
			if err != nil {
				statuses[i], failed = http.StatusConflict, true
				continue
			}
			mtime, setMTime = t, true
		}
		if op.Name == davLastModified {
			// rclone's owncloud vendor (touch, and sync of times) sends
			// Unix seconds here and expects the file's mtime to change.
			if op.Remove {
				continue
			}
			t, err := parseUnixTime(op.Value)
			if err != nil {
				t, err = http.ParseTime(strings.TrimSpace(op.Value))
			}
			if err != nil {
				statuses[i], failed = http.StatusConflict, true
				continue
			}
			mtime, setMTime = t, true
		}
	}
	if !failed {
		status, err := h.applyProppatch(ctx, res, n, ops, setMTime, mtime)
		switch {
		case errors.Is(err, errPropLimit):
			for i := range statuses {
				statuses[i] = http.StatusInsufficientStorage
			}
		case status != 0:
			return status, err
		}
	} else {
		for i, s := range statuses {
			if s == http.StatusOK {
				statuses[i] = http.StatusFailedDependency
			}
		}
	}

	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	m := newMSWriter(w)
	m.open()
	m.raw("<D:response><D:href>")
	m.hrefText(res.href(res.Space, n.Path, n.IsDir))
	m.raw("</D:href>")
	done := make([]bool, len(ops))
	for i := range ops {
		if done[i] {
			continue
		}
		code := statuses[i]
		m.raw("<D:propstat><D:prop>")
		var seen []xml.Name
		for j := i; j < len(ops); j++ {
			if statuses[j] == code && !done[j] {
				done[j] = true
				if !containsName(seen, ops[j].Name) {
					seen = append(seen, ops[j].Name)
					m.name(ops[j].Name, "", true)
				}
			}
		}
		m.raw("</D:prop>")
		m.status(code)
		if code == http.StatusForbidden {
			m.raw("<D:error><D:cannot-modify-protected-property/></D:error>")
		}
		m.raw("</D:propstat>")
	}
	m.raw("</D:response>")
	if err := m.close(); err != nil {
		h.log.DebugContext(r.Context(), "writing PROPPATCH response", "err", err)
	}
	return 0, nil
}

// applyProppatch sets the mtime if asked, then applies ops in one
// transaction; if that fails, the mtime is put back.
func (h *Handler) applyProppatch(ctx context.Context, res resource, n store.Node, ops []propOp, setMTime bool, mtime time.Time) (int, error) {
	if setMTime {
		if _, err := h.tree.SetMTime(ctx, res.Space, n.Path, mtime); err != nil {
			return spaceStatus(err)
		}
	}
	changes := make([]store.PropChange, 0, len(ops))
	for _, op := range ops {
		if op.Name == davLastModified || op.Name == liveNames[lpOCChecksums] {
			continue // the mtime itself, or checksums checked above: not properties to keep
		}
		changes = append(changes, store.PropChange{
			Prop:   store.Prop{NS: op.Name.Space, Name: op.Name.Local, Lang: op.Lang, XML: op.Value},
			Remove: op.Remove,
		})
	}
	err := h.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PatchProps(ctx, n.ID, changes); err != nil {
			return err
		}
		count, size, err := tx.PropUsage(ctx, n.ID)
		if err != nil {
			return err
		}
		if count > maxDeadProps || size > maxDeadPropBytes {
			return errPropLimit
		}
		return nil
	})
	if err == nil {
		return 0, nil
	}
	if setMTime {
		if _, uerr := h.tree.SetMTime(ctx, res.Space, n.Path, n.MTime); uerr != nil {
			h.log.ErrorContext(ctx, "cannot restore the mtime after a failed PROPPATCH", "space", res.Space, "path", n.Path, "err", uerr)
		}
	}
	switch {
	case errors.Is(err, errPropLimit):
		return http.StatusInsufficientStorage, err
	case errors.Is(err, store.ErrNotFound):
		return spaceStatus(space.ErrNotFound)
	case store.IsFull(err):
		return spaceStatus(space.ErrNoSpace)
	}
	return http.StatusInternalServerError, err
}
