package policy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/internal/testsupport/testpki"
	"github.com/apimguard/apimguard/policy/clientcert"
)

// tlsRequest is a request over a connection that reports a peer
// certificate.
type tlsRequest struct {
	headers
	peer Peer
}

func (r tlsRequest) Peer(bool) Peer { return r.peer }

// presented is a request whose connection presented leaf (with its chain)
// and whose x-forwarded-client-cert carries it, as Envoy's SANITIZE_SET.
func presented(leaf *x509.Certificate, chain ...*x509.Certificate) tlsRequest {
	c, _ := clientcert.Parse(leaf.Raw, nil)
	var chainPEM string
	for _, ch := range append([]*x509.Certificate{leaf}, chain...) {
		chainPEM += testpki.PEM(ch)
	}
	h := headers{":method": "GET", ":path": "/", xfccHeader: clientcert.FormatXFCC(c.SHA256, testpki.PEM(leaf), chainPEM)}
	return tlsRequest{headers: h, peer: Peer{SHA256: c.SHA256}}
}

// pki is a root, an intermediate under it, and certificates of both.
type pki struct {
	root, inter, other *testpki.CA
	client             *testpki.Issued
	certs              map[string]string
}

func newPKI(t *testing.T) *pki {
	p := &pki{root: testpki.NewCA(t, "Contoso Root")}
	p.inter = p.root.Intermediate("Contoso Issuing CA")
	p.other = testpki.NewCA(t, "Somebody Else")
	p.client = p.inter.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "orders-client", Organization: []string{"Contoso, Inc."}, Country: []string{"US"}},
		Serial: big.NewInt(0x1F00), DNSNames: []string{"orders.contoso.com"}, URIs: []string{"spiffe://contoso/orders"}})
	p.certs = map[string]string{"root": testpki.PEM(p.root.Cert), "issuing": testpki.PEM(p.inter.Cert), "other": testpki.PEM(p.other.Cert)}
	return p
}

// gateway compiles doc's inbound with the PKI's certificates, trusting
// the root, with CRLs of both CAs revoking revoked.
func (p *pki) gateway(t *testing.T, cc ClientCertificates, doc string) (*Gateway, error) {
	t.Helper()
	if cc.Trust == nil && cc.Source != "mesh" {
		cc.Trust = []string{"root"}
	}
	return CompileGateway(Config{Policy: inboundDoc(doc), ClientCertificates: cc}, Options{Certificates: p.certs})
}

func (p *pki) crls(revoked ...*big.Int) []string {
	return []string{p.root.CRL(time.Hour), p.inter.CRL(time.Hour, revoked...)}
}

// run evaluates the global program for req: "" when it passes, else the
// failure reason (after checking the fixed denial).
func run(t *testing.T, g *Gateway, req Request) string {
	t.Helper()
	x := g.global.NewExec(req, nil)
	r := x.Inbound()
	if r.Action == Continue {
		return ""
	}
	if r.Status != 401 || r.Body != `{"statusCode":401,"message":"Invalid client certificate."}` {
		t.Fatalf("denial %d %s", r.Status, r.Body)
	}
	le := x.LastError()
	if le.Source != "validate-client-certificate" {
		t.Fatalf("LastError %+v", le)
	}
	return le.Reason
}

