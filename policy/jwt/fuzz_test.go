package jwt

import (
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify: the JWS reader and the claim checks never panic on any token,
// and nothing verifies without the HMAC secret the keys hold.
func FuzzVerify(f *testing.F) {
	good := raw(`{"alg":"HS256","kid":"h"}`, `{"exp":1800000600,"nbf":1e300,"aud":["a",{"x":[]}],"iss":"i"}`, hmacSecret)
	for _, s := range []string{
		good, raw(`{"alg":"none"}`, `{"a":1}`, nil), "a.b.c.d.e", "..", "e30.e30.", good + ".",
		b64([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`)) + ".e30.c2ln",
		b64([]byte(`{"alg":"ES256","crit":["b64"]}`)) + ".e30." + b64(make([]byte, 64)),
	} {
		f.Add(s)
	}
	keys := []Key{
		{ID: "h", Algs: []string{"HS256"}, Key: hmacSecret},
		{Algs: algsFor(&ec256.PublicKey), Key: &ec256.PublicKey},
	}
	checks := Checks{RequireExpiration: true, Audiences: []string{"a"}, Issuers: []string{"i"},
		Required: []RequiredClaim{{Name: "scp", Separator: " ", Values: []string{"x"}}, {Name: "roles", MatchAny: true}}}
	f.Fuzz(func(t *testing.T, token string) {
		h, payload, err := Verify(token, keys, true)
		if err != nil {
			return
		}
		if h.Alg != "HS256" && h.Alg != "ES256" {
			t.Fatalf("verified with alg %q", h.Alg)
		}
		c := ParseClaims(payload)
		_ = c.Check(checks, now)
		_ = c.All()
		_, _ = c.Expiration()
	})
}

// FuzzParseKeyDocuments: discovery documents and key sets from an identity
// provider never panic the readers, and a symmetric key never comes out of
// a key set.
func FuzzParseKeyDocuments(f *testing.F) {
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rsaK.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"}, {Key: &ec256.PublicKey, KeyID: "e1"}}})
	for _, s := range []string{
		string(set), `{"keys":[{"kty":"oct","k":"AAAA"}]}`, `{"keys":[{"kty":"RSA","n":"","e":""}]}`,
		`{"issuer":"https://i/","jwks_uri":"https://i/keys"}`, `{"jwks_uri":[[[[]]]]}`, `{"keys":` + strings.Repeat("[", 80) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _, _ = ParseDiscovery(doc)
		keys, err := ParseJWKS(doc)
		if err != nil {
			return
		}
		for _, k := range keys {
			if _, ok := k.Key.([]byte); ok {
				t.Fatal("a symmetric key came out of a key set")
			}
			if len(k.Algs) == 0 {
				t.Fatal("a key with no algorithm")
			}
		}
	})
}
