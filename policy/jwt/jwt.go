// Package jwt verifies JWS compact tokens against key sets and checks their
// claims. It parses OpenID discovery documents and JWK sets but fetches
// nothing, and it takes the time as an input. It must not import proxy-wasm.
//
// Every key carries the algorithms it may verify (from its type, and from
// the JWK's "alg" when present), and a token's "alg" picks only among keys
// that allow it: an HMAC secret never verifies an RS256 token and an RSA key
// is never used as an HMAC secret.
package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
)

// MaxTokenSize bounds the tokens Verify looks at.
const MaxTokenSize = 16 * 1024

// Failure kinds. Each maps to one APIM LastError.Reason.
var (
	ErrMalformed       = errors.New("the token is not a well-formed signed JWT")
	ErrUnsigned        = errors.New("the token is not signed")
	ErrKeyNotFound     = errors.New("no signing key matches the token")
	ErrSignature       = errors.New("the signature does not verify")
	ErrExpired         = errors.New("the token has expired")
	ErrNotYetValid     = errors.New("the token is not valid yet")
	ErrNoExpiration    = errors.New("the token has no expiration time")
	ErrAudience        = errors.New("the audience is not allowed")
	ErrIssuer          = errors.New("the issuer is not allowed")
	ErrClaimMissing    = errors.New("a required claim is missing")
	ErrClaimNotAllowed = errors.New("a claim value is not allowed")
)

// Key is a verification key and the algorithms it may verify.
type Key struct {
	ID   string   // kid; "" matches any token
	Algs []string // JWA names: RS256, ES384, EdDSA, ...
	Key  any      // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte (HMAC)
	// der is the PKIX encoding of an RSA or EC public key, for Offload.
	der []byte
}

// Offload verifies a signature outside Go (Envoy's verify_signature):
// hash is "sha256", "sha384" or "sha512", keyDER a PKIX public key, sig
// PKCS#1 v1.5 for RSA or ASN.1 DER for ECDSA. handled is false when the
// host cannot do it; Verify then uses Go's crypto.
// text is the token up to its last dot, as a string: no copy is made.
type Offload func(hash string, keyDER, sig []byte, text string) (valid, handled bool)

// KeySet is the keys of one source and, for OpenID sources, its issuer.
type KeySet struct {
	Issuer string
	Keys   []Key
}

// Has reports whether the set has a key with the given kid.
func (s *KeySet) Has(kid string) bool {
	for _, k := range s.Keys {
		if k.ID == kid {
			return true
		}
	}
	return false
}

// algsFor is the algorithms a key of this type can verify.
func algsFor(key any) []string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	case []byte:
		return []string{"HS256", "HS384", "HS512"}
	}
	return nil
}

// NewKey makes a Key for a public key or HMAC secret. alg, when not empty,
// restricts it to that algorithm (a JWK's "alg"); it must fit the key type.
func NewKey(id string, key any, alg string) (Key, error) {
	algs := algsFor(key)
	if len(algs) == 0 {
		return Key{}, fmt.Errorf("unsupported key type %T", key)
	}
	var der []byte
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		der, _ = x509.MarshalPKIXPublicKey(key)
	}
	if alg != "" {
		if !slices.Contains(algs, alg) {
			return Key{}, fmt.Errorf("alg %q does not fit a %s key", alg, keyKind(key))
		}
		algs = []string{alg}
	}
	return Key{ID: id, Algs: algs, Key: key, der: der}, nil
}

func keyKind(key any) string {
	switch key.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "EC"
	case ed25519.PublicKey:
		return "OKP"
	}
	return "symmetric"
}

func (k Key) allows(alg string) bool { return slices.Contains(k.Algs, alg) }

// Header is the unverified JOSE header of a token.
type Header struct {
	Alg, Kid, Typ string
	crit          bool
	// dot1 and dot2 are the positions of the token's two dots, found once
	// by ParseHeader.
	dot1, dot2 int
}

