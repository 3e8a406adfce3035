package clientcert

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseXFCC(t *testing.T) {
	tests := []struct {
		in   string
		want []Element
		err  string
	}{
		{`By=spiffe://lyft.com/frontend;Hash=468ED33BE74EEE6556D90C0149C1309E9BA61D6425303443C0748A02DD8DE688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=spiffe://lyft.com/test`,
			[]Element{{Hash: "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688", Subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client"}}, ""},
		{`Hash=ab;Cert="-----BEGIN%20CERTIFICATE-----%0aMII+/=%0a";Chain="x%2Cy"`, []Element{{Hash: "ab", Cert: "-----BEGIN CERTIFICATE-----\nMII+/=\n", Chain: "x,y"}}, ""},
		{`Hash=a,Hash=b`, []Element{{Hash: "a"}, {Hash: "b"}}, ""},
		{`Subject="a,\"b\";c";Hash=a`, []Element{{Subject: `a,"b";c`, Hash: "a"}}, ""},
		{`Hash=a;Hash=b`, nil, "duplicate key"},
		{`Subject="open`, nil, "not closed"},
		{`Hash`, nil, "no '='"},
		{`Subject="a"b`, nil, "unexpected text"},
		{`Cert="%zz"`, nil, "not URL-encoded"},
		{strings.Repeat("Hash=a,", MaxElements) + "Hash=a", nil, "too many elements"},
		{strings.Repeat("a", MaxHeader+1), nil, "longer than allowed"},
	}
	for _, tc := range tests {
		got, err := ParseXFCC(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.60s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%.60s: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

// Names compare as X.509 names: ASCII letters without regard to case for
// the attribute types .NET names, other OIDs byte for byte, never through
// Unicode case folding, spaces significant (issue #26).
func TestNamesEqual(t *testing.T) {
	name := func(s string) []NameAttr {
		a, err := ParseName(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return a
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`CN=orders-client, O=Contoso`, `cn=ORDERS-CLIENT, o=contoso`, true},
		{`CN=orders-client`, `CN=order\C5\BF-client`, false}, // U+017F, escaped as Envoy writes it
		{`CN=orders-client`, "CN=order\u017f-client", false},
		{`O=Kelvin`, "O=\u212aelvin", false},
		{`CN=orders-client`, `CN="orders-client "`, false},
		{`CN=orders-client`, `CN=\ orders-client`, false},
		{`OID.1.2.3=Abc`, `OID.1.2.3=abc`, false},
		{`OID.1.2.3=Abc`, `1.2.3=Abc`, true},
		{`CN=a, O=b`, `O=b, CN=a`, false},
	} {
		if got := NamesEqual(name(tc.a), name(tc.b)); got != tc.want {
			t.Errorf("%q = %q: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		in   string
		want string // FormatAttrs of the result
		err  bool
	}{
		{`CN=client, O="Contoso, Inc.", C=US`, `CN=client, O="Contoso, Inc.", C=US`, false},
		{`CN=client,O=Contoso\, Inc.,C=US`, `CN=client, O="Contoso, Inc.", C=US`, false},
		{`cn=a+ou=b`, `CN=a, OU=b`, false},
		{`ST=WA, emailAddress=a@b`, `S=WA, E=a@b`, false},
		{`CN=\41B`, `CN=AB`, false},
		{`O="say ""hi"""`, `O="say ""hi"""`, false},
		// Spaces inside quotes and escaped ones are part of the value;
		// spaces around an attribute are not (issue #26).
		{`CN="orders-client ", O=Contoso`, `CN="orders-client ", O=Contoso`, false},
		{`CN=orders-client\ ,O=Contoso`, `CN="orders-client ", O=Contoso`, false},
		{`CN=orders-client  , O=Contoso  `, `CN=orders-client, O=Contoso`, false},
		{`CN=\ a`, `CN=" a"`, false},
		{`2.5.4.3=a, OID.2.5.4.10=b, 1.2.3.4=c`, `CN=a, O=b, OID.1.2.3.4=c`, false},
		{``, ``, false},
		{`CN=a,`, ``, true},
		{`CN`, ``, true},
		{`=a`, ``, true},
		{"C\xfa=a", ``, true},
		{`O="open`, ``, true},
		{`O="a"b`, ``, true},
	}
	for _, tc := range tests {
		attrs, err := ParseName(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if got := FormatAttrs(attrs); !tc.err && got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
