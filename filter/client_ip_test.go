//go:build !wasip1

package main

import (
	"github.com/apimguard/apimguard/internal/corpus"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// The seed's check-ip through the plugin: the caller is Envoy's downstream
// address by default, the trusted X-Forwarded-For entry with xffTrustedHops.
func TestCheckIP_clientAddress(t *testing.T) {
	seedCheckIP := "<policies><inbound>\n" + corpus.MustSeedBlock("..", "check-ip") + "\n</inbound></policies>"
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		t.Run("downstream address", func(t *testing.T) {
			p := mustStart(t, vm, seedCheckIP)
			for addr, want := range map[string]uint32{"203.0.113.9:41000": 0, "198.51.100.23:1": 0, "198.51.100.24:1": 403, "[::ffff:203.0.113.1]:80": 0, "/run/envoy.sock": 403} {
				if err := p.host.SetProperty([]string{"source", "address"}, []byte(addr)); err != nil {
					t.Fatal(err)
				}
				o := p.request([2]string{"x-forwarded-for", "203.0.113.9"})
				if got := statusOf(o); got != want {
					t.Errorf("source %q: status %d, want %d", addr, got, want)
				}
			}
		})
		t.Run("xffTrustedHops", func(t *testing.T) {
			p := mustStart(t, vm, `{"policy": `+jsonQuote(seedCheckIP)+`, "clientIp": {"xffTrustedHops": 1}}`)
			if err := p.host.SetProperty([]string{"source", "address"}, []byte("127.0.0.1:5000")); err != nil {
				t.Fatal(err)
			}
			for xff, want := range map[string]uint32{
				"203.0.113.50":           0,
				"198.51.100.23":          0,
				"203.0.113.7, 192.0.2.1": 403, // a spoofed left-most entry does not count
				"192.0.2.1, 203.0.113.7": 0,
				"":                       403,
			} {
				var o outcome
				if xff == "" {
					o = p.request()
				} else {
					o = p.request([2]string{"x-forwarded-for", xff})
				}
				if got := statusOf(o); got != want {
					t.Errorf("X-Forwarded-For %q: status %d, want %d", xff, got, want)
				}
			}
		})
	})
}

func statusOf(o outcome) uint32 {
	if o.local == nil {
		return 0
	}
	return o.local.StatusCode
}

// context.Request.IpAddress is the address the IP policies use.
func TestIpAddressExpression(t *testing.T) {
	doc := `<policies><inbound><return-response><set-body>@(context.Request.IpAddress)</set-body></return-response></inbound></policies>`
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		t.Run("xffTrustedHops", func(t *testing.T) {
			p := mustStart(t, vm, `{"policy": `+jsonQuote(doc)+`, "clientIp": {"xffTrustedHops": 1}}`)
			o := p.request([2]string{"x-forwarded-for", "198.51.100.1, 203.0.113.7"})
			if o.local == nil || string(o.local.Data) != "203.0.113.7" {
				t.Fatalf("got %+v", o.local)
			}
		})
		t.Run("downstream address", func(t *testing.T) {
			p := mustStart(t, vm, doc)
			if err := p.host.SetProperty([]string{"source", "address"}, []byte("[2001:db8::5]:443")); err != nil {
				t.Fatal(err)
			}
			if o := p.request(); o.local == nil || string(o.local.Data) != "2001:db8::5" {
				t.Fatalf("got %+v", o.local)
			}
		})
	})
}
