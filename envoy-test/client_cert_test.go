package envoytest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/testsupport/testpki"
	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/clientcert"
)

const invalidClientCert = `{"statusCode":401,"message":"Invalid client certificate."}`

// clientPKI is the test's PKI: a root, the issuing CA under it, a
// stranger's CA, and the server certificate of Envoy's listener.
type clientPKI struct {
	*testCA
	issuing, stranger *testpki.CA
	serverCert        string // files
	serverKey         string
}

func newClientPKI(t *testing.T) *clientPKI {
	p := &clientPKI{testCA: newTestCA(t)}
	p.issuing = p.Intermediate("Contoso Issuing CA")
	p.stranger = testpki.NewCA(t, "Somebody Else's CA")
	_, p.serverCert, p.serverKey = p.leaf("edge", "api.example.com")
	return p
}

// client issues a client certificate of the issuing CA.
func (p *clientPKI) client(cn string, l testpki.Leaf) *testpki.Issued {
	l.Subject = pkix.Name{CommonName: cn, Organization: []string{"Contoso"}}
	return p.issuing.Issue(l)
}

// mtlsGet sends GET /orders over TLS 1.min..1.max presenting cert (none
// when nil), with extra request headers; err is a failed handshake or
// request.
func (p *clientPKI) mtlsGet(st *stack, cert *tls.Certificate, min, max uint16, header map[string]string) (int, string, error) {
	return p.mtlsGetPath(st, cert, min, max, "/orders", header)
}

