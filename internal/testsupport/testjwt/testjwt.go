// Package testjwt signs tokens for the tests and benchmarks of every tier
// (engine, plugin, Envoy), with keys the tests generate.
package testjwt

import (
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Sign returns claims signed with key by alg as a compact JWS; claims is
// JSON-encoded unless it is already []byte, and opts (nil for none) sets
// the protected header. It fails tb on any error.
func Sign(tb testing.TB, alg jose.SignatureAlgorithm, key any, opts *jose.SignerOptions, claims any) string {
	tb.Helper()
	tok, err := SignE(alg, key, opts, claims)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// SignE is Sign for callers without a testing.TB.
func SignE(alg jose.SignatureAlgorithm, key any, opts *jose.SignerOptions, claims any) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	payload, ok := claims.([]byte)
	if !ok {
		if payload, err = json.Marshal(claims); err != nil {
			return "", err
		}
	}
	o, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return o.CompactSerialize()
}

// KID is the header most tokens carry: a kid and typ JWT.
func KID(kid string) *jose.SignerOptions {
	return (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT")
}
