package policy

// Where a request's client certificate comes from, and what it is checked
// against. docs/deployment.md, "Client certificates", shows the Envoy and
// Istio configuration of each source.

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/clientcert"
)

// ClientCertificates is the plugin's "clientCertificates" setting.
type ClientCertificates struct {
	// Source is where the certificate comes from:
	//   - "edge" (the default): Envoy terminates TLS and puts the client's
	//     certificate into x-forwarded-client-cert (SANITIZE_SET with
	//     cert and chain); the plugin checks that the header's certificate
	//     is the one the connection itself presented.
	//   - "proxy": a TLS-terminating proxy in front sets the header and
	//     Envoy forwards it (FORWARD_ONLY); the header is believed only on a
	//     connection whose own client certificate is one of TrustedProxies.
	//   - "mesh": an Istio sidecar terminated mutual TLS; the connection
	//     reports the peer's subject, first URI and DNS SANs and digest.
	Source string
	// Trust names the CA certificates (ids in Options.Certificates) that
	// validate-trust builds chains to.
	Trust []string
	// CRLs are PEM X509 CRLs of those CAs, for validate-revocation. Each
	// applies to the certificates signed by the key that signed it: a CA
	// renewed with a new key under the same name has a CRL per key, and
	// several CRLs of one key are read together.
	CRLs []string
	// TrustedProxies are the SHA-256 digests (hex) of the proxies' client
	// certificates, for Source "proxy".
	TrustedProxies []string
}

type certSource uint8

const (
	sourceEdge certSource = iota
	sourceProxy
	sourceMesh
)

// xfccHeader is Envoy's x-forwarded-client-cert.
const xfccHeader = "x-forwarded-client-cert"

// clientCerts is a compiled ClientCertificates.
type clientCerts struct {
	source  certSource
	roots   *x509.CertPool
	anchors []*x509.Certificate // the Trust certificates
	known   []*x509.Certificate // every certificate of the configuration
	byID    map[string]*x509.Certificate
	crls    map[string]*crl        // by issuerKey of the CA that signed them
	crlList []*x509.RevocationList // as configured, for stale
	proxies map[string]bool
	now     func() time.Time
	chains  chainCache
}

// chainCache remembers the chains built for the certificates (with the
// intermediates they came with) that recently passed: building one checks
// a signature per link, by far the largest cost of a certificate check. A
// chain is reused only at times every certificate of it is valid; the
// cache is emptied when full, and is per gateway (a new configuration
// starts empty), so it never outlives the trust it was built on.
type chainCache struct {
	entries map[string]cachedChain
}

type cachedChain struct {
	chain       []*x509.Certificate
	from, until time.Time
}

const maxCachedChains = 1024

func chainKey(c *clientcert.Certificate) string {
	h := sha256.New()
	for _, ch := range c.Chain {
		h.Write(ch.Raw)
	}
	return c.SHA256 + string(h.Sum(nil))
}

func (cc *chainCache) get(c *clientcert.Certificate, at time.Time) []*x509.Certificate {
	e, ok := cc.entries[chainKey(c)]
	if !ok || at.Before(e.from) || !at.Before(e.until) {
		return nil
	}
	return e.chain
}

func (cc *chainCache) put(c *clientcert.Certificate, chain []*x509.Certificate) {
	if cc.entries == nil || len(cc.entries) >= maxCachedChains {
		cc.entries = map[string]cachedChain{}
	}
	e := cachedChain{chain: chain}
	for i, ch := range chain {
		if i == 0 || ch.NotBefore.After(e.from) {
			e.from = ch.NotBefore
		}
		if i == 0 || ch.NotAfter.Before(e.until) {
			e.until = ch.NotAfter
		}
	}
	cc.entries[chainKey(c)] = e
}

// crl is what the CRLs of one CA key say: the serial numbers revoked by
// any of them, and the earliest nextUpdate (past it, the status is
// unknown).
type crl struct {
	next    time.Time
	revoked map[string]bool // serial numbers, big-endian bytes
}

// issuerKey names a CA by its name and its public key: a CA renewed with a
// new key keeps its name, and its CRLs speak only for the certificates the
// key that signed them signed.
func issuerKey(ca *x509.Certificate) string {
	h := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	return string(ca.RawSubject) + string(h[:])
}

