package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
)

var (
	now              = time.Unix(1_800_000_000, 0)
	b64              = base64.RawURLEncoding.EncodeToString
	rsaK             = mustRSA()
	rsaK2            = mustRSA()
	ec256            = mustEC(elliptic.P256())
	ec384            = mustEC(elliptic.P384())
	ec521            = mustEC(elliptic.P521())
	edPub, edPriv, _ = ed25519.GenerateKey(rand.Reader)
	hmacSecret       = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// sign makes a compact JWS with go-jose.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	return testjwt.Sign(t, alg, key, opts.WithType("JWT"), claims)
}

// raw assembles a token from a header and payload and signs it with HMAC
// when secret is given.
func raw(header, payload string, secret []byte) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	if secret == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

func valid() map[string]any {
	return map[string]any{"iss": "https://idp.example/", "aud": "api://orders", "sub": "alice", "exp": now.Unix() + 600, "nbf": now.Unix() - 60, "scp": "orders.read orders.write"}
}

func key(t *testing.T, id string, k any, alg string) Key {
	t.Helper()
	kk, err := NewKey(id, k, alg)
	if err != nil {
		t.Fatal(err)
	}
	return kk
}

func TestVerify_algorithms(t *testing.T) {
	tests := []struct {
		alg  jose.SignatureAlgorithm
		sign any
		pub  any
	}{
		{jose.RS256, rsaK, &rsaK.PublicKey}, {jose.RS384, rsaK, &rsaK.PublicKey}, {jose.RS512, rsaK, &rsaK.PublicKey},
		{jose.PS256, rsaK, &rsaK.PublicKey}, {jose.PS384, rsaK, &rsaK.PublicKey}, {jose.PS512, rsaK, &rsaK.PublicKey},
		{jose.ES256, ec256, &ec256.PublicKey}, {jose.ES384, ec384, &ec384.PublicKey}, {jose.ES512, ec521, &ec521.PublicKey},
		{jose.EdDSA, edPriv, edPub},
		{jose.HS256, hmacSecret, hmacSecret}, {jose.HS384, hmacSecret, hmacSecret}, {jose.HS512, hmacSecret, hmacSecret},
	}
	for _, tc := range tests {
		t.Run(string(tc.alg), func(t *testing.T) {
			tok := sign(t, tc.alg, tc.sign, "k1", valid())
			h, payload, err := Verify(tok, []Key{key(t, "k1", tc.pub, "")}, true)
			if err != nil {
				t.Fatal(err)
			}
			if h.Alg != string(tc.alg) || h.Kid != "k1" {
				t.Errorf("header = %+v", h)
			}
			if err := ParseClaims(payload).Check(Checks{RequireExpiration: true, Audiences: []string{"api://orders"}, Issuers: []string{"https://idp.example/"}}, now); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Verify(tamper(tok), []Key{key(t, "k1", tc.pub, "")}, true); !errors.Is(err, ErrSignature) {
				t.Errorf("tampered payload: err = %v, want %v", err, ErrSignature)
			}
		})
	}
}

// derSignature re-encodes an ES256 token's raw R||S signature as ASN.1 DER.
func derSignature(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + parts[1] + "." + b64(der)
}

