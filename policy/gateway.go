package policy

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// Config is a gateway's policies: the global document and the API and
// operation scopes under it.
type Config struct {
	Policy string // global <policies>; may be empty
	APIs   []API
	// TLS is the lowest TLS version requests may arrive over (none: any).
	TLS TLSFloor
	// ClientCertificates is where client certificates come from and what
	// validate-client-certificate trusts.
	ClientCertificates ClientCertificates
	// Products and Subscriptions: subscription keys (subscription.go).
	Products      []Product
	Subscriptions []Subscription
	// Fragments are the policy fragments include-fragment inserts, by id:
	// "<fragment>…</fragment>" documents (include_fragment.go).
	Fragments map[string]string
	// Backends are APIM's backend entities set-backend-service's
	// backend-id names, by id.
	Backends map[string]Backend
	// Loggers are the ids of the loggers (event hubs) log-to-eventhub's
	// logger-id may name.
	Loggers []string
	// Deployment is context.Deployment.
	Deployment Deployment
}

// Deployment is what context.Deployment says of the gateway.
type Deployment = expr.Deployment

// API is an API scope: requests for one of Hosts (any host when empty) whose
// path starts with PathPrefix.
type API struct {
	Name string
	// DisplayName, Version and ServiceURL are context.Api's Name, Version
	// and ServiceUrl (DisplayName defaults to Name).
	DisplayName, Version, ServiceURL string
	Hosts                            []string
	PathPrefix                       string
	Policy                           string // empty: the API inherits the global policy unchanged
	Operations                       []Operation
	// SubscriptionRequired (nil: required when the configuration has
	// subscriptions, as APIM's default) and the key's header and query
	// parameter names (empty: APIM's defaults).
	SubscriptionRequired *bool
	KeyNames             KeyNames
}

// Operation is an operation scope inside an API: Method ("*" for any) and
// URLTemplate, relative to the API's PathPrefix, with {param} segments.
type Operation struct {
	Name        string
	DisplayName string // context.Operation.Name (default: Name)
	Method      string
	URLTemplate string
	Policy      string // empty: the operation inherits the API's policy
}

// Gateway is a compiled Config: a program per route and the router that
// picks one for a request.
type Gateway struct {
	global *Program
	router *router
	tls    tlsFloor
	subs   *subscriptions
	// keySources are the openid-config URLs the host must fetch keys for.
	keySources []string
	// tokenRequests are the managed-identity tokens whose resource is a
	// constant.
	tokenRequests []TokenRequest
	warnings      []string
	certs         *clientCerts
	// backendHeader: the configuration sends requests to other backends,
	// so a client's BackendHeader is removed (set_backend_service.go).
	backendHeader bool
	// sleeps: a retry may ask the host to wait (Result Sleep).
	sleeps bool
	// counters: the throttling elements' table, when one compiled;
	// globalRules the rate limit service's rules they use.
	counters    *counterTable
	globalRules []GlobalRule
}

// GlobalRules returns the rules of the rate limit service the policies
// use in global mode (apimguard ratelimit-config writes them out).
func (g *Gateway) GlobalRules() []GlobalRule { return g.globalRules }

// TakeServiceFailures returns how many asks to the rate limit service got
// no usable answer since the last call, and resets it.
func (g *Gateway) TakeServiceFailures() int {
	if g.counters == nil {
		return 0
	}
	n := g.counters.serviceDown
	g.counters.serviceDown = 0
	return n
}

// PrepareCounters creates the shared counters of the throttling elements
// when a policy has one; a host calls it at start, before requests.
func (g *Gateway) PrepareCounters() {
	if g.counters != nil {
		g.counters.Prepare()
	}
}

// TakeCounterOverflows returns how many counter updates found their key's
// bucket full (and counted on its shared overflow entry) since the last
// call, and resets it.
func (g *Gateway) TakeCounterOverflows() int {
	if g.counters == nil {
		return 0
	}
	n := g.counters.overflows
	g.counters.overflows = 0
	return n
}

