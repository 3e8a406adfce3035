package policy

import "testing"

func TestCheckTLS(t *testing.T) {
	deny := `{"statusCode":403,"message":"TLS 1.2 or higher is required."}`
	tests := []struct {
		name    string
		floor   TLSFloor
		version string
		reason  string // "": allowed
	}{
		{"no floor, plain text", TLSFloor{}, "", ""},
		{"TLS 1.2 at a 1.2 floor", TLSFloor{MinVersion: "1.2"}, "TLSv1.2", ""},
		{"TLS 1.3 at a 1.2 floor", TLSFloor{MinVersion: "1.2"}, "TLSv1.3", ""},
		{"TLS 1.1 at a 1.2 floor", TLSFloor{MinVersion: "1.2"}, "TLSv1.1", "TlsVersionNotAllowed"},
		{"TLS 1.0 at a 1.2 floor", TLSFloor{MinVersion: "1.2"}, "TLSv1", "TlsVersionNotAllowed"},
		{"an unknown version", TLSFloor{MinVersion: "1.2"}, "SSLv3", "TlsVersionNotAllowed"},
		{"plain text at a floor", TLSFloor{MinVersion: "1.2"}, "", "TlsRequired"},
		{"plain text allowed", TLSFloor{MinVersion: "1.2", AllowPlainText: true}, "", ""},
		{"plain text allowed, old TLS still refused", TLSFloor{MinVersion: "1.2", AllowPlainText: true}, "TLSv1.1", "TlsVersionNotAllowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := CompileGateway(Config{Policy: "<policies/>", TLS: tc.floor}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := g.CheckTLS(tc.version)
			if tc.reason == "" {
				if p != nil {
					t.Fatal("refused")
				}
				return
			}
			if p == nil {
				t.Fatal("allowed")
			}
			x := p.NewExec(headers{}, nil)
			r := x.Inbound()
			if r.Status != 403 || r.Body != deny || x.LastError().Reason != tc.reason || x.LastError().Source != "tls" {
				t.Fatalf("got %d %s %+v", r.Status, r.Body, x.LastError())
			}
		})
	}
	if _, err := CompileGateway(Config{TLS: TLSFloor{MinVersion: "1.0"}}, Options{}); err == nil || err.Error() != `tls:1:1: minVersion must be "1.2" or "1.3", not "1.0"` {
		t.Errorf("err = %v", err)
	}
}
