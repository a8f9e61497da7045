package dav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"testing"
)

// wellFormed reports whether a property value (or lock owner) as stored
// stands alone: wrapped in an element it is well-formed XML. Values are
// replayed inside PROPFIND answers, so one that is not would corrupt them.
func wellFormed(v string) error {
	d := xml.NewDecoder(bytes.NewReader([]byte("<v>" + v + "</v>")))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// FuzzParsePropfind: parsePropfind never panics, refuses only with
// errBadXML, and what it accepts is one kind, with at most
// maxPropsPerRequest named properties, none repeated or nameless.
// Seeds: testdata/fuzz/FuzzParsePropfind.
func FuzzParsePropfind(f *testing.F) {
	for _, s := range []string{
		``,
		`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
		`<propfind xmlns="DAV:"><prop><getetag/><displayname/><getetag/></prop></propfind>`,
		`<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><oc:checksums/><oc:fileid/></D:prop></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:quota-used-bytes/></D:include></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:propname/><D:allprop/></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:prop><x:a xmlns:x=""/></D:prop></D:propfind>`,
		`<!DOCTYPE propfind [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><propfind xmlns="DAV:"><prop>&b;</prop></propfind>`,
		`<propfind xmlns="DAV:"><prop><a xmlns="urn:x"><b><c><d/></c></b></a></prop></propfind>`,
		`<propfind xmlns="DAV:">`,
		`<D:propfind xmlns:D="DAV:"><D:prop><X:y/></D:prop></D:propfind>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pf, err := parsePropfind(body)
		if err != nil {
			if !errors.Is(err, errBadXML) {
				t.Fatalf("error %v does not wrap errBadXML", err)
			}
			return
		}
		switch pf.Kind {
		case findAllProp, findProp:
		case findPropName:
			if len(pf.Names) != 0 {
				t.Fatalf("propname with names %v", pf.Names)
			}
		default:
			t.Fatalf("kind %d", pf.Kind)
		}
		if len(pf.Names) > maxPropsPerRequest {
			t.Fatalf("%d names, more than %d", len(pf.Names), maxPropsPerRequest)
		}
		seen := map[xml.Name]bool{}
		for _, n := range pf.Names {
			if n.Local == "" || seen[n] {
				t.Fatalf("name %+v empty or repeated in %v", n, pf.Names)
			}
			seen[n] = true
		}
	})
}

// FuzzParseProppatch: parseProppatch never panics, refuses only with
// errBadXML, and what it accepts is 1 to maxPropsPerRequest operations on
// named properties, removals without a value and values that are
// well-formed on their own. Seeds: testdata/fuzz/FuzzParseProppatch.
func FuzzParseProppatch(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:W="urn:example:wharf"><D:set><D:prop><W:reviewer>Ada &amp; Grace</W:reviewer></D:prop></D:set></D:propertyupdate>`,
		`<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Wed, 04 Jan 2023 10:00:00 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><remove><prop><foo xmlns="urn:x"/></prop></remove></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:x" xml:lang="fr"><b xmlns="">t</b><c:d xmlns:c="urn:c" c:e="1&lt;2"/></a></prop></set></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:x"><![CDATA[<not/> markup]]></a></prop></set><remove><prop><a xmlns="urn:x"/></prop></remove></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop/></set></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:x">&#0;</a></prop></set></propertyupdate>`,
		`<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:x">&xxe;</a></prop></set></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:x"><?pi x?><!-- c --></a></prop></set></propertyupdate>`,
		`<propertyupdate xmlns="DAV:"><set><prop><p:a xmlns:p="urn:p" xmlns:q="urn:q"><q:b p:c="&quot;"/></p:a></prop></set></propertyupdate>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := parseProppatch(body)
		if err != nil {
			if !errors.Is(err, errBadXML) {
				t.Fatalf("error %v does not wrap errBadXML", err)
			}
			return
		}
		if len(ops) == 0 || len(ops) > maxPropsPerRequest {
			t.Fatalf("%d operations accepted", len(ops))
		}
		for _, op := range ops {
			if op.Name.Local == "" {
				t.Fatalf("operation on a nameless property: %+v", op)
			}
			if op.Remove && op.Value != "" {
				t.Fatalf("removal with a value: %+v", op)
			}
			if err := wellFormed(op.Value); err != nil {
				t.Fatalf("value %q of %v is not well-formed on its own: %v", op.Value, op.Name, err)
			}
		}
	})
}

// FuzzReadLockInfo: readLockInfo never panics; it answers a refresh (nil,
// 0, nil), a lock (non-nil, 0, nil) with an owner that is well-formed on its
// own, or an error with 400 or 413. Seeds: testdata/fuzz/FuzzReadLockInfo.
func FuzzReadLockInfo(f *testing.F) {
	for _, s := range []string{
		``,
		"  \n",
		`<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>me</D:href></D:owner></D:lockinfo>`,
		`<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><write/></locktype></lockinfo>`,
		`<lockinfo xmlns="DAV:"><lockscope><shared/><exclusive/></lockscope><locktype><write/></locktype></lockinfo>`,
		`<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><read/></locktype></lockinfo>`,
		`<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype><owner xmlns:x="urn:x"><x:name a="b">Ada</x:name> text</owner></lockinfo>`,
		`<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>Office &lt;user&gt;</D:owner></D:lockinfo>`,
		`<lockinfo xmlns="DAV:"><lockscope>`,
		`<!DOCTYPE l [<!ENTITY e "eeeeeeeeee">]><lockinfo xmlns="DAV:"><owner>&e;&e;</owner></lockinfo>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		li, status, err := readLockInfo(bytes.NewReader(body))
		switch {
		case err != nil:
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge || li != nil {
				t.Fatalf("refusal %d with %+v: %v", status, li, err)
			}
		case status != 0:
			t.Fatalf("status %d without an error", status)
		case li == nil:
			if len(bytes.TrimSpace(body)) != 0 {
				t.Fatalf("a non-empty body read as a refresh")
			}
		default:
			if err := wellFormed(li.Owner); err != nil {
				t.Fatalf("owner %q is not well-formed on its own: %v", li.Owner, err)
			}
		}
	})
}
