package policy

import (
	"testing"
)

// context.Api, context.Operation and context.Deployment come from the
// route and the configuration (W3.23).
func TestRouteContext(t *testing.T) {
	show := func(name, e string) string {
		return `<set-header name="` + name + `" exists-action="override"><value>@(` + e + `)</value></set-header>`
	}
	policy := inboundDoc(show("x-api", `context.Api.Id + "|" + context.Api.Name + "|" + context.Api.Path + "|" + context.Api.Version + "|" + context.Api.ServiceUrl.Host + context.Api.ServiceUrl.Path`) +
		show("x-op", `context.Operation?.Id + "|" + context.Operation?.Name + "|" + context.Operation?.Method + "|" + context.Operation?.UrlTemplate`) +
		show("x-dep", `context.Deployment.Region + "|" + context.Deployment.ServiceName + "|" + context.Deployment.ServiceId + "|" + context.Deployment.GatewayId + "|" + context.Deployment.Gateway.Id + "|" + context.Deployment.Gateway.IsManaged`))
	g, err := CompileGateway(Config{Policy: policy, Deployment: Deployment{Region: "West Europe", ServiceName: "contoso-apim", ServiceID: "sid-1", GatewayID: "edge-1"},
		APIs: []API{{Name: "orders-api", DisplayName: "Orders API", Version: "v2", ServiceURL: "https://orders.internal.contoso.com:8443/api", PathPrefix: "/orders/",
			Operations: []Operation{{Name: "get-order", DisplayName: "Get an order", Method: "GET", URLTemplate: "/{id}"}}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, op string }{
		{"GET", "/orders/7", "get-order|Get an order|GET|/{id}"},
		{"DELETE", "/orders/7", "|||"}, // no operation matched: context.Operation is null
	} {
		p, params := g.Route("api.contoso.com", tc.method, tc.path)
		r := p.NewExec(get(map[string]string{":method": tc.method, ":path": tc.path}), params).Inbound()
		want := "x-api=orders-api|Orders API|orders|v2|orders.internal.contoso.com/api x-op=" + tc.op + " x-dep=West Europe|contoso-apim|sid-1|edge-1|edge-1|False"
		if got := editsOf(r); got != want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.method, tc.path, got, want)
		}
	}

	// Without APIs, context.Api is null: reading through it fails (500),
	// ?. gives null; the deployment is still there.
	g, err = CompileGateway(Config{Policy: inboundDoc(show("x-a", `context.Api?.Name ?? "none"`) + show("x-g", `context.Deployment.GatewayId`))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := g.Route("h", "GET", "/")
	if got := editsOf(p.NewExec(get(nil), nil).Inbound()); got != "x-a=none x-g=" {
		t.Errorf("global only: %s", got)
	}
	g, _ = CompileGateway(Config{Policy: inboundDoc(show("x-a", `context.Api.Name`))}, Options{})
	p, _ = g.Route("h", "GET", "/")
	if r := p.NewExec(get(nil), nil).Inbound(); r.Action != Respond || r.Status != 500 {
		t.Errorf("context.Api.Name without an API: %+v", r)
	}

	// A service URL that is not absolute is refused at start.
	_, err = CompileGateway(Config{APIs: []API{{Name: "a", PathPrefix: "/a", ServiceURL: "orders.internal"}}}, Options{})
	if err == nil || err.Error() != `apis[a]:1:1: serviceUrl "orders.internal" is not an absolute http or https URL` {
		t.Errorf("err %v", err)
	}
}
