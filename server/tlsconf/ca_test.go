package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCACreatedOnceWithPrivateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := LoadOrCreateCA(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate()
	if !c.IsCA || c.PublicKeyAlgorithm != x509.ECDSA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("root: IsCA %v, key %v, usage %v: want an ECDSA CA that signs certificates", c.IsCA, c.PublicKeyAlgorithm, c.KeyUsage)
	}
	if !c.NotAfter.After(t0.Add(10 * 365 * 24 * time.Hour)) {
		t.Errorf("root expires %v: clients trust it by hand, it must last years", c.NotAfter)
	}
	if runtime.GOOS != "windows" {
		if m := mode(t, filepath.Join(dir, caKeyFile)); m != 0o600 {
			t.Errorf("CA key mode %v, want 0600", m)
		}
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("CA dir mode %v, want 0700", m)
		}
	}
	again, err := LoadOrCreateCA(dir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Errorf("second load made a new CA: %s, then %s", ca.Fingerprint(), again.Fingerprint())
	}
	if len(ca.Fingerprint()) != 32*3-1 {
		t.Errorf("fingerprint %q: want 32 colon-separated bytes", ca.Fingerprint())
	}
	block, _ := pem.Decode(ca.PEM())
	if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, c.Raw) {
		t.Errorf("PEM does not hold the CA certificate:\n%s", ca.PEM())
	}
}

// Two processes starting at once (wharf serve and wharf ca export) must
// not end up with two CAs, or the one exported is not the one serving.
func TestCAConcurrentCreateAgrees(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	var wg sync.WaitGroup
	fps := make([]string, 4)
	for i := range fps {
		wg.Go(func() {
			ca, err := LoadOrCreateCA(dir, t0)
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = ca.Fingerprint()
		})
	}
	wg.Wait()
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, fp := range fps {
		if fp != ca.Fingerprint() {
			t.Errorf("creator %d got CA %s, the one on disk is %s", i, fp, ca.Fingerprint())
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".ca-*"))
	if len(left) > 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}
}

func TestIssueVerifiesForNamesAndIPs(t *testing.T) {
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "ca"), t0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"files.example.org", "localhost"}, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	for _, name := range []string{"files.example.org", "localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: t0}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "other.example.org", Roots: roots, CurrentTime: t0}); err == nil {
		t.Error("certificate verifies for a name it was not issued for")
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", CurrentTime: t0}); err == nil {
		t.Error("certificate verifies without trusting the local CA")
	}
	if got := leaf.Leaf.NotAfter.Sub(t0); got != LeafValidity {
		t.Errorf("leaf valid for %v, want %v", got, LeafValidity)
	}
	if !slices.Equal(leaf.Leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || leaf.Leaf.IsCA {
		t.Errorf("leaf usage %v, IsCA %v: want a server certificate only", leaf.Leaf.ExtKeyUsage, leaf.Leaf.IsCA)
	}
	if _, err := ca.Issue(nil, nil, t0); err == nil {
		t.Error("Issue without names succeeded")
	}
}

func TestNeedsRenewal(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca"), t0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateCA(filepath.Join(dir, "other"), t0)
	if err != nil {
		t.Fatal(err)
	}
	names, ips := []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
	leaf, err := ca.Issue(names, ips, t0)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue(names, ips, t0)
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		name  string
		leaf  *tls.Certificate
		names []string
		ips   []net.IP
		now   time.Time
		want  string
	}{
		{"fresh", leaf, names, ips, t0, ""},
		{"11 days left", leaf, names, ips, t0.Add(19 * day), ""},
		{"exactly 10 days left", leaf, names, ips, t0.Add(20 * day), ""},
		{"9 days left", leaf, names, ips, t0.Add(21 * day), "expires soon"},
		{"expired", leaf, names, ips, t0.Add(31 * day), "expires soon"},
		{"none", nil, names, ips, t0, "none yet"},
		{"other CA", foreign, names, ips, t0, "not signed by the local CA"},
		{"new name", leaf, []string{"localhost", "nas"}, ips, t0, "names changed"},
		{"new address", leaf, names, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("192.0.2.7")}, t0, "names changed"},
		{"fewer names", leaf, nil, nil, t0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ca.needsRenewal(tc.leaf, tc.names, tc.ips, tc.now); got != tc.want {
				t.Errorf("needsRenewal = %q, want %q", got, tc.want)
			}
		})
	}
}

