package envoytest

import (
	"strings"
	"testing"
)

// bodyPolicy rewrites request bodies: a find-and-replace that a client can
// make grow (each "a" becomes 1 KiB).
const bodyPolicy = `<policies><inbound><find-and-replace from="a" to="` + "{{big}}" + `" /></inbound></policies>`

// bodyLimitsThroughEnvoy: a body the policies change is bounded: one over
// the limit, or one a replacement would grow past it, is refused with 413;
// the backend, which has the headers already (Envoy's Wasm filter hands
// over no body while a filter holds the headers), gets a request cut off
// before its body ends, never the body. A small one is changed.
func bodyLimitsThroughEnvoy(t *testing.T, s *stack) {
	before := len(s.upstream.Requests())
	if r := s.do(t, "POST", "/upload", nil, "xax"); r.status != 200 {
		t.Fatalf("a small body: %d %q", r.status, r.body)
	}
	if got := s.upstream.Requests()[before].Body; got != "x"+strings.Repeat("b", 1024)+"x" {
		t.Fatalf("the backend got %d bytes %.20q", len(got), got)
	}
	for name, body := range map[string]string{
		"over the limit":               strings.Repeat("x", 2<<20),
		"grown past it by the replace": strings.Repeat("a", 2048),
	} {
		before := len(s.upstream.Requests())
		r := s.do(t, "POST", "/upload", nil, body)
		if r.status != 413 {
			t.Errorf("%s: status %d %.80q", name, r.status, r.body)
		}
		for _, got := range s.upstream.Requests()[before:] {
			if len(got.Body) >= len(body) || strings.Contains(got.Body, "bbbb") {
				t.Errorf("%s: the backend got %d bytes of body", name, len(got.Body))
			}
		}
	}
}