// Sleeps reports whether a policy may ask the host to wait (retry) or to
// hold a message for its body (WaitBody, which the host bounds in time):
// the host then needs a timer.
func (g *Gateway) Sleeps() bool { return g.sleeps }

// TokenRequests returns the managed-identity tokens whose resource is a
// constant: a host can keep room for them whatever expressions ask for.
func (g *Gateway) TokenRequests() []TokenRequest { return g.tokenRequests }

// KeySources returns the openid-config URLs of every policy.
func (g *Gateway) KeySources() []string { return g.keySources }

// Warnings returns load-time remarks that did not stop the compilation,
// each naming its document and position.
func (g *Gateway) Warnings() []string { return g.warnings }

// StaleCertificates counts the trust anchors not valid at now and the CRLs
// past their nextUpdate (clientCertificates): while it is above zero some
// client certificates are refused whatever they are. The plugin reports it
// as a gauge an alert can watch.
func (g *Gateway) StaleCertificates(now time.Time) int { return len(g.certs.stale(now)) }

// Route returns the program for a request and the operation's template
// parameters. A request that matches no API runs the global policy; one
// that matches an API but none of its operations runs the API's. With APIs
// configured, a request whose authority is not one host gets a program
// that answers 400 (request_shape.go).
func (g *Gateway) Route(authority, method, path string) (*Program, map[string]string) {
	if g.router != nil {
		if !validAuthority(authority) {
			return badHostProgram, nil
		}
		if p, params := g.router.match(authority, method, path); p != nil {
			return p, params
		}
	}
	return g.global, nil
}

// HasAPIs reports whether any API scope is configured: without one, every
// request runs the global program and Route needs no request headers.
func (g *Gateway) HasAPIs() bool { return g.router != nil }

