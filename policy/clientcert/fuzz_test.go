package clientcert

import "testing"

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
