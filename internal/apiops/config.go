package apiops

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/jwt"
)

// The plugin configuration as docs/configuration.md writes it; the field
// order is the output's.
type pluginConfig struct {
	AccessLog       bool                   `json:"accessLog"`
	Policy          string                 `json:"policy,omitempty"`
	APIs            []apiJSON              `json:"apis,omitempty"`
	Products        []productJSON          `json:"products,omitempty"`
	Subscriptions   []subscriptionJSON     `json:"subscriptions,omitempty"`
	NamedValues     map[string]string      `json:"namedValues,omitempty"`
	Fragments       map[string]string      `json:"fragments,omitempty"`
	Backends        map[string]backendJSON `json:"backends,omitempty"`
	Loggers         map[string]loggerJSON  `json:"loggers,omitempty"`
	ManagedIdentity *miJSON                `json:"managedIdentity,omitempty"`
}

type apiJSON struct {
	Name                 string         `json:"name"`
	DisplayName          string         `json:"displayName,omitempty"`
	Version              string         `json:"version,omitempty"`
	ServiceURL           string         `json:"serviceUrl,omitempty"`
	PathPrefix           string         `json:"pathPrefix"`
	Policy               string         `json:"policy,omitempty"`
	Operations           []operationRow `json:"operations,omitempty"`
	SubscriptionRequired *bool          `json:"subscriptionRequired,omitempty"`
	KeyNames             *keyNamesJSON  `json:"subscriptionKeyParameterNames,omitempty"`
}

type operationRow struct {
	Name        string `json:"name"`
	Method      string `json:"method"`
	URLTemplate string `json:"urlTemplate"`
	Policy      string `json:"policy,omitempty"`
}

type keyNamesJSON struct {
	Header string `json:"header,omitempty"`
	Query  string `json:"query,omitempty"`
}

type productJSON struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name,omitempty"`
	APIs                 []string `json:"apis"`
	Policy               string   `json:"policy,omitempty"`
	State                string   `json:"state,omitempty"`
	SubscriptionRequired *bool    `json:"subscriptionRequired,omitempty"`
}

type subscriptionJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Scope      string `json:"scope"`
	State      string `json:"state,omitempty"`
	PrimaryKey string `json:"primaryKey"`
}

type backendJSON struct {
	URL string `json:"url"`
}

type loggerJSON struct {
	Type             string `json:"type"`
	EndpointAddress  string `json:"endpointAddress"`
	Name             string `json:"name"`
	IdentityClientID string `json:"identityClientId,omitempty"`
}

type miJSON struct {
	Source string `json:"source"`
}

// scoped is a policy document with where it stands in the configuration.
type scoped struct {
	doc                     *Doc
	scope                   string // global, api, operation, product, fragment
	api, operation, product string
}

// converter builds the configuration and the report from a tree.
type converter struct {
	t       *Tree
	cfg     pluginConfig
	docs    []scoped
	entries []Entry
	// env are the VM environment variables the configuration reads:
	// secret named values and subscription keys.
	env []string
}

func (c *converter) add(kind, file string, line, col int, element, msg string) {
	c.entries = append(c.entries, Entry{Kind: kind, File: file, Line: line, Column: col, Element: element, Message: msg})
}

