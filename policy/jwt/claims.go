package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
)

// MaxKeyDocumentSize bounds a discovery document or JWK set from an
// identity provider.
const MaxKeyDocumentSize = 512 * 1024

// NumericDate bounds: a numeric date (exp, nbf) outside years 1 to 9999
// fails the checks instead of overflowing time.Unix (1e300 became a date
// in the past and a token with "nbf": 1e300 passed).
const (
	minNumericDate = -62135596800 // 0001-01-01T00:00:00Z
	maxNumericDate = 253402300799 // 9999-12-31T23:59:59Z
)

// Checks are the claim rules of one validate-jwt policy.
type Checks struct {
	RequireExpiration bool
	ClockSkew         time.Duration
	Audiences         []string // any of; none: not checked
	Issuers           []string // any of; none: not checked
	Required          []RequiredClaim
}

// RequiredClaim is one <claim> of required-claims.
type RequiredClaim struct {
	Name      string
	MatchAny  bool
	Separator string
	Values    []string // none: the claim must be present
}

// Claims is a verified payload.
type Claims struct {
	raw gjson.Result
	// std holds the registered claims the checks read, found in one pass
	// over the payload (index: stdClaims).
	std [len(stdClaims)]gjson.Result
}

var stdClaims = [...]string{"exp", "nbf", "aud", "iss", "sub", "jti"}

// ParseClaims reads a payload returned by Verify.
func ParseClaims(payload []byte) *Claims {
	c := &Claims{raw: gjson.ParseBytes(payload)}
	c.raw.ForEach(func(k, v gjson.Result) bool {
		for i, name := range stdClaims {
			if k.Str == name && !c.std[i].Exists() { // the first, as Get
				c.std[i] = v
			}
		}
		return true
	})
	return c
}

// get returns a claim's JSON value.
func (c *Claims) get(name string) gjson.Result {
	for i, n := range stdClaims {
		if n == name {
			return c.std[i]
		}
	}
	return c.raw.Get(gjson.Escape(name))
}

// Expiration returns exp, if the token has one.
func (c *Claims) Expiration() (time.Time, bool) { return c.time("exp") }

