// Package clientcert is the client certificate as policies see it
// (context.Request.Certificate, validate-client-certificate): the parsed
// certificate with .NET's renderings of its names and thumbprint, and the
// readers of what the host hands over: PEM, Envoy's
// x-forwarded-client-cert header, and distinguished names as Envoy and APIM
// write them.
//
// Everything here reads bytes a client chose (a certificate, a header a
// forged request can carry): every size and count is bounded.
package clientcert

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"time"
)

// Limits on what a request can make the gateway parse.
const (
	// MaxHeader bounds the x-forwarded-client-cert header read.
	MaxHeader = 64 << 10
	// MaxElements bounds the elements of x-forwarded-client-cert.
	MaxElements = 8
	// MaxChain bounds the certificates of a presented chain, leaf
	// included.
	MaxChain = 8
	// MaxIntermediates bounds the intermediates a chain is built through:
	// each can make chain building try more paths, each path costs
	// signature checks with keys the client chose.
	MaxIntermediates = 3
)

// Certificate is a client certificate. From a full certificate (edge and
// proxy deployments, apimguard test) every field is set; from a mesh
// connection (Istio), where the host reports only the peer's subject, SANs
// and digest, Leaf is nil and so are the fields that need it.
type Certificate struct {
	Leaf *x509.Certificate // nil in mesh mode
	// Chain holds the intermediates the client presented, leaf excluded.
	Chain []*x509.Certificate
	// SHA256 is the lower-case hex SHA-256 of the leaf's DER.
	SHA256 string
	// Thumbprint is .NET's: upper-case hex SHA-1 of the DER ("" in mesh).
	Thumbprint string
	// Subject and Issuer are .NET's renderings ("CN=a, O=b"): most
	// specific first, ", " between attributes. Issuer is "" in mesh.
	Subject, Issuer string
	// SubjectAttrs and IssuerAttrs are the names' attributes in the order
	// Subject and Issuer render them, read from the certificate's DER (in
	// mesh, SubjectAttrs from the connection's report; IssuerAttrs nil).
	// Identity checks compare these, never a rendering read back.
	SubjectAttrs, IssuerAttrs []NameAttr
	// SerialNumber is .NET's: upper-case hex of the DER integer's bytes.
	SerialNumber        string
	NotBefore, NotAfter time.Time // zero in mesh
	DNSNames, URIs      []string
	// Validated is set in mesh when the connection reports that the TLS
	// handshake validated the certificate (trust and dates); false
	// elsewhere, where the plugin checks the certificate itself.
	Validated bool
}

// Parse reads a certificate from DER and its intermediates.
func Parse(der []byte, chain []*x509.Certificate) (*Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errors.New("the client certificate does not parse")
	}
	sum := sha256.Sum256(der)
	thumb := sha1.Sum(der)
	c := &Certificate{
		Leaf: leaf, Chain: chain,
		SHA256:       hex.EncodeToString(sum[:]),
		Thumbprint:   strings.ToUpper(hex.EncodeToString(thumb[:])),
		SubjectAttrs: NameAttrs(leaf.RawSubject),
		IssuerAttrs:  NameAttrs(leaf.RawIssuer),
		SerialNumber: serialHex(leaf),
		NotBefore:    leaf.NotBefore, NotAfter: leaf.NotAfter,
		DNSNames: leaf.DNSNames,
	}
	c.Subject, c.Issuer = FormatAttrs(c.SubjectAttrs), FormatAttrs(c.IssuerAttrs)
	for _, u := range leaf.URIs {
		c.URIs = append(c.URIs, u.String())
	}
	return c, nil
}

// ParsePEM reads a PEM certificate and a PEM chain (may be empty).
func ParsePEM(certPEM, chainPEM string) (*Certificate, error) {
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("the client certificate is not a PEM CERTIFICATE")
	}
	chain, err := ParseChain(chainPEM)
	if err != nil {
		return nil, err
	}
	return Parse(b.Bytes, chain)
}

