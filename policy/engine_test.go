package policy

import (
	"testing"
)

// headers is a Request backed by a map of lower-case names to joined values.
type headers map[string]string

func (h headers) Header(name string) (string, bool) {
	v, ok := h[name]
	return v, ok
}

// ClientIP implements Request: tests set it as the pseudo-entry "@ip".
func (h headers) ClientIP() string { return h["@ip"] }

func namedValues(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func mustCompile(t testing.TB, doc string, nv map[string]string) *Program {
	t.Helper()
	p, err := Compile(doc, Options{NamedValue: namedValues(nv)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func inboundDoc(doc string) string {
	return "<policies>\n<inbound>\n" + doc + "\n</inbound>\n</policies>"
}

func TestJoinHeader(t *testing.T) {
	hs := [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"a", ""}}
	if v, ok := JoinHeader(hs, "a"); !ok || v != "1,3," {
		t.Errorf(`JoinHeader(a) = %q, %v; want "1,3,", true`, v, ok)
	}
	if v, ok := JoinHeader(hs, "b"); !ok || v != "2" {
		t.Errorf(`JoinHeader(b) = %q, %v; want "2", true`, v, ok)
	}
	if v, ok := JoinHeader(hs, "c"); ok || v != "" {
		t.Errorf(`JoinHeader(c) = %q, %v; want "", false`, v, ok)
	}
}
