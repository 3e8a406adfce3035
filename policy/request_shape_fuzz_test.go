package policy

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzRequestShape: the host, path and origin readers never panic, the
// route path is in normal form (routing it again changes nothing), and a
// host the router accepts never holds a comma.
func FuzzRequestShape(f *testing.F) {
	for _, s := range [][3]string{
		{"secure.example.com.:80", "/pub/../admin;x/%2e%2e/%61", "https://a.example:443"},
		{"[::1]:8080", "//a//b/./c/%2F%5c\\", "http://[::1]"},
		{"a,b", "/%3B/%3b;/..", "null"},
		{"", "", "https://user@host/path"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	g, err := CompileGateway(scopesConfig, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authority, path, origin string) {
		if rp, ok := routePath(path); ok {
			if again, ok := routePath(rp); !ok || again != rp {
				t.Fatalf("routePath(%q) = %q, and again %q (%v)", path, rp, again, ok)
			}
			if strings.Contains(rp, "/./") || strings.Contains(rp, "/../") || strings.Contains(rp, ";") || ambiguousSlash(rp) {
				t.Fatalf("routePath(%q) = %q is not normal", path, rp)
			}
		}
		p, _ := g.Route(authority, "GET", path)
		if p != badHostProgram && strings.Contains(authority, ",") && g.HasAPIs() {
			t.Fatalf("authority %q was routed", authority)
		}
		_, _ = splitHostPort(authority)
		_, _ = normalizeOrigin(origin)
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
		for _, ip := range []string{ClientFromXFF(xff, hops), HostOnly(xff)} {
			if ip == "" {
				continue
			}
			if _, err := netip.ParseAddr(ip); err != nil {
				t.Fatalf("%q gave %q, not an IP address", xff, ip)
			}
		}
	})
}

// FuzzCredential: validate-jwt's reader of Authorization never panics, and
// a token it hands on is one credential: no comma or space in it, and no
// comma anywhere in the header (two credentials joined). (A bare value with
// a tab is handed on whole; the JWS reader refuses it.)
func FuzzCredential(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer  a", "Bearer a, Bearer b", "a b", ",", "Bearer\ta", " Bearer a "} {
		f.Add(s)
	}
	v := &validateJWT{header: "authorization"}
	f.Fuzz(func(t *testing.T, raw string) {
		x := (&Program{}).NewExec(headers{":method": "GET", "authorization": raw}, nil)
		token, err := v.token(x)
		if err != nil || token == "" {
			return
		}
		if strings.ContainsAny(token, ", ") || strings.Contains(raw, ",") {
			t.Fatalf("Authorization %q gave token %q", raw, token)
		}
	})
}
