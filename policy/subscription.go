package policy

// Products, subscriptions and subscription keys, as APIM: an API can
// require a subscription key; a subscription is scoped to one API, one
// product (a group of APIs with its own policy, between the global and the
// API scope) or all APIs; each has a primary and a secondary key.
// docs/configuration.md, "Products and subscriptions", documents the
// configuration; RATIONALE.md says why keys are kept as digests.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// Product is a group of APIs with a policy of its own.
type Product struct {
	ID, Name string
	APIs     []string // API names
	// Policy runs between the global and the API scope for requests whose
	// subscription is scoped to this product.
	Policy string
	// NotPublished products grant nothing.
	NotPublished bool
	// Open is APIM's subscriptionRequired: false on a product: its APIs
	// may be called without a key, and such requests run its policy. An
	// API may be in at most one open product.
	Open bool
}

// Subscription is a consumer's access to an API, a product or all APIs.
type Subscription struct {
	ID, Name string
	// Scope is "all", "api:<name>" or "product:<id>".
	Scope string
	// State is active (the default), suspended, cancelled, expired,
	// submitted or rejected: only active subscriptions grant access.
	State string
	// StartDate and EndDate bound when it is active (zero: unbounded).
	StartDate, EndDate time.Time
	// PrimaryKey and SecondaryKey are the keys' SHA-256 digests (hex); the
	// clear keys, when the configuration gave them (from the environment),
	// are PrimaryClear and SecondaryClear.
	PrimaryKey, SecondaryKey     string
	PrimaryClear, SecondaryClear string
	User                         *expr.User
}

// KeyNames are where an API takes its subscription key.
type KeyNames struct {
	Header, Query string
}

// Default subscription key names, as APIM.
const (
	DefaultKeyHeader = "Ocp-Apim-Subscription-Key"
	DefaultKeyQuery  = "subscription-key"
)

// apiSubscription is an API's subscription rule, on each of its programs.
type apiSubscription struct {
	api      string
	required bool
	header   string // lower case
	query    string
	open     *productInfo // the open product the API is in, if any
}

// subscriptions is the compiled set of subscriptions and products.
type subscriptions struct {
	byDigest map[string]keyRef
	products map[string]*productInfo
	open     map[string]*productInfo // by API name
	missing  *Program                // 401: no key
	invalid  *Program                // 401: a key that opens nothing here
}

type keyRef struct {
	sub     *subscriptionInfo
	primary bool
}

type subscriptionInfo struct {
	Subscription
	all     bool
	api     string
	product *productInfo
}

type productInfo struct {
	Product
	apis map[string]bool
	ctx  *expr.Product
}

// The answers APIM gives.
const (
	missingKeyMessage = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	invalidKeyMessage = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
)

func subscriptionReject(reason, message string) *Program {
	return &Program{inbound: []statement{&rejectRequest{
		stmtMeta: stmtMeta{element: "subscription", scope: "api"},
		reason:   reason, message: message, status: 401, body: errorBody(401, message),
	}}}
}

// refusals are the 401 programs of a route (missing key, invalid key):
// the shared refusals, named after the route so that the security event
// and metrics say which API was refused.
func (s *subscriptions) refusals(route *Program) [2]*Program {
	var out [2]*Program
	for i, base := range []*Program{s.missing, s.invalid} {
		out[i] = &Program{inbound: base.inbound, API: route.API, Operation: route.Operation, route: route.route}
	}
	return out
}

