//go:build !wasip1

package main

import (
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// The TLS floor reads the connection's TLS version from the host
// (connection.tls_version) and refuses plain text and older versions.
func TestTLSFloor(t *testing.T) {
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, `{"policy": "<policies/>", "tls": {"minVersion": "1.2"}}`)
		if o := p.request(); o.local == nil || o.local.StatusCode != 403 || string(o.local.Data) != `{"statusCode":403,"message":"TLS 1.2 or higher is required."}` {
			t.Fatalf("plain text: %+v", o.local)
		}
		for version, want := range map[string]uint32{"TLSv1.1": 403, "TLSv1.2": 0, "TLSv1.3": 0} {
			if err := p.host.SetProperty([]string{"connection", "tls_version"}, []byte(version)); err != nil {
				t.Fatal(err)
			}
			o := p.request()
			switch {
			case want == 0 && (o.local != nil || o.action != types.ActionContinue):
				t.Errorf("%s: refused: %+v", version, o.local)
			case want != 0 && (o.local == nil || o.local.StatusCode != want):
				t.Errorf("%s: got %+v, want %d", version, o.local, want)
			}
		}
	})
}
