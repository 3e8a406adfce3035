//go:build !wasip1

package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"os"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// BenchmarkBenchPolicy is make bench's P0 and P variants in the host
// emulator, natively and under wazero: an empty policy, and cors, ip-filter,
// check-header and validate-jwt on an allowed request whose token is in the
// verified-token cache, each with its response. Natively it is the one to
// profile (-cpuprofile, -memprofile) for the module's own work; the
// emulator's cost is in every figure, so compare runs as ratios.
func BenchmarkBenchPolicy(b *testing.B) {
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	n := base64.RawURLEncoding.EncodeToString(idpKey.N.Bytes())
	doc := `<policies><inbound>
<cors><allowed-origins><origin>https://myapp.com</origin></allowed-origins><allowed-headers><header>content-type</header><header>authorization</header><header>x-api-key</header></allowed-headers></cors>
<ip-filter action="allow"><address>127.0.0.0/8</address></ip-filter>
<check-header name="x-api-key" failed-check-httpcode="403"><value>bench-key</value></check-header>
<validate-jwt header-name="Authorization"><issuer-signing-keys><key id="k1" n="` + n + `" e="AQAB"/></issuer-signing-keys>
<audiences><audience>api://bench</audience></audiences><issuers><issuer>https://idp.example/</issuer></issuers></validate-jwt>
</inbound></policies>`
	tok := testjwt.Sign(b, jose.RS256, idpKey, testjwt.KID("k1"),
		map[string]any{"iss": "https://idp.example/", "aud": "api://bench", "sub": "user-1", "exp": time.Now().Add(time.Hour).Unix()})
	hs := [][2]string{{":authority", "127.0.0.1:10000"}, {":path", "/"}, {":method", "GET"}, {":scheme", "http"},
		{"x-api-key", "bench-key"}, {"authorization", "Bearer " + tok}, {"origin", "https://myapp.com"}}
	resp := [][2]string{{":status", "200"}, {"content-length", "2"}, {"content-type", "text/plain"}}
	for _, run := range []struct{ name, vm, doc string }{
		{"P0/native", "native", "<policies/>"}, {"P0/wasm", "wasm", "<policies/>"},
		{"P/native", "native", doc}, {"P/wasm", "wasm", doc},
	} {
		b.Run(run.name, func(b *testing.B) {
			var vm types.VMContext = &vmContext{}
			if run.vm == "wasm" {
				vm = newWasmVM(b)
			}
			cfg, _ := json.Marshal(map[string]any{"policy": run.doc})
			p := mustStart(b, vm, string(cfg))
			if err := p.host.SetProperty([]string{"source", "address"}, []byte("127.0.0.1:40000")); err != nil {
				b.Fatal(err)
			}
			benchAllowed(b, p, hs, resp)
		})
	}
}

// benchAllowed sends b.N requests with headers req through p, each of which
// must be let through, and answers each with resp (nil: no response).
func benchAllowed(b *testing.B, p *plugin, req, resp [][2]string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := p.host.InitializeHttpContext()
		if a := p.host.CallOnRequestHeaders(id, req, true); a != types.ActionContinue {
			b.Fatalf("denied: %+v", p.host.GetSentLocalResponse(id))
		}
		if resp != nil {
			if a := p.host.CallOnResponseHeaders(id, resp, false); a != types.ActionContinue {
				b.Fatalf("response: %v", a)
			}
		}
		p.host.CompleteHttpContext(id)
	}
}