// mtlsGetPath is mtlsGet for another path.
func (p *clientPKI) mtlsGetPath(st *stack, cert *tls.Certificate, min, max uint16, path string, header map[string]string) (int, string, error) {
	cfg := &tls.Config{RootCAs: p.pool(), ServerName: "api.example.com", MinVersion: min, MaxVersion: max,
		// Present the certificate whatever CAs the server names: an
		// untrusted one must reach the plugin.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	req, _ := http.NewRequest("GET", "https://127.0.0.1:"+itoa(st.envoy.Port)+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// xfccOf is the x-forwarded-client-cert a hop would send for cert and its
// chain.
func xfccOf(cert *x509.Certificate, chain ...*x509.Certificate) string {
	c, _ := clientcert.Parse(cert.Raw, nil)
	chainPEM := ""
	for _, ch := range chain {
		chainPEM += testpki.PEM(ch)
	}
	return clientcert.FormatXFCC(c.SHA256, testpki.PEM(cert), chainPEM)
}

// At the edge Envoy terminates TLS 1.2+, asks for a client certificate,
// lets even an untrusted one through, and hands the certificate to the
// plugin in x-forwarded-client-cert (SANITIZE_SET); the plugin checks it
// against the connection and applies validate-client-certificate. Every
// certificate that is not trusted, not valid now, revoked or of another
// identity gets APIM's denial, and so does a request without one or with a
// header of its own.
func TestClientCertificates_edgeThroughEnvoy(t *testing.T) {
	p := newClientPKI(t)
	good := p.client("orders-client", testpki.Leaf{})
	expired := p.client("orders-client", testpki.Leaf{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	early := p.client("orders-client", testpki.Leaf{NotBefore: time.Now().Add(time.Hour)})
	intruder := p.client("intruder", testpki.Leaf{})
	revoked := p.client("orders-client", testpki.Leaf{})
	stranger := p.stranger.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "orders-client", Organization: []string{"Contoso"}}})
	doc := `<policies><inbound>
  <validate-client-certificate>
    <identities>
      <identity common-name="orders-client" issuer-certificate-id="issuing" />
    </identities>
  </validate-client-certificate>
  <set-header name="x-client-thumbprint" exists-action="override"><value>@(context.Request.Certificate.Thumbprint)</value></set-header>
</inbound></policies>`
	cfg := `{"policy": ` + policy.JSONString(doc) + `,
  "certificates": {"root": ` + policy.JSONString(testpki.PEM(p.Cert)) + `, "issuing": ` + policy.JSONString(testpki.PEM(p.issuing.Cert)) + `},
  "clientCertificates": {"trust": ["root"], "crls": [` + policy.JSONString(p.CRL(time.Hour)) + `, ` + policy.JSONString(p.issuing.CRL(time.Hour, revoked.Cert.SerialNumber)) + `]},
  "tls": {"minVersion": "1.2"}}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, XFCC: "SANITIZE_SET", TLS: &envoyrun.TLSListener{
		CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLSv1_2", ClientCAFile: p.caFile(), AcceptUntrusted: true}})

	tlsOf := func(i *testpki.Issued) *tls.Certificate { c := i.TLS(p.issuing.Cert); return &c }
	goodTLS := tlsOf(good)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		status, body, err := p.mtlsGet(st, goodTLS, v, v, nil)
		if err != nil || status != 200 {
			t.Fatalf("trusted certificate over %s: %d %q %v", tls.VersionName(v), status, body, err)
		}
	}
	want, _ := clientcert.Parse(good.Cert.Raw, nil)
	reqs := st.upstream.Requests()
	if got := reqs[len(reqs)-1].Header.Get("x-client-thumbprint"); got != want.Thumbprint {
		t.Errorf("upstream saw context.Request.Certificate.Thumbprint %q, want %q", got, want.Thumbprint)
	}

	strangerTLS := stranger.TLS()
	denied := []struct {
		name   string
		cert   *tls.Certificate
		header map[string]string
		reason string
	}{
		{"another CA", &strangerTLS, nil, "ClientCertificateNotTrusted"},
		{"expired", tlsOf(expired), nil, "ClientCertificateExpired"},
		{"not yet valid", tlsOf(early), nil, "ClientCertificateNotYetValid"},
		{"revoked", tlsOf(revoked), nil, "ClientCertificateRevoked"},
		{"another identity", tlsOf(intruder), nil, "ClientCertificateIdentityMismatch"},
		{"no certificate", nil, nil, "ClientCertificateMissing"},
		// Envoy replaces a client's own header (SANITIZE_SET): the plugin
		// sees the connection's certificate or none.
		{"forged header, no certificate", nil, map[string]string{"x-forwarded-client-cert": xfccOf(good.Cert)}, "ClientCertificateMissing"},
		{"forged header over another certificate", &strangerTLS, map[string]string{"x-forwarded-client-cert": xfccOf(good.Cert)}, "ClientCertificateNotTrusted"},
	}
	for _, tc := range denied {
		status, body, err := p.mtlsGet(st, tc.cert, tls.VersionTLS12, tls.VersionTLS13, tc.header)
		if err != nil || status != 401 || body != invalidClientCert {
			t.Errorf("%s: %d %q %v, want 401 %s", tc.name, status, body, err, invalidClientCert)
		}
	}
	if n := len(st.upstream.Requests()); n != 2 {
		t.Errorf("the upstream got %d requests, want only the 2 trusted ones", n)
	}
	for _, tc := range denied {
		if !st.logged(`"policy":"validate-client-certificate","reason":"` + tc.reason + `"`) {
			t.Errorf("%s: no security event with reason %s", tc.name, tc.reason)
		}
	}
}

// A listener that forwards x-forwarded-client-cert as received (a
// misconfiguration at the edge: ALWAYS_FORWARD_ONLY, or FORWARD_ONLY on a
// mutual TLS connection) cannot make the plugin trust it: the header must
// match the certificate the connection presented, and a plain or
// certificate-less connection has none.
func TestClientCertificates_forgedHeaderThroughEnvoy(t *testing.T) {
	p := newClientPKI(t)
	good := p.client("orders-client", testpki.Leaf{})
	stranger := p.stranger.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "orders-client"}})
	doc := `<policies><inbound><validate-client-certificate validate-revocation="false" /></inbound></policies>`
	cfg := `{"policy": ` + policy.JSONString(doc) + `, "certificates": {"root": ` + policy.JSONString(testpki.PEM(p.Cert)) + `}, "clientCertificates": {"trust": ["root"]}}`
	forged := map[string]string{"x-forwarded-client-cert": xfccOf(good.Cert)}
	chained := good.TLS(p.issuing.Cert)
	strangerTLS := stranger.TLS()

	t.Run("plain HTTP", func(t *testing.T) {
		st := startStack(t, envoyrun.Params{PluginConfig: cfg, XFCC: "ALWAYS_FORWARD_ONLY"})
		if r := st.do(t, "GET", "/orders", map[string][]string{"x-forwarded-client-cert": {forged["x-forwarded-client-cert"]}}, ""); r.status != 401 || r.body != invalidClientCert {
			t.Errorf("forged header over plain HTTP: %d %q", r.status, r.body)
		}
		if !st.logged(`"reason":"ClientCertificateHeaderNotTrusted"`) {
			t.Error("no security event naming the untrusted header")
		}
	})
	t.Run("TLS", func(t *testing.T) {
		st := startStack(t, envoyrun.Params{PluginConfig: cfg, XFCC: "ALWAYS_FORWARD_ONLY", TLS: &envoyrun.TLSListener{
			CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLSv1_2", ClientCAFile: p.caFile(), AcceptUntrusted: true}})
		if status, body, err := p.mtlsGet(st, nil, tls.VersionTLS12, tls.VersionTLS13, forged); err != nil || status != 401 || body != invalidClientCert {
			t.Errorf("forged header, no certificate: %d %q %v", status, body, err)
		}
		if status, body, err := p.mtlsGet(st, &strangerTLS, tls.VersionTLS12, tls.VersionTLS13, forged); err != nil || status != 401 || body != invalidClientCert {
			t.Errorf("forged header over another certificate: %d %q %v", status, body, err)
		}
		// The honest client, with its own certificate in the header, passes.
		if status, body, err := p.mtlsGet(st, &chained, tls.VersionTLS12, tls.VersionTLS13, map[string]string{"x-forwarded-client-cert": xfccOf(good.Cert, p.issuing.Cert)}); err != nil || status != 200 {
			t.Errorf("matching header: %d %q %v", status, body, err)
		}
		for _, reason := range []string{"ClientCertificateHeaderNotTrusted", "ClientCertificateHeaderMismatch"} {
			if !st.logged(`"reason":"` + reason + `"`) {
				t.Errorf("no security event with reason %s", reason)
			}
		}
	})
}

// In an Istio mesh the sidecar terminates mutual TLS against the mesh's
// root and the plugin reads the peer from the connection: here a listener
// that requires a certificate of the test CA, and identities by URI SAN
// (a SPIFFE ID).
func TestClientCertificates_meshThroughEnvoy(t *testing.T) {
	p := newClientPKI(t)
	checkout := p.Issue(testpki.Leaf{URIs: []string{"spiffe://cluster.local/ns/shop/sa/checkout"}})
	other := p.Issue(testpki.Leaf{URIs: []string{"spiffe://cluster.local/ns/shop/sa/other"}})
	doc := `<policies><inbound>
  <validate-client-certificate validate-revocation="false">
    <identities><identity uri-name="spiffe://cluster.local/ns/shop/sa/checkout" /></identities>
  </validate-client-certificate>
</inbound></policies>`
	cfg := `{"policy": ` + policy.JSONString(doc) + `, "clientCertificates": {"source": "mesh"}}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, TLS: &envoyrun.TLSListener{
		CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLSv1_2", ClientCAFile: p.caFile(), RequireClientCert: true}})
	checkoutTLS, otherTLS := checkout.TLS(), other.TLS()
	if status, body, err := p.mtlsGet(st, &checkoutTLS, tls.VersionTLS12, tls.VersionTLS13, nil); err != nil || status != 200 {
		t.Errorf("checkout: %d %q %v", status, body, err)
	}
	if status, body, err := p.mtlsGet(st, &otherTLS, tls.VersionTLS12, tls.VersionTLS13, nil); err != nil || status != 401 || body != invalidClientCert {
		t.Errorf("another workload: %d %q %v", status, body, err)
	}
	if status, _, err := p.mtlsGet(st, nil, tls.VersionTLS12, tls.VersionTLS13, nil); err == nil {
		t.Errorf("no certificate: status %d, want the handshake refused", status)
	}
}

// Behind a TLS-terminating proxy the header is set by the proxy; Envoy
// forwards it (FORWARD_ONLY) and the plugin believes it only on a
// connection that presents one of the proxies' certificates.
func TestClientCertificates_proxyThroughEnvoy(t *testing.T) {
	p := newClientPKI(t)
	good := p.client("orders-client", testpki.Leaf{})
	frontDoor := p.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "front-door"}})
	fd, _ := clientcert.Parse(frontDoor.Cert.Raw, nil)
	doc := `<policies><inbound><validate-client-certificate validate-revocation="false"><identities><identity common-name="orders-client" /></identities></validate-client-certificate></inbound></policies>`
	cfg := `{"policy": ` + policy.JSONString(doc) + `, "certificates": {"root": ` + policy.JSONString(testpki.PEM(p.Cert)) + `},
  "clientCertificates": {"source": "proxy", "trust": ["root"], "trustedProxies": ["` + fd.SHA256 + `"]}}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, XFCC: "FORWARD_ONLY", TLS: &envoyrun.TLSListener{
		CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLSv1_2", ClientCAFile: p.caFile(), RequireClientCert: true}})
	// The proxy forwards the client's certificate and chain.
	withChain := map[string]string{"x-forwarded-client-cert": clientcert.FormatXFCC("", testpki.PEM(good.Cert), testpki.PEM(good.Cert)+testpki.PEM(p.issuing.Cert))}
	proxyTLS, clientTLS := frontDoor.TLS(), good.TLS(p.issuing.Cert)
	if status, body, err := p.mtlsGet(st, &proxyTLS, tls.VersionTLS12, tls.VersionTLS13, withChain); err != nil || status != 200 {
		t.Errorf("through the proxy: %d %q %v", status, body, err)
	}
	if status, body, err := p.mtlsGet(st, &clientTLS, tls.VersionTLS12, tls.VersionTLS13, withChain); err != nil || status != 401 || body != invalidClientCert {
		t.Errorf("the client directly, with the header: %d %q %v", status, body, err)
	}
	if status, body, err := p.mtlsGet(st, &proxyTLS, tls.VersionTLS12, tls.VersionTLS13, nil); err != nil || status != 401 || body != invalidClientCert {
		t.Errorf("through the proxy without a client certificate: %d %q %v", status, body, err)
	}
}
