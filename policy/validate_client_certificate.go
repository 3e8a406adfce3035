package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"slices"
	"strings"

	"github.com/apimguard/apimguard/policy/clientcert"
)

// validateClientCertificate is APIM's validate-client-certificate policy:
// the request's client certificate must pass the top-level rules and match
// every attribute of at least one <identity>.
// Reference: https://learn.microsoft.com/azure/api-management/validate-client-certificate-policy
//
// # Notes
//
//   - The certificate is the one client_certificate.go believes: from the
//     connection (mesh) or from x-forwarded-client-cert checked against
//     the connection (edge) or against a trusted proxy (proxy).
//   - APIM does not document the failure response: it is 401 with
//     {"statusCode":401,"message":"Invalid client certificate."}, the
//     same for every reason; LastError.Reason and the security event say
//     which rule failed.
//   - validate-trust builds the chain with crypto/x509 to the CAs named
//     in clientCertificates.trust; validate-revocation looks the
//     certificates of that chain up in clientCertificates.crls, and fails
//     when a CA has no CRL or its CRL is past nextUpdate. Both default to
//     true, as in APIM; with nothing configured to check against, a true
//     one is refused at load time rather than passing silently.
//   - With source "mesh", the sidecar has checked the chain and the dates
//     during the handshake; revocation and the identity attributes the
//     connection cannot report (SHA-1 thumbprint, serial number, issuer)
//     are refused at load time.
//   - thumbprint takes a SHA-1 (40 hex digits, APIM's) or SHA-256 (64)
//     thumbprint, in any case; serial-number compares as a number; names
//     compare attribute by attribute, ASCII case-insensitively for the
//     attribute types .NET names and byte for byte for other OIDs, never
//     with Unicode case folding, spaces significant (clientcert.ValuesEqual).
//   - uri-name is an apimguard extension: a URI SAN (a SPIFFE ID in a
//     mesh), which APIM's attributes cannot express.
type validateClientCertificate struct {
	stmtMeta
	checks      certChecks
	ignoreError bool
	certs       *clientCerts
	identities  []certIdentity
	failures    map[string]*Failure
}

// certIdentity is one <identity>: every attribute set must match.
type certIdentity struct {
	thumbprint       string // upper-case hex, SHA-1 or SHA-256
	serial           *big.Int
	commonName       string
	subject          []clientcert.NameAttr
	dnsName          string
	uriName          string
	issuerSubject    []clientcert.NameAttr
	issuerThumbprint string
	issuerCert       *x509.Certificate
}

const maxIdentities = 10

var clientCertificateMessages = map[string]string{
	reasonMissing:           "Client certificate is missing.",
	reasonNotYetValid:       "Client certificate is not yet valid.",
	reasonExpired:           "Client certificate has expired.",
	reasonNotTrusted:        "Client certificate is not issued by a trusted certificate authority.",
	reasonRevoked:           "Client certificate has been revoked.",
	reasonRevocationUnknown: "The revocation status of the client certificate is unknown.",
	reasonIdentity:          "Client certificate does not match any of the allowed identities.",
	reasonHeaderUntrusted:   "The x-forwarded-client-cert header did not come with a connection that vouches for it.",
	reasonHeaderMismatch:    "The x-forwarded-client-cert header does not match the connection's certificate.",
	reasonHeaderMissing:     "The connection has a client certificate but x-forwarded-client-cert does not carry it.",
	reasonHeaderInvalid:     "The x-forwarded-client-cert header or its certificate does not parse.",
	reasonChainTooLong:      "The client certificate chain has more than 3 intermediate certificates.",
}

