package server

import (
	"testing"

	"github.com/wharfhq/wharf/server/tlsconf"
)

func TestTLSModeDefault(t *testing.T) {
	for _, tc := range []struct {
		tls, listen string
		want        tlsconf.Mode
	}{
		{"", "127.0.0.1:8080", tlsconf.Off},
		{"", "[::1]:8080", tlsconf.Off},
		{"", "localhost:8080", tlsconf.Off},
		{"", ":8080", tlsconf.Internal},
		{"", "0.0.0.0:443", tlsconf.Internal},
		{"", "192.0.2.10:8443", tlsconf.Internal},
		{"off", "0.0.0.0:8080", tlsconf.Off},
		{"internal", "127.0.0.1:8443", tlsconf.Internal},
		{"acme", ":443", tlsconf.ACME},
	} {
		t.Run(tc.tls+"@"+tc.listen, func(t *testing.T) {
			got, err := tlsMode(&Config{TLS: tc.tls, Listen: tc.listen})
			if err != nil || got != tc.want {
				t.Errorf("tlsMode = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := tlsMode(&Config{TLS: "on", Listen: ":8080"}); err == nil {
		t.Error(`--tls on accepted`)
	}
}
