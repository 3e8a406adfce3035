package policy_test

import (
	"fmt"
	"strings"

	"github.com/apimguard/apimguard/policy"
)

// request is a policy.Request over a map of lower-case header names.
type request map[string]string

func (r request) Header(name string) (string, bool) { v, ok := r[name]; return v, ok }
func (r request) ClientIP() string                  { return "203.0.113.7" }

// Compile a global policy and evaluate the inbound section of two requests.
func ExampleCompile() {
	prog, err := policy.Compile(`<policies><inbound>
  <check-header name="x-api-key" failed-check-httpcode="403"><value>{{api-key}}</value></check-header>
</inbound></policies>`, policy.Options{NamedValue: func(name string) (string, bool) { return "k-1", name == "api-key" }})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, key := range []string{"k-1", "guess"} {
		r := prog.NewExec(request{":method": "GET", ":path": "/", "x-api-key": key}, nil).Inbound()
		fmt.Println(strings.TrimSpace(fmt.Sprint(r.Action, " ", r.Status, " ", r.Body)))
	}
	// Output:
	// Continue 0
	// Respond 403 {"statusCode":403,"message":"Access denied."}
}

// A configuration error names the document, line:column and element.
func ExampleCompile_error() {
	_, err := policy.Compile("<policies>\n<inbound>\n<check-header nam=\"x\"/>\n</inbound>\n</policies>", policy.Options{})
	fmt.Println(err)
	// Output:
	// policy:3:15: check-header: unknown attribute "nam"
}

// CompileGateway compiles scopes once; Route picks a request's program.
func ExampleGateway_Route() {
	gw, err := policy.CompileGateway(policy.Config{
		Policy: `<policies><inbound><set-header name="x-scope" exists-action="append"><value>global</value></set-header></inbound></policies>`,
		APIs: []policy.API{{Name: "orders", PathPrefix: "/orders",
			Operations: []policy.Operation{{Name: "get-order", Method: "GET", URLTemplate: "/{id}"}}}},
	}, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	prog, params := gw.Route("api.example.com", "GET", "/orders/42?expand=lines")
	fmt.Println(prog.API, prog.Operation, params["id"])
	prog, _ = gw.Route("api.example.com", "GET", "/health")
	fmt.Printf("%q %q\n", prog.API, prog.Operation)
	// Output:
	// orders get-order 42
	// "" ""
}

// A send-request makes the engine return a Call; the host makes it and
// resumes the evaluation with the answer.
func ExampleExec_Resume() {
	prog, err := policy.Compile(`<policies><inbound>
  <send-request mode="new" response-variable-name="state" timeout="5">
    <set-url>https://auth.example.com/introspect</set-url>
    <set-method>POST</set-method>
  </send-request>
  <choose><when condition="@(((IResponse)context.Variables["state"]).StatusCode != 200)">
    <return-response><set-status code="401"/></return-response>
  </when></choose>
</inbound></policies>`, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	x := prog.NewExec(request{":method": "GET", ":path": "/"}, nil)
	r := x.Inbound()
	fmt.Println(r.Action, r.Call.Method, r.Call.Authority, r.Call.Path)
	r = x.Resume(&policy.CallResponse{StatusCode: 403}, nil)
	fmt.Println(r.Action, r.Status)
	// Output:
	// Call POST auth.example.com /introspect
	// Respond 401
}