// ParseChain reads up to MaxChain PEM certificates.
func ParseChain(chainPEM string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, errors.New("the client certificate chain holds a PEM block that is not a CERTIFICATE")
		}
		if len(chain) == MaxChain {
			return nil, errors.New("the client certificate chain is too long")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errors.New("a certificate of the client's chain does not parse")
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// serialHex renders the serial number as .NET's SerialNumber does: the
// bytes of the DER INTEGER (a leading 00 when the high bit is set).
func serialHex(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	if c.SerialNumber.Sign() < 0 {
		// Negative serials are not valid X.509 but parse; render their
		// magnitude with a marker rather than a wrong number.
		return "-" + strings.ToUpper(hex.EncodeToString(b))
	}
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// attributeNames are .NET's short names of name attributes.
var attributeNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "S", "2.5.4.9": "STREET",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER", "2.5.4.4": "SN", "2.5.4.42": "G",
	"2.5.4.12": "T", "2.5.4.43": "I", "1.2.840.113549.1.9.1": "E", "0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1": "UID",
}

// NameAttrs reads a DER Name into its attributes, the last RDN first (the
// order .NET renders them in), with .NET's short names for the types it
// knows and OID.1.2.3 for others; nil when the DER does not parse. A value
// of a type that is not a string is "" (no configured value is empty).
func NameAttrs(der []byte) []NameAttr {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return nil
	}
	var attrs []NameAttr
	for i := len(rdns) - 1; i >= 0; i-- {
		for _, atv := range rdns[i] {
			oid := atv.Type.String()
			name, ok := attributeNames[oid]
			if !ok {
				name = "OID." + oid
			}
			v, _ := atv.Value.(string)
			attrs = append(attrs, NameAttr{Type: name, Value: v})
		}
	}
	return attrs
}

// FormatName renders a DER Name as .NET's X500DistinguishedName.Name:
// the last RDN first, ", " between attributes, a value quoted when it
// holds a character that would split it. Attributes of unknown type are
// written OID.1.2.3=value.
func FormatName(der []byte) string { return FormatAttrs(NameAttrs(der)) }

// FormatAttrs renders a parsed name as FormatName renders a DER one.
func FormatAttrs(attrs []NameAttr) string {
	var b strings.Builder
	for i, a := range attrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Type)
		b.WriteByte('=')
		writeValue(&b, a.Value)
	}
	return b.String()
}

// writeValue writes v quoted when it holds a character that would split
// it, as .NET does.
func writeValue(b *strings.Builder, v string) {
	if v == "" || strings.ContainsAny(v, ",+=\"\\\n<>#;") || v[0] == ' ' || v[len(v)-1] == ' ' {
		b.WriteByte('"')
		b.WriteString(quoteEscaper.Replace(v))
		b.WriteByte('"')
		return
	}
	b.WriteString(v)
}