func TestValidateClientCertificate_rules(t *testing.T) {
	p := newPKI(t)
	expired := p.inter.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "old"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	early := p.inter.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "early"}, NotBefore: time.Now().Add(time.Hour)})
	stranger := p.other.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "orders-client"}})
	revoked := p.inter.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "revoked"}})
	g, err := p.gateway(t, ClientCertificates{CRLs: p.crls(revoked.Cert.SerialNumber)}, `<validate-client-certificate/>`)
	if err != nil {
		t.Fatal(err)
	}
	forged := presented(p.client.Cert, p.inter.Cert)
	forged.peer = Peer{}
	other := presented(p.client.Cert, p.inter.Cert)
	other.peer = presented(stranger.Cert).peer
	noHeader := presented(p.client.Cert, p.inter.Cert)
	delete(noHeader.headers, xfccHeader)
	garbage := presented(p.client.Cert, p.inter.Cert)
	garbage.headers[xfccHeader] = `Hash=` + garbage.peer.SHA256 + `;Cert="-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----"`
	// Four intermediates with the same name, each signed by the root: a
	// chain builder could try every order.
	var same []*x509.Certificate
	for i := 0; i < 4; i++ {
		same = append(same, p.root.Intermediate("Contoso Issuing CA").Cert)
	}
	twice := presented(p.client.Cert, p.inter.Cert)
	twice.headers[xfccHeader] += "," + twice.headers[xfccHeader]
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"trusted through the intermediate", presented(p.client.Cert, p.inter.Cert), ""},
		{"intermediate not presented", presented(p.client.Cert), reasonNotTrusted},
		{"another CA", presented(stranger.Cert), reasonNotTrusted},
		{"expired", presented(expired.Cert, p.inter.Cert), reasonExpired},
		{"not yet valid", presented(early.Cert, p.inter.Cert), reasonNotYetValid},
		{"revoked", presented(revoked.Cert, p.inter.Cert), reasonRevoked},
		{"no certificate", headers{":method": "GET", ":path": "/"}, reasonMissing},
		{"header without a certificate on the connection", forged, reasonHeaderUntrusted},
		{"header of another certificate than the connection's", other, reasonHeaderMismatch},
		{"certificate on the connection, none in the header", noHeader, reasonHeaderMissing},
		{"header that does not parse", garbage, reasonHeaderInvalid},
		{"two elements", twice, reasonHeaderMismatch},
		{"four intermediates", presented(p.client.Cert, same...), reasonChainTooLong},
		{"three intermediates, one of them the issuer", presented(p.client.Cert, append(same[:2:2], p.inter.Cert)...), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, g, tc.req); got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}

	// Each rule turned off lets its failure through.
	for _, tc := range []struct {
		attrs string
		req   Request
	}{
		{`validate-not-after="false"`, presented(expired.Cert, p.inter.Cert)},
		{`validate-not-before="false"`, presented(early.Cert, p.inter.Cert)},
		{`validate-trust="false"`, presented(stranger.Cert)},
		{`validate-revocation="false"`, presented(revoked.Cert, p.inter.Cert)},
		{`ignore-error="true"`, headers{}},
	} {
		g, err := p.gateway(t, ClientCertificates{CRLs: p.crls(revoked.Cert.SerialNumber)}, `<validate-client-certificate `+tc.attrs+` validate-revocation="false"/>`)
		if strings.Contains(tc.attrs, "revocation") {
			g, err = p.gateway(t, ClientCertificates{}, `<validate-client-certificate `+tc.attrs+`/>`)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, g, tc.req); got != "" {
			t.Errorf("%s: %q", tc.attrs, got)
		}
	}

	// Revocation needs a current CRL of every CA of the chain.
	for _, tc := range []struct {
		name string
		crls []string
	}{
		{"no CRL of the issuing CA", []string{p.root.CRL(time.Hour)}},
		{"no CRL of the root's intermediate", []string{p.inter.CRL(time.Hour)}},
		{"a CRL past its next update", []string{p.root.CRL(time.Hour), p.inter.CRL(-time.Minute)}},
	} {
		g, err := p.gateway(t, ClientCertificates{CRLs: tc.crls}, `<validate-client-certificate/>`)
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, g, presented(p.client.Cert, p.inter.Cert)); got != reasonRevocationUnknown {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}

func TestValidateClientCertificate_identities(t *testing.T) {
	p := newPKI(t)
	c, _ := clientcert.Parse(p.client.Cert.Raw, nil)
	root1, root256 := clientcert.Thumbprints(p.inter.Cert.Raw)
	tests := []struct {
		identity string
		pass     bool
	}{
		{`thumbprint="` + strings.ToLower(c.Thumbprint) + `"`, true},
		{`thumbprint="` + c.SHA256 + `"`, true},
		{`thumbprint="` + strings.Repeat("A", 40) + `"`, false},
		{`serial-number="1f00"`, true},
		{`serial-number="001F00"`, true},
		{`serial-number="1F01"`, false},
		{`common-name="ORDERS-client"`, true},
		{`common-name="orders"`, false},
		{`subject="CN=orders-client, O=&quot;Contoso, Inc.&quot;, C=US"`, true},
		{`subject="CN=orders-client,O=Contoso\, Inc.,C=US"`, true},
		{`subject="CN=orders-client, C=US"`, false},
		{`dns-name="orders.contoso.com"`, true},
		{`dns-name="contoso.com"`, false},
		{`uri-name="spiffe://contoso/orders"`, true},
		{`uri-name="spiffe://contoso/other"`, false},
		{`issuer-subject="CN=Contoso Issuing CA, O=apimguard tests"`, true},
		{`issuer-subject="CN=Contoso Root, O=apimguard tests"`, false},
		{`issuer-thumbprint="` + root1 + `"`, true},
		{`issuer-thumbprint="` + root256 + `"`, true},
		{`issuer-certificate-id="issuing"`, true},
		{`issuer-certificate-id="root"`, false},
		{`common-name="orders-client" dns-name="orders.contoso.com"`, true},
		{`common-name="orders-client" dns-name="contoso.com"`, false}, // attributes are AND
	}
	for _, tc := range tests {
		g, err := p.gateway(t, ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity `+tc.identity+`/></identities></validate-client-certificate>`)
		if err != nil {
			t.Fatalf("%s: %v", tc.identity, err)
		}
		got := run(t, g, presented(p.client.Cert, p.inter.Cert))
		if (got == "") != tc.pass || (got != "" && got != reasonIdentity) {
			t.Errorf("%s: reason %q, want pass=%v", tc.identity, got, tc.pass)
		}
	}
	// Identities are OR.
	g, err := p.gateway(t, ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity common-name="x"/><identity common-name="orders-client"/></identities></validate-client-certificate>`)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, g, presented(p.client.Cert, p.inter.Cert)); got != "" {
		t.Errorf("second identity: %q", got)
	}
}