func compileValidateClientCertificate(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "validate-revocation", "validate-trust", "validate-not-before", "validate-not-after", "ignore-error"); err != nil {
		return nil, err
	}
	v := &validateClientCertificate{stmtMeta: c.meta(n), certs: c.certs, failures: map[string]*Failure{}}
	var err error
	flags := []struct {
		name string
		to   *bool
		def  bool
	}{
		{"validate-revocation", &v.checks.revocation, true}, {"validate-trust", &v.checks.trust, true},
		{"validate-not-before", &v.checks.notBefore, true}, {"validate-not-after", &v.checks.notAfter, true},
		{"ignore-error", &v.ignoreError, false},
	}
	for _, f := range flags {
		if *f.to, err = c.boolAttr(n, f.name, f.def); err != nil {
			return nil, err
		}
	}
	mesh := c.certs.source == sourceMesh
	switch {
	case v.checks.revocation && mesh:
		return nil, c.errf(n, n.Pos, `validate-revocation is true (the default) but clientCertificates.source "mesh" cannot check revocation; set validate-revocation="false"`)
	case v.checks.revocation && len(c.certs.crls) == 0:
		return nil, c.errf(n, n.Pos, `validate-revocation is true (the default) but clientCertificates.crls is empty; give the CAs' CRLs, or set validate-revocation="false"`)
	case v.checks.trust && !mesh && c.certs.roots == nil:
		return nil, c.errf(n, n.Pos, `validate-trust is true (the default) but clientCertificates.trust names no CA certificate; name the CAs, or set validate-trust="false"`)
	}
	if err := c.only(n, "identities"); err != nil {
		return nil, err
	}
	if len(n.Children) > 1 {
		return nil, c.errf(n, n.Children[1].Pos, "only one <identities>")
	}
	if len(n.Children) == 1 {
		ids := n.Children[0]
		if err := c.attrs(ids); err != nil {
			return nil, err
		}
		if err := c.only(ids, "identity"); err != nil {
			return nil, err
		}
		if len(ids.Children) > maxIdentities {
			return nil, c.errf(ids, ids.Children[maxIdentities].Pos, "at most %d <identity> elements", maxIdentities)
		}
		for _, idn := range ids.Children {
			id, err := c.certIdentity(idn, mesh)
			if err != nil {
				return nil, err
			}
			v.identities = append(v.identities, id)
		}
	}
	for reason, msg := range clientCertificateMessages {
		v.failures[reason] = &Failure{Source: "validate-client-certificate", Reason: reason, Message: msg, PolicyID: v.id,
			Status: 401, Body: errorBody(401, "Invalid client certificate."), scope: v.scope, path: v.path}
	}
	return v, nil
}

func (c *compiler) certIdentity(n *Node, mesh bool) (certIdentity, error) {
	var id certIdentity
	if err := c.attrs(n, "thumbprint", "serial-number", "common-name", "subject", "dns-name", "uri-name", "issuer-subject", "issuer-thumbprint", "issuer-certificate-id"); err != nil {
		return id, err
	}
	if err := c.empty(n); err != nil {
		return id, err
	}
	set := 0
	for _, a := range n.Attrs {
		if a.Name == "id" {
			continue
		}
		v, err := c.constant(n, a)
		if err != nil {
			return id, err
		}
		switch a.Name {
		case "common-name", "dns-name", "uri-name":
			// Spaces in names are significant: one at an end would be
			// compared, and is far more likely a slip than meant.
			if v != strings.TrimSpace(v) {
				return id, c.errf(n, a.Pos, "attribute %q begins or ends with white space, which would be compared; remove it", a.Name)
			}
		default:
			v = strings.TrimSpace(v)
		}
		if v == "" {
			return id, c.errf(n, a.Pos, "attribute %q is empty", a.Name)
		}
		set++
		if mesh {
			switch {
			case a.Name == "thumbprint" && len(v) != 64, a.Name == "serial-number", strings.HasPrefix(a.Name, "issuer-"):
				return id, c.errf(n, a.Pos, `attribute %q cannot be checked with clientCertificates.source "mesh": the connection reports the subject, the first URI and DNS SANs and the SHA-256 digest (a thumbprint must be SHA-256 there)`, a.Name)
			}
		}
		switch a.Name {
		case "thumbprint", "issuer-thumbprint":
			t := strings.ToUpper(v)
			if _, err := hex.DecodeString(t); err != nil || (len(t) != 40 && len(t) != 64) {
				return id, c.errf(n, a.Pos, "attribute %q must be a SHA-1 (40 hex digits) or SHA-256 (64) thumbprint", a.Name)
			}
			*map[string]*string{"thumbprint": &id.thumbprint, "issuer-thumbprint": &id.issuerThumbprint}[a.Name] = t
		case "serial-number":
			s, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ReplaceAll(v, " ", ""), "0x"), 16)
			if !ok {
				return id, c.errf(n, a.Pos, "attribute \"serial-number\" must be hexadecimal")
			}
			id.serial = s
		case "common-name":
			id.commonName = v
		case "dns-name":
			id.dnsName = v
		case "uri-name":
			id.uriName = v
		case "subject", "issuer-subject":
			attrs, err := clientcert.ParseName(v)
			if err != nil || len(attrs) == 0 {
				return id, c.errf(n, a.Pos, "attribute %q is not a distinguished name such as \"CN=client, O=Contoso\"", a.Name)
			}
			for _, at := range attrs {
				if !clientcert.KnownType(at.Type) {
					return id, c.errf(n, a.Pos, "attribute %q names the attribute type %q, which is none of CN, O, OU, C, L, S, STREET, E, DC, UID, SERIALNUMBER, SN, G, T, I or an OID", a.Name, abbreviate(at.Type))
				}
			}
			*map[string]*[]clientcert.NameAttr{"subject": &id.subject, "issuer-subject": &id.issuerSubject}[a.Name] = attrs
		case "issuer-certificate-id":
			cert := c.certs.byID[v]
			if cert == nil {
				return id, c.errf(n, a.Pos, "issuer-certificate-id %q is not a PEM certificate in \"certificates\"", abbreviate(v))
			}
			id.issuerCert = cert
		}
	}
	if set == 0 {
		return id, c.errf(n, n.Pos, "an <identity> needs at least one attribute")
	}
	if id.issuerCert != nil && (id.issuerSubject != nil || id.issuerThumbprint != "") {
		return id, c.errf(n, n.Pos, "issuer-certificate-id cannot be combined with issuer-subject or issuer-thumbprint")
	}
	return id, nil
}