// validID is a subscription or product id: it names metrics.
func validID(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func compileSubscriptions(products []Product, subs []Subscription, apis []API) (*subscriptions, error) {
	bad := func(doc, format string, args ...any) error {
		return &ConfigError{Doc: doc, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf(format, args...)}
	}
	known := map[string]bool{}
	for _, a := range apis {
		known[a.Name] = true
	}
	s := &subscriptions{byDigest: map[string]keyRef{}, products: map[string]*productInfo{}, open: map[string]*productInfo{},
		missing: subscriptionReject("SubscriptionKeyNotFound", missingKeyMessage),
		invalid: subscriptionReject("SubscriptionKeyInvalid", invalidKeyMessage)}
	for i, p := range products {
		where := fmt.Sprintf("products[%d]", i)
		if !validID(p.ID) {
			return nil, bad(where, "\"id\" must be 1 to 80 letters, digits, '-' or '_'")
		}
		if s.products[p.ID] != nil {
			return nil, bad(where, "duplicate product id %q", p.ID)
		}
		pi := &productInfo{Product: p, apis: map[string]bool{}, ctx: &expr.Product{ID: p.ID, Name: orDefault(p.Name, p.ID)}}
		for _, a := range p.APIs {
			if !known[a] {
				return nil, bad(where, "\"apis\" names %q, which is not an API", abbreviate(a))
			}
			pi.apis[a] = true
			if p.Open && !p.NotPublished {
				if prev := s.open[a]; prev != nil {
					return nil, bad(where, "API %q is in two products that require no subscription (%q and %q): a request without a key could not tell which policy runs", a, prev.ID, p.ID)
				}
				s.open[a] = pi
			}
		}
		s.products[p.ID] = pi
	}
	seen := map[string]bool{}
	for i, sub := range subs {
		where := fmt.Sprintf("subscriptions[%d]", i)
		if !validID(sub.ID) {
			return nil, bad(where, "\"id\" must be 1 to 80 letters, digits, '-' or '_'")
		}
		if seen[sub.ID] {
			return nil, bad(where, "duplicate subscription id %q", sub.ID)
		}
		seen[sub.ID] = true
		info := &subscriptionInfo{Subscription: sub}
		info.Name = orDefault(sub.Name, sub.ID)
		switch kind, target, _ := strings.Cut(sub.Scope, ":"); {
		case sub.Scope == "all":
			info.all = true
		case kind == "api" && known[target]:
			info.api = target
		case kind == "product" && s.products[target] != nil:
			info.product = s.products[target]
		default:
			return nil, bad(where, "\"scope\" must be \"all\", \"api:<API name>\" or \"product:<product id>\" of this configuration, not %q", abbreviate(sub.Scope))
		}
		switch sub.State {
		case "":
			info.State = "active"
		case "active", "suspended", "cancelled", "expired", "submitted", "rejected":
		default:
			return nil, bad(where, "\"state\" must be active, suspended, cancelled, expired, submitted or rejected, not %q", abbreviate(sub.State))
		}
		if sub.PrimaryKey == "" && sub.SecondaryKey == "" {
			return nil, bad(where, "needs primaryKey or secondaryKey")
		}
		for _, k := range []struct {
			digest  string
			primary bool
		}{{sub.PrimaryKey, true}, {sub.SecondaryKey, false}} {
			if k.digest == "" {
				continue
			}
			if prev, dup := s.byDigest[k.digest]; dup {
				return nil, bad(where, "a key of subscription %q is also a key of %q", sub.ID, prev.sub.ID)
			}
			s.byDigest[k.digest] = keyRef{sub: info, primary: k.primary}
		}
	}
	return s, nil
}

// KeyDigest is the SHA-256 digest (lower-case hex) subscriptions keep of a
// key.
func KeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Subscribe applies the subscription rule of prog's API to the request: it
// returns the program to run (prog, its product's variant, or a 401
// refusal) and the subscription the request presented a valid key of
// (nil when none). A key is looked up by its digest: one hash and one map
// lookup, however many subscriptions there are.
func (g *Gateway) Subscribe(prog *Program, req Request, now time.Time) (*Program, *expr.Subscription) {
	return g.subscribe(prog, req, now, prog.first != nil && requestIsPreflight(req))
}

// subscribe is Subscribe with the preflight question answered (Begin
// answers it once for the request).
func (g *Gateway) subscribe(prog *Program, req Request, now time.Time, preflight bool) (*Program, *expr.Subscription) {
	rule := prog.sub
	if g.subs == nil || rule == nil {
		return prog, nil
	}
	if preflight {
		// A browser's preflight carries no key: the route's cors answers
		// it, and nothing reaches the backend (docs/policies.md, cors).
		return prog, nil
	}
	key, ok := req.Header(rule.header)
	if !ok && rule.query != "" {
		path, _ := req.Header(":path")
		key, ok = queryValue(path, rule.query)
	}
	if !ok || key == "" {
		if p := rule.open; p != nil {
			// An open product: no key needed, its policy runs.
			if v := prog.products[p.ID]; v != nil {
				prog = v
			}
			return prog, &expr.Subscription{Product: p.ctx}
		}
		if rule.required {
			return prog.refusals[0], nil
		}
		return prog, nil
	}
	ref, found := g.subs.byDigest[KeyDigest(key)]
	sub := ref.sub
	if !found || !sub.activeAt(now) || !sub.covers(rule.api) {
		if rule.required {
			return prog.refusals[1], nil
		}
		return prog, nil
	}
	ctx := &expr.Subscription{ID: sub.ID, Name: sub.Name, Key: key, StartDate: sub.StartDate, EndDate: sub.EndDate, User: sub.User}
	ctx.PrimaryKey, ctx.SecondaryKey = sub.PrimaryClear, sub.SecondaryClear
	if ref.primary {
		ctx.PrimaryKey = key
	} else {
		ctx.SecondaryKey = key
	}
	if sub.product != nil {
		ctx.Product = sub.product.ctx
		if v := prog.products[sub.product.ID]; v != nil {
			prog = v
		}
	}
	return prog, ctx
}

func (s *subscriptionInfo) activeAt(now time.Time) bool {
	return s.State == "active" && (s.StartDate.IsZero() || !now.Before(s.StartDate)) && (s.EndDate.IsZero() || now.Before(s.EndDate))
}

func (s *subscriptionInfo) covers(api string) bool {
	switch {
	case s.all:
		return true
	case s.product != nil:
		return !s.product.NotPublished && s.product.apis[api]
	}
	return s.api == api
}

// queryValue finds the first value of a query parameter in a request path.
func queryValue(path, name string) (string, bool) {
	_, q, ok := strings.Cut(path, "?")
	if !ok {
		return "", false
	}
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err == nil && k == name {
			v, err := url.QueryUnescape(v)
			return v, err == nil
		}
	}
	return "", false
}

// SetSubscription gives the request its subscription (context.Subscription,
// context.Product, context.User); one without an ID carries only the open
// product the request runs under.
func (x *Exec) SetSubscription(s *expr.Subscription) { x.sub = s }

// Subscription implements expr.Env.
func (x *Exec) Subscription() *expr.Subscription { return x.sub }
