package policy

import (
	"fmt"
	"time"
)

// Options tune compilation.
type Options struct {
	// Doc names the global document in errors; default "policy".
	Doc string
	// NamedValue resolves {{name}}. A reference to a name it does not know
	// is a compile error.
	NamedValue func(name string) (string, bool)
	// Keys holds the key sets of openid-config sources; without it a
	// policy with openid-config does not compile.
	Keys KeyStore
	// Certificates are PEM certificates by id, for <key certificate-id>.
	Certificates map[string]string
	// Now is the clock of token checks; default time.Now.
	Now func() time.Time
	// TokenCache is how many verified tokens each validate-jwt remembers:
	// 0 for the default (1024), negative to turn the cache off.
	TokenCache int
	// Offload, when set, verifies RS* and ES* signatures outside Go.
	Offload Offload
	// Tokens serves authentication-managed-identity's tokens; without it
	// that element does not compile.
	Tokens TokenStore
	// BackendCluster picks the Envoy cluster of a backend's scheme and
	// host (lower case); explicit is false for a name made up for a host
	// the configuration does not map. Without it set-backend-service does
	// not compile.
	BackendCluster func(scheme, authority string) (cluster string, explicit bool)
	// Cache is the value cache of cache-lookup-value, cache-store-value and
	// cache-remove-value; without it those elements do not compile.
	Cache ValueCache
	// MaxIterations bounds the loop iterations of one expression's
	// evaluation (0: expr.DefaultMaxIterations).
	MaxIterations int
	// Counters holds the counters of the throttling elements (rate-limit,
	// quota, limit-concurrency and their -by-key forms), shared by the
	// host's workers; without it those elements do not compile.
	// CounterSalt is mixed into every counter key's hash (throttle.go): a
	// host passes something of its configuration a client cannot know.
	Counters    SharedStore
	CounterSalt []byte
	// RateLimitService, when set, counts rate limits and quotas in Envoy's
	// rate limit service instead of Counters (throttle_service.go).
	RateLimitService *RateLimitService
}

// Compile parses and compiles one <policies> document at global scope.
func Compile(src string, opt Options) (*Program, error) {
	g, err := CompileGateway(Config{Policy: src}, opt)
	if err != nil {
		return nil, err
	}
	return g.global, nil
}

// section identifies one of the four sections of a document.
type section uint8

const (
	inbound section = 1 << iota
	backend
	outbound
	onError
	anySection = inbound | backend | outbound | onError
)

var sectionOrder = []struct {
	name string
	s    section
}{{"inbound", inbound}, {"backend", backend}, {"outbound", outbound}, {"on-error", onError}}

func sectionByName(name string) (section, bool) {
	for _, e := range sectionOrder {
		if e.name == name {
			return e.s, true
		}
	}
	return 0, false
}

func (s section) String() string {
	for _, e := range sectionOrder {
		if e.s == s {
			return e.name
		}
	}
	return "section"
}

// document is a parsed <policies> document: each present section's
// children. A section that is absent inherits its parent's.
type document struct {
	sections map[section]*Node
}

// parseDocument reads and checks the outline of one scope's document.
func (c *compiler) parseDocument(src, doc, scope string) (*document, error) {
	root, err := ParseDocument(src)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			return nil, &ConfigError{Doc: doc, Pos: pe.Pos, Element: pe.Element, Msg: pe.Msg}
		}
		return nil, err
	}
	stamp(root, doc, scope)
	if root.Name != "policies" {
		return nil, c.errf(root, root.Pos, "the root element must be <policies>")
	}
	if err := c.noAttrs(root); err != nil {
		return nil, err
	}
	if err := c.noText(root); err != nil {
		return nil, err
	}
	d := &document{sections: map[section]*Node{}}
	for _, n := range root.Children {
		s, ok := sectionByName(n.Name)
		if !ok {
			return nil, c.errf(n, n.Pos, "unknown section (want inbound, backend, outbound or on-error)")
		}
		if d.sections[s] != nil {
			return nil, c.errf(n, n.Pos, "duplicate section")
		}
		if err := c.noAttrs(n); err != nil {
			return nil, err
		}
		if err := c.noText(n); err != nil {
			return nil, err
		}
		if n.Children, err = c.fragments.expand(c, n.Children); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, ch := range n.Children {
			if e, ok := elements(ch.Name); ok && e.firstOnly {
				if seen[ch.Name] {
					c.warnings = append(c.warnings, fmt.Sprintf("%s:%s: %s: only the first %s in <%s> applies; this one is ignored", doc, ch.Pos, ch.Name, ch.Name, n.Name))
				}
				seen[ch.Name] = true
			}
		}
		bases := 0
		for _, ch := range n.Children {
			if ch.Name != "base" {
				continue
			}
			if bases++; bases > 1 {
				return nil, c.errf(ch, ch.Pos, "only one <base/> per section")
			}
			if err := c.attrs(ch); err != nil {
				return nil, err
			}
			if err := c.empty(ch); err != nil {
				return nil, err
			}
		}
		setPaths(n.Children, "")
		d.sections[s] = n
	}
	return d, nil
}