// CompileGateway compiles every scope once and computes the effective policy
// of each route by splicing operation → API → global at <base/>.
func CompileGateway(cfg Config, opt Options) (*Gateway, error) {
	if opt.Doc == "" {
		opt.Doc = "policy"
	}
	if svc := opt.RateLimitService; svc != nil && svc.TimeoutMS == 0 {
		s := *svc
		s.TimeoutMS = 1000
		opt.RateLimitService = &s
	}
	c := &compiler{opt: opt, memo: map[memoKey]statement{}, fragments: fragmentSet{src: cfg.Fragments}, loggers: map[string]bool{}}
	for _, id := range cfg.Loggers {
		c.loggers[id] = true
	}
	if opt.Counters != nil {
		c.counters = newCounterTable(opt.Counters, opt.CounterSalt)
	}
	if svc := opt.RateLimitService; svc != nil {
		u, err := parseCallURL(svc.URL)
		if err != nil || svc.Domain == "" {
			return nil, fmt.Errorf("rateLimitService: needs an http or https url and a domain")
		}
		c.serviceHost, c.servicePath = u.Host, u.RequestURI()
	}
	var err error
	if c.certs, err = compileClientCerts(cfg.ClientCertificates, opt.Certificates, opt.Now); err != nil {
		return nil, err
	}
	c.warnings = append(c.warnings, c.certs.stale(c.certs.now())...)
	if c.backends, err = compileBackends(cfg.Backends, &opt); err != nil {
		return nil, err
	}
	var global *document
	if strings.TrimSpace(cfg.Policy) != "" {
		if global, err = c.parseDocument(cfg.Policy, opt.Doc, "global"); err != nil {
			return nil, err
		}
	}
	globalEff := effective(global, nil)
	g := &Gateway{}
	if g.tls, err = compileTLSFloor(cfg.TLS); err != nil {
		return nil, err
	}
	if g.global, err = c.program(globalEff); err != nil {
		return nil, err
	}
	deployment := cfg.Deployment
	g.global.route = &expr.Route{Deployment: &deployment}
	g.certs = c.certs
	defer func() {
		g.keySources, g.warnings, g.tokenRequests = c.keySources, c.warnings, c.tokenRequests
		g.backendHeader = c.usesBackends || len(cfg.Backends) > 0
		g.sleeps = c.usesRetry || c.readsBodies
		if c.usesCounters {
			g.counters = c.counters
		}
		g.globalRules = c.globalRules
	}()
	if len(cfg.APIs) == 0 {
		if len(cfg.Subscriptions) > 0 || len(cfg.Products) > 0 {
			return nil, &ConfigError{Doc: "subscriptions", Pos: Pos{Line: 1, Col: 1}, Msg: "products and subscriptions need \"apis\": a key is checked for the API a request is routed to"}
		}
		return g, nil
	}
	g.router = newRouter()
	if len(cfg.Subscriptions) > 0 || len(cfg.Products) > 0 {
		if g.subs, err = compileSubscriptions(cfg.Products, cfg.Subscriptions, cfg.APIs); err != nil {
			return nil, err
		}
		c.subs = g.subs
	}
	// productDocs are the products' documents, parsed once.
	productDocs := map[string]*document{}
	for i, p := range cfg.Products {
		if strings.TrimSpace(p.Policy) != "" {
			if productDocs[p.ID], err = c.parseDocument(p.Policy, fmt.Sprintf("products[%d].policy", i), "product"); err != nil {
				return nil, err
			}
		}
	}
	seen := map[string]bool{}
	for i, api := range cfg.APIs {
		where := fmt.Sprintf("apis[%d]", i)
		if api.Name == "" {
			return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: "missing \"name\""}
		}
		if seen[api.Name] {
			return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("duplicate API name %q", api.Name)}
		}
		seen[api.Name] = true
		where = "apis[" + api.Name + "]"
		var apiDoc *document
		if strings.TrimSpace(api.Policy) != "" {
			if apiDoc, err = c.parseDocument(api.Policy, where+".policy", "api"); err != nil {
				return nil, err
			}
		}
		apiEff := effective(apiDoc, globalEff)
		apiProg, err := c.program(apiEff)
		if err != nil {
			return nil, err
		}
		apiProg.API, apiProg.base = api.Name, strings.TrimRight(strings.TrimSpace(api.PathPrefix), "/")
		apiInfo, err := apiContext(where, api)
		if err != nil {
			return nil, err
		}
		apiProg.route = &expr.Route{API: apiInfo, Deployment: &deployment}
		rule, err := subscriptionRule(where, api, cfg)
		if err != nil {
			return nil, err
		}
		g.openProduct(rule)
		if rule != nil && rule.open != nil && api.SubscriptionRequired != nil && *api.SubscriptionRequired {
			c.warnings = append(c.warnings, fmt.Sprintf("%s: \"subscriptionRequired\" is true, but the API is in product %q, which requires no subscription: as in APIM, a request without a key is admitted, under that product's policy", where, rule.open.ID))
		}
		// Each product of the API: its policy between global and API.
		productEff := map[string]map[section][]*Node{}
		for _, p := range cfg.Products {
			for _, name := range p.APIs {
				if name == api.Name {
					productEff[p.ID] = effective(apiDoc, effective(productDocs[p.ID], globalEff))
				}
			}
		}
		if err := c.variants(apiProg, rule, productEff, func(eff map[section][]*Node) map[section][]*Node { return eff }); err != nil {
			return nil, err
		}
		ar, err := g.router.addAPI(where, api, apiProg)
		if err != nil {
			return nil, err
		}
		opSeen := map[string]bool{}
		for j, op := range api.Operations {
			opWhere := fmt.Sprintf("%s.operations[%d]", where, j)
			if op.Name == "" {
				return nil, &ConfigError{Doc: opWhere, Pos: Pos{Line: 1, Col: 1}, Msg: "missing \"name\""}
			}
			if opSeen[op.Name] {
				return nil, &ConfigError{Doc: opWhere, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("duplicate operation name %q", op.Name)}
			}
			opSeen[op.Name] = true
			opWhere = where + ".operations[" + op.Name + "]"
			var opDoc *document
			if strings.TrimSpace(op.Policy) != "" {
				if opDoc, err = c.parseDocument(op.Policy, opWhere+".policy", "operation"); err != nil {
					return nil, err
				}
			}
			prog, err := c.program(effective(opDoc, apiEff))
			if err != nil {
				return nil, err
			}
			prog.API, prog.Operation, prog.base = api.Name, op.Name, apiProg.base
			prog.route = &expr.Route{API: apiInfo, Deployment: &deployment,
				Operation: &expr.Operation{ID: op.Name, Name: or(op.DisplayName, op.Name), Method: op.Method, URLTemplate: op.URLTemplate}}
			if err := c.variants(prog, rule, productEff, func(eff map[section][]*Node) map[section][]*Node { return effective(opDoc, eff) }); err != nil {
				return nil, err
			}
			if err := ar.addOperation(opWhere, op, prog); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

// subscriptionRule is an API's subscription rule, nil when it has none.
// Keys are required by default once subscriptions exist (APIM's default);
// products alone (open ones) need no key.
func subscriptionRule(where string, api API, cfg Config) (*apiSubscription, error) {
	haveSubs := len(cfg.Subscriptions) > 0
	required := haveSubs
	if api.SubscriptionRequired != nil {
		required = *api.SubscriptionRequired
	}
	if required && !haveSubs {
		return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: "\"subscriptionRequired\" needs \"subscriptions\" to check keys against"}
	}
	if !haveSubs && len(cfg.Products) == 0 {
		return nil, nil
	}
	header := orDefault(api.KeyNames.Header, DefaultKeyHeader)
	if !validHeaderName(header) {
		return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("subscriptionKeyParameterNames.header is not a header name: %q", abbreviate(header))}
	}
	return &apiSubscription{api: api.Name, required: required, header: strings.ToLower(header), query: orDefault(api.KeyNames.Query, DefaultKeyQuery)}, nil
}

