package policy

import (
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
		rp := routePath(path)
		if again := routePath(rp); again != rp {
			t.Fatalf("routePath(%q) = %q, and again %q", path, rp, again)
		}
		if strings.Contains(rp, "/./") || strings.Contains(rp, "/../") || strings.Contains(rp, ";") {
			t.Fatalf("routePath(%q) = %q is not normal", path, rp)
		}
		p, _ := g.Route(authority, "GET", path)
		if p != badHostProgram && strings.Contains(authority, ",") && g.HasAPIs() {
			t.Fatalf("authority %q was routed", authority)
		}
		_, _ = splitHostPort(authority)
		_, _ = normalizeOrigin(origin)
	})
}