// quoteEscaper escapes a quoted value: "" for a quote (as .NET writes
// it), \\ for a backslash (which ParseName reads as an escape).
var quoteEscaper = strings.NewReplacer(`"`, `""`, `\`, `\\`)

// NameAttr is one attribute of a distinguished name.
type NameAttr struct{ Type, Value string }

// ParseName reads a distinguished name as APIM's identity attributes and
// Envoy's connection.subject_peer_certificate write it: attributes
// separated by ',' (or '+' within an RDN, read the same), each TYPE=value,
// with a value either "quoted" ("" or \" inside) or escaped RFC 4514-style
// (\, \+ \\ \XX). Types are upper-cased and mapped to .NET's short names
// (ST is S, EMAILADDRESS is E). Spaces around an attribute are dropped;
// spaces inside quotes, and escaped ones (\ ), are part of the value.
func ParseName(s string) ([]NameAttr, error) {
	if len(s) > 4096 {
		return nil, errors.New("the name is longer than 4096 bytes")
	}
	var attrs []NameAttr
	i := 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) {
			if len(attrs) > 0 {
				return nil, errors.New("the name ends with a separator")
			}
			return nil, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, errors.New("an attribute has no '='")
		}
		typ := strings.TrimSpace(s[i : i+eq])
		if !validType(typ) {
			return nil, errors.New("an attribute type is not a keyword or an OID")
		}
		typ = canonicalType(typ)
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var v strings.Builder
		keep := 0 // the value's length up to its last significant byte
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '"' && i+1 < len(s) && s[i+1] == '"' {
					v.WriteByte('"')
					i += 2
					continue
				}
				if c == '\\' && i+1 < len(s) {
					v.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					closed = true
					break
				}
				v.WriteByte(c)
				i++
			}
			if !closed {
				return nil, errors.New("a quoted value is not closed")
			}
			keep = v.Len()
			for i < len(s) && s[i] == ' ' {
				i++
			}
		} else {
			for i < len(s) && s[i] != ',' && s[i] != '+' {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
						x, _ := hex.DecodeString(s[i+1 : i+3])
						v.WriteByte(x[0])
						i += 3
					} else {
						v.WriteByte(s[i+1])
						i += 2
					}
					keep = v.Len()
					continue
				}
				v.WriteByte(c)
				if c != ' ' {
					keep = v.Len()
				}
				i++
			}
		}
		attrs = append(attrs, NameAttr{Type: typ, Value: v.String()[:keep]})
		if len(attrs) > 64 {
			return nil, errors.New("the name has more than 64 attributes")
		}
		if i == len(s) {
			return attrs, nil
		}
		if s[i] != ',' && s[i] != '+' {
			return nil, errors.New("unexpected text after a quoted value")
		}
		i++
	}
}

// validType reports whether t is an attribute type: a keyword (letters,
// digits, '-') or an OID (digits and dots, optionally after "OID.").
func validType(t string) bool {
	if len(t) > 4 && strings.EqualFold(t[:4], "OID.") {
		t = t[4:] // the prefix canonicalType writes does not count
	}
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// canonicalType is an attribute type as NameAttrs writes it: .NET's short
// name when it has one (ST is S, EMAILADDRESS is E, 2.5.4.3 and OID.2.5.4.3
// are CN), OID.1.2.3 for another OID, else the keyword upper-cased.
func canonicalType(t string) string {
	t = strings.ToUpper(t)
	switch t {
	case "ST":
		return "S"
	case "EMAILADDRESS", "EMAIL":
		return "E"
	}
	oid := strings.TrimPrefix(t, "OID.")
	if oid != "" && strings.Trim(oid, "0123456789.") == "" {
		if name, ok := attributeNames[oid]; ok {
			return name
		}
		return "OID." + oid
	}
	return t
}

// KnownType reports whether a canonical type can appear in a
// certificate's NameAttrs: one of .NET's short names, or an OID.
func KnownType(t string) bool {
	if strings.HasPrefix(t, "OID.") {
		return true
	}
	for _, name := range attributeNames {
		if name == t {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// NamesEqual compares two parsed names attribute by attribute, in order,
// with ValuesEqual.
func NamesEqual(a, b []NameAttr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !ValuesEqual(a[i].Type, a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// ValuesEqual compares two values of an attribute of type typ as X.509
// names are compared (RFC 5280, 7.1), within what a gateway can do
// without a Unicode string preparation: the attribute types .NET names
// (CN, O, OU, C, L, S, STREET, E, DC, ...) match case-insensitively, and
// only in ASCII (a non-ASCII letter never equals an ASCII one, as U+017F
// would equal "s" under Unicode folding); an attribute of another type
// (OID.x) matches byte for byte. Spaces are significant everywhere.
func ValuesEqual(typ, a, b string) bool {
	if strings.HasPrefix(typ, "OID.") {
		return a == b
	}
	return EqualFoldASCII(a, b)
}

// EqualFoldASCII reports whether a and b are equal when ASCII letters are
// folded to lower case; every other byte must be equal.
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// CommonName is the first CN of a parsed name in rendering order (the most
// specific one), "" without one.
func CommonName(attrs []NameAttr) string {
	for _, a := range attrs {
		if a.Type == "CN" {
			return a.Value
		}
	}
	return ""
}

// Thumbprints returns the SHA-1 and SHA-256 thumbprints of a DER
// certificate, upper-case hex.
func Thumbprints(der []byte) (sha1Hex, sha256Hex string) {
	s1 := sha1.Sum(der)
	s2 := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(s1[:])), strings.ToUpper(hex.EncodeToString(s2[:]))
}