func TestValidateClientCertificate_loadErrors(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		cc   ClientCertificates
		doc  string
		want string
	}{
		{ClientCertificates{}, `<validate-client-certificate/>`, `validate-revocation is true (the default) but clientCertificates.crls is empty`},
		{ClientCertificates{Trust: []string{}}, `<validate-client-certificate validate-revocation="false"/>`, `validate-trust is true (the default) but clientCertificates.trust names no CA certificate`},
		{ClientCertificates{Source: "mesh"}, `<validate-client-certificate/>`, `clientCertificates.source "mesh" cannot check revocation`},
		{ClientCertificates{Source: "mesh"}, `<validate-client-certificate validate-revocation="false"><identities><identity thumbprint="` + strings.Repeat("a", 40) + `"/></identities></validate-client-certificate>`, `attribute "thumbprint" cannot be checked with clientCertificates.source "mesh"`},
		{ClientCertificates{Source: "mesh"}, `<validate-client-certificate validate-revocation="false"><identities><identity issuer-subject="CN=x"/></identities></validate-client-certificate>`, `attribute "issuer-subject" cannot be checked`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity thumbprint="xyz"/></identities></validate-client-certificate>`, `must be a SHA-1 (40 hex digits) or SHA-256 (64) thumbprint`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity/></identities></validate-client-certificate>`, `an <identity> needs at least one attribute`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity issuer-certificate-id="root" issuer-subject="CN=x"/></identities></validate-client-certificate>`, `cannot be combined`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity issuer-certificate-id="nope"/></identities></validate-client-certificate>`, `issuer-certificate-id "nope" is not a PEM certificate`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities><identity subject="no equals"/></identities></validate-client-certificate>`, `is not a distinguished name`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="false"><identities>` + strings.Repeat(`<identity common-name="a"/>`, 11) + `</identities></validate-client-certificate>`, `at most 10 <identity> elements`},
		{ClientCertificates{}, `<validate-client-certificate validate-revocation="maybe"/>`, `attribute "validate-revocation" must be true or false`},
		{ClientCertificates{Trust: []string{"missing"}}, `<base/>`, `clientCertificates:1:1: trust names "missing", which is not a PEM certificate`},
		{ClientCertificates{Source: "proxy"}, `<base/>`, `source "proxy" needs trustedProxies`},
		{ClientCertificates{Source: "nginx"}, `<base/>`, `source must be "edge", "proxy" or "mesh", not "nginx"`},
		{ClientCertificates{TrustedProxies: []string{strings.Repeat("a", 64)}}, `<base/>`, `trustedProxies applies only to source "proxy"`},
		{ClientCertificates{CRLs: []string{testpki.NewCA(t, "Unknown").CRL(time.Hour)}}, `<base/>`, `crls[0]: no certificate in "certificates" issued it`},
		{ClientCertificates{CRLs: []string{"not a crl"}}, `<base/>`, `crls[0] is not a PEM X509 CRL`},
	}
	for _, tc := range tests {
		_, err := p.gateway(t, tc.cc, tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// In a mesh the connection reports the peer; the sidecar has checked the
// chain and dates.
func TestValidateClientCertificate_mesh(t *testing.T) {
	p := newPKI(t)
	g, err := p.gateway(t, ClientCertificates{Source: "mesh"}, `<validate-client-certificate validate-revocation="false"><identities><identity uri-name="spiffe://cluster.local/ns/shop/sa/checkout"/><identity subject="CN=legacy, O=Contoso"/></identities></validate-client-certificate>`)
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		peer Peer
		want string
	}{
		{Peer{SHA256: digest, URISAN: "spiffe://cluster.local/ns/shop/sa/checkout", Validated: true}, ""},
		{Peer{SHA256: digest, Subject: "CN=legacy,O=Contoso", Validated: true}, ""},
		{Peer{SHA256: digest, URISAN: "spiffe://cluster.local/ns/shop/sa/other", Validated: true}, reasonIdentity},
		// A listener that accepts untrusted certificates (issue #26): the
		// handshake did not validate it, so trust and dates fail.
		{Peer{SHA256: digest, URISAN: "spiffe://cluster.local/ns/shop/sa/checkout"}, reasonNotTrusted},
		{Peer{}, reasonMissing},
	} {
		if got := run(t, g, tlsRequest{headers: headers{}, peer: tc.peer}); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.peer, got, tc.want)
		}
	}
}

