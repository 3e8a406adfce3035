package expr

// context.Request.Certificate (an X509Certificate2) and the DateTime values
// its dates are.

import (
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/clientcert"
)

// meshUnknown are the certificate members a mesh connection cannot supply:
// it reports the peer's subject, SANs and SHA-256 digest, not the
// certificate.
var meshUnknown = map[string]string{
	"Thumbprint": "the SHA-1 thumbprint", "Issuer": "the issuer", "IssuerName": "the issuer",
	"SerialNumber": "the serial number", "NotBefore": "the validity dates", "NotAfter": "the validity dates",
	"Verify": "revocation (use VerifyNoRevocation)",
}

func cert(r any) *clientcert.Certificate { return r.(*clientcert.Certificate) }

// certificateMembers declares the members of X509Certificate2, its names
// and DateTime (after methods.go has made the tables).
func certificateMembers() {
	props[requestType]["Certificate"] = prop{typ: CertificateType, get: func(f *frame, _ any) (any, error) {
		if c := f.env.ClientCertificate(); c != nil {
			return c, nil
		}
		return nil, nil
	}}
	props[CertificateType] = map[string]prop{
		"Thumbprint":   str(func(_ *frame, r any) string { return cert(r).Thumbprint }),
		"Subject":      str(func(_ *frame, r any) string { return cert(r).Subject }),
		"Issuer":       str(func(_ *frame, r any) string { return cert(r).Issuer }),
		"SerialNumber": str(func(_ *frame, r any) string { return cert(r).SerialNumber }),
		"NotBefore":    {typ: DateTimeType, get: func(_ *frame, r any) (any, error) { return cert(r).NotBefore.UTC(), nil }},
		"NotAfter":     {typ: DateTimeType, get: func(_ *frame, r any) (any, error) { return cert(r).NotAfter.UTC(), nil }},
		"SubjectName":  {typ: x500NameType, get: func(_ *frame, r any) (any, error) { return cert(r).Subject, nil }},
		"IssuerName":   {typ: x500NameType, get: func(_ *frame, r any) (any, error) { return cert(r).Issuer, nil }},
	}
	props[x500NameType] = map[string]prop{
		"Name": str(func(_ *frame, r any) string { return r.(string) }),
	}
	verify := func(revocation bool) method {
		return simple(Bool, 0, nil, func(f *frame, _ any, _ []any) (any, error) {
			return f.env.VerifyClientCertificate(revocation), nil
		})
	}
	methods[CertificateType] = map[string]method{
		"Verify":             verify(true),
		"VerifyNoRevocation": verify(false),
		"ToString":           simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return ToString(r), nil }),
	}
	add := func(unit time.Duration) method {
		return simple(DateTimeType, 1, []Type{Int}, func(_ *frame, r any, a []any) (any, error) {
			n := a[0].(int64)
			if n > 1e6 || n < -1e6 {
				return nil, rtErr("The added or subtracted value results in an un-representable DateTime.")
			}
			return r.(time.Time).Add(time.Duration(n) * unit), nil
		})
	}
	methods[DateTimeType] = map[string]method{
		"AddDays":    add(24 * time.Hour),
		"AddHours":   add(time.Hour),
		"AddMinutes": add(time.Minute),
		"AddSeconds": add(time.Second),
		"ToString":   dateToString,
	}
}

// formatTime renders t as .NET does in the en-US culture (""), or in a
// standard format.
func formatTime(t time.Time, format string) string {
	t = t.UTC()
	switch format {
	case "o", "O":
		return t.Format("2006-01-02T15:04:05.0000000Z")
	case "s":
		return t.Format("2006-01-02T15:04:05")
	case "u":
		return t.Format("2006-01-02 15:04:05Z")
	}
	return t.Format("1/2/2006 3:04:05 PM")
}

// compareTimes compiles <, >, <= and >= between two DateTimes.
func (c *compiler) compareTimes(n *binaryNode, x, y value) (value, error) {
	if x.typ != DateTimeType || y.typ != DateTimeType || !strings.ContainsAny(n.op, "<>") {
		return value{}, errAt(n, "unsupported operator %s between %s and %s", n.op, x.typ, y.typ)
	}
	op := n.op
	return value{typ: Bool, eval: func(f *frame) (any, error) {
		a, b, err := evalBoth(f, x, y)
		if err != nil {
			return nil, err
		}
		at, aok := a.(time.Time)
		bt, bok := b.(time.Time)
		if !aok || !bok {
			return nil, errNull
		}
		switch op {
		case "<":
			return at.Before(bt), nil
		case ">":
			return at.After(bt), nil
		case "<=":
			return !at.After(bt), nil
		}
		return !at.Before(bt), nil
	}}, nil
}

// dateTimeStatic is DateTime.UtcNow and DateTime.Now (the gateway runs in
// UTC).
func dateTimeStatic(n *memberNode) (value, error) {
	switch n.name {
	case "UtcNow", "Now":
		return value{typ: DateTimeType, eval: func(f *frame) (any, error) { return f.env.Now().UTC(), nil }}, nil
	}
	return value{}, errAt(n, "unsupported member DateTime.%s", n.name)
}

// meshCheck refuses, in mesh mode, a certificate member the connection
// cannot supply.
func (c *compiler) meshCheck(n node, recv Type, name string) error {
	if !c.opt.MeshCertificate || recv != CertificateType {
		return nil
	}
	if what, ok := meshUnknown[name]; ok {
		return errAt(n, "context.Request.Certificate.%s is not available with clientCertificates.source \"mesh\": the mesh connection reports the subject, SANs and SHA-256 digest, not %s", name, what)
	}
	return nil
}
