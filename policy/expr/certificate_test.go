package expr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy/clientcert"
)

// testCertificate is a self-signed certificate with a known subject,
// serial and validity.
func testCertificate(t *testing.T) *clientcert.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/shop/sa/checkout")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0xABCD),
		Subject:      pkix.Name{CommonName: "checkout", Organization: []string{"Contoso, Inc."}, Country: []string{"US"}},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		DNSNames:     []string{"checkout.contoso.com"},
		URIs:         []*url.URL{spiffe},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientcert.Parse(der, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificate_members(t *testing.T) {
	c := testCertificate(t)
	e := newEnv()
	e.cert = c
	e.verified = map[bool]bool{false: true, true: false}
	tests := []struct{ src, want string }{
		{`@(context.Request.Certificate == null)`, "False"},
		{`@(context.Request.Certificate != null && context.Request.Certificate.Thumbprint == "` + c.Thumbprint + `")`, "True"},
		{`@(context.Request.Certificate.Subject)`, `CN=checkout, O="Contoso, Inc.", C=US`},
		{`@(context.Request.Certificate.SubjectName.Name)`, `CN=checkout, O="Contoso, Inc.", C=US`},
		{`@(context.Request.Certificate.Issuer)`, `CN=checkout, O="Contoso, Inc.", C=US`},
		{`@(context.Request.Certificate.IssuerName.Name)`, `CN=checkout, O="Contoso, Inc.", C=US`},
		{`@(context.Request.Certificate.SerialNumber)`, "00ABCD"},
		{`@(context.Request.Certificate.NotBefore.ToString("o"))`, "2026-01-01T00:00:00.0000000Z"},
		{`@(context.Request.Certificate.NotAfter.ToString())`, "1/1/2027 12:00:00 AM"},
		{`@(context.Request.Certificate.NotAfter > DateTime.UtcNow)`, "True"},
		{`@(context.Request.Certificate.NotAfter < DateTime.UtcNow.AddDays(30))`, "True"},
		{`@(context.Request.Certificate.NotAfter < DateTime.Now.AddDays(29))`, "False"},
		{`@(context.Request.Certificate.NotBefore <= context.Request.Certificate.NotBefore)`, "True"},
		{`@(DateTime.UtcNow.AddHours(-1).ToString("u"))`, "2026-12-02 18:15:40Z"},
		{`@(context.Request.Certificate.Verify())`, "False"},
		{`@(context.Request.Certificate.VerifyNoRevocation())`, "True"},
		{`@{ var d = context.Request.Certificate.NotAfter; return d.ToString("s"); }`, "2027-01-01T00:00:00"},
	}
	for _, tc := range tests {
		if got := evalString(t, e, tc.src); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.src, got, tc.want)
		}
	}
	if c.Thumbprint == "" || len(c.Thumbprint) != 40 || strings.ToUpper(c.Thumbprint) != c.Thumbprint {
		t.Errorf("Thumbprint %q is not 40 upper-case hex digits", c.Thumbprint)
	}
}

// Without a certificate, context.Request.Certificate is null: comparing
// works, reading a member fails as in .NET, ?. yields null.
func TestCertificate_null(t *testing.T) {
	e := newEnv()
	if got := evalString(t, e, `@(context.Request.Certificate == null)`); got != "True" {
		t.Errorf("== null: %q", got)
	}
	if got := evalString(t, e, `@(context.Request.Certificate?.Thumbprint ?? "none")`); got != "none" {
		t.Errorf("?.: %q", got)
	}
	p, err := Compile(`@(context.Request.Certificate.Thumbprint)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(e); err == nil || !strings.Contains(err.Error(), "Object reference not set") {
		t.Errorf("member of null: err = %v", err)
	}
}

// In mesh mode the members that need the certificate itself are refused
// at load time; the subject and VerifyNoRevocation remain.
func TestCertificate_mesh(t *testing.T) {
	for _, src := range []string{
		`@(context.Request.Certificate.Thumbprint)`, `@(context.Request.Certificate.Issuer)`,
		`@(context.Request.Certificate.IssuerName.Name)`, `@(context.Request.Certificate.SerialNumber)`,
		`@(context.Request.Certificate.NotAfter > DateTime.UtcNow)`, `@(context.Request.Certificate.Verify())`,
	} {
		_, err := CompileWith(src, Options{MeshCertificate: true})
		if err == nil || !strings.Contains(err.Error(), `not available with clientCertificates.source "mesh"`) {
			t.Errorf("%s: err = %v", src, err)
		}
	}
	for _, src := range []string{`@(context.Request.Certificate.Subject)`, `@(context.Request.Certificate.VerifyNoRevocation())`, `@(context.Request.Certificate == null)`} {
		if _, err := CompileWith(src, Options{MeshCertificate: true}); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func evalString(t *testing.T, e Env, src string) string {
	t.Helper()
	v, err := eval(t, src, e)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return ToString(v)
}