// Behind a TLS-terminating proxy the header is believed only on a
// connection from one of the trusted proxies.
func TestValidateClientCertificate_proxy(t *testing.T) {
	p := newPKI(t)
	proxy := p.root.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "front-door"}})
	pc, _ := clientcert.Parse(proxy.Cert.Raw, nil)
	g, err := p.gateway(t, ClientCertificates{Source: "proxy", TrustedProxies: []string{strings.ToUpper(pc.SHA256)}}, `<validate-client-certificate validate-revocation="false"/>`)
	if err != nil {
		t.Fatal(err)
	}
	viaProxy := presented(p.client.Cert, p.inter.Cert)
	viaProxy.peer = Peer{SHA256: pc.SHA256}
	direct := presented(p.client.Cert, p.inter.Cert) // the client itself on the connection
	plain := presented(p.client.Cert, p.inter.Cert)
	plain.peer = Peer{}
	proxyNoClient := tlsRequest{headers: headers{}, peer: Peer{SHA256: pc.SHA256}}
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"through the proxy", viaProxy, ""},
		{"the client directly, header and all", direct, reasonHeaderUntrusted},
		{"plain connection with the header", plain, reasonHeaderUntrusted},
		{"through the proxy without a client certificate", proxyNoClient, reasonMissing},
	} {
		if got := run(t, g, tc.req); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Expressions see the believed certificate, and null for a forged one.
func TestClientCertificate_expressions(t *testing.T) {
	p := newPKI(t)
	g, err := p.gateway(t, ClientCertificates{CRLs: p.crls()}, `<set-header name="x-cert" exists-action="override"><value>@(context.Request.Certificate == null ? "none" : context.Request.Certificate.Subject + "|" + context.Request.Certificate.Verify())</value></set-header>`)
	if err != nil {
		t.Fatal(err)
	}
	forged := presented(p.client.Cert, p.inter.Cert)
	forged.peer = Peer{}
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{presented(p.client.Cert, p.inter.Cert), `CN=orders-client, O="Contoso, Inc.", C=US|True`},
		{presented(p.client.Cert), `CN=orders-client, O="Contoso, Inc.", C=US|False`},
		{forged, "none"},
	} {
		r := g.global.NewExec(tc.req, nil).Inbound()
		if len(r.Edits) != 1 || r.Edits[0].Values[0] != tc.want {
			t.Errorf("edits %+v, want %q", r.Edits, tc.want)
		}
	}
}

// BenchmarkValidateClientCertificate: one request's certificate check at
// the edge (the header parsed, the certificate parsed, the chain built
// through the intermediate, both CRLs looked up, one identity matched).
func BenchmarkValidateClientCertificate(b *testing.B) {
	t := &testing.T{}
	p := newPKI(t)
	g, err := CompileGateway(Config{Policy: inboundDoc(`<validate-client-certificate><identities><identity common-name="orders-client" /></identities></validate-client-certificate>`),
		ClientCertificates: ClientCertificates{Trust: []string{"root"}, CRLs: p.crls()}}, Options{Certificates: p.certs})
	if err != nil {
		b.Fatal(err)
	}
	req := presented(p.client.Cert, p.inter.Cert)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := g.global.NewExec(req, nil).Inbound(); r.Action != Continue {
			b.Fatalf("%+v", r)
		}
	}
}

// A chain that passed is reused, but only while every certificate of it
// is valid: after its intermediate expires, the same client fails.
func TestValidateClientCertificate_chainCache(t *testing.T) {
	p := newPKI(t)
	long := p.inter.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "orders-client"}, NotAfter: time.Now().Add(72 * time.Hour)})
	clock := time.Now()
	g, err := CompileGateway(Config{Policy: inboundDoc(`<validate-client-certificate validate-revocation="false"/>`),
		ClientCertificates: ClientCertificates{Trust: []string{"root"}}}, Options{Certificates: p.certs, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	req := presented(long.Cert, p.inter.Cert)
	for i := 0; i < 2; i++ {
		if got := run(t, g, req); got != "" {
			t.Fatalf("round %d: %q", i, got)
		}
	}
	if n := len(g.global.certs.chains.entries); n != 1 {
		t.Fatalf("%d cached chains, want 1", n)
	}
	clock = clock.Add(30 * time.Hour) // the intermediate (24 h) has expired, the leaf (72 h) has not
	if got := run(t, g, req); got != reasonNotTrusted {
		t.Fatalf("after the intermediate expired: %q", got)
	}
}