// newInternal keeps the leaf across restarts while it is valid, and its
// maintenance replaces it once fewer than 10 days remain.
func TestInternalKeepsAndRenewsLeaf(t *testing.T) {
	dir := t.TempDir()
	now := t0
	cfg := Config{Mode: Internal, Dir: dir, Domains: []string{"wharf.lan"}, Logger: quietLog(), Now: func() time.Time { return now }}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	in, err := newInternal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := in.current().Leaf
	leafPath := filepath.Join(dir, "local", leafFile)
	if runtime.GOOS != "windows" {
		if m := mode(t, leafPath); m != 0o600 {
			t.Errorf("leaf file (with its key) mode %v, want 0600", m)
		}
	}
	for _, want := range []string{"wharf.lan", "localhost"} {
		if !slices.Contains(first.DNSNames, want) {
			t.Errorf("leaf names %v: missing %s", first.DNSNames, want)
		}
	}
	for _, want := range []string{"127.0.0.1", "::1"} {
		if !slices.ContainsFunc(first.IPAddresses, net.ParseIP(want).Equal) {
			t.Errorf("leaf addresses %v: missing %s", first.IPAddresses, want)
		}
	}
	hello := &tls.ClientHelloInfo{ServerName: "localhost"}
	if got, _ := in.getCertificate(hello); got.Leaf != first {
		t.Error("handshake does not get the current leaf")
	}

	now = t0.Add(5 * 24 * time.Hour) // restart five days later
	in, err = newInternal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !in.current().Leaf.Equal(first) {
		t.Error("restart reissued a leaf that had 25 days left")
	}

	now = t0.Add(21 * 24 * time.Hour) // the daily check, 9 days before expiry
	if err := in.renew(); err != nil {
		t.Fatal(err)
	}
	renewed := in.current().Leaf
	if renewed.Equal(first) {
		t.Fatal("leaf with 9 days left was not renewed")
	}
	if got := renewed.NotAfter.Sub(now); got != LeafValidity {
		t.Errorf("renewed leaf valid for %v from now, want %v", got, LeafValidity)
	}
	kept, err := loadLeaf(leafPath)
	if err != nil {
		t.Fatal(err)
	}
	if !kept.Leaf.Equal(renewed) {
		t.Error("renewed leaf was not saved: a restart would serve the old one")
	}
}

func TestInternalReplacesDamagedLeaf(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "local"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "local", leafFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mode: Internal, Dir: dir, Logger: quietLog()}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	in, err := newInternal(&cfg)
	if err != nil {
		t.Fatalf("a damaged leaf file stopped the server: %v", err)
	}
	if in.current() == nil {
		t.Fatal("no certificate after replacing the damaged one")
	}
}

func TestCertNames(t *testing.T) {
	names, ips := certNames([]string{"Files.Example.org.", "192.0.2.9", "files.example.org"}, "0.0.0.0")
	if names[0] != "files.example.org" {
		t.Errorf("names %v: the configured domain comes first (it is the subject), normalized", names)
	}
	if n := slices.Index(names, "files.example.org"); slices.Index(names[n+1:], "files.example.org") >= 0 {
		t.Errorf("names %v: duplicate", names)
	}
	if !slices.Contains(names, "localhost") {
		t.Errorf("names %v: missing localhost", names)
	}
	for _, want := range []string{"192.0.2.9", "127.0.0.1", "::1"} {
		if !slices.ContainsFunc(ips, net.ParseIP(want).Equal) {
			t.Errorf("ips %v: missing %s", ips, want)
		}
	}
	for _, ip := range ips {
		if ip.IsUnspecified() || ip.IsLinkLocalUnicast() {
			t.Errorf("ips %v: %s cannot be in a URL a client uses", ips, ip)
		}
	}
}
