package clientcert

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseXFCC: any header value parses or fails, within the limits.
func FuzzParseXFCC(f *testing.F) {
	for _, s := range []string{`Hash=ab;Cert="%2D%2D";Chain="x";Subject="CN=a, O=\"b\""`, `By=a,Hash=b`, `Subject="`, `a=b;c="d\"e";f`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		els, err := ParseXFCC(h)
		if err == nil && (len(els) == 0 || len(els) > MaxElements) {
			t.Fatalf("%d elements", len(els))
		}
		for _, el := range els {
			if el.Cert != "" {
				_, _ = ParsePEM(el.Cert, el.Chain)
			}
		}
	})
}

// FuzzParseName: a name that parses renders to a text that parses back to
// the same attributes.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{`CN=client, O="Contoso, Inc.", C=US`, `CN=a\,b+OU=\41`, `O="x""y"`, `a= b ,c=`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		attrs, err := ParseName(s)
		if err != nil {
			return
		}
		text := FormatAttrs(attrs)
		if len(text) > 4096 {
			return // quoting grew it past the limit ParseName takes
		}
		again, err := ParseName(text)
		if err != nil {
			t.Fatalf("%.200q renders to %.200q, which does not parse: %v", s, text, err)
		}
		if !NamesEqual(attrs, again) {
			t.Fatalf("%.200q: %.200v then %.200v", s, attrs, again)
		}
	})
}

// FuzzNameMatch: a configured name matches a certificate's name exactly
// when X.509 comparison says so. The identity is written as an operator
// would (FormatAttrs, then ParseName, as <identity subject> is read); the
// certificate's name comes from its DER (NameAttrs). Letters fold only in
// ASCII, every other byte (spaces, U+017F, the Kelvin sign) must be equal.
func FuzzNameMatch(f *testing.F) {
	for _, s := range [][2]string{{"orders-client", "orders-client"}, {"orders-client", "ORDERS-CLIENT"}, {"orders-client", "order\u017f-client"},
		{"orders-client", "orders-client "}, {"Contoso", "Contoso\u212a"}, {"a\"b\\c", "A\"B\\C"}, {" x", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, configured, presented string) {
		eq := EqualFoldASCII(configured, presented)
		if eq != (len(configured) == len(presented) && foldsASCII(configured, presented)) {
			t.Fatalf("EqualFoldASCII(%q, %q) = %v", configured, presented, eq)
		}
		if !EqualFoldASCII(configured, strings.ToUpper(configured)) && isASCII(configured) {
			t.Fatalf("%q does not equal its upper case", configured)
		}
		if !utf8.ValidString(configured) || !utf8.ValidString(presented) || configured == "" || len(configured) > 1000 || len(presented) > 1000 {
			return
		}
		der, err := asn1.Marshal(pkix.Name{CommonName: presented, Organization: []string{"Contoso"}}.ToRDNSequence())
		if err != nil {
			return
		}
		cert := NameAttrs(der)
		if got := CommonName(cert); got != presented {
			t.Fatalf("the certificate's CN %q reads as %q", presented, got)
		}
		id, err := ParseName(FormatAttrs([]NameAttr{{"CN", configured}, {"O", "Contoso"}}))
		if err != nil {
			t.Fatalf("subject with CN %q does not parse: %v", configured, err)
		}
		if got := NamesEqual(id, cert); got != eq {
			t.Fatalf("subject CN=%q against a certificate's CN=%q: %v, want %v", configured, presented, got, eq)
		}
	})
}

// foldsASCII reports whether a and b, of equal length, differ only in the
// case of ASCII letters.
func foldsASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
