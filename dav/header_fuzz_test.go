package dav

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParseDestination: parseDestination never panics; it answers 400 or
// 502 with a client error, or an absolute path that came from a URL on
// this host (or no host), without a query or fragment.
func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{
		"/dav/spaces/files/a.txt", "http://h:1/dav/spaces/files/a%20b", "https://H:1/dav/spaces/f/x",
		"http://evil.example/dav/spaces/files/x", "not a url", "::::", "//h:1/dav/x", "/dav/spaces/files/%2e%2e/x",
		"/a?q=1", "/a#f", "ftp://h:1/a", "http://u:p@h:1/a", "mailto:x@y", "http:", "http:///a", "", "/dav/spaces/files/a%00",
	} {
		f.Add(s, false)
	}
	f.Add("/a", true)
	f.Fuzz(func(t *testing.T, v string, twice bool) {
		vals := []string{v}
		if twice {
			vals = append(vals, v)
		}
		p, status, err := parseDestination(vals, "h:1")
		if status != 0 {
			var ce clientError
			if (status != http.StatusBadRequest && status != http.StatusBadGateway) || !errors.As(err, &ce) || p != "" {
				t.Fatalf("parseDestination(%q) = %q, %d, %v", vals, p, status, err)
			}
			return
		}
		if twice || err != nil || !strings.HasPrefix(p, "/") {
			t.Fatalf("parseDestination(%q) = %q, %d, %v", vals, p, status, err)
		}
		u, perr := url.Parse(v)
		if perr != nil || u.Path != p || u.RawQuery != "" || u.Fragment != "" || (u.Host != "" && !strings.EqualFold(u.Host, "h:1")) {
			t.Fatalf("parseDestination(%q) accepted %q", v, p)
		}
	})
}

// FuzzParseTimeout: parseTimeout never panics and always grants between
// one second and the maximum, whatever the client asks.
func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"", "Infinite", "Second-3600", "Infinite, Second-4100000000", "Second-0", "Second-",
		"Second--1", "Second-99999999999999999999999", "banana", "second-10,Second-20", ",,,", "Second-1e9", "Second- 5"} {
		f.Add(s)
	}
	const most = time.Hour
	f.Fuzz(func(t *testing.T, v string) {
		d := parseTimeout(v, most)
		if d < time.Second || d > most || d%time.Second != 0 {
			t.Fatalf("parseTimeout(%q) = %v, want whole seconds in [1s, %v]", v, d, most)
		}
	})
}

// FuzzParseChecksum: parseChecksum (OC-Checksum) never panics; what it
// accepts names a known algorithm and a lowercase hex digest of its size.
func FuzzParseChecksum(f *testing.F) {
	for _, s := range []string{"SHA256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		"SHA1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d MD5:5d41402abc4b2a76b9719d911017c592", "MD5:zz", "ADLER32:1234",
		"", ":", "SHA1:", "sha1:AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D"} {
		f.Add(s)
	}
	sizes := map[string]int{"MD5": 32, "SHA1": 40, "SHA256": 64}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseChecksum(v)
		if err != nil {
			if c != nil {
				t.Fatalf("parseChecksum(%q): both a checksum and %v", v, err)
			}
			return
		}
		if sizes[c.algo] == 0 || len(c.want) != sizes[c.algo] || strings.Trim(c.want, "0123456789abcdef") != "" {
			t.Fatalf("parseChecksum(%q) = %s %q", v, c.algo, c.want)
		}
		if (c.algo == "MD5") != (c.md5 != nil) {
			t.Fatalf("parseChecksum(%q): MD5 hash missing or extra", v)
		}
	})
}

// FuzzPreferAsync: preferAsync never panics and is true only when a
// preference token is respond-async, case-insensitively.
func FuzzPreferAsync(f *testing.F) {
	for _, s := range []string{"respond-async", "Respond-Async; wait=10", "wait=5, respond-async", ",,;;;===garbage",
		"respond-asyncx", "return=minimal", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Prefer": {v}}}
		got := preferAsync(r)
		if got && !strings.Contains(strings.ToLower(v), "respond-async") {
			t.Fatalf("preferAsync(%q) = true", v)
		}
	})
}
