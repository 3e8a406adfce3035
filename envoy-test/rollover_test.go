package envoytest

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/testsupport/testpki"
	"github.com/apimguard/apimguard/policy"
)

// Certificates, keys and tokens under rollover and abuse (issue #26), each
// tried through a real Envoy the way an attacker or a careful operator
// would.

// One edge Envoy, three APIs:
//   - /renewed: the issuing CA was renewed with a new key under the same
//     name (as enterprise CAs are); each key has its own CRL, and a third
//     key of that name has none. A certificate revoked by either key is
//     refused, a serial number revoked by one key does not revoke the
//     other key's certificate with the same serial, and a certificate of
//     the key without a CRL has an unknown revocation status.
//   - /verify: context.Request.Certificate.Verify() says the same.
//   - /names: identities by common name and subject match as X.509 names
//     do (ASCII case only, spaces significant): look-alike names, through
//     Unicode case folding (U+017F for s, the Kelvin sign for K) or a
//     space at an end, are refused.
func TestClientCertificates_renewedCAAndNamesThroughEnvoy(t *testing.T) {
	p := newClientPKI(t)
	renewed := p.Intermediate("Contoso Issuing CA") // p.issuing's name, a new key
	unlisted := p.Intermediate("Contoso Issuing CA")
	shared := big.NewInt(0x5eed)
	oldGood := p.client("orders-client", testpki.Leaf{})
	oldRevoked := p.client("orders-client", testpki.Leaf{Serial: shared})
	subject := pkix.Name{CommonName: "orders-client", Organization: []string{"Contoso"}}
	newGood := renewed.Issue(testpki.Leaf{Subject: subject, Serial: shared}) // the old key revoked this serial, not the new
	newRevoked := renewed.Issue(testpki.Leaf{Subject: subject})
	orphan := unlisted.Issue(testpki.Leaf{Subject: subject})

	vcc := `<validate-client-certificate><identities><identity common-name="orders-client" /></identities></validate-client-certificate>`
	verify := `<choose><when condition="@(!context.Request.Certificate.Verify())"><return-response><set-status code="403" reason="Forbidden" /></return-response></when></choose>`
	names := `<validate-client-certificate validate-revocation="false"><identities>
  <identity common-name="orders-client" />
  <identity subject="CN=kiosk-client, O=Contoso" />
</identities></validate-client-certificate>`
	api := func(name, doc string) string {
		return `{"name": "` + name + `", "pathPrefix": "/` + name + `", "policy": ` + policy.JSONString(`<policies><inbound>`+doc+`</inbound></policies>`) + `}`
	}
	pemOf := func(c *testpki.CA) string { return policy.JSONString(testpki.PEM(c.Cert)) }
	cfg := `{"apis": [` + api("renewed", vcc) + `, ` + api("verify", verify) + `, ` + api("names", names) + `],
  "certificates": {"root": ` + policy.JSONString(testpki.PEM(p.Cert)) + `, "issuing": ` + pemOf(p.issuing) + `, "renewed": ` + pemOf(renewed) + `, "unlisted": ` + pemOf(unlisted) + `},
  "clientCertificates": {"trust": ["root"], "crls": [` + policy.JSONString(p.CRL(time.Hour)) + `, ` +
		policy.JSONString(p.issuing.CRL(time.Hour, oldRevoked.Cert.SerialNumber)) + `, ` +
		policy.JSONString(renewed.CRL(time.Hour, newRevoked.Cert.SerialNumber)) + `]}}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, XFCC: "SANITIZE_SET", TLS: &envoyrun.TLSListener{
		CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLSv1_2", ClientCAFile: p.caFile(), AcceptUntrusted: true}})

	get := func(path string, cert *testpki.Issued, issuer *testpki.CA) (int, string) {
		t.Helper()
		c := cert.TLS(issuer.Cert)
		status, body, err := p.mtlsGetPath(st, &c, tls.VersionTLS12, tls.VersionTLS13, path, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return status, body
	}
	for _, tc := range []struct {
		name   string
		cert   *testpki.Issued
		issuer *testpki.CA
		want   int    // on /renewed; /verify answers 200 or 403 alike
		reason string // the security event of a refusal on /renewed
	}{
		{"old key, good", oldGood, p.issuing, 200, ""},
		{"old key, revoked", oldRevoked, p.issuing, 401, "ClientCertificateRevoked"},
		{"new key, the serial the old key revoked", newGood, renewed, 200, ""},
		{"new key, revoked by the new key's CRL", newRevoked, renewed, 401, "ClientCertificateRevoked"},
		{"a key of the CA's name without a CRL", orphan, unlisted, 401, "ClientCertificateRevocationUnknown"},
	} {
		if status, body := get("/renewed", tc.cert, tc.issuer); status != tc.want || (tc.want == 401 && body != invalidClientCert) {
			t.Errorf("/renewed, %s: %d %q, want %d", tc.name, status, body, tc.want)
		}
		wantVerify := map[int]int{200: 200, 401: 403}[tc.want]
		if status, _ := get("/verify", tc.cert, tc.issuer); status != wantVerify {
			t.Errorf("/verify, %s: Certificate.Verify() answered %d, want %d", tc.name, status, wantVerify)
		}
		if tc.reason != "" && !st.logged(`"policy":"validate-client-certificate","reason":"`+tc.reason+`"`) {
			t.Errorf("/renewed, %s: no security event with reason %s", tc.name, tc.reason)
		}
	}

	lookAlike := func(cn string, org ...string) *testpki.Issued {
		return p.issuing.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: cn, Organization: org}})
	}
	for _, tc := range []struct {
		name string
		cert *testpki.Issued
		want int
	}{
		{"the common name", lookAlike("orders-client"), 200},
		{"the common name in upper case (ASCII case is ignored)", lookAlike("ORDERS-CLIENT"), 200},
		{"U+017F for s", lookAlike("order\u017f-client"), 401},
		{"a trailing space", lookAlike("orders-client "), 401},
		{"a leading space", lookAlike(" orders-client"), 401},
		{"the subject", lookAlike("kiosk-client", "Contoso"), 200},
		{"the subject, in other case", lookAlike("KIOSK-client", "contoso"), 200},
		{"the subject with the Kelvin sign for K", lookAlike("\u212aiosk-client", "Contoso"), 401},
		{"the subject with U+017F", lookAlike("kiosk-client", "Conto\u017fo"), 401},
		{"the subject with a trailing space", lookAlike("kiosk-client", "Contoso "), 401},
	} {
		if status, body := get("/names", tc.cert, p.issuing); status != tc.want || (tc.want == 401 && body != invalidClientCert) {
			t.Errorf("/names, %s: %d %q, want %d", tc.name, status, body, tc.want)
		}
	}
	if !st.logged(`"policy":"validate-client-certificate","reason":"ClientCertificateIdentityMismatch"`) {
		t.Error("/names: no security event for a look-alike name")
	}
}

// Mesh mode on a listener configured like the edge recipe, which lets any
// certificate through the handshake (ACCEPT_UNTRUSTED): a self-signed or
// expired certificate carrying the right SPIFFE ID is refused, because the
// connection says the handshake did not validate it
// (connection.peer_certificate_valid); the mesh's own certificate passes.
func TestClientCertificates_meshAcceptUntrustedThroughEnvoy(t *testing.T) {
	p := newClientPKI(t)
	const spiffe = "spiffe://cluster.local/ns/shop/sa/checkout"
	good := p.Issue(testpki.Leaf{URIs: []string{spiffe}})
	expired := p.Issue(testpki.Leaf{URIs: []string{spiffe}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	forged := testpki.SelfSigned(t, testpki.Leaf{URIs: []string{spiffe}})
	forgedExpired := testpki.SelfSigned(t, testpki.Leaf{URIs: []string{spiffe}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	doc := `<policies><inbound>
  <validate-client-certificate validate-revocation="false">
    <identities><identity uri-name="` + spiffe + `" /></identities>
  </validate-client-certificate>
  <choose><when condition="@(!context.Request.Certificate.VerifyNoRevocation())"><return-response><set-status code="403" reason="Forbidden" /></return-response></when></choose>
</inbound></policies>`
	cfg := `{"policy": ` + policy.JSONString(doc) + `, "clientCertificates": {"source": "mesh"}}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, TLS: &envoyrun.TLSListener{
		CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: "TLSv1_2", ClientCAFile: p.caFile(), AcceptUntrusted: true}})
	for _, tc := range []struct {
		name string
		cert *testpki.Issued
		want int
	}{
		{"the mesh's certificate", good, 200},
		{"self-signed with the SPIFFE ID", forged, 401},
		{"self-signed and expired", forgedExpired, 401},
		{"the mesh's CA, expired", expired, 401},
	} {
		c := tc.cert.TLS()
		status, body, err := p.mtlsGet(st, &c, tls.VersionTLS12, tls.VersionTLS13, nil)
		if err != nil || status != tc.want || (tc.want == 401 && body != invalidClientCert) {
			t.Errorf("%s: %d %q %v, want %d", tc.name, status, body, err, tc.want)
		}
	}
	if !st.logged(`"policy":"validate-client-certificate","reason":"ClientCertificateNotTrusted"`) {
		t.Error("no security event naming the untrusted certificate")
	}
	if n := len(st.upstream.Requests()); n != 1 {
		t.Errorf("the upstream got %d requests, want only the mesh's certificate's", n)
	}
}

