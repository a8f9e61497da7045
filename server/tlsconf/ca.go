package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	// caValidity is how long the local root is valid. It is generated once
	// and trusted by hand on every client, so it must outlive the machine.
	caValidity = 20 * 365 * 24 * time.Hour
	// LeafValidity is how long a certificate issued by the local CA is valid.
	LeafValidity = 30 * 24 * time.Hour
	// LeafRenewBefore is how much validity a leaf may have left before it is
	// replaced.
	LeafRenewBefore = 10 * 24 * time.Hour

	caCertFile = "root.crt"
	caKeyFile  = "root.key"
)

// CA is Wharf's local certificate authority (--tls internal): an ECDSA P-256
// root generated once under <data>/certs/ca. It is safe for concurrent use:
// it never changes after it is loaded.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// LoadCA reads the CA from dir. It returns an error wrapping fs.ErrNotExist
// when none was generated yet.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load local CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load local CA: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load local CA from %s: %w", dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tlsconf: load local CA from %s: key is %T, want ECDSA", dir, pair.PrivateKey)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load local CA from %s: %w", dir, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("tlsconf: load local CA from %s: %s is not a CA certificate", dir, caCertFile)
	}
	return &CA{cert: cert, key: key, der: pair.Certificate[0]}, nil
}

// LoadOrCreateCA loads the CA from dir, generating it first if dir holds
// none. Two processes racing to create it end up with the same CA: the one
// that loses the rename loads what the winner wrote. dir's parent must
// exist; dir is created with mode 0700 and the key is written 0600.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	ca, err := LoadCA(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".ca-")
	if err != nil {
		return nil, fmt.Errorf("tlsconf: create local CA: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left
	if err := writeNewCA(tmp, now); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Lost a race (dir exists and is not empty): use the winner's.
		if ca, lerr := LoadCA(dir); lerr == nil {
			return ca, nil
		}
		return nil, fmt.Errorf("tlsconf: create local CA: %w", err)
	}
	return LoadCA(dir)
}

func writeNewCA(dir string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tlsconf: create local CA: %w", err)
	}
	host, _ := os.Hostname()
	name := "Wharf local CA"
	if host != "" {
		name += " (" + host + ")"
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Wharf"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tlsconf: create local CA: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsconf: create local CA: %w", err)
	}
	if err := writeFile(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, caCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// Certificate is the CA's certificate, for a client's trust store.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// PEM is the CA certificate in PEM form, what `wharf ca export` prints.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})
}

// Fingerprint is the SHA-256 of the CA certificate, as colon-separated
// upper-case hex: the form Windows, macOS and browsers display.
func (ca *CA) Fingerprint() string {
	sum := sha256.Sum256(ca.der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// Issue makes a server certificate for dnsNames and ips, valid from now for
// LeafValidity, with a fresh P-256 key. The chain holds the leaf only: the
// root is what clients trust and need not be sent.
func (ca *CA) Issue(dnsNames []string, ips []net.IP, now time.Time) (*tls.Certificate, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, errors.New("tlsconf: issue certificate: no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: issue certificate: %w", err)
	}
	cn := ""
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	} else {
		cn = ips[0].String()
	}
	notAfter := now.Add(LeafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Wharf"}},
		NotBefore:             now.Add(-time.Hour), // some clocks are behind
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: issue certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: issue certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// leafFile is where the current leaf is kept between runs, certificate and
// key in one 0600 file so that they are replaced together.
const leafFile = "wharf.pem"

// loadLeaf reads the leaf kept in path. A missing file is not an error: it
// returns nil.
func loadLeaf(path string) (*tls.Certificate, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load certificate %s: %w", path, err)
	}
	return &pair, nil // X509KeyPair fills Leaf
}

// saveLeaf writes cert and its key to path (mode 0600), atomically.
func saveLeaf(path string, cert *tls.Certificate) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("tlsconf: save certificate: %w", err)
	}
	var b []byte
	for _, der := range cert.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	return writeFile(path, b, 0o600)
}

// needsRenewal says why leaf must be replaced by one for names and ips
// signed by ca, or "" when it may stay.
func (ca *CA) needsRenewal(leaf *tls.Certificate, names []string, ips []net.IP, now time.Time) string {
	switch {
	case leaf == nil || leaf.Leaf == nil:
		return "none yet"
	case leaf.Leaf.CheckSignatureFrom(ca.cert) != nil:
		return "not signed by the local CA"
	case leaf.Leaf.NotAfter.Sub(now) < LeafRenewBefore:
		return "expires soon"
	case !coversAll(leaf.Leaf, names, ips):
		return "names changed"
	}
	return ""
}

func coversAll(c *x509.Certificate, names []string, ips []net.IP) bool {
	for _, n := range names {
		if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

// writeFile replaces path with b, readable by perm only, through a
// temporary file and a rename so that a reader never sees half a file.
func writeFile(path string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	return nil
}
