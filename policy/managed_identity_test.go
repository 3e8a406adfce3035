package policy

import (
	"strings"
	"testing"
)

// tokenStore is a host's token cache: the tokens it has.
type tokenStore map[TokenRequest]string

func (s tokenStore) Token(r TokenRequest) string { return s[r] }

func compileMI(t *testing.T, store tokenStore, doc string) *Program {
	t.Helper()
	g, err := CompileGateway(Config{Policy: doc}, Options{Tokens: store})
	if err != nil {
		t.Fatal(err)
	}
	return g.global
}

func authorization(r Result) (string, bool) {
	for _, e := range r.Edits {
		if e.Name == "authorization" {
			if e.Values == nil {
				return "", true
			}
			return e.Values[0], true
		}
	}
	return "", false
}

func TestManagedIdentity_header(t *testing.T) {
	store := tokenStore{}
	p := compileMI(t, store, inboundDoc(`<authentication-managed-identity resource="https://vault.azure.net" client-id="c-1" />`))
	req := headers{":method": "GET", ":path": "/", "authorization": "Bearer client-token"}

	// No token yet: the host is asked, then the request goes on with it.
	x := p.NewExec(req, nil)
	r := x.Inbound()
	if r.Action != WaitToken || *r.Token != (TokenRequest{Resource: "https://vault.azure.net", ClientID: "c-1"}) {
		t.Fatalf("first: %+v", r)
	}
	store[*r.Token] = "tok-1"
	r = x.Resume(nil, nil)
	if v, _ := authorization(r); r.Action != Continue || v != "Bearer tok-1" {
		t.Fatalf("after the wait: %+v", r)
	}
	// Cached: no wait.
	r = p.NewExec(req, nil).Inbound()
	if v, _ := authorization(r); r.Action != Continue || v != "Bearer tok-1" {
		t.Fatalf("cached: %+v", r)
	}
}

func TestManagedIdentity_failures(t *testing.T) {
	req := headers{":method": "GET", ":path": "/", "authorization": "Bearer client-token"}
	// The host gave up: on-error, 500, the token source's reason.
	p := compileMI(t, tokenStore{}, inboundDoc(`<authentication-managed-identity resource="api://orders" />`))
	x := p.NewExec(req, nil)
	if r := x.Inbound(); r.Action != WaitToken {
		t.Fatalf("%+v", r)
	}
	r := x.Resume(nil, nil)
	if r.Action != Respond || r.Status != 500 || r.Body != InternalErrorBody || x.LastError().Reason != "ManagedIdentityTokenUnavailable" || x.LastError().Source != "authentication-managed-identity" {
		t.Fatalf("no token: %+v %+v", r, x.LastError())
	}
	// ignore-error: on without a token, and without the client's header.
	p = compileMI(t, tokenStore{}, inboundDoc(`<authentication-managed-identity resource="api://orders" ignore-error="true" />`))
	x = p.NewExec(req, nil)
	x.Inbound()
	r = x.Resume(nil, nil)
	if v, set := authorization(r); r.Action != Continue || !set || v != "" {
		t.Fatalf("ignore-error: %+v", r)
	}
	// A resource from an expression that is not a resource.
	p = compileMI(t, tokenStore{}, inboundDoc(`<authentication-managed-identity resource="@(context.Request.Headers.GetValueOrDefault("x-resource", ""))" />`))
	x = p.NewExec(headers{":method": "GET", ":path": "/", "x-resource": "a b"}, nil)
	if r := x.Inbound(); r.Status != 500 || x.LastError().Reason != "ManagedIdentityResourceInvalid" {
		t.Fatalf("bad resource: %+v %+v", r, x.LastError())
	}
}

// output-token-variable-name stores the token and leaves Authorization to
// the policy, as Microsoft's example does.
func TestManagedIdentity_variable(t *testing.T) {
	store := tokenStore{{Resource: "https://database.windows.net/"}: "sql-token"}
	p := compileMI(t, store, inboundDoc(`<authentication-managed-identity resource="https://database.windows.net/" output-token-variable-name="msi-access-token" ignore-error="false" />
<set-header name="Authorization" exists-action="override"><value>@("Bearer " + (string)context.Variables["msi-access-token"])</value></set-header>`))
	r := p.NewExec(headers{":method": "GET", ":path": "/"}, nil).Inbound()
	if v, _ := authorization(r); r.Action != Continue || v != "Bearer sql-token" {
		t.Fatalf("%+v", r)
	}
}

// Inside send-request the token goes on the call.
func TestManagedIdentity_sendRequest(t *testing.T) {
	store := tokenStore{}
	p := compileMI(t, store, inboundDoc(`<send-request mode="new" response-variable-name="r">
  <set-url>https://vault.example/secrets/s</set-url>
  <set-header name="Authorization" exists-action="override"><value>overridden</value></set-header>
  <authentication-managed-identity resource="https://vault.azure.net" />
</send-request>`))
	x := p.NewExec(headers{":method": "GET", ":path": "/"}, nil)
	r := x.Inbound()
	if r.Action != WaitToken {
		t.Fatalf("%+v", r)
	}
	store[*r.Token] = "vault-token"
	r = x.Resume(nil, nil)
	if r.Action != Call || joinPairs(r.Call.Headers, "authorization") != "Bearer vault-token" {
		t.Fatalf("call: %+v", r.Call)
	}
	if r = x.Resume(&CallResponse{StatusCode: 200}, nil); r.Action != Continue {
		t.Fatalf("after the call: %+v", r)
	}
	if _, set := authorization(r); set {
		t.Error("the backend request's Authorization was touched")
	}
}

func TestManagedIdentity_loadErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<authentication-managed-identity />`, `missing required attribute "resource"`},
		{`<authentication-managed-identity resource="a b" />`, `attribute "resource" must be 1 to 512 bytes of visible ASCII`},
		{`<authentication-managed-identity resource="r" client-id="@(context.RequestId)" />`, `attribute "client-id" must be a constant or a named value`},
		{`<authentication-managed-identity resource="r" output-token-variable-name="a b" />`, `must be a plain variable name`},
		{`<authentication-managed-identity resource="r" timeout="3" />`, `unknown attribute "timeout"`},
	} {
		_, err := CompileGateway(Config{Policy: inboundDoc(tc.doc)}, Options{Tokens: tokenStore{}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.doc, err)
		}
	}
	_, err := CompileGateway(Config{Policy: inboundDoc(`<authentication-managed-identity resource="r" />`)}, Options{})
	if err == nil || !strings.Contains(err.Error(), `needs a token source: set the plugin's "managedIdentity"`) {
		t.Errorf("no token source: %v", err)
	}
	_, err = CompileGateway(Config{Policy: `<policies><outbound><authentication-managed-identity resource="r" /></outbound></policies>`}, Options{Tokens: tokenStore{}})
	if err == nil || !strings.Contains(err.Error(), "not allowed in <outbound>") {
		t.Errorf("outbound: %v", err)
	}
}

func joinPairs(pairs [][2]string, name string) string {
	v, _ := JoinHeader(pairs, name)
	return v
}
