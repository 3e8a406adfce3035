//go:build !wasip1

package main

import (
	"net/netip"
	"testing"
)

// FuzzParseConfig: the configuration reader and the compiler behind it
// never panic on any plugin configuration; they accept it or return one
// error line.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		seedConfig(),
		`{"policy":"<policies/>","apis":[{"name":"a","pathPrefix":"/a","hosts":["x.example"],"operations":[{"name":"o","method":"GET","urlTemplate":"/{id}"}]}]}`,
		`{"policy":"<policies/>","clientIp":{"xffTrustedHops":2},"tokenCache":-1,"eventsPerSecond":3,"upstreams":{"a":"b"}}`,
		`<policies><inbound><base/></inbound></policies>`,
		`{"apis":[[[[[[[[[[]]]]]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig(data)
		if err != nil {
			return
		}
		_, _ = cfg.compile(newKeyManager())
	})
}

// FuzzClientAddress: X-Forwarded-For and downstream addresses never panic
// the readers, and whatever they return is an IP address or "".
func FuzzClientAddress(f *testing.F) {
	for _, s := range []string{"203.0.113.7, 10.0.0.1", "[2001:db8::1]:443", "::ffff:10.0.0.1", " , ,", "1.2.3.4:99999"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, xff string, hops int) {
		if hops < 1 || hops > 16 {
			return
		}
		for _, ip := range []string{fromXFF(xff, hops), hostOnly(xff)} {
			if ip == "" {
				continue
			}
			if _, err := netip.ParseAddr(ip); err != nil {
				t.Fatalf("%q gave %q, not an IP address", xff, ip)
			}
		}
	})
}
