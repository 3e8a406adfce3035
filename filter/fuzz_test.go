//go:build !wasip1

package main

import (
	"net/netip"
	"testing"
)

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
