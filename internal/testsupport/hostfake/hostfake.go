// Package hostfake holds what the SDK's proxytest host emulator
// lacks to run apimguard as Envoy does. Tests and the apimguard test command
// use it; the module itself never imports it.
package hostfake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"hash"
)

// VerifySignature is a stand-in for Envoy's verify_signature foreign
// function, with its semantics: the parameter is a VerifySignatureArguments
// protobuf (hash_function = 1, public_key DER = 2, signature = 3, text = 4),
// RSA keys verify PKCS#1 v1.5 and EC keys ASN.1 DER signatures, and the
// answer is a VerifySignatureResult (result = 1, error = 2).
func VerifySignature(param []byte) []byte {
	fields := map[int][]byte{}
	for i := 0; i < len(param); {
		key, n := binary.Uvarint(param[i:])
		if n <= 0 || key&7 != 2 {
			return result(false, "bad arguments")
		}
		i += n
		l, n := binary.Uvarint(param[i:])
		if n <= 0 || uint64(len(param)-i-n) < l {
			return result(false, "bad arguments")
		}
		i += n
		fields[int(key>>3)] = param[i : i+int(l)]
		i += int(l)
	}
	var h hash.Hash
	var id crypto.Hash
	switch string(fields[1]) {
	case "sha256":
		h, id = sha256.New(), crypto.SHA256
	case "sha384":
		h, id = sha512.New384(), crypto.SHA384
	case "sha512":
		h, id = sha512.New(), crypto.SHA512
	default:
		return result(false, "unknown hash function")
	}
	pub, err := x509.ParsePKIXPublicKey(fields[2])
	if err != nil {
		return result(false, "bad public key")
	}
	h.Write(fields[4])
	digest := h.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(k, id, digest, fields[3]) != nil {
			return result(false, "signature mismatch")
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, fields[3]) {
			return result(false, "signature mismatch")
		}
	default:
		return result(false, "unsupported key type")
	}
	return result(true, "")
}

func result(ok bool, msg string) []byte {
	var b []byte
	if ok {
		b = append(b, 0x08, 1)
	}
	if msg != "" {
		b = append(b, 0x12, byte(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// ClearRouteCache is a stand-in for Envoy's clear_route_cache foreign
// function: the emulator has no routes, so there is nothing to clear.
// Envoy answers with nothing; the emulator needs at least one byte (it
// takes the address of the first), which the plugin ignores.
func ClearRouteCache([]byte) []byte { return []byte{0} }
