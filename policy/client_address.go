package policy

// The client's address as a host reports it: Envoy's downstream address, or
// an entry of X-Forwarded-For when the plugin trusts proxies in front.

import (
	"net/netip"
	"strings"
)

// ClientFromXFF returns the hops-th address from the right of an X-Forwarded-For
// value, as Envoy's xff_num_trusted_hops does: entries left of it were
// written by the client and are never trusted.
func ClientFromXFF(xff string, hops int) string {
	entries := strings.Split(xff, ",")
	if strings.TrimSpace(xff) == "" || len(entries) < hops {
		return ""
	}
	return HostOnly(strings.TrimSpace(entries[len(entries)-hops]))
}

// HostOnly strips the port from "ip:port" or "[v6]:port".
func HostOnly(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		if ap.Addr().Is4() { // parsed only if canonical: the host's text as is
			return addr[:strings.LastIndexByte(addr, ':')]
		}
		return ap.Addr().Unmap().String()
	}
	if a, err := netip.ParseAddr(strings.Trim(addr, "[]")); err == nil {
		return a.Unmap().String()
	}
	return ""
}
