//go:build !wasip1

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apimguard/apimguard/internal/testsupport/hostfake"
)

func certPEM(t *testing.T, k *ecdsa.PrivateKey) string {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// The host's verify_signature and the module's own crypto give the same
// verdict on every token of a corpus, natively and as .wasm.
func TestNativeCrypto_agreesWithFallback(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	claims := map[string]any{"sub": "alice", "exp": time.Now().Unix() + 600}
	sign := func(alg jose.SignatureAlgorithm, key any) string { return testjwt.Sign(t, alg, key, nil, claims) }
	tamper := func(tok string) string {
		parts := strings.Split(tok, ".")
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999}`)) + "." + parts[2]
	}
	der := func(tok string) string {
		parts := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		d, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(d)
	}
	corpus := []struct {
		name  string
		token string
		valid bool
	}{
		{"RS256", sign(jose.RS256, idpKey), true},
		{"RS384", sign(jose.RS384, idpKey), true},
		{"RS512", sign(jose.RS512, idpKey), true},
		{"ES256", sign(jose.ES256, ec256), true},
		{"ES384", sign(jose.ES384, ec384), true},
		{"PS256 (module only)", sign(jose.PS256, idpKey), true},
		{"RS256 tampered", tamper(sign(jose.RS256, idpKey)), false},
		{"RS256 other key", sign(jose.RS256, other), false},
		{"ES256 tampered", tamper(sign(jose.ES256, ec256)), false},
		{"ES256 DER signature", der(sign(jose.ES256, ec256)), false},
		{"ES384 signed by the P-256 key", strings.Replace(sign(jose.ES256, ec256), "eyJhbGciOiJFUzI1NiJ9", "eyJhbGciOiJFUzM4NCJ9", 1), false},
	}
	n := base64.RawURLEncoding.EncodeToString(idpKey.N.Bytes())
	doc := `<policies><inbound><validate-jwt header-name="Authorization"><issuer-signing-keys>
<key n="` + n + `" e="AQAB"/><key certificate-id="ec256"/><key certificate-id="ec384"/>
</issuer-signing-keys></validate-jwt></inbound></policies>`
	certs := map[string]string{"ec256": certPEM(t, ec256), "ec384": certPEM(t, ec384)}

	eachVM(t, func(t *testing.T, vm types.VMContext) {
		verdicts := map[bool]map[string]bool{}
		calls := 0
		for _, native := range []bool{true, false} {
			t.Run(map[bool]string{true: "host verify_signature", false: "module crypto"}[native], func(t *testing.T) {
				cfg, _ := json.Marshal(map[string]any{"policy": doc, "certificates": certs, "tokenCache": -1, "nativeCrypto": native})
				p := mustStart(t, vm, string(cfg))
				p.host.RegisterForeignFunction("verify_signature", func(param []byte) []byte {
					calls++
					return hostfake.VerifySignature(param)
				})
				verdicts[native] = map[string]bool{}
				for _, tc := range corpus {
					o := p.request([2]string{"authorization", "Bearer " + tc.token})
					ok := o.local == nil
					verdicts[native][tc.name] = ok
					if ok != tc.valid {
						t.Errorf("%s: accepted = %v, want %v", tc.name, ok, tc.valid)
					}
				}
			})
			if native && calls == 0 {
				t.Fatal("the host's verify_signature was never called")
			}
		}
		for _, tc := range corpus {
			if verdicts[true][tc.name] != verdicts[false][tc.name] {
				t.Errorf("%s: host %v, module %v", tc.name, verdicts[true][tc.name], verdicts[false][tc.name])
			}
		}
	})
}
