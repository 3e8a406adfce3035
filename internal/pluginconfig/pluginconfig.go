// Package pluginconfig reads apimguard's plugin configuration (Envoy's
// configuration, Istio's pluginConfig): a bare <policies> document or the
// JSON object of docs/configuration.md's configuration contract, and compiles it into
// the engine's gateway. It is a pure function of the bytes: the filter, the
// corpus replayers and the fuzz target share it. It must not import
// proxy-wasm.
package pluginconfig

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/jsonlimit"
	"github.com/apimguard/apimguard/internal/managedidentity"
	"github.com/apimguard/apimguard/policy"
	"github.com/tidwall/gjson"
)

// Config is the plugin configuration: either a bare <policies> document or
// a JSON object with the keys documented in docs/configuration.md.
// DefaultBodyWaitSeconds is how long a message is held for the body an
// expression reads when the configuration does not say.
const DefaultBodyWaitSeconds = 30

type Config struct {
	Policy      string
	APIs        []policy.API
	NamedValues map[string]string
	// XFFTrustedHops > 0: the client is the XFFTrustedHops-th address from
	// the right of X-Forwarded-For instead of the downstream address.
	XFFTrustedHops int
	Upstreams      Upstreams
	Certificates   map[string]string
	// TokenCache is how many verified tokens each validate-jwt keeps
	// (0: the default, -1: off).
	TokenCache int
	// NoTelemetry turns off security events and request metrics.
	NoTelemetry bool
	// AccessLog sets each request's decision as the filter state
	// wasm.apimguard for Envoy's access loggers ("accessLog": true).
	AccessLog bool
	// EventsPerSecond bounds the event lines of one policy and reason per
	// second on each worker (0: the default; -1: no bound).
	EventsPerSecond int
	// NoNativeCrypto keeps signature verification in the module.
	NoNativeCrypto bool
	// TLS is the TLS floor ("tls": {"minVersion": "1.2", "allowPlainText": false}).
	TLS policy.TLSFloor
	// ClientCertificates is where client certificates come from and what
	// they are checked against ("clientCertificates").
	ClientCertificates policy.ClientCertificates
	// Products and Subscriptions ("products", "subscriptions"); the keys
	// of a subscription are as written ("sha256:<hex>" or "{{name}}")
	// until Compile.
	Products      []policy.Product
	Subscriptions []policy.Subscription
	// ManagedIdentity is the token source of authentication-managed-identity
	// ("managedIdentity"), as written: {{name}} references are resolved by
	// TokenSource.
	ManagedIdentity *managedidentity.Source
	// Fragments are the policy fragments include-fragment inserts
	// ("fragments": {"id": "<fragment>…</fragment>"}).
	Fragments map[string]string
	// Backends are APIM's backend entities ("backends": {"id": {"url"}}).
	Backends map[string]policy.Backend
	// Deployment is what context.Deployment says of this gateway.
	Deployment policy.Deployment
	// MaxIterations bounds the loop iterations of one expression
	// ("expressions": {"maxIterations"}; 0: the default).
	MaxIterations int
	// BodyWaitSeconds bounds how long a message is held for the body an
	// expression reads ("expressions": {"bodyWaitSeconds"}; 0: the
	// default, DefaultBodyWaitSeconds).
	BodyWaitSeconds int
	// Cache is the host's value cache, set by the host before Compile (not
	// read from the configuration); nil refuses the value-cache elements.
	Cache policy.ValueCache
	// Counters are the host's shared counters of the throttling elements
	// and CounterSalt what it mixes into their keys, set by the host like
	// Cache; nil Counters refuses those elements.
	Counters    policy.SharedStore
	CounterSalt []byte
	// RateLimitService is "rateLimitService": Envoy's rate limit service
	// counts the rate limits and quotas (nil: this Envoy's shared data);
	// rateLimitCluster is its cluster.
	RateLimitService *policy.RateLimitService
	rateLimitCluster string
	// Exports are the sinks of "events" and "loggers" (exports.go).
	Exports Exports
}

// MaxSize bounds the whole plugin configuration; each policy document
// in it is bounded again by policy.MaxDocumentSize.
const MaxSize = 8 << 20