// build fills c.cfg and c.docs from the tree.
func (c *converter) build() {
	t := c.t
	c.cfg.AccessLog = true
	if t.Global != nil {
		c.cfg.Policy = t.Global.Text
		c.docs = append(c.docs, scoped{doc: t.Global, scope: "global"})
	}
	for _, nv := range t.NamedValues {
		switch {
		case nv.KeyVault != "":
			c.env = append(c.env, nv.DisplayName)
			c.add("decide", "named values/"+nv.Name, 0, 0, "", fmt.Sprintf("named value %q is the Key Vault secret %s: give its value to the VM as the environment variable %s (never in the configuration)", nv.DisplayName, nv.KeyVault, nv.DisplayName))
		case nv.Secret:
			c.env = append(c.env, nv.DisplayName)
			c.add("decide", "named values/"+nv.Name, 0, 0, "", fmt.Sprintf("named value %q is secret (its value is not in the artifacts): give it to the VM as the environment variable %s (never in the configuration)", nv.DisplayName, nv.DisplayName))
		default:
			if c.cfg.NamedValues == nil {
				c.cfg.NamedValues = map[string]string{}
			}
			c.cfg.NamedValues[nv.DisplayName] = nv.Value
		}
	}
	for _, f := range t.Fragments {
		if c.cfg.Fragments == nil {
			c.cfg.Fragments = map[string]string{}
		}
		c.cfg.Fragments[f.Name] = f.Doc.Text
		c.docs = append(c.docs, scoped{doc: &f.Doc, scope: "fragment"})
	}
	for _, b := range t.Backends {
		if u, err := url.Parse(strings.TrimSpace(b.URL)); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.RawQuery != "" {
			c.add("decide", "backends/"+b.Name+"/backendInformation.json", 0, 0, "", fmt.Sprintf("url %q is not an absolute http(s) URL without credentials or query: the backend is left out", b.URL))
			continue
		}
		if c.cfg.Backends == nil {
			c.cfg.Backends = map[string]backendJSON{}
		}
		c.cfg.Backends[b.Name] = backendJSON{URL: b.URL}
		if len(b.Credentials) > 0 {
			c.add("decide", "backends/"+b.Name, 0, 0, "", fmt.Sprintf("backend %q has credentials (%s) APIM adds to its calls: not imported; add them with set-header or authentication-managed-identity in its policies", b.Name, strings.Join(b.Credentials, ", ")))
		}
	}
	for _, l := range t.Loggers {
		where := "loggers/" + l.Name
		switch {
		case l.Type != "azureEventHub":
			c.add("skipped", where, 0, 0, "", fmt.Sprintf("a logger of type %s: apimguard writes traces to Envoy's log and security events to Azure Monitor (\"events\"); only event hub loggers (log-to-eventhub) are imported", l.Type))
		case l.EndpointAddress == "" || l.EventHub == "":
			c.add("decide", where, 0, 0, "", "an event hub logger without endpointAddress and name in its credentials: add it to \"loggers\" by hand")
		default:
			if c.cfg.Loggers == nil {
				c.cfg.Loggers = map[string]loggerJSON{}
			}
			c.cfg.Loggers[l.Name] = loggerJSON{Type: "azureEventHub", EndpointAddress: l.EndpointAddress, Name: l.EventHub, IdentityClientID: l.ClientID}
			if l.ConnectionString {
				c.add("decide", where, 0, 0, "", "the logger authenticates with a connection string; apimguard sends with the managed identity of \"managedIdentity\": give that identity the Azure Event Hubs Data Sender role")
			}
		}
	}
	paths := map[string]string{}
	for _, a := range t.APIs {
		if other, dup := paths["/"+a.Path]; dup {
			c.add("decide", "apis/"+a.Name, 0, 0, "", fmt.Sprintf("the same path as API %q (/%s): APIM tells them apart by a version header or query (a version set), apimguard by path and host; left out", other, a.Path))
			continue
		}
		paths["/"+a.Path] = a.Name
		j := apiJSON{Name: a.Name, DisplayName: a.DisplayName, Version: a.Version, ServiceURL: a.ServiceURL, PathPrefix: "/" + a.Path, SubscriptionRequired: a.SubscriptionRequired}
		if a.KeyHeader != "" || a.KeyQuery != "" {
			j.KeyNames = &keyNamesJSON{Header: a.KeyHeader, Query: a.KeyQuery}
		}
		if a.Policy != nil {
			j.Policy = a.Policy.Text
			c.docs = append(c.docs, scoped{doc: a.Policy, scope: "api", api: a.Name})
		}
		if u, err := url.Parse(a.ServiceURL); a.ServiceURL != "" && (err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
			c.add("decide", "apis/"+a.Name+"/apiInformation.json", 0, 0, "", fmt.Sprintf("serviceUrl %q is not an absolute http(s) URL: left out", a.ServiceURL))
			j.ServiceURL = ""
		} else if a.ServiceURL == "" {
			c.add("decide", "apis/"+a.Name+"/apiInformation.json", 0, 0, "", "the API has no serviceUrl: its route in the Envoy bootstrap goes to the cluster \"backend\"; point it at the API's service")
		}
		for _, op := range a.Operations {
			row := operationRow{Name: op.Name, Method: op.Method, URLTemplate: op.URLTemplate}
			if op.Policy != nil {
				row.Policy = op.Policy.Text
				c.docs = append(c.docs, scoped{doc: op.Policy, scope: "operation", api: a.Name, operation: op.Name})
			}
			j.Operations = append(j.Operations, row)
		}
		c.cfg.APIs = append(c.cfg.APIs, j)
	}
	apis := map[string]bool{}
	for _, a := range c.cfg.APIs {
		apis[a.Name] = true
	}
	for _, p := range t.Products {
		j := productJSON{ID: p.Name, Name: p.DisplayName, SubscriptionRequired: p.SubscriptionRequired, APIs: []string{}}
		if p.State == "published" || p.State == "notPublished" {
			j.State = p.State
		}
		for _, a := range p.APIs {
			if apis[a] {
				j.APIs = append(j.APIs, a)
			} else {
				c.add("note", "products/"+p.Name+"/apis.json", 0, 0, "", fmt.Sprintf("API %q of the product is not imported", a))
			}
		}
		if p.Policy != nil {
			j.Policy = p.Policy.Text
			c.docs = append(c.docs, scoped{doc: p.Policy, scope: "product", product: p.Name})
		}
		c.cfg.Products = append(c.cfg.Products, j)
	}
	products := map[string]bool{}
	for _, p := range c.cfg.Products {
		products[p.ID] = true
	}
	for _, s := range t.Subscriptions {
		where := "subscriptions/" + s.Name
		scope := ""
		switch {
		case s.Scope == "/apis" || s.Scope == "" || strings.HasSuffix(s.Scope, "/apis"):
			scope = "all"
		case strings.Contains(s.Scope, "/products/"):
			if id := s.Scope[strings.LastIndex(s.Scope, "/")+1:]; products[id] {
				scope = "product:" + id
			}
		case strings.Contains(s.Scope, "/apis/"):
			if id := s.Scope[strings.LastIndex(s.Scope, "/")+1:]; apis[id] {
				scope = "api:" + id
			}
		}
		if scope == "" {
			c.add("skipped", where, 0, 0, "", fmt.Sprintf("its scope %q is not imported", s.Scope))
			continue
		}
		env := envName("APIM_SUBSCRIPTION_KEY_" + s.Name)
		c.env = append(c.env, env)
		c.cfg.Subscriptions = append(c.cfg.Subscriptions, subscriptionJSON{ID: s.Name, Name: s.DisplayName, Scope: scope, State: s.State, PrimaryKey: "{{" + env + "}}"})
		c.add("decide", where, 0, 0, "", fmt.Sprintf("subscription keys are not in the artifacts: give the subscription's key to the VM as the environment variable %s", env))
	}
	if len(c.cfg.Subscriptions) == 0 {
		for _, a := range c.cfg.APIs {
			if a.SubscriptionRequired != nil && *a.SubscriptionRequired {
				c.add("decide", "apis/"+a.Name+"/apiInformation.json", 0, 0, "", "the API requires a subscription key and the tree has no subscriptions: every request is refused (401) until \"subscriptions\" has one, or set subscriptionRequired to false")
			}
		}
	}
	if c.uses("authentication-managed-identity") || len(c.cfg.Loggers) > 0 {
		c.cfg.ManagedIdentity = &miJSON{Source: "imds"}
		c.add("decide", "(managed identity)", 0, 0, "", "authentication-managed-identity and the event hub loggers take their tokens from \"managedIdentity\": the import assumes Azure's instance metadata service (\"source\": \"imds\"); on App Service or outside Azure change it (docs/configuration.md)")
	}
	sort.Strings(c.env)
	c.env = dedupe(c.env)
}

