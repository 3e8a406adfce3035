package main

import (
	"encoding/binary"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// offloadState remembers whether the host verifies signatures.
var offloadState struct {
	unsupported, announced bool
}

// verifySignature checks an RS* or ES* signature with Envoy's native
// verify_signature foreign function (BoringSSL), which is much faster than
// Go's crypto compiled to wasm. When the host lacks the function, it says
// so once and the plugin verifies in Go from then on.
func verifySignature(hash string, keyDER, sig []byte, text string) (valid, handled bool) {
	if offloadState.unsupported {
		return false, false
	}
	out, err := proxywasm.CallForeignFunction("verify_signature", encodeVerifyArgs(hash, keyDER, sig, text))
	if err != nil {
		offloadState.unsupported = true
		proxywasm.LogInfof("apimguard: the host has no verify_signature function (%v): signatures are verified in the module", err)
		return false, false
	}
	if !offloadState.announced {
		offloadState.announced = true
		proxywasm.LogInfo("apimguard: RS256/384/512 and ES256/384/512 signatures are verified by the host (verify_signature)")
	}
	return decodeVerifyResult(out), true
}

// encodeVerifyArgs encodes Envoy's VerifySignatureArguments protobuf:
// hash_function = 1, public_key (DER) = 2, signature = 3, text = 4.
func encodeVerifyArgs(hash string, keyDER, sig []byte, text string) []byte {
	b := make([]byte, 0, len(hash)+len(keyDER)+len(sig)+len(text)+16)
	b = appendField(b, 1, hash)
	b = appendField(b, 2, keyDER)
	b = appendField(b, 3, sig)
	return appendField(b, 4, text)
}

func appendField[T []byte | string](b []byte, field int, v T) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|2))
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decodeVerifyResult reads VerifySignatureResult.result (field 1, a bool);
// anything it cannot read is "not valid".
func decodeVerifyResult(b []byte) bool {
	for i := 0; i < len(b); {
		key, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return false
		}
		i += n
		switch key & 7 {
		case 0:
			v, n := binary.Uvarint(b[i:])
			if n <= 0 {
				return false
			}
			i += n
			if key>>3 == 1 {
				return v == 1
			}
		case 2:
			l, n := binary.Uvarint(b[i:])
			if n <= 0 || uint64(len(b)-i-n) < l {
				return false
			}
			i += n + int(l)
		default:
			return false
		}
	}
	return false
}
