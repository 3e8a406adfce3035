// Package testpki makes certificate authorities, certificates and CRLs for
// tests and the demo: real keys and signatures, generated per run, nothing
// checked in. A nil testing.TB (the demo's) turns a failure into a panic.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// CA is a certificate authority (a root, or an intermediate of another).
type CA struct {
	tb   testing.TB
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// fatal stops the test, or without one panics: generating keys and
// signing with them fails only when the system's randomness does.
func fatal(tb testing.TB, err error) {
	if tb == nil {
		panic(err)
	}
	tb.Helper()
	tb.Fatal(err)
}

func helper(tb testing.TB) {
	if tb != nil {
		tb.Helper()
	}
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fatal(tb, err)
	}
	return key
}

func serial() *big.Int {
	s, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return s.Add(s, big.NewInt(2))
}

// NewCA makes a root CA called name, valid from an hour ago for a day; tb
// may be nil outside tests.
func NewCA(tb testing.TB, name string) *CA {
	helper(tb)
	key := newKey(tb)
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name, Organization: []string{"apimguard tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fatal(tb, err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{tb: tb, Cert: cert, Key: key}
}

// Intermediate makes a CA called name that ca signed.
func (ca *CA) Intermediate(name string) *CA {
	helper(ca.tb)
	key := newKey(ca.tb)
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name, Organization: []string{"apimguard tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		fatal(ca.tb, err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{tb: ca.tb, Cert: cert, Key: key}
}

// Leaf describes a certificate to issue. Zero times mean "an hour ago"
// and "in a day".
type Leaf struct {
	Subject             pkix.Name
	Serial              *big.Int
	NotBefore, NotAfter time.Time
	DNSNames            []string
	URIs                []string
	IPs                 []net.IP
	Server              bool // server authentication (else client)
}

// Issued is an issued certificate with its key.
type Issued struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Issue signs a certificate for l.
func (ca *CA) Issue(l Leaf) *Issued {
	helper(ca.tb)
	key := newKey(ca.tb)
	tmpl, err := template(l)
	if err != nil {
		fatal(ca.tb, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		fatal(ca.tb, err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &Issued{Cert: cert, Key: key}
}

// template is the certificate l describes, defaults filled in.
func template(l Leaf) (*x509.Certificate, error) {
	if l.Serial == nil {
		l.Serial = serial()
	}
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(24 * time.Hour)
	}
	eku := x509.ExtKeyUsageClientAuth
	if l.Server {
		eku = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{SerialNumber: l.Serial, Subject: l.Subject, NotBefore: l.NotBefore, NotAfter: l.NotAfter,
		DNSNames: l.DNSNames, IPAddresses: l.IPs,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
	for _, u := range l.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	return tmpl, nil
}

// SelfSigned makes a certificate for l that its own key signed, as an
// attacker can make for any name.
func SelfSigned(tb testing.TB, l Leaf) *Issued {
	helper(tb)
	key := newKey(tb)
	tmpl, err := template(l)
	if err != nil {
		fatal(tb, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fatal(tb, err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &Issued{Cert: cert, Key: key}
}

// CRL is a CRL of ca revoking serials, next update in nextUpdate.
func (ca *CA) CRL(nextUpdate time.Duration, serials ...*big.Int) string {
	helper(ca.tb)
	tmpl := &x509.RevocationList{Number: serial(), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(nextUpdate)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		fatal(ca.tb, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// PEM is the certificate in PEM.
func PEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// KeyPEM is the key in PEM.
func (i *Issued) KeyPEM() string {
	der, _ := x509.MarshalECPrivateKey(i.Key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// TLS is the certificate, its chain (intermediates, leaf first excluded)
// and key for crypto/tls.
func (i *Issued) TLS(chain ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{i.Cert.Raw}, PrivateKey: i.Key, Leaf: i.Cert}
	for _, ch := range chain {
		c.Certificate = append(c.Certificate, ch.Raw)
	}
	return c
}