// A subscription key in clear never loads, however it is routed into the
// configuration: through a named value of the configuration, or around an
// empty reference. Envoy refuses the plugin, and one line names the field.
func TestSubscriptions_clearKeyRefusedByEnvoy(t *testing.T) {
	const clear = "acme-key-in-clear-0123456789"
	for _, tc := range []struct{ name, key, want string }{
		{"a named value of the configuration", `{{K}}`,
			`apimguard: refusing to start: plugin configuration: subscriptions[0].primaryKey: {{K}} names a value of "namedValues", which is written in the configuration`},
		{"around an empty reference", `{{E}}` + clear + `{{E}}`,
			`apimguard: refusing to start: plugin configuration: subscriptions[0].primaryKey: a key reference is exactly "{{NAME}}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := `{"namedValues": {"K": "` + clear + `", "E": ""},
  "apis": [{"name": "orders", "pathPrefix": "/orders"}],
  "subscriptions": [{"id": "s", "scope": "all", "primaryKey": ` + policy.JSONString(tc.key) + `}]}`
			log := refusedByEnvoy(t, envoyrun.Params{PluginConfig: cfg, Env: map[string]string{"E": ""}})
			if !strings.Contains(log, tc.want) {
				t.Fatalf("envoy's log does not name the field; got:\n%.20000s", log)
			}
			if strings.Contains(log, clear) {
				t.Error("the key is in Envoy's log")
			}
		})
	}
}

// A client choosing the resource of authentication-managed-identity cannot
// exhaust the token cache: after more distinct resources than it holds,
// all of them failed fetches, the policies' constant resource and a new
// client-chosen one are both served.
func TestManagedIdentity_resourceFloodThroughEnvoy(t *testing.T) {
	src := startTokenSource(t, nil)
	src.set("fail")
	st := miStack(t, src, envoyrun.StartOptions{}, `<policies><inbound>
  <choose>
    <when condition="@(context.Request.Headers.ContainsKey(&quot;x-resource&quot;))">
      <authentication-managed-identity resource="@(context.Request.Headers.GetValueOrDefault(&quot;x-resource&quot;, &quot;&quot;))" />
    </when>
    <otherwise>
      <authentication-managed-identity resource="https://orders.contoso.com" />
    </otherwise>
  </choose>
</inbound></policies>`)
	get := func(resource string) int {
		h := map[string][]string{}
		if resource != "" {
			h["x-resource"] = []string{resource}
		}
		return st.do(t, "GET", "/orders", h, "").status
	}
	// 80 made-up resources, ten at a time, every fetch failing: each
	// request gets the fixed 500.
	const flood = 80
	var wg sync.WaitGroup
	statuses := make(chan int, flood)
	for i := 0; i < flood; i += 10 {
		for j := i; j < i+10; j++ {
			wg.Add(1)
			go func(j int) {
				defer wg.Done()
				c := &http.Client{Timeout: 20 * time.Second}
				req, _ := http.NewRequest("GET", st.envoy.URL("/orders"), nil)
				req.Header.Set("x-resource", "api://made-up-"+itoa(j))
				resp, err := c.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}(j)
		}
		wg.Wait()
	}
	close(statuses)
	for s := range statuses {
		if s != 500 {
			t.Fatalf("a made-up resource with a failing source got %d, want 500", s)
		}
	}
	src.set("ok")
	if s := get(""); s != 200 {
		t.Errorf("the policy's constant resource after the flood: %d, want 200", s)
	}
	if s := get("api://a-new-one"); s != 200 {
		t.Errorf("a new resource after the flood: %d, want 200", s)
	}
	if s := get("api://made-up-3"); s != 200 {
		t.Errorf("a flooded resource once the source recovered: %d, want 200", s)
	}
}