func (v *validateClientCertificate) run(x *Exec) error {
	reason := v.check(x)
	if reason == "" || v.ignoreError {
		return nil
	}
	return v.failures[reason]
}

// check returns the reason the request's certificate fails, or "".
func (v *validateClientCertificate) check(x *Exec) string {
	c, problem := x.clientCertificate()
	if c == nil {
		if problem != "" {
			return problem
		}
		return reasonMissing
	}
	if r := v.certs.verify(c, v.checks); r != "" {
		return r
	}
	if len(v.identities) == 0 {
		return ""
	}
	for i := range v.identities {
		if v.identities[i].matches(c, v.certs) {
			return ""
		}
	}
	return reasonIdentity
}

// matches reports whether c has every attribute of the identity. Names
// compare as clientcert.ValuesEqual says: ASCII case-insensitively where the
// attribute type allows it, spaces significant; DNS names ASCII
// case-insensitively (RFC 5280, 7.2); URIs exactly.
func (id *certIdentity) matches(c *clientcert.Certificate, cc *clientCerts) bool {
	if id.thumbprint != "" {
		want := c.Thumbprint
		if len(id.thumbprint) == 64 {
			want = strings.ToUpper(c.SHA256)
		}
		if want == "" || !secretEqual(id.thumbprint, want, false) {
			return false
		}
	}
	if id.commonName != "" && !clientcert.EqualFoldASCII(clientcert.CommonName(c.SubjectAttrs), id.commonName) {
		return false
	}
	if id.subject != nil && !clientcert.NamesEqual(id.subject, c.SubjectAttrs) {
		return false
	}
	if id.dnsName != "" && !slices.ContainsFunc(c.DNSNames, func(d string) bool { return clientcert.EqualFoldASCII(d, id.dnsName) }) {
		return false
	}
	if id.uriName != "" && !slices.Contains(c.URIs, id.uriName) {
		return false
	}
	if c.Leaf == nil {
		return id.serial == nil && id.issuerSubject == nil && id.issuerThumbprint == "" && id.issuerCert == nil
	}
	if id.serial != nil && id.serial.Cmp(c.Leaf.SerialNumber) != 0 {
		return false
	}
	if id.issuerSubject != nil && !clientcert.NamesEqual(id.issuerSubject, c.IssuerAttrs) {
		return false
	}
	if id.issuerThumbprint != "" {
		issuer := cc.issuerOf(c)
		if issuer == nil {
			return false
		}
		s1, s256 := clientcert.Thumbprints(issuer.Raw)
		if want := map[bool]string{true: s256, false: s1}[len(id.issuerThumbprint) == 64]; want != id.issuerThumbprint {
			return false
		}
	}
	if id.issuerCert != nil {
		if !bytes.Equal(id.issuerCert.RawSubject, c.Leaf.RawIssuer) || c.Leaf.CheckSignatureFrom(id.issuerCert) != nil {
			return false
		}
	}
	return true
}
