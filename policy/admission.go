package policy

import (
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// TLSReporter is implemented by a Request whose host can report the TLS
// version its connection negotiated, as Envoy's connection.tls_version
// says it ("TLSv1.2", "TLSv1.3"), "" for plain text. A host that cannot
// read it reports something else ("unknown"), which the TLS floor refuses.
// Begin asks only when a floor is configured.
type TLSReporter interface {
	TLSVersion() string
}

// Begin admits a request the one way every host does: it picks the
// request's route (refusing a request whose host or path cannot be routed
// safely), applies the TLS floor, decides whether it is a CORS preflight
// the route's cors answers, applies the route's subscription rule (not to
// a preflight), removes a client's BackendHeader, and readies x to run the program that decides the rest. It returns that
// program: the route's, its product's variant, or a refusal (whose first
// statement answers). x's subscription (context.Subscription) is set.
//
// A request without a TLSReporter has no TLS as far as the floor is
// concerned; one without :authority, :method or :path headers is routed
// by empty values.
func (g *Gateway) Begin(x *Exec, req Request, now time.Time) *Program {
	prog, params := g.global, map[string]string(nil)
	if g.router != nil {
		authority, _ := req.Header(":authority")
		method, _ := req.Header(":method")
		path, _ := req.Header(":path")
		prog, params = g.Route(authority, method, path)
	}
	if g.tls.configured {
		version := ""
		if r, ok := req.(TLSReporter); ok {
			version = r.TLSVersion()
		}
		if refuse := g.CheckTLS(version); refuse != nil {
			prog, params = refuse, nil
		}
	}
	// A CORS preflight carries no credentials: the route's cors answers
	// it before anything else, so it needs no subscription key. Decided
	// here once; the cors reads the answer.
	preflight := uint8(preflightUnknown)
	if prog.first != nil {
		preflight = preflightNo
		if requestIsPreflight(req) {
			preflight = preflightYes
		}
	}
	var sub *expr.Subscription
	if g.subs != nil {
		prog, sub = g.subscribe(prog, req, now, preflight == preflightYes)
	}
	prog.InitExec(x, req, params)
	if g.backendHeader {
		// The backend's cluster is the gateway's choice, never the
		// client's: a client's header is removed and the request routed
		// again without it.
		if _, ok := req.Header(BackendHeader); ok {
			overlay{edits: &x.reqEdits, base: req.Header}.set(BackendHeader, nil)
			x.routeChanged = true
		}
	}
	x.cors.preflight = preflight
	x.SetSubscription(sub)
	return prog
}