// splice returns the effective statements of section s for a scope whose
// document is d, given the parent's effective statements. <base/> is
// replaced by the parent's; without <base/> the parent's do not run. An
// absent section inherits the parent's unchanged.
func splice(d *document, s section, parent []*Node) []*Node {
	if d == nil {
		return parent
	}
	sec := d.sections[s]
	if sec == nil {
		return parent
	}
	var out []*Node
	for _, n := range sec.Children {
		if n.Name == "base" {
			out = append(out, parent...)
			continue
		}
		out = append(out, n)
	}
	return out
}

type compiler struct {
	opt     Options
	section section
	// bodyReads are the message bodies read by the expressions of the
	// element being compiled (message_body.go).
	bodyReads uint8
	// inReturn is set while compiling the children of return-response.
	inReturn bool
	// memo shares the statements of nodes that several routes splice in.
	memo map[memoKey]statement
	// keySources collects the openid-config URLs of all policies.
	keySources []string
	// warnings are load-time remarks that do not stop the plugin.
	warnings []string
	// certs is the compiled clientCertificates setting.
	certs *clientCerts
	// subs are the compiled products and subscriptions (nil: none).
	subs *subscriptions
	// tokenRequests are the managed-identity tokens known at load time.
	tokenRequests []TokenRequest
	// fragments are the configured policy fragments (include_fragment.go).
	fragments fragmentSet
	// backends are the configured backends; usesBackends is set when a
	// set-backend-service compiled (set_backend_service.go).
	backends     *backendSet
	usesBackends bool
	// loggers are the ids of the configured loggers log-to-eventhub may
	// name.
	loggers map[string]bool
	// usesRetry: a retry compiled (retry.go); readsBodies: an expression
	// reads a message body (message_body.go).
	usesRetry, readsBodies bool
	// counters is the table of the throttling elements (throttle.go), nil
	// without Options.Counters; usesCounters: one compiled.
	counters     *counterTable
	usesCounters bool
	// globalRules are the rate limit service's rules the elements use;
	// serviceHost and servicePath are its URL's.
	globalRules              []GlobalRule
	serviceHost, servicePath string
}

type memoKey struct {
	n *Node
	s section
}

func (c *compiler) errf(n *Node, pos Pos, format string, args ...any) error {
	doc := n.Doc
	if doc == "" {
		doc = c.opt.Doc
	}
	msg := fmt.Sprintf(format, args...)
	if n.Via != "" {
		msg += " (in the fragment included at " + n.Via + ")"
	}
	return &ConfigError{Doc: doc, Pos: pos, Element: n.Name, Msg: msg}
}

// program compiles the effective sections of one route.
func (c *compiler) program(effective map[section][]*Node) (*Program, error) {
	p := &Program{certs: c.certs, now: c.opt.Now, backends: c.backends, cache: c.opt.Cache, counters: c.counters}
	if svc := c.opt.RateLimitService; svc != nil {
		p.service, p.serviceHost, p.servicePath = svc, c.serviceHost, c.servicePath
	}
	for _, e := range sectionOrder {
		c.section = e.s
		body, err := c.statements(effective[e.s])
		if err != nil {
			return nil, err
		}
		for _, st := range body {
			p.bodies |= st.meta().body & map[section]uint8{inbound: readsRequestBody, backend: readsRequestBody, outbound: readsResponseBody}[e.s]
		}
		switch e.s {
		case inbound:
			p.inbound = body
			for _, st := range body {
				if f, ok := st.(firstResponder); ok {
					p.first = f
					break
				}
			}
		case backend:
			p.backend = body
		case outbound:
			p.outbound = body
		case onError:
			p.onError = body
		}
	}
	return p, nil
}

// statements compiles a list of sibling policy elements.
func (c *compiler) statements(nodes []*Node) ([]statement, error) {
	var body []statement
	for _, n := range nodes {
		key := memoKey{n, c.section}
		if s, ok := c.memo[key]; ok && !c.inReturn {
			if s != nil {
				body = append(body, s)
				c.bodyReads |= s.meta().body
			}
			continue
		}
		// The bodies the element's expressions read, its children's
		// included, mark it; its parent gets them too.
		outer := c.bodyReads
		c.bodyReads = 0
		s, err := c.statement(n)
		if err != nil {
			return nil, err
		}
		if s != nil {
			s.meta().body = c.bodyReads
		}
		c.bodyReads |= outer
		if c.memo != nil && !c.inReturn {
			c.memo[key] = s
		}
		if s != nil {
			body = append(body, s)
		}
	}
	return body, nil
}

func (c *compiler) statement(n *Node) (statement, error) {
	el, ok := elements(n.Name)
	if !ok {
		if why, ok := refusedElements[n.Name]; ok {
			return nil, c.errf(n, n.Pos, "not supported: %s", why)
		}
		return nil, c.errf(n, n.Pos, "unsupported policy element")
	}
	if el.sections&c.section == 0 {
		return nil, c.errf(n, n.Pos, "not allowed in <%s>", c.section)
	}
	return el.compile(c, n)
}

// block compiles the policy elements inside n (a when, an otherwise).
func (c *compiler) block(n *Node) ([]statement, error) {
	if err := c.noText(n); err != nil {
		return nil, err
	}
	for _, ch := range n.Children {
		if ch.Name == "base" {
			return nil, c.errf(ch, ch.Pos, "<base/> must be a direct child of a section")
		}
	}
	return c.statements(n.Children)
}