func TestVerify_attacks(t *testing.T) {
	rsaPubDER, _ := rsaPublicDER(&rsaK.PublicKey)
	goodRSA := key(t, "rsa-1", &rsaK.PublicKey, "")
	goodEC := key(t, "ec-1", &ec256.PublicKey, "")
	jwkRS256Only := key(t, "rsa-alg", &rsaK.PublicKey, "RS256")
	claims := valid()
	payloadJSON, _ := json.Marshal(claims)
	big := map[string]any{"exp": now.Unix() + 600, "pad": strings.Repeat("A", 60*1024)}

	tests := []struct {
		name  string
		token string
		keys  []Key
		want  error
	}{
		{"alg none", raw(`{"alg":"none"}`, string(payloadJSON), nil), []Key{goodRSA}, ErrUnsigned},
		{"HS256 signed with the RSA public key as secret", raw(`{"alg":"HS256","kid":"rsa-1"}`, string(payloadJSON), rsaPubDER), []Key{goodRSA}, ErrKeyNotFound},
		{"JWK alg differs from the token's", sign(t, jose.PS256, rsaK, "rsa-alg", claims), []Key{jwkRS256Only}, ErrKeyNotFound},
		{"tampered payload", tamper(sign(t, jose.RS256, rsaK, "rsa-1", claims)), []Key{goodRSA}, ErrSignature},
		{"wrong key with a published kid", sign(t, jose.RS256, rsaK2, "rsa-1", claims), []Key{goodRSA}, ErrSignature},
		{"unknown kid", sign(t, jose.RS256, rsaK, "rsa-9", claims), []Key{goodRSA}, ErrKeyNotFound},
		{"unknown crit header", critToken(t), []Key{goodRSA}, ErrMalformed},
		{"alg named twice", raw(`{"alg":"HS256","alg":"RS256","kid":"rsa-1"}`, string(payloadJSON), rsaPubDER), []Key{goodRSA}, ErrMalformed},
		{"kid not a string", raw(`{"alg":"RS256","kid":1}`, string(payloadJSON), rsaPubDER), []Key{goodRSA}, ErrMalformed},
		{"empty signature", strings.Join(strings.Split(sign(t, jose.RS256, rsaK, "rsa-1", claims), ".")[:2], ".") + ".", []Key{goodRSA}, ErrMalformed},
		{"ES256 signature in DER form", derSignature(t, sign(t, jose.ES256, ec256, "ec-1", claims)), []Key{goodEC}, ErrSignature},
		{"two segments", "eyJhbGciOiJIUzI1NiJ9.e30", []Key{goodRSA}, ErrMalformed},
		{"bad base64 header", "e!!.e30.sig", []Key{goodRSA}, ErrMalformed},
		{"header not JSON", b64([]byte("not json")) + ".e30.c2ln", []Key{goodRSA}, ErrMalformed},
		{"bad base64 signature", strings.TrimRight(sign(t, jose.RS256, rsaK, "rsa-1", claims), "=") + "!!", []Key{goodRSA}, ErrMalformed},
		{"JWE", "a.b.c.d.e", []Key{goodRSA}, ErrMalformed},
		{"60 KB token", sign(t, jose.RS256, rsaK, "rsa-1", big), []Key{goodRSA}, ErrMalformed},
		{"payload not a JSON object", sign(t, jose.RS256, rsaK, "rsa-1", nil), []Key{goodRSA}, ErrMalformed},
		{"header nesting arrays 5000 deep", b64([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`)) + ".e30.c2ln", []Key{goodRSA}, ErrMalformed},
		{"payload nesting objects 5000 deep", raw(`{"alg":"HS256"}`, `{"exp":1,"x":`+strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)+`}`, hmacSecret), []Key{key(t, "", hmacSecret, "")}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Verify(tc.token, tc.keys, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A JSON array payload signed correctly is still refused.
	arr := testjwt.Sign(t, jose.RS256, rsaK, nil, []byte(`["not","an","object"]`))
	if _, _, err := Verify(arr, []Key{key(t, "", &rsaK.PublicKey, "")}, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("array payload: err = %v", err)
	}
	// alg none passes only when signatures are not required.
	if _, p, err := Verify(raw(`{"alg":"none"}`, `{"a":1}`, nil), nil, false); err != nil || string(p) != `{"a":1}` {
		t.Errorf("unsigned allowed: %v %s", err, p)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), "alice", "admin", 1))
	return parts[0] + "." + b64(p) + "." + parts[2]
}

func critToken(t *testing.T) string {
	return testjwt.Sign(t, jose.RS256, rsaK,
		(&jose.SignerOptions{}).WithHeader("kid", "rsa-1").WithHeader("crit", []string{"x-unknown"}).WithHeader("x-unknown", true), valid())
}

func rsaPublicDER(k *rsa.PublicKey) ([]byte, error) {
	return asn1.Marshal(struct {
		N *big.Int
		E int
	}{k.N, k.E})
}

func TestClaims_Check(t *testing.T) {
	base := Checks{RequireExpiration: true}
	tests := []struct {
		name   string
		claims map[string]any
		checks Checks
		want   error
	}{
		{"valid", valid(), base, nil},
		{"expired", map[string]any{"exp": now.Unix()}, base, ErrExpired},
		{"expired within skew", map[string]any{"exp": now.Unix() - 5}, Checks{RequireExpiration: true, ClockSkew: 10 * time.Second}, nil},
		{"not yet valid", map[string]any{"exp": now.Unix() + 60, "nbf": now.Unix() + 30}, base, ErrNotYetValid},
		{"missing exp", map[string]any{"sub": "a"}, base, ErrNoExpiration},
		{"missing exp allowed", map[string]any{"sub": "a"}, Checks{}, nil},
		{"exp not a number", map[string]any{"exp": "soon"}, base, ErrMalformed},
		{"nbf 1e300", map[string]any{"exp": now.Unix() + 60, "nbf": 1e300}, base, ErrMalformed},
		{"nbf 9.3e18", map[string]any{"exp": now.Unix() + 60, "nbf": 9.3e18}, base, ErrMalformed},
		{"nbf -1e300", map[string]any{"exp": now.Unix() + 60, "nbf": -1e300}, base, ErrMalformed},
		{"exp 1e300", map[string]any{"exp": 1e300}, base, ErrMalformed},
		{"exp after year 9999", map[string]any{"exp": 253402300800}, base, ErrMalformed},
		{"exp in year 9999", map[string]any{"exp": 253402300799}, base, nil},
		{"wrong audience", valid(), Checks{Audiences: []string{"api://other"}}, ErrAudience},
		{"audience array, any of", map[string]any{"aud": []string{"a", "api://orders"}}, Checks{Audiences: []string{"x", "api://orders"}}, nil},
		{"wrong issuer", valid(), Checks{Issuers: []string{"https://idp.example"}}, ErrIssuer},
		{"scope only as a substring", valid(), Checks{Required: []RequiredClaim{{Name: "scp", Separator: " ", Values: []string{"orders"}}}}, ErrClaimNotAllowed},
		{"scope with separator", valid(), Checks{Required: []RequiredClaim{{Name: "scp", Separator: " ", Values: []string{"orders.write"}}}}, nil},
		{"substring without separator", valid(), Checks{Required: []RequiredClaim{{Name: "scp", Values: []string{"orders.read"}}}}, ErrClaimNotAllowed},
		{"all of two", map[string]any{"roles": []string{"a", "b"}}, Checks{Required: []RequiredClaim{{Name: "roles", Values: []string{"a", "b"}}}}, nil},
		{"all of two, one missing", map[string]any{"roles": []string{"a"}}, Checks{Required: []RequiredClaim{{Name: "roles", Values: []string{"a", "b"}}}}, ErrClaimNotAllowed},
		{"any of two", map[string]any{"roles": []string{"b"}}, Checks{Required: []RequiredClaim{{Name: "roles", MatchAny: true, Values: []string{"a", "b"}}}}, nil},
		{"claim missing", valid(), Checks{Required: []RequiredClaim{{Name: "tid"}}}, ErrClaimMissing},
		{"presence only", valid(), Checks{Required: []RequiredClaim{{Name: "sub"}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := json.Marshal(tc.claims)
			if err := ParseClaims(p).Check(tc.checks, now); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rsaK.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: &ec256.PublicKey, KeyID: "e1"},
		{Key: &rsaK2.PublicKey, KeyID: "enc", Use: "enc"},
		{Key: rsaK2, KeyID: "private"},
	}}
	doc, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, ",") != "r1,e1" {
		t.Fatalf("keys = %v, want r1,e1 (no encryption or private keys)", ids)
	}
	if len(keys[0].Algs) != 1 || keys[0].Algs[0] != "RS256" {
		t.Errorf("r1 algs = %v, want only RS256", keys[0].Algs)
	}
	// Keys that are not usable are skipped, one by one: a point off the
	// curve, a short coordinate, an RSA modulus under 2048 bits, an unknown
	// type, a non-string kid.
	point, err := ec256.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	x, y := b64(point[1:33]), b64(point[33:])
	offCurve := b64(new(big.Int).Add(new(big.Int).SetBytes(point[33:]), big.NewInt(1)).FillBytes(make([]byte, 32)))
	small := b64(rsaK.PublicKey.N.Bytes()[:128])
	mixed := `{"keys":[{"kty":"EC","crv":"P-256","kid":"off","x":"` + x + `","y":"` + offCurve + `"},` +
		`{"kty":"EC","crv":"P-256","kid":"short","x":"` + x[2:] + `","y":"` + y + `"},` +
		`{"kty":"RSA","kid":"small","n":"` + small + `","e":"AQAB"},` +
		`{"kty":"AKP","kid":"pq","pub":"AAAA"},{"kty":"EC","crv":"P-256","kid":7,"x":"` + x + `","y":"` + y + `"},` +
		`{"kty":"EC","crv":"P-256","kid":"good","x":"` + x + `","y":"` + y + `"}]}`
	if keys, err := ParseJWKS([]byte(mixed)); err != nil || len(keys) != 1 || keys[0].ID != "good" || keys[0].Algs[0] != "ES256" {
		t.Errorf("mixed set: keys %v, err %v, want only good", keys, err)
	}
	// At most MaxKeysPerSet keys are kept: a token without a kid is tried
	// against each.
	many := `{"keys":[` + strings.Repeat(`{"kty":"EC","crv":"P-256","x":"`+x+`","y":"`+y+`"},`, 100) + `{}]}`
	if keys, err := ParseJWKS([]byte(many)); err != nil || len(keys) != MaxKeysPerSet {
		t.Errorf("100 keys: kept %d, err %v, want %d", len(keys), err, MaxKeysPerSet)
	}
	if _, err := ParseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Error("an empty set was accepted")
	}
	// A symmetric key in a published set would let anyone who reads the
	// set mint tokens: it is never used.
	oct := `{"keys":[{"kty":"oct","kid":"h1","k":"` + b64(hmacSecret) + `","alg":"HS256"}]}`
	if keys, err := ParseJWKS([]byte(oct)); err == nil || err.Error() != "the key set has no usable signing key" {
		t.Errorf("oct key set: keys %v, err %v", keys, err)
	}
	withOct, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: hmacSecret, KeyID: "h1", Algorithm: "HS256"}, {Key: &rsaK.PublicKey, KeyID: "r1"}}})
	if keys, err := ParseJWKS(withOct); err != nil || len(keys) != 1 || keys[0].ID != "r1" {
		t.Errorf("oct and RSA keys: keys %v, err %v, want only r1", keys, err)
	}
	deep := []byte(`{"keys":[` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `]}`)
	if _, err := ParseJWKS(deep); err == nil || err.Error() != "the key set is refused: JSON nested deeper than 64 levels" {
		t.Errorf("deep key set: %v", err)
	}
	if _, _, err := ParseDiscovery(deep); err == nil || err.Error() != "the discovery document is refused: JSON nested deeper than 64 levels" {
		t.Errorf("deep discovery document: %v", err)
	}
	for doc, want := range map[string]string{
		`{"jwks_uri":["https://idp/keys"]}`:                        "the discovery document's jwks_uri is not an http(s) URL of at most 2048 bytes",
		`{"jwks_uri":"file:///etc/passwd"}`:                        "the discovery document's jwks_uri is not an http(s) URL of at most 2048 bytes",
		`{"jwks_uri":"https://` + strings.Repeat("a", 2048) + `"}`: "the discovery document's jwks_uri is not an http(s) URL of at most 2048 bytes",
		`{"jwks_uri":"https://idp/keys","issuer":{"a":1}}`:         "the discovery document's issuer is not a string of at most 2048 bytes",
	} {
		if _, _, err := ParseDiscovery([]byte(doc)); err == nil || err.Error() != want {
			t.Errorf("discovery %.60s: err %v, want %s", doc, err, want)
		}
	}
	huge := []byte(`{"jwks_uri":"https://idp/keys","pad":"` + strings.Repeat("a", MaxKeyDocumentSize) + `"}`)
	if _, _, err := ParseDiscovery(huge); err == nil || err.Error() != "the discovery document is refused: JSON larger than allowed" {
		t.Errorf("huge discovery document: %v", err)
	}
	iss, uri, err := ParseDiscovery([]byte(`{"issuer":"https://idp/","jwks_uri":"https://idp/keys"}`))
	if err != nil || iss != "https://idp/" || uri != "https://idp/keys" {
		t.Errorf("discovery = %q %q %v", iss, uri, err)
	}
	if _, _, err := ParseDiscovery([]byte(`{"issuer":"x"}`)); err == nil {
		t.Error("a discovery document without jwks_uri was accepted")
	}
}

func TestNewKey_algMismatch(t *testing.T) {
	if _, err := NewKey("k", hmacSecret, "RS256"); err == nil {
		t.Error("an HMAC secret accepted alg RS256")
	}
	if _, err := NewKey("k", &ec256.PublicKey, "ES384"); err == nil {
		t.Error("a P-256 key accepted ES384")
	}
}