// openProduct sets the rule's open product, if its API is in one.
func (g *Gateway) openProduct(rule *apiSubscription) {
	if rule != nil && g.subs != nil {
		rule.open = g.subs.open[rule.api]
	}
}

// variants gives prog its subscription rule and, for each product of its
// API, the program of the same route under that product's policy (scope
// maps an API-level effective document to this route's).
func (c *compiler) variants(prog *Program, rule *apiSubscription, productEff map[string]map[section][]*Node, scope func(map[section][]*Node) map[section][]*Node) error {
	prog.sub = rule
	if rule != nil && c.subs != nil {
		prog.refusals = c.subs.refusals(prog)
	}
	for id, eff := range productEff {
		v, err := c.program(scope(eff))
		if err != nil {
			return err
		}
		v.API, v.Operation, v.base, v.sub, v.route = prog.API, prog.Operation, prog.base, rule, prog.route
		if prog.products == nil {
			prog.products = map[string]*Program{}
		}
		prog.products[id] = v
	}
	return nil
}

// apiContext is context.Api of an API.
func apiContext(where string, api API) (*expr.API, error) {
	a := &expr.API{ID: api.Name, Name: or(api.DisplayName, api.Name), Version: api.Version,
		Path: strings.Trim(strings.TrimSpace(api.PathPrefix), "/")}
	if api.ServiceURL != "" {
		u, err := url.Parse(api.ServiceURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("serviceUrl %q is not an absolute http or https URL", abbreviate(api.ServiceURL))}
		}
		port, _ := strconv.ParseInt(u.Port(), 10, 64)
		if port == 0 {
			port = map[string]int64{"http": 80, "https": 443}[u.Scheme]
		}
		a.ServiceURL = &expr.URL{Scheme: u.Scheme, Host: u.Hostname(), Port: port, Path: u.EscapedPath()}
		if u.RawQuery != "" {
			a.ServiceURL.QueryString = "?" + u.RawQuery
		}
	}
	return a, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// effective splices a scope's document over its parent's effective sections.
func effective(d *document, parent map[section][]*Node) map[section][]*Node {
	out := map[section][]*Node{}
	for _, e := range sectionOrder {
		out[e.s] = splice(d, e.s, parent[e.s])
	}
	return out
}
