package tus

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/space"
)

// FuzzUploadMetadata parses an Upload-Metadata header as a creation does
// (tusd's parser, then Handler.target for a plain and an oCIS-style
// creation), and checks that it never panics, that tusd's parse survives a
// round trip, and that a destination is either refused with 400 or is a
// cleaned, non-empty path of the named space. Seeds:
// testdata/fuzz/FuzzUploadMetadata.
func FuzzUploadMetadata(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"space " + b64("files") + ",path " + b64("videos/holiday.mov"),
		"space " + b64("files") + ",dir " + b64("a/b/") + ",filename " + b64("c.jpg"),
		"filename " + b64("report.pdf") + ",filetype " + b64("application/pdf"),
		"space " + b64("s") + ",path " + b64("../../etc/passwd"),
		"space " + b64("s") + ",path " + b64("a\\..\\b"),
		"space " + b64("s") + ",path " + b64("a\x00b"),
		"space " + b64("s") + ",path " + b64("/"),
		"space " + b64("s") + ",dir " + b64("..") + ",filename " + b64("x"),
		"space " + b64("s") + ",filename " + b64("a/../../b"),
		"space " + b64("s") + ",path " + b64("C:/boot.ini"),
		"space " + b64("s") + ",path " + b64(strings.Repeat("n", 300)),
		"space " + b64("s") + ",path " + b64("u\u0308ber.txt") + ",checksum " + b64("sha1 aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
		"space,path", "space ====,path !!", "path " + b64("a") + ",path " + b64("b"), " , ,", "is_confidential",
	} {
		f.Add(s, "", false)
	}
	f.Add("filename "+b64("x.txt"), "dir/sub", true)
	f.Add("filename "+b64("../x.txt"), "", true)
	f.Add("filename "+b64("x"), "../..", true)
	h := &Handler{}
	f.Fuzz(func(t *testing.T, header, davDir string, ocis bool) {
		meta := handler.ParseMetadataHeader(header)
		again := handler.ParseMetadataHeader(handler.SerializeMetadataHeader(meta))
		if len(again) != len(meta) {
			t.Fatalf("round trip of %q: %q became %q", header, meta, again)
		}
		for k, v := range meta {
			if again[k] != v {
				t.Fatalf("round trip of %q: %q became %q", header, meta, again)
			}
		}
		rq := &request{}
		wantSpace := meta["space"]
		if ocis {
			rq.dav, wantSpace = &davTarget{space: "s", dir: davDir}, "s"
		} else if wantSpace == "" {
			// Without a space, target asks the auth service for the
			// caller's only writable one: not a parser's business.
			meta["space"], wantSpace = "s", "s"
		}
		sp, p, err := h.target(t.Context(), rq, meta)
		if err != nil {
			var he handler.Error
			if !errors.As(err, &he) || he.HTTPResponse.StatusCode != http.StatusBadRequest {
				t.Fatalf("target(%q): %v, want a 400", meta, err)
			}
			return
		}
		if sp != wantSpace {
			t.Fatalf("target(%q) in space %q, want %q", meta, sp, wantSpace)
		}
		if c, err := space.Clean(p); err != nil || c != p || p == "" {
			t.Fatalf("target(%q) = %q: not a cleaned file path (%q, %v)", meta, p, c, err)
		}
		for _, e := range strings.Split(p, "/") {
			if e == ".." {
				t.Fatalf("target(%q) = %q climbs out", meta, p)
			}
		}
	})
}

// FuzzParseChunkSum: parseChunkSum never panics; nil for "", else a known
// algorithm and a digest of its size, which formats back to the same
// value. Seeds: testdata/fuzz/FuzzParseChunkSum.
func FuzzParseChunkSum(f *testing.F) {
	for _, s := range []string{
		"", "sha256 LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", "sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=",
		"md5 XUFAKrxLKna5cZ2REBfFkg==", "SHA1 qvTGHdzF6KLavt4PO0gs2a6pQ00=", "sha1  qvTGHdzF6KLavt4PO0gs2a6pQ00= ",
		"sha1 aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "sha512 AAAA", "sha1", "sha1 ", " sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00",
		"crc32 AAAAAA==", "sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		cs, err := parseChunkSum(v)
		if err != nil {
			if cs != nil {
				t.Fatalf("parseChunkSum(%q): %+v with error %v", v, cs, err)
			}
			return
		}
		if v == "" {
			if cs != nil {
				t.Fatalf(`parseChunkSum(""): %+v`, cs)
			}
			return
		}
		if cs == nil {
			t.Fatalf("parseChunkSum(%q): nil without an error", v)
		}
		n, ok := digestSizes[cs.algo]
		if !ok || len(cs.sum) != n {
			t.Fatalf("parseChunkSum(%q): algorithm %q with %d bytes", v, cs.algo, len(cs.sum))
		}
		back, err := parseChunkSum(cs.algo + " " + base64.StdEncoding.EncodeToString(cs.sum))
		if err != nil || back.algo != cs.algo || !bytes.Equal(back.sum, cs.sum) {
			t.Fatalf("parseChunkSum(%q) = %+v does not survive a round trip: %+v, %v", v, cs, back, err)
		}
	})
}

// FuzzParseWholeSum: parseWholeSum (metadata "checksum", OC-Checksum)
// never panics, and what it accepts is space-separated "algo:hex" with a
// known algorithm and a digest of its size, which parseExpect reads back.
// Seeds: testdata/fuzz/FuzzParseWholeSum.
func FuzzParseWholeSum(f *testing.F) {
	for _, s := range [][2]string{
		{"sha1 aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", ""},
		{"", "SHA1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"},
		{"md5 XUFAKrxLKna5cZ2REBfFkg==", "SHA256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
		{"sha1:zz", ""}, {"sha256", ""}, {"adler32 1234", ""}, {"sha1 :", " MD5 : 5d41402abc4b2a76b9719d911017c592 "},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, meta, oc string) {
		out, err := parseWholeSum(meta, oc)
		if err != nil {
			return
		}
		fields := strings.Fields(out)
		if strings.Join(fields, " ") != out {
			t.Fatalf("parseWholeSum(%q, %q) = %q: not single-spaced fields", meta, oc, out)
		}
		exp := parseExpect(out)
		if len(exp) != len(fields) {
			t.Fatalf("parseExpect(%q) = %+v", out, exp)
		}
		for _, c := range exp {
			n, ok := digestSizes[c.Algo]
			b, err := hex.DecodeString(c.Hex)
			if !ok || err != nil || len(b) != n || c.Hex != strings.ToLower(c.Hex) {
				t.Fatalf("parseWholeSum(%q, %q) = %q: bad checksum %+v", meta, oc, out, c)
			}
		}
	})
}