// stale lists the trust anchors that are not valid at now and the CRLs past
// their nextUpdate: every request they decide is then refused, which an
// operator must hear about.
func (cc *clientCerts) stale(now time.Time) []string {
	var out []string
	for _, a := range cc.anchors {
		if now.Before(a.NotBefore) || now.After(a.NotAfter) {
			out = append(out, fmt.Sprintf("clientCertificates.trust: the CA certificate %q is valid only from %s to %s: no chain to it is trusted now",
				abbreviate(clientcert.FormatName(a.RawSubject)), a.NotBefore.UTC().Format(time.RFC3339), a.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	for i, l := range cc.crlList {
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			out = append(out, fmt.Sprintf("clientCertificates.crls[%d] of %q was due for an update at %s: the revocation status of the certificates of its CA is unknown until a newer one is configured",
				i, abbreviate(clientcert.FormatName(l.RawIssuer)), l.NextUpdate.UTC().Format(time.RFC3339)))
		}
	}
	return out
}

var defaultClientCerts = &clientCerts{now: time.Now}

func compileClientCerts(cfg ClientCertificates, certs map[string]string, now func() time.Time) (*clientCerts, error) {
	if now == nil {
		now = time.Now
	}
	bad := func(format string, args ...any) error {
		return &ConfigError{Doc: "clientCertificates", Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf(format, args...)}
	}
	cc := &clientCerts{now: now, byID: map[string]*x509.Certificate{}}
	switch cfg.Source {
	case "", "edge":
	case "proxy":
		cc.source = sourceProxy
	case "mesh":
		cc.source = sourceMesh
	default:
		return nil, bad("source must be \"edge\", \"proxy\" or \"mesh\", not %q", abbreviate(cfg.Source))
	}
	for id, text := range certs {
		b, _ := pem.Decode([]byte(text))
		if b == nil || b.Type != "CERTIFICATE" {
			continue // a key for <key certificate-id> may be another PEM type
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			cc.byID[id] = c
			cc.known = append(cc.known, c)
		}
	}
	if len(cfg.Trust) > 0 {
		if cc.source == sourceMesh {
			return nil, bad("trust does not apply to source \"mesh\": the sidecar validates the chain against the mesh's root")
		}
		cc.roots = x509.NewCertPool()
	}
	for _, id := range cfg.Trust {
		c, ok := cc.byID[id]
		if !ok {
			return nil, bad("trust names %q, which is not a PEM certificate in \"certificates\"", abbreviate(id))
		}
		cc.roots.AddCert(c)
		cc.anchors = append(cc.anchors, c)
	}
	if len(cfg.CRLs) > 0 && cc.source == sourceMesh {
		return nil, bad("crls do not apply to source \"mesh\": the connection does not report the certificate's issuer and serial number")
	}
	cc.crls = map[string]*crl{}
	for i, text := range cfg.CRLs {
		b, _ := pem.Decode([]byte(text))
		if b == nil || b.Type != "X509 CRL" {
			return nil, bad("crls[%d] is not a PEM X509 CRL", i)
		}
		l, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, bad("crls[%d] does not parse: %v", i, err)
		}
		// The CRL speaks for the key that signed it, under every
		// certificate of the configuration that carries that key and name.
		keys := map[string]bool{}
		for _, c := range cc.known {
			if bytes.Equal(c.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(c) == nil {
				keys[issuerKey(c)] = true
			}
		}
		if len(keys) == 0 {
			return nil, bad("crls[%d]: no certificate in \"certificates\" issued it (add the certificate of the CA key that signed it: a CA renewed with a new key under the same name needs its new certificate too)", i)
		}
		for key := range keys {
			entry := cc.crls[key]
			if entry == nil {
				entry = &crl{next: l.NextUpdate, revoked: map[string]bool{}}
				cc.crls[key] = entry
			}
			if !l.NextUpdate.IsZero() && (entry.next.IsZero() || l.NextUpdate.Before(entry.next)) {
				entry.next = l.NextUpdate
			}
			for _, r := range l.RevokedCertificateEntries {
				entry.revoked[string(r.SerialNumber.Bytes())] = true
			}
		}
		cc.crlList = append(cc.crlList, l)
	}
	for i, d := range cfg.TrustedProxies {
		if cc.source != sourceProxy {
			return nil, bad("trustedProxies applies only to source \"proxy\"")
		}
		d = strings.ToLower(strings.ReplaceAll(d, ":", ""))
		if _, err := hex.DecodeString(d); err != nil || len(d) != 64 {
			return nil, bad("trustedProxies[%d] must be a SHA-256 digest in hex (64 digits)", i)
		}
		if cc.proxies == nil {
			cc.proxies = map[string]bool{}
		}
		cc.proxies[d] = true
	}
	if cc.source == sourceProxy && len(cc.proxies) == 0 {
		return nil, bad("source \"proxy\" needs trustedProxies: the digests of the proxies' client certificates")
	}
	return cc, nil
}

// Reasons a request's client certificate could not be believed; they are
// the failure reasons of validate-client-certificate and security events.
const (
	reasonHeaderUntrusted = "ClientCertificateHeaderNotTrusted" // the header came without a connection that vouches for it
	reasonHeaderMismatch  = "ClientCertificateHeaderMismatch"   // the header's certificate is not the connection's
	reasonHeaderMissing   = "ClientCertificateHeaderMissing"    // a certificate on the connection, but not in the header
	reasonHeaderInvalid   = "ClientCertificateHeaderInvalid"    // the header or its certificate does not parse
	reasonChainTooLong    = "ClientCertificateChainTooLong"     // more intermediates than clientcert.MaxIntermediates
)

// fromRequest reads the request's client certificate. It returns nil
// without one; a non-empty reason says why a presented one is not
// believed.
func (cc *clientCerts) fromRequest(req Request) (*clientcert.Certificate, string) {
	var p Peer
	if r, ok := req.(PeerReporter); ok {
		p = r.Peer(cc.source == sourceMesh)
	}
	digest := strings.ToLower(p.SHA256)
	h, hasHeader := req.Header(xfccHeader)
	switch cc.source {
	case sourceMesh:
		if digest == "" {
			return nil, ""
		}
		return meshCertificate(p, digest), ""
	case sourceProxy:
		if digest == "" || !cc.proxies[digest] {
			if hasHeader {
				return nil, reasonHeaderUntrusted
			}
			return nil, ""
		}
		if !hasHeader {
			return nil, ""
		}
		return fromXFCC(h, "")
	}
	if digest == "" {
		if hasHeader {
			return nil, reasonHeaderUntrusted
		}
		return nil, ""
	}
	if !hasHeader {
		return nil, reasonHeaderMissing
	}
	return fromXFCC(h, digest)
}

// fromXFCC reads the one element of an x-forwarded-client-cert header;
// want, when set, is the digest the certificate must have.
func fromXFCC(h, want string) (*clientcert.Certificate, string) {
	els, err := clientcert.ParseXFCC(h)
	if err != nil {
		return nil, reasonHeaderInvalid
	}
	if len(els) != 1 {
		return nil, reasonHeaderMismatch
	}
	el := els[0]
	if el.Cert == "" {
		return nil, reasonHeaderMissing
	}
	c, err := clientcert.ParsePEM(el.Cert, "")
	if err != nil {
		return nil, reasonHeaderInvalid
	}
	if (want != "" && (c.SHA256 != want || el.Hash != want)) || (el.Hash != "" && el.Hash != c.SHA256) {
		return nil, reasonHeaderMismatch
	}
	chain, err := clientcert.ParseChain(el.Chain)
	if err != nil {
		return nil, reasonHeaderInvalid
	}
	for _, ch := range chain {
		if bytes.Equal(ch.Raw, c.Leaf.Raw) || !ch.IsCA || !ch.BasicConstraintsValid {
			continue // only CA certificates can be intermediates
		}
		if len(c.Chain) == clientcert.MaxIntermediates {
			return nil, reasonChainTooLong
		}
		c.Chain = append(c.Chain, ch)
	}
	return c, ""
}

// meshCertificate is what a mesh connection tells of the peer.
func meshCertificate(p Peer, digest string) *clientcert.Certificate {
	c := &clientcert.Certificate{SHA256: digest, Validated: p.Validated}
	if attrs, err := clientcert.ParseName(p.Subject); err == nil {
		c.SubjectAttrs, c.Subject = attrs, clientcert.FormatAttrs(attrs)
	}
	if p.DNSSAN != "" {
		c.DNSNames = []string{p.DNSSAN}
	}
	if p.URISAN != "" {
		c.URIs = []string{p.URISAN}
	}
	return c
}

// Failure reasons of the checks of a certificate.
const (
	reasonMissing           = "ClientCertificateMissing"
	reasonNotYetValid       = "ClientCertificateNotYetValid"
	reasonExpired           = "ClientCertificateExpired"
	reasonNotTrusted        = "ClientCertificateNotTrusted"
	reasonRevoked           = "ClientCertificateRevoked"
	reasonRevocationUnknown = "ClientCertificateRevocationUnknown"
	reasonIdentity          = "ClientCertificateIdentityMismatch"
)

// certChecks are validate-client-certificate's top-level rules.
type certChecks struct {
	notBefore, notAfter, trust, revocation bool
}

// verify applies the checks to c and returns the failure reason, or "".
// A mesh certificate's chain and dates are the handshake's to check: they
// pass only when the connection says the handshake validated it (a
// listener that accepts untrusted certificates lets others through);
// revocation is refused at load time in that mode.
func (cc *clientCerts) verify(c *clientcert.Certificate, k certChecks) string {
	if c.Leaf == nil {
		if (k.trust || k.notBefore || k.notAfter) && !c.Validated {
			return reasonNotTrusted
		}
		return ""
	}
	now := cc.now()
	if k.notBefore && now.Before(c.NotBefore) {
		return reasonNotYetValid
	}
	if k.notAfter && now.After(c.NotAfter) {
		return reasonExpired
	}
	var chain []*x509.Certificate
	if k.trust {
		if cc.roots == nil {
			return reasonNotTrusted
		}
		// With a date check turned off, the chain is built at a time the
		// leaf is valid.
		at := now
		if !k.notBefore && at.Before(c.NotBefore) {
			at = c.NotBefore
		}
		if !k.notAfter && at.After(c.NotAfter) {
			at = c.NotAfter
		}
		if chain = cc.chains.get(c, at); chain == nil {
			inter := x509.NewCertPool()
			for _, ch := range c.Chain {
				inter.AddCert(ch)
			}
			chains, err := c.Leaf.Verify(x509.VerifyOptions{Roots: cc.roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil || len(chains) == 0 {
				return reasonNotTrusted
			}
			chain = chains[0]
			cc.chains.put(c, chain)
		}
	}
	if k.revocation {
		if chain == nil {
			// Without a chain to the trust, the leaf's issuer is the
			// certificate whose key signed it.
			issuer := cc.issuerOf(c)
			if issuer == nil {
				return reasonRevocationUnknown
			}
			chain = []*x509.Certificate{c.Leaf, issuer}
		}
		return cc.revocation(chain, now)
	}
	return ""
}

// revocation looks every certificate of chain (leaf first, each signed by
// the next) up in the CRLs of the key that signed it: a serial number
// speaks only within the key that issued it. A CA key without a CRL, or
// whose CRL is past nextUpdate, leaves the status unknown.
func (cc *clientCerts) revocation(chain []*x509.Certificate, now time.Time) string {
	for i := 0; i+1 < len(chain); i++ {
		l := cc.crls[issuerKey(chain[i+1])]
		if l == nil || (!l.next.IsZero() && now.After(l.next)) {
			return reasonRevocationUnknown
		}
		if l.revoked[string(chain[i].SerialNumber.Bytes())] {
			return reasonRevoked
		}
	}
	return ""
}

// issuerOf finds the certificate that signed c among its chain and the
// configuration's certificates, or nil.
func (cc *clientCerts) issuerOf(c *clientcert.Certificate) *x509.Certificate {
	for _, list := range [][]*x509.Certificate{c.Chain, cc.anchors, cc.known} {
		for _, cand := range list {
			if bytes.Equal(cand.RawSubject, c.Leaf.RawIssuer) && c.Leaf.CheckSignatureFrom(cand) == nil {
				return cand
			}
		}
	}
	return nil
}

// requestCertificate is a request's client certificate as read once: the
// certificate (nil without one) and why a presented one is not believed.
type requestCertificate struct {
	read    bool
	cert    *clientcert.Certificate
	problem string
}

// clientCertificate is the request's client certificate, read once, and
// the reason a presented one is not believed.
func (x *Exec) clientCertificate() (*clientcert.Certificate, string) {
	rc := &x.certificate
	if !rc.read {
		rc.read = true
		cc := x.prog.certs
		if cc == nil {
			cc = defaultClientCerts
		}
		rc.cert, rc.problem = cc.fromRequest(x.req)
	}
	return rc.cert, rc.problem
}

// ClientCertificate implements expr.Env: a certificate that is not
// believed is no certificate.
func (x *Exec) ClientCertificate() *clientcert.Certificate {
	c, _ := x.clientCertificate()
	return c
}

// VerifyClientCertificate implements expr.Env (Certificate.Verify and
// VerifyNoRevocation): the chain to the configured trust and the dates,
// and with revocation the configured CRLs.
func (x *Exec) VerifyClientCertificate(revocation bool) bool {
	c, _ := x.clientCertificate()
	if c == nil {
		return false
	}
	cc := x.prog.certs
	if cc == nil {
		cc = defaultClientCerts
	}
	return cc.verify(c, certChecks{notBefore: true, notAfter: true, trust: true, revocation: revocation}) == ""
}

// Now implements expr.Env: the gateway's clock (Options.Now).
func (x *Exec) Now() time.Time {
	if x.prog.now != nil {
		return x.prog.now()
	}
	return time.Now()
}
