package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
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
	if len(alg) != 5 {
		return false
	}
	var h crypto.Hash
	var newHash func() hash.Hash
	var digest []byte
	switch alg[2:] {
	case "256":
		h, newHash = crypto.SHA256, sha256.New
		d := sha256.Sum256(text)
		digest = d[:]
	case "384":
		h, newHash = crypto.SHA384, sha512.New384
		d := sha512.Sum384(text)
		digest = d[:]
	case "512":
		h, newHash = crypto.SHA512, sha512.New
		d := sha512.Sum512(text)
		digest = d[:]
	default:
		return false
	}
	switch alg[:2] {
	case "HS":
		secret, ok := key.([]byte)
		if !ok {
			return false
		}
		mac := hmac.New(newHash, secret)
		mac.Write(text)
		return hmac.Equal(mac.Sum(nil), sig)
	case "RS":
		pub, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
	case "PS":
		// RFC 7518 3.5: the salt is as long as the hash.
		pub, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES":
		// RFC 7518 3.4: R and S, each exactly as long as the curve's order.
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	}
	return false
}