// uses reports whether a document mentions element.
func (c *converter) uses(element string) bool {
	for _, d := range c.docs {
		if strings.Contains(d.doc.Text, "<"+element) {
			return true
		}
	}
	return false
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

var notEnv = regexp.MustCompile(`[^A-Za-z0-9_]`)

// envName makes s a portable environment variable name.
func envName(s string) string { return strings.ToUpper(notEnv.ReplaceAllString(s, "_")) }

// check compiles each document on its own (with the tree's named values,
// fragments, backends and loggers) as the plugin would, and lists every
// element apimguard does not run; it returns how many documents load.
func (c *converter) check() int {
	loaded := 0
	for _, d := range c.docs {
		unsupported := c.scan(d.doc)
		err := c.compileAlone(d)
		if err == nil && !unsupported {
			loaded++
			continue
		}
		if err != nil && !unsupported {
			var ce *policy.ConfigError
			if errors.As(err, &ce) {
				c.add("refused", d.doc.File, ce.Pos.Line, ce.Pos.Col, ce.Element, ce.Msg)
			} else {
				c.add("refused", d.doc.File, 0, 0, "", err.Error())
			}
		}
	}
	return loaded
}

// statementParents are the elements whose children are policy statements.
var statementParents = map[string]bool{"inbound": true, "backend": true, "outbound": true, "on-error": true, "fragment": true,
	"when": true, "otherwise": true, "retry": true, "wait": true}

// scan lists every element of d in a statement's place that apimguard does
// not run, with its line; it reports whether there was one.
func (c *converter) scan(d *Doc) bool {
	dec := xml.NewDecoder(strings.NewReader(d.Text))
	dec.Strict = false
	var stack []string
	found := false
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return found
		}
		if err != nil {
			return found // the compiler reports the syntax error
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if len(stack) > 0 && statementParents[stack[len(stack)-1]] {
				if ok, why := policy.ElementSupport(name); !ok {
					line, col := position(d.Text, int(off))
					msg := "apimguard does not run this element"
					if why != "" {
						msg = "refused: " + why
					}
					c.add("refused", d.File, line, col, name, msg)
					found = true
				}
			}
			stack = append(stack, name)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// position is the line and column of byte offset off in text (at the
// element's "<").
func position(text string, off int) (int, int) {
	if off > len(text) {
		off = len(text)
	}
	for off < len(text) && text[off] != '<' {
		off++
	}
	line := 1 + strings.Count(text[:off], "\n")
	col := off - strings.LastIndex(text[:off], "\n")
	return line, col
}

// compileAlone compiles d in a configuration that holds only it at its
// scope (and everything it may refer to).
func (c *converter) compileAlone(d scoped) error {
	alone := pluginConfig{NamedValues: map[string]string{}, Fragments: c.cfg.Fragments, Backends: c.cfg.Backends, Loggers: c.cfg.Loggers, ManagedIdentity: c.cfg.ManagedIdentity}
	for k, v := range c.cfg.NamedValues {
		alone.NamedValues[k] = v
	}
	// A secret stands in with a placeholder for the check only.
	for _, nv := range c.t.NamedValues {
		if _, ok := alone.NamedValues[nv.DisplayName]; !ok {
			alone.NamedValues[nv.DisplayName] = "placeholder-" + envName(nv.DisplayName)
		}
	}
	switch d.scope {
	case "global":
		alone.Policy = d.doc.Text
	case "fragment":
		name := d.doc.File[len("policy fragments/") : len(d.doc.File)-len("/policy.xml")]
		var last error
		for _, section := range []string{"inbound", "backend", "outbound", "on-error"} {
			alone.Policy = "<policies><" + section + `><include-fragment fragment-id="` + name + `" /></` + section + "></policies>"
			if last = c.compileConfig(alone, d.doc.File); last == nil {
				return nil
			}
		}
		return last
	case "api", "operation":
		for _, a := range c.cfg.APIs {
			if a.Name != d.api {
				continue
			}
			a.Policy, a.Operations, a.SubscriptionRequired = "", nil, boolPtr(false)
			if d.scope == "api" {
				a.Policy = d.doc.Text
			}
			for _, op := range c.t.api(d.api).Operations {
				row := operationRow{Name: op.Name, Method: op.Method, URLTemplate: op.URLTemplate}
				if d.scope == "operation" && op.Name == d.operation {
					row.Policy = d.doc.Text
				}
				a.Operations = append(a.Operations, row)
			}
			alone.APIs = []apiJSON{a}
		}
	case "product":
		for _, a := range c.cfg.APIs {
			a.Policy, a.Operations = "", nil
			alone.APIs = append(alone.APIs, a)
		}
		for _, p := range c.cfg.Products {
			if p.ID != d.product {
				p.Policy = ""
			}
			alone.Products = append(alone.Products, p)
		}
		// Keys stand in as digests for the check (the configuration reads
		// them from the environment).
		for _, s := range c.cfg.Subscriptions {
			sum := sha256.Sum256([]byte("check " + s.ID))
			s.PrimaryKey = "sha256:" + hex.EncodeToString(sum[:])
			alone.Subscriptions = append(alone.Subscriptions, s)
		}
		if len(alone.Subscriptions) == 0 {
			alone.Subscriptions = []subscriptionJSON{{ID: "check", Scope: "all", PrimaryKey: "sha256:" + strings.Repeat("0", 64)}}
		}
	}
	return c.compileConfig(alone, d.doc.File)
}

func boolPtr(b bool) *bool { return &b }

func (t *Tree) api(name string) *API {
	for i := range t.APIs {
		if t.APIs[i].Name == name {
			return &t.APIs[i]
		}
	}
	return &API{}
}

// compileConfig reads and compiles a configuration as the plugin does at
// start.
func (c *converter) compileConfig(cfg pluginConfig, file string) error {
	b, err := marshal(cfg)
	if err != nil {
		return err
	}
	pc, err := pluginconfig.Parse(b)
	if err != nil {
		return err
	}
	pc.Cache = nopCache{}
	pc.Counters = &policy.MemoryStore{}
	_, err = pc.Compile(noKeys{}, noTokens{}, time.Now, nil)
	return err
}

// marshal writes v as indented JSON, HTML left unescaped (the policies stay
// readable).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type noKeys struct{}

func (noKeys) KeySet(string) *jwt.KeySet { return nil }

type noTokens struct{}

func (noTokens) Token(policy.TokenRequest) string { return "" }

type nopCache struct{}

func (nopCache) Lookup(string) ([]byte, bool)        { return nil, false }
func (nopCache) Store(string, []byte, time.Duration) {}
func (nopCache) Remove(string)                       {}
