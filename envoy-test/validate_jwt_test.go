package envoytest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"github.com/apimguard/apimguard/internal/corpus"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// idp is a local OpenID provider: discovery and JWKS on loopback. It can be
// started late, and it can rotate to a new signing key.
type idp struct {
	t      testing.TB
	port   int
	issuer string
	mu     sync.Mutex
	keys   map[string]*rsa.PrivateKey // kid → key, all published
	srv    *http.Server
	hits   int
	// discovery and jwks, when set, are served instead of the real
	// documents: what a hostile or broken provider sends.
	discovery, jwks []byte
	jwksHits        int
	// delay holds every answer back this long: a slow provider.
	delay time.Duration
}

func newIDP(t testing.TB) *idp {
	// Reserved through FreePort: the provider may start late, and no Envoy
	// of this process may take its port meanwhile.
	port, err := envoyrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return &idp{t: t, port: port, issuer: "https://login.microsoftonline.com/{tenant}/v2.0", keys: map[string]*rsa.PrivateKey{}}
}

func (p *idp) addKey(kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
}

func (p *idp) start() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+itoa(p.port))
	if err != nil {
		p.t.Fatal(err)
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		delay := p.delay
		p.mu.Unlock()
		time.Sleep(delay)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.hits++
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") && p.discovery != nil:
			w.Write(p.discovery)
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys"})
		case r.URL.Path == "/common/discovery/v2.0/keys" && p.jwks != nil:
			p.jwksHits++
			w.Write(p.jwks)
		case r.URL.Path == "/common/discovery/v2.0/keys":
			p.jwksHits++
			var set jose.JSONWebKeySet
			for kid, k := range p.keys {
				set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
			}
			json.NewEncoder(w).Encode(set)
		default:
			http.NotFound(w, r)
		}
	})}
	go p.srv.Serve(ln)
	p.t.Cleanup(func() { p.srv.Close() })
}

func (p *idp) token(kid string, claims map[string]any) string {
	p.mu.Lock()
	k := p.keys[kid]
	p.mu.Unlock()
	return testjwt.Sign(p.t, jose.RS256, k, testjwt.KID(kid), claims)
}

// serve sets what the provider answers for discovery and the key set (nil:
// the real documents).
func (p *idp) serve(discovery, jwks []byte) {
	p.mu.Lock()
	p.discovery, p.jwks = discovery, jwks
	p.mu.Unlock()
}

// keySetHits is how many times the key set was fetched.
func (p *idp) keySetHits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksHits
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// seedValidateJWT is the seed's validate-jwt example, verbatim.
var seedValidateJWT = corpus.MustSeedBlock(envoyrun.Root(), "validate-jwt")

func jwtConfig(p *idp) envoyrun.Params {
	policy := "<policies>\n<inbound>\n" + seedValidateJWT + "\n</inbound>\n</policies>"
	cfg, _ := json.Marshal(map[string]any{"policy": policy, "upstreams": map[string]string{"login.microsoftonline.com": "idp"}})
	return envoyrun.Params{PluginConfig: string(cfg), Clusters: []envoyrun.Cluster{{Name: "idp", Port: p.port}}}
}

func claims(aud string) map[string]any {
	return map[string]any{"iss": "https://login.microsoftonline.com/{tenant}/v2.0", "aud": aud, "sub": "alice", "exp": time.Now().Unix() + 600}
}

func bearer(tok string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + tok}}
}

func TestValidateJWT_seedThroughEnvoy(t *testing.T) {
	p := newIDP(t)
	p.addKey("k1")
	p.start()
	s := startStack(t, jwtConfig(p))
	const unauthorized = `{"statusCode":401,"message":"Unauthorized"}`
	tests := []struct {
		name    string
		headers map[string][]string
		want    int
	}{
		{"valid token", bearer(p.token("k1", claims("my-api-audience"))), 200},
		{"wrong audience", bearer(p.token("k1", claims("other"))), 401},
		{"expired", bearer(p.token("k1", map[string]any{"iss": p.issuer, "aud": "my-api-audience", "exp": time.Now().Unix() - 5})), 401},
		{"wrong issuer", bearer(p.token("k1", map[string]any{"iss": "https://evil/", "aud": "my-api-audience", "exp": time.Now().Unix() + 60})), 401},
		{"garbage", bearer("not.a.token"), 401},
		{"missing", nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, "GET", "/orders", tc.headers, "")
			if r.status != tc.want {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.want, r.body)
			}
			if tc.want == 401 && (r.body != unauthorized || r.header.Get("content-type") != "application/json" || r.header.Get("www-authenticate") != "") {
				t.Errorf("denial = %q %v", r.body, r.header)
			}
		})
	}

	t.Run("signatures are verified by Envoy's verify_signature", func(t *testing.T) {
		if !s.logged("signatures are verified by the host (verify_signature)") {
			t.Error("the module did not offload RS256 verification to Envoy")
		}
	})
	t.Run("key rotation: a new kid is accepted without a restart", func(t *testing.T) {
		p.addKey("k2")
		r := s.do(t, "GET", "/orders", bearer(p.token("k2", claims("my-api-audience"))), "")
		if r.status != 200 {
			t.Fatalf("status %d (%s)", r.status, r.body)
		}
	})
}

func TestValidateJWT_providerDownAtStartThroughEnvoy(t *testing.T) {
	p := newIDP(t)
	p.addKey("k1")
	s := startStack(t, jwtConfig(p)) // the provider is not listening yet
	tok := p.token("k1", claims("my-api-audience"))
	if r := s.do(t, "GET", "/orders", bearer(tok), ""); r.status != 401 {
		t.Fatalf("provider down: status %d, want 401", r.status)
	}
	p.start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.do(t, "GET", "/orders", bearer(tok), "")
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d 15 s after the provider came up", r.status)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
