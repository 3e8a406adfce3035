package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
)

// verifySignature checks a JWS signature (RFC 7518) with the standard
// library: sig over text (the token up to its last dot) with key, for
// alg. Keys only reach here for algorithms they allow (Key.allows), so a
// key of another type simply fails.
func verifySignature(alg string, key any, text, sig []byte) bool {
	if alg == "EdDSA" {
		pub, ok := key.(ed25519.PublicKey)
		return ok && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, text, sig)
	}
	h, ok := jwsHash(alg)
	if !ok {
		return false
	}
	switch alg[:2] {
	case "HS":
		secret, ok := key.([]byte)
		if !ok {
			return false
		}
		mac := hmac.New(h.New, secret)
		mac.Write(text)
		return hmac.Equal(mac.Sum(nil), sig)
	case "RS":
		pub, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(pub, h, digest(h, text), sig) == nil
	case "PS":
		// RFC 7518 3.5: the salt is as long as the hash.
		pub, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(pub, h, digest(h, text), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES":
		pub, r, s, ok := esSignature(key, sig)
		return ok && ecdsa.Verify(pub, digest(h, text), r, s)
	}
	return false
}

// jwsHash is the hash of an RS, PS, ES or HS algorithm, named by its
// suffix (RS256: SHA-256).
func jwsHash(alg string) (crypto.Hash, bool) {
	if len(alg) != 5 {
		return 0, false
	}
	switch alg[2:] {
	case "256":
		return crypto.SHA256, true
	case "384":
		return crypto.SHA384, true
	case "512":
		return crypto.SHA512, true
	}
	return 0, false
}

// digest hashes text with one of jwsHash's hashes.
func digest(h crypto.Hash, text []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(text)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(text)
		return d[:]
	}
	d := sha512.Sum512(text)
	return d[:]
}

// esSignature splits a JWS ECDSA signature into R and S, each exactly as
// long as the curve's order (RFC 7518 3.4); a signature of another length
// (a DER one, say) or a key that is not ECDSA never verifies.
func esSignature(key any, sig []byte) (pub *ecdsa.PublicKey, r, s *big.Int, ok bool) {
	pub, ok = key.(*ecdsa.PublicKey)
	if !ok {
		return nil, nil, nil, false
	}
	size := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return nil, nil, nil, false
	}
	return pub, new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:]), true
}