// time reads a NumericDate claim; ok is false when it is absent, not a
// number or out of range, and Check then fails the token.
func (c *Claims) time(name string) (time.Time, bool) {
	v := c.get(name)
	if v.Type != gjson.Number || math.IsNaN(v.Num) || v.Num < minNumericDate || v.Num > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(v.Num)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// Values returns a claim's values: the elements of an array claim, or the
// claim itself; ok is false when the claim is absent.
func (c *Claims) Values(name string) ([]string, bool) {
	v := c.get(name)
	if !v.Exists() {
		return nil, false
	}
	if v.IsArray() {
		var out []string
		for _, e := range v.Array() {
			out = append(out, e.String())
		}
		return out, true
	}
	return []string{v.String()}, true
}

// First returns the first value of a claim, "" when it is absent.
func (c *Claims) First(name string) string {
	v := c.get(name)
	if v.IsArray() {
		return v.Get("0").String()
	}
	return v.String()
}

// All returns every claim with its values, for the Jwt of expressions.
func (c *Claims) All() map[string][]string {
	out := map[string][]string{}
	c.raw.ForEach(func(k, _ gjson.Result) bool {
		out[k.String()], _ = c.Values(k.String())
		return true
	})
	return out
}

// Check applies the rules at time now.
func (c *Claims) Check(r Checks, now time.Time) error {
	exp, hasExp := c.time("exp")
	if c.get("exp").Exists() && !hasExp {
		return fmt.Errorf("%w: exp is not a number from year 1 to 9999", ErrMalformed)
	}
	if !hasExp && r.RequireExpiration {
		return ErrNoExpiration
	}
	if hasExp && !now.Before(exp.Add(r.ClockSkew)) {
		return ErrExpired
	}
	if nbf, ok := c.time("nbf"); ok && now.Add(r.ClockSkew).Before(nbf) {
		return ErrNotYetValid
	} else if c.get("nbf").Exists() && !ok {
		return fmt.Errorf("%w: nbf is not a number from year 1 to 9999", ErrMalformed)
	}
	if len(r.Audiences) > 0 {
		auds, _ := c.Values("aud")
		if !anyIn(auds, r.Audiences) {
			return ErrAudience
		}
	}
	if len(r.Issuers) > 0 {
		iss := c.get("iss")
		if iss.Type != gjson.String || !anyIn([]string{iss.Str}, r.Issuers) {
			return ErrIssuer
		}
	}
	var missing []string
	for _, rc := range r.Required {
		vals, ok := c.Values(rc.Name)
		if !ok {
			missing = append(missing, rc.Name)
			continue
		}
		if rc.Separator != "" {
			var split []string
			for _, v := range vals {
				split = append(split, strings.Split(v, rc.Separator)...)
			}
			vals = split
		}
		if len(rc.Values) == 0 {
			continue
		}
		matched := 0
		for _, want := range rc.Values {
			if anyIn(vals, []string{want}) {
				matched++
			}
		}
		if (rc.MatchAny && matched == 0) || (!rc.MatchAny && matched < len(rc.Values)) {
			return fmt.Errorf("%w: claim %s", ErrClaimNotAllowed, rc.Name)
		}
	}
	if missing != nil {
		return fmt.Errorf("%w: %s", ErrClaimMissing, strings.Join(missing, ", "))
	}
	return nil
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// ParseDiscovery reads an OpenID Connect discovery document.
func ParseDiscovery(doc []byte) (issuer, jwksURI string, err error) {
	if err := jsonlimit.Check(doc, MaxKeyDocumentSize); err != nil {
		return "", "", fmt.Errorf("the discovery document is refused: %v", err)
	}
	if !gjson.ValidBytes(doc) {
		return "", "", fmt.Errorf("the discovery document is not JSON")
	}
	d := gjson.ParseBytes(doc)
	uri := d.Get("jwks_uri")
	if !uri.Exists() || (uri.Type == gjson.String && uri.Str == "") {
		return "", "", fmt.Errorf("the discovery document has no jwks_uri")
	}
	lower := strings.ToLower(uri.Str)
	if uri.Type != gjson.String || len(uri.Str) > 2048 || !(strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://")) {
		return "", "", fmt.Errorf("the discovery document's jwks_uri is not an http(s) URL of at most 2048 bytes")
	}
	iss := d.Get("issuer")
	if iss.Exists() && (iss.Type != gjson.String || len(iss.Str) > 2048) {
		return "", "", fmt.Errorf("the discovery document's issuer is not a string of at most 2048 bytes")
	}
	return iss.Str, uri.Str, nil
}

// MaxKeysPerSet bounds the usable keys kept from one JWK set. A token
// without a kid is tried against every key of its source, so the count is
// also the most signature checks one request can cost.
const MaxKeysPerSet = 32

// ParseJWKS reads a JWK set (RFC 7517), keeping the public signing keys it
// can use and skipping the others (RFC 7517 5: a key of a type it does not
// understand is ignored, not an error). Symmetric (kty "oct") keys are
// dropped: a key set is published, so anyone who can read it could mint
// HS256 tokens with one. HMAC secrets come only from the policy
// (issuer-signing-keys). A key with private members ("d") is never used.
// A key is read from its members (n/e, crv/x/y); "x5c" is not consulted.
func ParseJWKS(doc []byte) ([]Key, error) {
	if err := jsonlimit.Check(doc, MaxKeyDocumentSize); err != nil {
		return nil, fmt.Errorf("the key set is refused: %v", err)
	}
	set := gjson.ParseBytes(doc)
	if !gjson.ValidBytes(doc) || !set.IsObject() || !set.Get("keys").IsArray() {
		return nil, fmt.Errorf("the key set is not a JWK set")
	}
	var keys []Key
	set.Get("keys").ForEach(func(_, jwk gjson.Result) bool {
		if k, ok := parseJWK(jwk); ok {
			keys = append(keys, k)
		}
		return len(keys) < MaxKeysPerSet
	})
	if len(keys) == 0 {
		return nil, fmt.Errorf("the key set has no usable signing key")
	}
	return keys, nil
}

// parseJWK reads one public signing key of a set.
func parseJWK(jwk gjson.Result) (Key, bool) {
	str := func(name string) (string, bool) {
		v := jwk.Get(name)
		return v.Str, v.Type == gjson.String
	}
	if !jwk.IsObject() || jwk.Get("d").Exists() {
		return Key{}, false
	}
	if use := jwk.Get("use"); use.Exists() && (use.Type != gjson.String || use.Str != "sig") {
		return Key{}, false
	}
	// kid and alg are optional, but a string when present.
	kid, kidOK := str("kid")
	alg, algOK := str("alg")
	if (!kidOK && jwk.Get("kid").Exists()) || (!algOK && jwk.Get("alg").Exists()) {
		return Key{}, false
	}
	kty, _ := str("kty")
	var pub any
	switch kty {
	case "RSA":
		n, ok1 := str("n")
		e, ok2 := str("e")
		if !ok1 || !ok2 {
			return Key{}, false
		}
		k, err := RSAKey(n, e)
		if err != nil {
			return Key{}, false
		}
		pub = k
	case "EC":
		crv, _ := str("crv")
		x, ok1 := str("x")
		y, ok2 := str("y")
		k, err := ecKey(crv, x, y)
		if !ok1 || !ok2 || err != nil {
			return Key{}, false
		}
		pub = k
	case "OKP":
		crv, _ := str("crv")
		x, ok := str("x")
		b, err := base64.RawURLEncoding.DecodeString(x)
		if !ok || crv != "Ed25519" || err != nil || len(b) != ed25519.PublicKeySize {
			return Key{}, false
		}
		pub = ed25519.PublicKey(b)
	default: // "oct" (never from a published set) and types this reader does not know
		return Key{}, false
	}
	k, err := NewKey(kid, pub, alg)
	return k, err == nil
}

// ecKey builds a public key from a JWK's crv, x and y; the point must be on
// the curve and each coordinate exactly the curve's size (RFC 7518 6.2.1.2).
func ecKey(crv, x, y string) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	xb, err1 := base64.RawURLEncoding.DecodeString(x)
	yb, err2 := base64.RawURLEncoding.DecodeString(y)
	if err1 != nil || err2 != nil || len(xb) != size || len(yb) != size {
		return nil, fmt.Errorf("the coordinates are not %d bytes of base64url", size)
	}
	point := append(append([]byte{4}, xb...), yb...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

// RSAKey builds an RSA public key from APIM's n and e attributes, which may
// be base64url (as documented) or standard base64.
func RSAKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := decodeB64(n)
	if err != nil || len(nb) < 256 {
		return nil, fmt.Errorf("n must be a base64 RSA modulus of at least 2048 bits")
	}
	eb, err := decodeB64(e)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("e must be a base64 RSA exponent")
	}
	exp := new(big.Int).SetBytes(eb)
	if exp.Int64() < 3 || exp.Int64()%2 == 0 {
		return nil, fmt.Errorf("e is not a valid RSA exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(exp.Int64())}, nil
}

// HMACSecret decodes APIM's base64 symmetric key.
func HMACSecret(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		b, err = decodeB64(s)
	}
	if err != nil || len(b) < 16 {
		return nil, fmt.Errorf("a symmetric key must be base64 of at least 16 bytes")
	}
	return b, nil
}

// CertificateKey returns the public key of a PEM certificate.
func CertificateKey(pemText string) (any, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a valid certificate: %v", err)
	}
	return cert.PublicKey, nil
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}
