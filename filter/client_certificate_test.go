//go:build !wasip1

package main

import (
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apimguard/apimguard/internal/testsupport/testpki"
	"github.com/apimguard/apimguard/policy/clientcert"
)

// The filter reports the connection's peer certificate to the engine from
// Envoy's connection.* attributes: the header's certificate is believed
// only when the connection presented it.
func TestClientCertificate_edge(t *testing.T) {
	ca := testpki.NewCA(t, "Filter CA")
	leaf := ca.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "client"}})
	c, _ := clientcert.Parse(leaf.Cert.Raw, nil)
	xfcc := [2]string{"x-forwarded-client-cert", clientcert.FormatXFCC(c.SHA256, testpki.PEM(leaf.Cert), "")}
	cfg := `{"policy": ` + jsonQuote(`<policies><inbound><validate-client-certificate validate-revocation="false"><identities><identity common-name="client"/></identities></validate-client-certificate></inbound></policies>`) +
		`, "certificates": {"ca": ` + jsonQuote(testpki.PEM(ca.Cert)) + `}, "clientCertificates": {"trust": ["ca"]}}`
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p, st := startPluginVM(t, vm, `{"testClock": "`+time.Now().UTC().Format(time.RFC3339)+`"}`, cfg)
		if st != types.OnPluginStartStatusOK {
			t.Fatalf("refused: %q", p.host.GetCriticalLogs())
		}
		if o := p.request(xfcc); o.local == nil || o.local.StatusCode != 401 {
			t.Fatalf("header without a certificate on the connection: %+v", o.local)
		}
		if err := p.host.SetProperty([]string{"connection", "sha256_peer_certificate_digest"}, []byte(c.SHA256)); err != nil {
			t.Fatal(err)
		}
		if o := p.request(xfcc); o.local != nil || o.action != types.ActionContinue {
			t.Fatalf("presented certificate: %+v", o.local)
		}
		if o := p.request(); o.local == nil || o.local.StatusCode != 401 || string(o.local.Data) != `{"statusCode":401,"message":"Invalid client certificate."}` {
			t.Fatalf("certificate on the connection, none in the header: %+v", o.local)
		}
	})
}

// In a mesh the connection's attributes are the certificate.
func TestClientCertificate_mesh(t *testing.T) {
	cfg := `{"policy": ` + jsonQuote(`<policies><inbound><validate-client-certificate validate-revocation="false"><identities><identity uri-name="spiffe://cluster.local/ns/shop/sa/checkout"/></identities></validate-client-certificate></inbound></policies>`) +
		`, "clientCertificates": {"source": "mesh"}}`
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, cfg)
		if o := p.request(); o.local == nil || o.local.StatusCode != 401 {
			t.Fatalf("no peer: %+v", o.local)
		}
		for k, v := range map[string]string{"sha256_peer_certificate_digest": "ab12", "uri_san_peer_certificate": "spiffe://cluster.local/ns/shop/sa/checkout"} {
			if err := p.host.SetProperty([]string{"connection", k}, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		// Without connection.peer_certificate_valid (an older Envoy) or
		// with it false (a listener accepting untrusted certificates),
		// the certificate is not trusted.
		if o := p.request(); o.local == nil || o.local.StatusCode != 401 {
			t.Fatalf("mesh peer the handshake did not validate: %+v", o.local)
		}
		if err := p.host.SetProperty([]string{"connection", "peer_certificate_valid"}, []byte{1}); err != nil {
			t.Fatal(err)
		}
		if o := p.request(); o.local != nil {
			t.Fatalf("mesh peer: %+v", o.local)
		}
	})
}

// A trust anchor that is no longer valid and a CRL past its nextUpdate
// load (the configuration is not wrong, only old), but each is named in a
// warning at load and counted in a gauge an alert can watch (issue #26).
func TestClientCertificate_staleTrust(t *testing.T) {
	ca := testpki.NewCA(t, "Stale CA")
	cfg := `{"policy": ` + jsonQuote(`<policies><inbound><validate-client-certificate /></inbound></policies>`) +
		`, "certificates": {"ca": ` + jsonQuote(testpki.PEM(ca.Cert)) + `}, "clientCertificates": {"trust": ["ca"], "crls": [` + jsonQuote(ca.CRL(time.Hour)) + `]}}`
	for _, tc := range []struct {
		name  string
		clock time.Time
		want  uint64
	}{
		{"now", time.Now(), 0},
		// Two days on: the CA (valid for a day) has expired, and its CRL
		// was due an hour after it was made.
		{"two days on", time.Now().Add(48 * time.Hour), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachVM(t, func(t *testing.T, vm types.VMContext) {
				p, st := startPluginVM(t, vm, `{"testClock": "`+tc.clock.UTC().Format(time.RFC3339)+`"}`, cfg)
				if st != types.OnPluginStartStatusOK {
					t.Fatalf("refused: %q", p.host.GetCriticalLogs())
				}
				if n, err := p.host.GetGaugeMetric("apimguard.client_certificates.stale"); err != nil || n != tc.want {
					t.Errorf("apimguard.client_certificates.stale = %d (%v), want %d", n, err, tc.want)
				}
				var named int
				for _, l := range p.host.GetWarnLogs() {
					if strings.Contains(l, `clientCertificates.trust: the CA certificate "CN=Stale CA, O=apimguard tests" is valid only from`) ||
						strings.Contains(l, `clientCertificates.crls[0] of "CN=Stale CA, O=apimguard tests" was due for an update at`) {
						named++
					}
				}
				if named != int(tc.want) {
					t.Errorf("%d warnings name the stale anchor and CRL, want %d: %q", named, tc.want, p.host.GetWarnLogs())
				}
			})
		})
	}
}
