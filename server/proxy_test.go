package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		xff        []string
		want       string // "": the peer's own address
	}{
		{"untrusted peer", "198.51.100.1:4000", []string{"203.0.113.9"}, ""},
		{"trusted peer, no header", "10.1.2.3:4000", nil, ""},
		{"one hop", "10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9:0"},
		{"the right-most untrusted", "10.1.2.3:4000", []string{"6.6.6.6, 203.0.113.9, 10.9.9.9"}, "203.0.113.9:0"},
		{"several headers", "192.0.2.1:1", []string{"6.6.6.6", "203.0.113.9", "10.9.9.9"}, "203.0.113.9:0"},
		{"a client's forged entry is left of the real one", "10.1.2.3:4000", []string{"10.0.0.1, 203.0.113.9"}, "203.0.113.9:0"},
		{"only proxies: the left-most", "10.1.2.3:4000", []string{"10.0.0.7, 10.0.0.8"}, "10.0.0.7:0"},
		{"garbage stops at the last proxy", "10.1.2.3:4000", []string{"203.0.113.9, nonsense, 10.0.0.8"}, "10.0.0.8:0"},
		{"garbage right away", "10.1.2.3:4000", []string{"nonsense"}, ""},
		{"IPv6 with brackets and port", "[fd00::1]:443", []string{"[2001:db8::5]:1234"}, "[2001:db8::5]:0"},
		{"IPv6 bare", "[fd00::1]:443", []string{"2001:db8::5"}, "[2001:db8::5]:0"},
		{"IPv4 with port", "10.1.2.3:4000", []string{"203.0.113.9:5555"}, "203.0.113.9:0"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.9"}, "203.0.113.9:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := forwardedClient(tt.peer, tt.xff, trusted)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("forwardedClient(%q, %q) = %q, %v; want %q", tt.peer, tt.xff, got, ok, tt.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"127.0.0.1", "10.1.2.3/8", "::1", ""})
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseTrustedProxies = %v, %v; want %v", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"proxy.example", "10.0.0.0/33", "fe80::1%eth0", "::ffff:10.0.0.1"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWithClientAddr(t *testing.T) {
	var seen string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })
	for _, tt := range []struct {
		trusted []netip.Prefix
		want    string
	}{
		{nil, "127.0.0.1:5000"},
		{[]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "203.0.113.9:0"},
	} {
		a := &app{cfg: Config{TrustedProxies: tt.trusted}}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		a.withClientAddr(h).ServeHTTP(httptest.NewRecorder(), r)
		if seen != tt.want {
			t.Errorf("trusting %v: the handler saw %q, want %q", tt.trusted, seen, tt.want)
		}
		if r.RemoteAddr != "127.0.0.1:5000" {
			t.Errorf("the caller's request was changed: %q", r.RemoteAddr)
		}
	}
}
