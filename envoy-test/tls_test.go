package envoytest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
	"github.com/apimguard/apimguard/internal/testsupport/testpki"
)

// testCA is a certificate authority made for one test, with a directory
// for the PEM files Envoy reads.
type testCA struct {
	*testpki.CA
	t   *testing.T
	dir string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	return &testCA{CA: testpki.NewCA(t, "apimguard test CA"), t: t, dir: t.TempDir()}
}

// file writes PEM text to a file in the CA's directory and returns its path.
func (ca *testCA) file(name string, pemText ...string) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(pemText, "")), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

// caFile is the CA certificate as a PEM file.
func (ca *testCA) caFile() string { return ca.file("ca.pem", testpki.PEM(ca.Cert)) }

// pool trusts the CA.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// leaf issues a server certificate for names (DNS) and 127.0.0.1, and
// writes it and its key to files.
func (ca *testCA) leaf(name string, dnsNames ...string) (tls.Certificate, string, string) {
	ca.t.Helper()
	issued := ca.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: dnsNames[0]}, DNSNames: dnsNames, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	return issued.TLS(), ca.file(name+".pem", testpki.PEM(issued.Cert)), ca.file(name+"-key.pem", issued.KeyPEM())
}

// tlsGet sends GET path to Envoy's TLS listener with the client offering
// only TLS versions min..max; err is a failed handshake.
func tlsGet(st *stack, ca *testCA, path string, min, max uint16) (int, string, error) {
	cfg := &tls.Config{RootCAs: ca.pool(), ServerName: "api.example.com", MinVersion: min, MaxVersion: max}
	if max < tls.VersionTLS12 {
		// Offer every suite TLS 1.0 and 1.1 have: the refusal must come from
		// the version, not from the suites.
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get("https://127.0.0.1:" + itoa(st.envoy.Port) + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// The shipped edge configuration terminates TLS 1.2 and 1.3 and refuses
// 1.0 and 1.1 in the handshake; the plugin's floor at 1.3 then refuses a
// TLS 1.2 request that the listener accepted.
func TestTLS_edgeListenerThroughEnvoy(t *testing.T) {
	ca := newTestCA(t)
	_, certFile, keyFile := ca.leaf("edge", "api.example.com")
	cfg := `{"policy": "<policies/>", "tls": {"minVersion": "1.3"}}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, TLS: &envoyrun.TLSListener{CertFile: certFile, KeyFile: keyFile, MinVersion: "TLSv1_2"}})
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		// The listener refuses the version itself (a protocol_version
		// alert), not some other part of the handshake.
		if status, _, err := tlsGet(st, ca, "/", v, v); err == nil || !strings.Contains(err.Error(), "protocol version not supported") {
			t.Errorf("%s: status %d, err %v; want the handshake refused for its version", tls.VersionName(v), status, err)
		}
	}
	if status, body, err := tlsGet(st, ca, "/", tls.VersionTLS12, tls.VersionTLS12); err != nil || status != 403 || body != `{"statusCode":403,"message":"TLS 1.3 or higher is required."}` {
		t.Errorf("TLS 1.2 under a 1.3 floor: %d %q %v", status, body, err)
	}
	if status, _, err := tlsGet(st, ca, "/", tls.VersionTLS13, tls.VersionTLS13); err != nil || status != 200 {
		t.Errorf("TLS 1.3: %d %v", status, err)
	}
	if !st.logged(`"policy":"tls","reason":"TlsVersionNotAllowed"`) {
		t.Error("no security event for the refused TLS 1.2 request")
	}
}

// A listener misconfigured to serve plain HTTP: the plugin's floor refuses
// what the listener lets through, unless plain text is allowed explicitly.
// (Older TLS under the floor: TLS 1.2 under a 1.3 floor, above. Envoy 1.40
// did not complete a TLS 1.0 or 1.1 handshake with Go's client even with
// tls_minimum_protocol_version: TLSv1_0.)
const (
	tlsFloorPlain        = `{"policy": "<policies/>", "tls": {"minVersion": "1.2"}}`
	tlsFloorPlainAllowed = `{"policy": "<policies/>", "tls": {"minVersion": "1.2", "allowPlainText": true}}`
)

func tlsFloorBehindPlainListener(t *testing.T, st *stack) {
	if r := st.do(t, "GET", "/", nil, ""); r.status != 403 || r.body != `{"statusCode":403,"message":"TLS 1.2 or higher is required."}` {
		t.Errorf("plain text: %d %q", r.status, r.body)
	}
	if !st.logged(`"policy":"tls","reason":"TlsRequired"`) {
		t.Error("no security event for the plain-text request")
	}
}

func tlsFloorPlainTextAllowed(t *testing.T, st *stack) {
	if r := st.do(t, "GET", "/", nil, ""); r.status != 200 {
		t.Errorf("plain text allowed: %d %q", r.status, r.body)
	}
}

// httpsIDP is an OpenID provider over TLS for host, with one RS256 key.
type httpsIDP struct {
	host string
	key  *rsa.PrivateKey
	port int
}

func startHTTPSIDP(t *testing.T, host string, cert tls.Certificate, maxVersion uint16) *httpsIDP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &httpsIDP{host: host, key: key}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion})
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{ErrorLog: nil, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://" + host + "/", "jwks_uri": "https://" + host + "/keys"})
		case "/keys":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *httpsIDP) token(t *testing.T) string {
	return testjwt.Sign(t, jose.RS256, p.key, testjwt.KID("k1"), map[string]any{"iss": "https://" + p.host + "/", "exp": time.Now().Unix() + 600})
}

// Discovery and key sets over TLS: a provider with a certificate from the
// trusted CA works; one that speaks only TLS 1.1, or presents a certificate
// from another CA, gets no keys loaded, so its tokens are refused.
func TestTLS_identityProvidersThroughEnvoy(t *testing.T) {
	ca, rogue := newTestCA(t), newTestCA(t)
	goodCert, _, _ := ca.leaf("good", "good.idp.example")
	oldCert, _, _ := ca.leaf("old", "old.idp.example")
	rogueCert, _, _ := rogue.leaf("rogue", "rogue.idp.example")
	idps := map[string]*httpsIDP{
		"good":  startHTTPSIDP(t, "good.idp.example", goodCert, tls.VersionTLS13),
		"old":   startHTTPSIDP(t, "old.idp.example", oldCert, tls.VersionTLS11),
		"rogue": startHTTPSIDP(t, "rogue.idp.example", rogueCert, tls.VersionTLS13),
	}
	caFile := ca.caFile()
	var apis []any
	upstreams := map[string]string{}
	p := envoyrun.Params{}
	for name, idp := range idps {
		apis = append(apis, map[string]any{"name": name, "pathPrefix": "/" + name, "policy": `<policies><inbound><validate-jwt header-name="Authorization">` +
			`<openid-config url="https://` + idp.host + `/.well-known/openid-configuration"/></validate-jwt></inbound></policies>`})
		upstreams[idp.host] = "idp-" + name
		p.Clusters = append(p.Clusters, envoyrun.Cluster{Name: "idp-" + name, Port: idp.port, CAFile: caFile, SNI: idp.host})
	}
	cfg, _ := json.Marshal(map[string]any{"apis": apis, "upstreams": upstreams})
	p.PluginConfig = string(cfg)
	st := startStack(t, p)
	deadline := time.Now().Add(15 * time.Second)
	for st.do(t, "GET", "/good", bearer(idps["good"].token(t)), "").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the provider over TLS never served its keys")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range []string{"old", "rogue"} {
		if r := st.do(t, "GET", "/"+name, bearer(idps[name].token(t)), ""); r.status != 401 {
			t.Errorf("%s provider: status %d, want 401", name, r.status)
		}
	}
	for _, host := range []string{"old.idp.example", "rogue.idp.example"} {
		if !st.logged("key fetch from https://" + host + "/.well-known/openid-configuration failed") {
			t.Errorf("no failed key fetch logged for %s", host)
		}
	}
}