// Parse reads the plugin configuration. Unknown keys and wrong types are
// errors: a gateway must never run half-configured.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("plugin configuration: %d bytes, more than the %d allowed", len(data), MaxSize)
	}
	s := strings.TrimSpace(strings.TrimPrefix(string(data), "\ufeff"))
	switch {
	case s == "":
		return nil, fmt.Errorf("plugin configuration: empty; give a <policies> document or a JSON object with \"policy\"")
	case s[0] == '<':
		return &Config{Policy: s}, nil
	case s[0] != '{':
		return nil, fmt.Errorf("plugin configuration: want a <policies> document or a JSON object, got %q", firstWord(s))
	}
	if err := jsonlimit.CheckString(s, 0); err != nil {
		return nil, fmt.Errorf("plugin configuration: %v", err)
	}
	if !gjson.Valid(s) {
		return nil, fmt.Errorf("plugin configuration: not valid JSON")
	}
	c := &Config{}
	var err error
	seen := map[string]bool{}
	gjson.Parse(s).ForEach(func(k, v gjson.Result) bool {
		key := k.String()
		if seen[key] {
			err = fmt.Errorf("plugin configuration: duplicate key %q", key)
			return false
		}
		seen[key] = true
		switch key {
		case "policy":
			if v.Type != gjson.String {
				err = fmt.Errorf("plugin configuration: \"policy\" must be a string holding a <policies> document")
				return false
			}
			c.Policy = v.String()
		case "namedValues":
			c.NamedValues, err = stringMap("namedValues", v)
		case "fragments":
			c.Fragments, err = stringMap("fragments", v)
		case "backends":
			c.Backends, err = parseBackends(v)
		case "apis":
			c.APIs, err = parseAPIs(v)
		case "upstreams":
			var m map[string]string
			if m, err = stringMap("upstreams", v); err == nil {
				c.Upstreams = Upstreams{}
				for host, cluster := range m {
					if host == "" || cluster == "" || strings.ContainsAny(host, "/ ") {
						err = fmt.Errorf("plugin configuration: upstreams[%q] = %q: want a host or host:port mapped to a cluster name", host, cluster)
						break
					}
					c.Upstreams[strings.ToLower(host)] = cluster
				}
			}
		case "nativeCrypto":
			if v.Type != gjson.True && v.Type != gjson.False {
				err = fmt.Errorf("plugin configuration: nativeCrypto must be true or false")
			}
			c.NoNativeCrypto = v.Type == gjson.False
		case "telemetry":
			if v.Type != gjson.True && v.Type != gjson.False {
				err = fmt.Errorf("plugin configuration: telemetry must be true or false")
			}
			c.NoTelemetry = v.Type == gjson.False
		case "accessLog":
			if v.Type != gjson.True && v.Type != gjson.False {
				err = fmt.Errorf("plugin configuration: accessLog must be true or false")
			}
			c.AccessLog = v.Type == gjson.True
		case "tokenCache":
			n := v.Int()
			if v.Type != gjson.Number || float64(n) != v.Num || n < -1 || n > 1_000_000 {
				err = fmt.Errorf("plugin configuration: tokenCache must be a whole number from -1 (off) to 1000000, got %s", v.Raw)
			}
			c.TokenCache = int(n)
		case "tls":
			err = object("tls", v, map[string]gjson.Type{"minVersion": gjson.String, "allowPlainText": gjson.True}, func(key string, f gjson.Result) error {
				switch key {
				case "minVersion":
					if f.Str != "1.2" && f.Str != "1.3" {
						return fmt.Errorf("plugin configuration: tls.minVersion must be \"1.2\" or \"1.3\", got %s", f.Raw)
					}
					c.TLS.MinVersion = f.Str
				case "allowPlainText":
					c.TLS.AllowPlainText = f.Type == gjson.True
				}
				return nil
			})
			if err == nil && c.TLS.MinVersion == "" {
				err = fmt.Errorf("plugin configuration: tls.minVersion is required (\"1.2\" or \"1.3\")")
			}
		case "eventsPerSecond":
			n := v.Int()
			if v.Type != gjson.Number || float64(n) != v.Num || n < -1 || n == 0 || n > 1_000_000 {
				err = fmt.Errorf("plugin configuration: eventsPerSecond must be a whole number from 1 to 1000000, or -1 (no limit), got %s", v.Raw)
			}
			c.EventsPerSecond = int(n)
		case "certificates":
			c.Certificates, err = stringMap("certificates", v)
		case "clientCertificates":
			err = parseClientCertificates(&c.ClientCertificates, v)
		case "products":
			c.Products, err = parseProducts(v)
		case "subscriptions":
			c.Subscriptions, err = parseSubscriptions(v)
		case "managedIdentity":
			c.ManagedIdentity = &managedidentity.Source{}
			err = object("managedIdentity", v, map[string]gjson.Type{"source": gjson.String, "endpoint": gjson.String, "identityHeader": gjson.String,
				"clientId": gjson.String, "clientSecret": gjson.String, "scope": gjson.String}, func(key string, f gjson.Result) error {
				*map[string]*string{"source": &c.ManagedIdentity.Kind, "endpoint": &c.ManagedIdentity.Endpoint, "identityHeader": &c.ManagedIdentity.IdentityHeader,
					"clientId": &c.ManagedIdentity.ClientID, "clientSecret": &c.ManagedIdentity.ClientSecret, "scope": &c.ManagedIdentity.Scope}[key] = f.Str
				return nil
			})
		case "expressions":
			err = object("expressions", v, map[string]gjson.Type{"maxIterations": gjson.Number, "bodyWaitSeconds": gjson.Number}, func(key string, n gjson.Result) error {
				m := n.Int()
				if key == "bodyWaitSeconds" {
					if float64(m) != n.Num || m < 1 || m > 300 {
						return fmt.Errorf("plugin configuration: expressions.bodyWaitSeconds must be a whole number from 1 to 300, got %s", n.Raw)
					}
					c.BodyWaitSeconds = int(m)
					return nil
				}
				if float64(m) != n.Num || m < 1 || m > 1_000_000 {
					return fmt.Errorf("plugin configuration: expressions.maxIterations must be a whole number from 1 to 1000000, got %s", n.Raw)
				}
				c.MaxIterations = int(m)
				return nil
			})
		case "deployment":
			d := &c.Deployment
			err = object("deployment", v, map[string]gjson.Type{"region": gjson.String, "serviceName": gjson.String, "serviceId": gjson.String, "gatewayId": gjson.String}, func(key string, f gjson.Result) error {
				*map[string]*string{"region": &d.Region, "serviceName": &d.ServiceName, "serviceId": &d.ServiceID, "gatewayId": &d.GatewayID}[key] = f.Str
				return nil
			})
		case "rateLimitService":
			err = c.parseRateLimitService(v)
		case "events":
			err = c.parseEvents(v)
		case "loggers":
			err = c.parseLoggers(v)
		case "clientIp":
			err = object("clientIp", v, map[string]gjson.Type{"xffTrustedHops": gjson.Number}, func(_ string, n gjson.Result) error {
				hops := n.Int()
				if float64(hops) != n.Num || hops < 1 || hops > 16 {
					return fmt.Errorf("plugin configuration: clientIp.xffTrustedHops must be a whole number from 1 to 16, got %s", n.Raw)
				}
				c.XFFTrustedHops = int(hops)
				return nil
			})
		default:
			err = fmt.Errorf("plugin configuration: unknown key %q (known: policy, apis, namedValues, fragments, backends, upstreams, certificates, clientCertificates, managedIdentity, products, subscriptions, clientIp, deployment, expressions, tokenCache, telemetry, accessLog, events, eventsPerSecond, loggers, nativeCrypto, tls, rateLimitService)", key)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Policy) == "" && len(c.APIs) == 0 {
		return nil, fmt.Errorf("plugin configuration: \"policy\" is missing or empty")
	}
	if err := c.checkExports(); err != nil {
		return nil, err
	}
	if s := c.RateLimitService; s != nil {
		// Its calls go to its cluster, like send-request's through upstreams.
		u, _ := url.Parse(s.URL)
		host := strings.ToLower(u.Host)
		if c.Upstreams == nil {
			c.Upstreams = Upstreams{}
		}
		if other, ok := c.Upstreams[host]; ok && other != c.rateLimitCluster {
			return nil, fmt.Errorf("plugin configuration: rateLimitService.url's host %s is mapped to cluster %q in upstreams, not %q", host, other, c.rateLimitCluster)
		}
		c.Upstreams[host] = c.rateLimitCluster
	}
	return c, nil
}

// parseRateLimitService reads "rateLimitService": {"cluster", "url",
// "domain", "timeoutMs", "rateLimitsWhenDown"}.
func (c *Config) parseRateLimitService(v gjson.Result) error {
	s := &policy.RateLimitService{Domain: "apimguard", TimeoutMS: 1000}
	err := object("rateLimitService", v, map[string]gjson.Type{"cluster": gjson.String, "url": gjson.String, "domain": gjson.String,
		"timeoutMs": gjson.Number, "rateLimitsWhenDown": gjson.String}, func(key string, f gjson.Result) error {
		switch key {
		case "cluster":
			c.rateLimitCluster = f.String()
		case "url":
			s.URL = f.String()
		case "domain":
			s.Domain = f.String()
		case "timeoutMs":
			ms := f.Int()
			if float64(ms) != f.Num || ms < 1 || ms > 60000 {
				return fmt.Errorf("plugin configuration: rateLimitService.timeoutMs must be a whole number from 1 to 60000, got %s", f.Raw)
			}
			s.TimeoutMS = uint32(ms)
		case "rateLimitsWhenDown":
			switch f.String() {
			case "deny":
			case "allow":
				s.AllowRateLimitsWhenDown = true
			default:
				return fmt.Errorf("plugin configuration: rateLimitService.rateLimitsWhenDown must be \"deny\" or \"allow\", got %s", f.Raw)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.rateLimitCluster == "" {
		return fmt.Errorf("plugin configuration: rateLimitService.cluster is missing: name the Envoy cluster of the rate limit service")
	}
	if s.URL == "" {
		s.URL = "http://" + c.rateLimitCluster + "/json"
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("plugin configuration: rateLimitService.url must be an http or https URL, got %q", s.URL)
	}
	if s.Domain == "" || len(s.Domain) > 256 {
		return fmt.Errorf("plugin configuration: rateLimitService.domain must be 1 to 256 bytes")
	}
	c.RateLimitService = s
	return nil
}

// object visits the keys of a JSON object, refusing keys not in fields and
// values of another type (gjson.JSON: an array or object; gjson.True: a
// bool).
func object(where string, v gjson.Result, fields map[string]gjson.Type, visit func(key string, v gjson.Result) error) error {
	if !v.IsObject() {
		return fmt.Errorf("plugin configuration: %s must be an object", where)
	}
	var err error
	seen := map[string]bool{}
	v.ForEach(func(k, val gjson.Result) bool {
		key := k.String()
		want, known := fields[key]
		switch {
		case !known:
			err = fmt.Errorf("plugin configuration: %s: unknown key %q", where, key)
		case seen[key]:
			err = fmt.Errorf("plugin configuration: %s: duplicate key %q", where, key)
		case val.Type != want && !(want == gjson.JSON && (val.IsArray() || val.IsObject())) && !(want == gjson.True && val.Type == gjson.False):
			err = fmt.Errorf("plugin configuration: %s.%s has the wrong type", where, key)
		default:
			seen[key] = true
			err = visit(key, val)
		}
		return err == nil
	})
	return err
}

// parseClientCertificates reads "clientCertificates": {"source", "trust",
// "crls", "trustedProxies"}.
func parseClientCertificates(cc *policy.ClientCertificates, v gjson.Result) error {
	return object("clientCertificates", v, map[string]gjson.Type{"source": gjson.String, "trust": gjson.JSON, "crls": gjson.JSON, "trustedProxies": gjson.JSON},
		func(key string, f gjson.Result) error {
			if key == "source" {
				cc.Source = f.Str
				return nil
			}
			list, err := stringList("clientCertificates."+key, f)
			switch key {
			case "trust":
				cc.Trust = list
			case "crls":
				cc.CRLs = list
			case "trustedProxies":
				cc.TrustedProxies = list
			}
			return err
		})
}

// stringList reads an array of strings.
func stringList(where string, v gjson.Result) ([]string, error) {
	if !v.IsArray() {
		return nil, fmt.Errorf("plugin configuration: %s must be an array of strings", where)
	}
	var out []string
	for _, e := range v.Array() {
		if e.Type != gjson.String {
			return nil, fmt.Errorf("plugin configuration: %s must be an array of strings", where)
		}
		out = append(out, e.Str)
	}
	return out, nil
}

func stringMap(key string, v gjson.Result) (map[string]string, error) {
	if !v.IsObject() {
		return nil, fmt.Errorf("plugin configuration: %q must be an object of strings", key)
	}
	m := map[string]string{}
	var err error
	v.ForEach(func(k, val gjson.Result) bool {
		if val.Type != gjson.String {
			err = fmt.Errorf("plugin configuration: %s[%q] must be a string", key, k.String())
			return false
		}
		m[k.String()] = val.String()
		return true
	})
	return m, err
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// Compile turns the configuration into the gateway's programs. Named values
// come from the configuration first, then from the process's environment
// variables (in the module: Envoy's vm_config.environment_variables), so
// secrets can stay out of the config. keys serves openid-config key sets,
// tokens managed-identity tokens (used only with "managedIdentity"), now
// is the clock of token checks, offload (nil: none) verifies RS*/ES*
// signatures outside Go unless NoNativeCrypto is set.
func (c *Config) Compile(keys policy.KeyStore, tokens policy.TokenStore, now func() time.Time, offload policy.Offload) (*policy.Gateway, error) {
	if c.NoNativeCrypto {
		offload = nil
	}
	if c.ManagedIdentity == nil {
		tokens = nil
	}
	subs, err := c.subscriptionKeys()
	if err != nil {
		return nil, err
	}
	return policy.CompileGateway(policy.Config{Policy: c.Policy, APIs: c.APIs, TLS: c.TLS, ClientCertificates: c.ClientCertificates,
		Products: c.Products, Subscriptions: subs, Fragments: c.Fragments, Backends: c.Backends, Loggers: c.loggerIDs(), Deployment: c.Deployment}, policy.Options{
		BackendCluster:   c.backendCluster,
		Cache:            c.Cache,
		Counters:         c.Counters,
		CounterSalt:      c.CounterSalt,
		RateLimitService: c.RateLimitService,
		Keys:             keys,
		Tokens:           tokens,
		Certificates:     c.Certificates,
		TokenCache:       c.TokenCache,
		Now:              now,
		Offload:          offload,
		Doc:              "policy",
		NamedValue:       c.namedValue,
		MaxIterations:    c.MaxIterations,
	})
}

// namedValue resolves {{name}}: namedValues first, then the environment.
func (c *Config) namedValue(name string) (string, bool) {
	if v, ok := c.NamedValues[name]; ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// TokenSource is the managed-identity token source with its {{name}}
// references resolved and checked; nil without "managedIdentity". An App
// Service source takes its endpoint from IDENTITY_ENDPOINT when none is
// given.
func (c *Config) TokenSource() (*managedidentity.Source, error) {
	if c.ManagedIdentity == nil {
		return nil, nil
	}
	s := *c.ManagedIdentity
	if s.Kind == managedidentity.AppService && s.Endpoint == "" {
		s.Endpoint = "{{IDENTITY_ENDPOINT}}"
	}
	for _, f := range []*string{&s.Endpoint, &s.IdentityHeader, &s.ClientID, &s.ClientSecret, &s.Scope} {
		v, err := c.resolve(*f)
		if err != nil {
			return nil, err
		}
		*f = v
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("plugin configuration: %v", err)
	}
	return &s, nil
}

// resolve replaces the {{name}} references of a configuration string.
func (c *Config) resolve(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("plugin configuration: unclosed {{")
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		v, ok := c.namedValue(name)
		if !ok {
			return "", fmt.Errorf("plugin configuration: named value %q is not defined (set it in namedValues or as a VM environment variable)", firstWord(name))
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+2:]
	}
}

// Upstreams maps the host (or host:port) of an outgoing call's URL to the
// Envoy cluster that reaches it.
type Upstreams map[string]string

// Cluster picks the cluster for authority. An unmapped host gets Istio's
// naming, outbound|PORT||HOST, so a mesh needs no mapping at all.
func (u Upstreams) Cluster(authority, scheme string) string {
	authority = strings.ToLower(authority)
	if c, ok := u[authority]; ok {
		return c
	}
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:i], authority[i+1:]
	}
	if c, ok := u[host]; ok {
		return c
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return "outbound|" + port + "||" + strings.Trim(host, "[]")
}
