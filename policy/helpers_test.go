package policy

// Helpers the engine's tests share: requests and responses as maps, and
// compiling a document.

import "testing"

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

// resp is an upstream Response for outbound tests.
type resp map[string]string

func (r resp) Header(name string) (string, bool) { v, ok := r[name]; return v, ok }

func get(m map[string]string) headers {
	h := headers{":method": "GET", ":path": "/orders/42?x=1", ":authority": "api.contoso.com", ":scheme": "https"}
	for k, v := range m {
		h[k] = v
	}
	return h
}

func doc(inbound, outbound, onError string) string {
	return "<policies>\n<inbound>" + inbound + "</inbound>\n<backend><forward-request/></backend>\n<outbound>" + outbound + "</outbound>\n<on-error>" + onError + "</on-error>\n</policies>"
}

// tlsHeaders is a request whose connection reports a TLS version.
type tlsHeaders struct {
	headers
	version string
}

func (r tlsHeaders) TLSVersion() string { return r.version }
