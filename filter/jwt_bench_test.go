//go:build !wasip1

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"os"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// selfSigned returns a PEM certificate for pub, signed by priv.
func selfSigned(b *testing.B, pub, priv any) string {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv.(crypto.Signer))
	if err != nil {
		b.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// BenchmarkValidateJWT verifies one token per request through the plugin,
// natively and as .wasm under wazero, per algorithm, with the verified-token
// cache off; "cached" repeats one RS256 token with the cache on.
func BenchmarkValidateJWT(b *testing.B) {
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	secret := []byte("0123456789abcdef0123456789abcdef")
	n := base64.RawURLEncoding.EncodeToString(idpKey.N.Bytes())
	certs := map[string]string{"ec": selfSigned(b, &ec.PublicKey, ec), "ed": selfSigned(b, edPub, edPriv)}
	cases := []struct {
		name, key string
		alg       jose.SignatureAlgorithm
		signer    any
		cache     int
	}{
		{"RS256", `<key n="` + n + `" e="AQAB"/>`, jose.RS256, idpKey, -1},
		{"PS256", `<key n="` + n + `" e="AQAB"/>`, jose.PS256, idpKey, -1},
		{"ES256", `<key certificate-id="ec"/>`, jose.ES256, ec, -1},
		{"EdDSA", `<key certificate-id="ed"/>`, jose.EdDSA, edPriv, -1},
		{"HS256", `<key>` + base64.StdEncoding.EncodeToString(secret) + `</key>`, jose.HS256, secret, -1},
		{"RS256-cached", `<key n="` + n + `" e="AQAB"/>`, jose.RS256, idpKey, 0},
	}
	for _, vmKind := range []string{"native", "wasm"} {
		for _, tc := range cases {
			b.Run(tc.name+"/"+vmKind, func(b *testing.B) {
				var vm types.VMContext = &vmContext{}
				if vmKind == "wasm" {
					vm = newWasmVM(b)
				}
				doc := `<policies><inbound><validate-jwt header-name="Authorization"><issuer-signing-keys>` + tc.key + `</issuer-signing-keys></validate-jwt></inbound></policies>`
				cfg, _ := json.Marshal(map[string]any{"policy": doc, "certificates": certs, "tokenCache": tc.cache})
				p := mustStart(b, vm, string(cfg))
				tok := testjwt.Sign(b, tc.alg, tc.signer, nil, map[string]any{"sub": "alice", "exp": time.Now().Unix() + 3600})
				hs := [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api"}, {"authorization", "Bearer " + tok}}
				benchAllowed(b, p, hs, nil)
			})
		}
	}
}
