package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
	"github.com/apimguard/apimguard/internal/testsupport/testpki"
)

// The seed's validate-jwt example names Microsoft Entra ID's discovery
// document for a {tenant}. The demo's identity provider answers for that
// host: Envoy's cluster for it points at a local HTTPS server whose
// certificate, from a CA the demo makes, names the host, so the seed's
// URL stays verbatim and Envoy still checks TLS as it would in production.
const (
	idpHost  = "login.microsoftonline.com"
	issuer   = "https://login.microsoftonline.com/{tenant}/v2.0"
	jwksURI  = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
	idpName  = "entra" // the Envoy cluster
	keyID    = "demo-1"
	audience = "my-api-audience" // the seed's required aud
)

// pluginConfig is every example of the seed at once, each verbatim from
// the seed document, in one inbound section: cors first (so that it
// answers a browser's preflight, which carries no credentials), then
// check-ip, check-header and validate-jwt, cheapest first. The key
// check-header compares with comes from the named value API_KEY, which
// Envoy hands to the VM from its own environment. The caller's address is
// the last X-Forwarded-For entry, as behind one trusted load balancer, so
// that curl on this machine can play callers from anywhere.
func pluginConfig() (policy, config string, err error) {
	var blocks []string
	for _, element := range []string{"cors", "check-ip", "check-header", "validate-jwt"} {
		b, err := corpus.SeedBlock(envoyrun.Root(), element)
		if err != nil {
			return "", "", err
		}
		blocks = append(blocks, b)
		if element == "cors" {
			blocks = append(blocks, `<set-variable name="allowedKey" value="{{API_KEY}}" />`)
		}
	}
	policy = "<policies>\n<inbound>\n" + strings.Join(blocks, "\n") + "\n</inbound>\n</policies>"
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err = enc.Encode(map[string]any{
		"policy":    policy,
		"upstreams": map[string]string{idpHost: idpName},
		"clientIp":  map[string]int{"xffTrustedHops": 1},
	})
	return policy, b.String(), err
}

// idp is the demo's OpenID provider: a discovery document and a key set
// over HTTPS, and the key that signs the demo's tokens.
type idp struct {
	srv    *http.Server
	port   int
	caFile string
	key    *rsa.PrivateKey
}

// startIdP listens on a free loopback port with a certificate for idpHost
// from a fresh CA, written with the CA's certificate under dir.
func startIdP(dir string) (*idp, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ca := testpki.NewCA(nil, "apimguard demo CA")
	caFile := filepath.Join(dir, "demo-ca.pem")
	if err := os.WriteFile(caFile, []byte(testpki.PEM(ca.Cert)), 0o600); err != nil {
		return nil, err
	}
	leaf := ca.Issue(testpki.Leaf{Subject: pkix.Name{CommonName: idpHost}, DNSNames: []string{idpHost}, Server: true})
	keys, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: keyID, Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	discovery, _ := json.Marshal(map[string]string{"issuer": issuer, "jwks_uri": jwksURI})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration"):
			w.Header().Set("Content-Type", "application/json")
			w.Write(discovery)
		case r.URL.Path == "/common/discovery/v2.0/keys":
			w.Header().Set("Content-Type", "application/json")
			w.Write(keys)
		default:
			http.NotFound(w, r)
		}
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	p := &idp{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, port: ln.Addr().(*net.TCPAddr).Port, caFile: caFile, key: key}
	go p.srv.Serve(ln)
	return p, nil
}

// token signs a token for aud with key, valid for an hour from now.
func token(key *rsa.PrivateKey, aud string) (string, error) {
	now := time.Now()
	return testjwt.SignE(jose.RS256, key, testjwt.KID(keyID), map[string]any{
		"iss": issuer, "aud": aud, "sub": "demo-user", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
}

func (p *idp) Close() { p.srv.Close() }

// try is one printed curl line: what it shows, its curl arguments, and
// the status (and header) it must get. The demo's test runs the printed
// lines and holds them to want.
type try struct {
	what string
	args []string
	want string // "200", "200 with Access-Control-Allow-Origin: https://myapp.com", "200 without Access-Control-Allow-Origin"
}

// tries are the lines the demo prints: one request that every policy lets
// through, then one for each way each policy refuses.
func tries(apiKey string) []try {
	const (
		inside    = `-H 'X-Forwarded-For: 203.0.113.7'`
		outside   = `-H 'X-Forwarded-For: 198.51.100.24'`
		bearer    = `-H "Authorization: Bearer $TOKEN"`
		preflight = `-X OPTIONS -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'`
	)
	key := fmt.Sprintf(`-H 'x-api-key: %s'`, apiKey)
	return []try{
		{"every policy lets it through: the upstream answers", []string{inside, key, bearer}, "200"},
		{"also from the one allowed address", []string{`-H 'X-Forwarded-For: 198.51.100.23'`, key, bearer}, "200"},
		{"check-ip: an address outside 203.0.113.0/24 and 198.51.100.23", []string{outside, key, bearer}, "403"},
		{"check-header: the wrong x-api-key", []string{inside, `-H 'x-api-key: guess'`, bearer}, "403"},
		{"check-header: no x-api-key", []string{inside, bearer}, "403"},
		{"validate-jwt: no token", []string{inside, key}, "401"},
		{"validate-jwt: a token for another audience", []string{inside, key, `-H "Authorization: Bearer $OTHER_AUDIENCE_TOKEN"`}, "401"},
		{"validate-jwt: a token signed by another key under the provider's key id", []string{inside, key, `-H "Authorization: Bearer $FORGED_TOKEN"`}, "401"},
		{"cors: a browser's preflight from https://myapp.com, answered without credentials", []string{`-H 'Origin: https://myapp.com'`, preflight}, "200 with Access-Control-Allow-Origin: https://myapp.com"},
		{"cors: a preflight from another origin gets no grant", []string{`-H 'Origin: https://evil.example'`, preflight}, "200 without Access-Control-Allow-Origin"},
		{"cors: a denial still carries the grant, so the page can read it", []string{`-H 'Origin: https://myapp.com'`, outside, key, bearer}, "403 with Access-Control-Allow-Origin: https://myapp.com"},
	}
}

// curlLines renders tries as lines to paste into a shell, after the token
// assignments.
func curlLines(port int, ts []try) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "  # %s\n  curl -si %s http://127.0.0.1:%d/orders/42    # expect %s\n", t.what, strings.Join(t.args, " "), port, t.want)
	}
	return b.String()
}