// ParseHeader reads a token's header without verifying anything.
func ParseHeader(token string) (Header, error) {
	if len(token) > MaxTokenSize {
		return Header{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	// One pass for the dots: a JWS has two, a JWE four.
	dot1 := strings.IndexByte(token, '.')
	dot2 := -1
	if dot1 >= 0 {
		if i := strings.IndexByte(token[dot1+1:], '.'); i >= 0 {
			dot2 = dot1 + 1 + i
		}
	}
	if dot2 < 0 {
		return Header{}, ErrMalformed
	}
	if more := strings.IndexByte(token[dot2+1:], '.'); more >= 0 {
		if strings.Count(token[dot2+1:], ".") == 2 {
			return Header{}, fmt.Errorf("%w: encrypted tokens (JWE) are not supported", ErrMalformed)
		}
		return Header{}, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[:dot1])
	if err != nil || !jsonlimit.Valid(raw, 0) {
		return Header{}, ErrMalformed
	}
	obj := gjson.ParseBytes(raw)
	if !obj.IsObject() {
		return Header{}, ErrMalformed
	}
	// One pass. A member named twice is refused: readers disagree on which
	// one counts (gjson takes the first, encoding/json the last), and a
	// token that means two things to two readers is not well formed.
	var h Header
	var seen [4]bool
	ok := true
	obj.ForEach(func(k, v gjson.Result) bool {
		i := slices.Index(headerMembers[:], k.Str)
		if i < 0 {
			return true
		}
		if seen[i] || (i < 3 && v.Type != gjson.String) {
			ok = false
			return false
		}
		seen[i] = true
		switch i {
		case 0:
			h.Alg = v.Str
		case 1:
			h.Kid = v.Str
		case 2:
			h.Typ = v.Str
		case 3:
			h.crit = true
		}
		return true
	})
	if !ok || !seen[0] {
		return Header{}, ErrMalformed
	}
	h.dot1, h.dot2 = dot1, dot2
	return h, nil
}

var headerMembers = [...]string{"alg", "kid", "typ", "crit"}

// Verify checks token's signature with the keys that may verify it and
// returns its payload, which is a JSON object. Keys with an ID are used only
// when it equals the token's kid; keys without one are tried for any token.
// An unsigned token (alg "none") passes only when requireSigned is false.
func Verify(token string, keys []Key, requireSigned bool) (Header, []byte, error) {
	return VerifyWith(token, keys, requireSigned, nil)
}

// VerifyWith is Verify with RS256/384/512 and ES256/384/512 signatures
// checked by offload when it is not nil and the host handles them.
func VerifyWith(token string, keys []Key, requireSigned bool, offload Offload) (Header, []byte, error) {
	h, err := ParseHeader(token)
	if err != nil {
		return h, nil, err
	}
	payload, err := VerifyParsed(h, token, keys, requireSigned, offload)
	return h, payload, err
}

// VerifyParsed is VerifyWith for a token whose header ParseHeader already
// returned as h.
func VerifyParsed(h Header, token string, keys []Key, requireSigned bool, offload Offload) ([]byte, error) {
	if h.Alg == "none" {
		if requireSigned {
			return nil, ErrUnsigned
		}
		if h.dot2 != len(token)-1 {
			return nil, ErrMalformed // an unsigned token has no signature
		}
		payload, err := base64.RawURLEncoding.DecodeString(token[h.dot1+1 : h.dot2])
		if err != nil {
			return nil, ErrMalformed
		}
		return payload, checkObject(payload)
	}
	if h.crit {
		// RFC 7515 4.1.11: a token whose critical extensions the reader
		// does not understand is refused; this reader understands none.
		return nil, fmt.Errorf("%w: critical header extensions are not supported", ErrMalformed)
	}
	candidates := 0
	var sig []byte
	for _, k := range keys {
		if (k.ID != "" && k.ID != h.Kid) || !k.allows(h.Alg) {
			continue
		}
		if candidates == 0 {
			var err error
			if sig, err = base64.RawURLEncoding.DecodeString(token[h.dot2+1:]); err != nil || len(sig) == 0 {
				return nil, fmt.Errorf("%w: the signature is not base64url", ErrMalformed)
			}
		}
		candidates++
		valid, handled := false, false
		if offload != nil && k.der != nil {
			valid, handled = offloaded(token[:h.dot2], h.Alg, k, sig, offload)
		}
		if !handled {
			valid = verifySignature(h.Alg, k.Key, []byte(token[:h.dot2]), sig)
		}
		if !valid {
			continue
		}
		payload, err := base64.RawURLEncoding.DecodeString(token[h.dot1+1 : h.dot2])
		if err != nil {
			return nil, fmt.Errorf("%w: the payload is not base64url", ErrMalformed)
		}
		return payload, checkObject(payload)
	}
	if candidates == 0 {
		return nil, ErrKeyNotFound
	}
	return nil, ErrSignature
}

func checkObject(payload []byte) error {
	if !jsonlimit.Valid(payload, 0) || !gjson.ParseBytes(payload).IsObject() {
		return fmt.Errorf("%w: the payload is not a JSON object", ErrMalformed)
	}
	return nil
}

// offloaded checks a token's signature with offload. handled is false for
// algorithms it does not cover (PS*, which needs PSS padding) and when the
// host cannot verify.
func offloaded(text, alg string, k Key, sig []byte, offload Offload) (valid, handled bool) {
	if _, ok := jwsHash(alg); !ok {
		return false, false
	}
	switch alg[:2] {
	case "RS":
	case "ES":
		// JWS carries R||S; the host wants ASN.1 DER.
		_, r, s, ok := esSignature(k.Key, sig)
		if !ok {
			return false, true
		}
		der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			return false, true
		}
		sig = der
	default:
		return false, false
	}
	return offload("sha"+alg[2:], k.der, sig, text)
}
