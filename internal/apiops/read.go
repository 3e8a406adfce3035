package apiops

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// Tree is an APIOps artifact tree as read.
type Tree struct {
	Global        *Doc
	APIs          []API
	Products      []Product
	NamedValues   []NamedValue
	Fragments     []Fragment
	Backends      []Backend
	Loggers       []Logger
	Subscriptions []Subscription
	// Notes are what reading found for the report (skipped APIs, files
	// that do not parse, ...).
	Notes []Entry
	// PolicyFiles counts every policy.xml of the tree, read or left out
	// (the report's "N of M").
	PolicyFiles int
}

// Doc is one policy document: its path in the tree (slash-separated) and
// text.
type Doc struct {
	File string
	Text string
}

// API is apis/<name>.
type API struct {
	Name, DisplayName, Path, ServiceURL, Version string
	SubscriptionRequired                         *bool
	KeyHeader, KeyQuery                          string
	Policy                                       *Doc
	Operations                                   []Operation
	// Spec is the specification file read ("": none).
	Spec string
}

// Operation is one operation of an API's specification, with its policy.
type Operation struct {
	Name, Method, URLTemplate string
	Policy                    *Doc
}

// Product is products/<name>.
type Product struct {
	Name, DisplayName, State string
	SubscriptionRequired     *bool
	APIs                     []string
	Policy                   *Doc
}

// NamedValue is named values/<name>: Value is set for a plain one;
// Secret and KeyVault (the secret's identifier) say why it is not.
type NamedValue struct {
	Name, DisplayName, Value, KeyVault string
	Secret                             bool
}

// Fragment is policy fragments/<name>.
type Fragment struct {
	Name string
	Doc  Doc
}

// Backend is backends/<name>.
type Backend struct {
	Name, URL string
	// Credentials names what APIM adds to calls to it (headers, a query,
	// a certificate, authorization), which apimguard does not import.
	Credentials []string
}

// Logger is loggers/<name>.
type Logger struct {
	Name, Type, EndpointAddress, EventHub, ClientID string
	ConnectionString                                bool
}

// Subscription is subscriptions/<name>.
type Subscription struct {
	Name, DisplayName, Scope, State string
}

// Entry is one line of the report.
type Entry struct {
	// Kind: "refused" (a document or element that does not load),
	// "decide" (something the user must provide or choose), "skipped"
	// (an artifact left out, with why), "note".
	Kind    string `json:"kind"`
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Element string `json:"element,omitempty"`
	Message string `json:"message"`
}

// maxFile bounds each file the importer reads.
const maxFile = 16 << 20

// Read reads the artifact tree under dir.
func Read(dir string) (*Tree, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory of APIOps artifacts", dir)
	}
	r := &reader{root: dir, t: &Tree{}}
	if err := r.read(); err != nil {
		return nil, err
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "policy.xml" {
			r.t.PolicyFiles++
		}
		return err
	})
	return r.t, err
}

type reader struct {
	root string
	t    *Tree
}

func (r *reader) note(kind, file, msg string) {
	r.t.Notes = append(r.t.Notes, Entry{Kind: kind, File: file, Message: msg})
}

// file reads a file of the tree; ok is false when it does not exist.
func (r *reader) file(rel string) (string, bool, error) {
	p := filepath.Join(r.root, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return "", false, nil
		}
		return "", false, err
	}
	if st.Size() > maxFile {
		return "", false, fmt.Errorf("%s: %d bytes, more than the %d read", rel, st.Size(), maxFile)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false, err
	}
	return strings.TrimPrefix(string(b), "\ufeff"), true, nil
}

// doc reads a policy file, nil when there is none.
func (r *reader) doc(rel string) (*Doc, error) {
	text, ok, err := r.file(rel)
	if err != nil || !ok {
		return nil, err
	}
	return &Doc{File: rel, Text: text}, nil
}

// dirs lists the directories under rel, sorted.
func (r *reader) dirs(rel string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.root, filepath.FromSlash(rel)))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// info reads the "properties" object of an information file into v; ok is
// false when the file does not exist.
func (r *reader) info(rel string, v any) (bool, error) {
	text, ok, err := r.file(rel)
	if err != nil || !ok {
		return false, err
	}
	var wrapper struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal([]byte(text), &wrapper); err != nil {
		return true, fmt.Errorf("%s: %v", rel, err)
	}
	if len(wrapper.Properties) == 0 {
		wrapper.Properties = []byte(text)
	}
	if err := json.Unmarshal(wrapper.Properties, v); err != nil {
		return true, fmt.Errorf("%s: %v", rel, err)
	}
	return true, nil
}

func (r *reader) read() error {
	var err error
	if r.t.Global, err = r.doc("policy.xml"); err != nil {
		return err
	}
	steps := []func() error{r.readNamedValues, r.readFragments, r.readBackends, r.readLoggers, r.readAPIs, r.readProducts, r.readSubscriptions}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	for _, skipped := range []string{"diagnostics", "gateways", "groups", "tags", "workspaces", "authorization servers", "identity providers"} {
		if names, _ := r.dirs(skipped); len(names) > 0 {
			r.note("skipped", skipped, fmt.Sprintf("%d %s: not imported (no apimguard equivalent; diagnostics map to Envoy's log, metrics and \"events\")", len(names), skipped))
		}
	}
	return nil
}

func (r *reader) readNamedValues() error {
	type info struct {
		DisplayName string  `json:"displayName"`
		Value       *string `json:"value"`
		Secret      bool    `json:"secret"`
		KeyVault    *struct {
			SecretIdentifier string `json:"secretIdentifier"`
		} `json:"keyVault"`
	}
	return eachEntity(r, "named values", "namedValueInformation.json", func(name string, p *info) error {
		nv := NamedValue{Name: name, DisplayName: cmpOr(p.DisplayName, name), Secret: p.Secret}
		if p.KeyVault != nil {
			nv.KeyVault = cmpOr(p.KeyVault.SecretIdentifier, "(no identifier)")
		}
		if p.Value != nil && !p.Secret && nv.KeyVault == "" {
			nv.Value = *p.Value
		}
		r.t.NamedValues = append(r.t.NamedValues, nv)
		return nil
	})
}

func (r *reader) readFragments() error {
	names, err := r.dirs("policy fragments")
	if err != nil {
		return err
	}
	for _, name := range names {
		d, err := r.doc(path.Join("policy fragments", name, "policy.xml"))
		if err != nil {
			return err
		}
		if d == nil {
			r.note("skipped", path.Join("policy fragments", name), "no policy.xml")
			continue
		}
		r.t.Fragments = append(r.t.Fragments, Fragment{Name: name, Doc: *d})
	}
	return nil
}

func (r *reader) readBackends() error {
	type info struct {
		URL         string                     `json:"url"`
		Credentials map[string]json.RawMessage `json:"credentials"`
		Type        string                     `json:"type"`
	}
	return eachEntity(r, "backends", "backendInformation.json", func(name string, p *info) error {
		if p.Type == "Pool" || p.URL == "" {
			r.note("skipped", path.Join("backends", name), "a load-balanced pool or a backend without url: set-backend-service backend-id takes single backends")
			return nil
		}
		b := Backend{Name: name, URL: p.URL}
		for k, v := range p.Credentials {
			if s := strings.TrimSpace(string(v)); s != "" && s != "null" && s != "{}" && s != "[]" {
				b.Credentials = append(b.Credentials, k)
			}
		}
		sort.Strings(b.Credentials)
		r.t.Backends = append(r.t.Backends, b)
		return nil
	})
}

func (r *reader) readLoggers() error {
	type info struct {
		LoggerType  string            `json:"loggerType"`
		Credentials map[string]string `json:"credentials"`
	}
	return eachEntity(r, "loggers", "loggerInformation.json", func(name string, p *info) error {
		l := Logger{Name: name, Type: p.LoggerType, EventHub: p.Credentials["name"], EndpointAddress: p.Credentials["endpointAddress"], ClientID: p.Credentials["identityClientId"]}
		if cs := p.Credentials["connectionString"]; cs != "" {
			l.ConnectionString = true
			for _, part := range strings.Split(cs, ";") {
				if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, "Endpoint") {
					if u, err := url.Parse(v); err == nil && u.Host != "" {
						l.EndpointAddress = u.Host
					}
				}
			}
		}
		r.t.Loggers = append(r.t.Loggers, l)
		return nil
	})
}

func (r *reader) readAPIs() error {
	type info struct {
		DisplayName          string `json:"displayName"`
		Path                 string `json:"path"`
		ServiceURL           string `json:"serviceUrl"`
		APIVersion           string `json:"apiVersion"`
		Type                 string `json:"type"`
		IsCurrent            *bool  `json:"isCurrent"`
		SubscriptionRequired *bool  `json:"subscriptionRequired"`
		KeyNames             struct {
			Header string `json:"header"`
			Query  string `json:"query"`
		} `json:"subscriptionKeyParameterNames"`
	}
	return eachEntity(r, "apis", "apiInformation.json", func(name string, p *info) error {
		dir := path.Join("apis", name)
		if strings.Contains(name, ";rev=") && (p.IsCurrent == nil || !*p.IsCurrent) {
			r.note("skipped", dir, "a revision that is not the current one: APIM serves it only to callers naming it (;rev=), apimguard serves current revisions")
			return nil
		}
		switch strings.ToLower(p.Type) {
		case "graphql", "soap", "websocket", "grpc", "odata":
			r.note("skipped", dir, fmt.Sprintf("a %s API: apimguard imports HTTP APIs with an OpenAPI specification", p.Type))
			return nil
		}
		api := API{Name: strings.SplitN(name, ";", 2)[0], DisplayName: p.DisplayName, Path: strings.Trim(p.Path, "/"), ServiceURL: p.ServiceURL, Version: p.APIVersion,
			SubscriptionRequired: p.SubscriptionRequired, KeyHeader: p.KeyNames.Header, KeyQuery: p.KeyNames.Query}
		var err error
		if api.Policy, err = r.doc(path.Join(dir, "policy.xml")); err != nil {
			return err
		}
		if err := r.readSpec(&api, dir); err != nil {
			return err
		}
		r.t.APIs = append(r.t.APIs, api)
		return nil
	})
}

// readSpec reads the API's OpenAPI specification (3.x, or Swagger 2.0
// converted) for its operations, and the operations' policies.
func (r *reader) readSpec(api *API, dir string) error {
	var text, specFile string
	for _, f := range []string{"specification.yaml", "specification.json", "specification.yml"} {
		t, ok, err := r.file(path.Join(dir, f))
		if err != nil {
			return err
		}
		if ok {
			text, specFile = t, path.Join(dir, f)
			break
		}
	}
	opPolicies, err := r.dirs(path.Join(dir, "operations"))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	if specFile == "" {
		r.note("decide", dir, "no OpenAPI specification (specification.yaml or .json): the API's operations are not imported, its policy applies to every request under its path")
	} else {
		api.Spec = specFile
		ops, err := operations(text)
		if err != nil {
			// A specification the OpenAPI reader refuses (an exported file
			// with placeholders left in) may still list its paths.
			var ok bool
			if ops, ok = lenientOperations(text); ok {
				r.note("note", specFile, fmt.Sprintf("the OpenAPI specification does not validate (%v); its %d operations are read from its paths", err, len(ops)))
			} else {
				r.note("refused", specFile, "the OpenAPI specification does not load: "+err.Error())
			}
		}
		for _, op := range ops {
			if seen[op.Name] {
				r.note("refused", specFile, fmt.Sprintf("operationId %q is used twice", op.Name))
				continue
			}
			seen[op.Name] = true
			if op.Policy, err = r.doc(path.Join(dir, "operations", op.Name, "policy.xml")); err != nil {
				return err
			}
			api.Operations = append(api.Operations, op)
		}
	}
	for _, name := range opPolicies {
		if !seen[name] {
			if d, _ := r.doc(path.Join(dir, "operations", name, "policy.xml")); d != nil {
				r.note("skipped", d.File, fmt.Sprintf("operation %q is not in the API's specification: its policy is left out", name))
			}
		}
	}
	return nil
}

// operations lists the operations of an OpenAPI document (JSON or YAML),
// by path and method, named by their operationId.
func operations(text string) ([]Operation, error) {
	var probe struct {
		Swagger string `yaml:"swagger"`
	}
	_ = yaml.Unmarshal([]byte(text), &probe)
	var doc *openapi3.T
	if strings.HasPrefix(probe.Swagger, "2") {
		var v2 openapi2.T
		if err := yaml.Unmarshal([]byte(text), &v2); err != nil {
			return nil, err
		}
		var err error
		if doc, err = openapi2conv.ToV3(&v2); err != nil {
			return nil, err
		}
	} else {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		var err error
		if doc, err = loader.LoadFromData([]byte(text)); err != nil {
			return nil, err
		}
	}
	if doc.Paths == nil {
		return nil, nil
	}
	var out []Operation
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		methods := item.Operations()
		keys := make([]string, 0, len(methods))
		for m := range methods {
			keys = append(keys, m)
		}
		sort.Strings(keys)
		for _, m := range keys {
			op := methods[m]
			name := op.OperationID
			if name == "" {
				name = unnamedOperation(m, p)
			}
			out = append(out, Operation{Name: name, Method: strings.ToUpper(m), URLTemplate: p})
		}
	}
	sortOperations(out)
	return out, nil
}

// unnamedOperation names an operation without an operationId by its
// method and path: GET /items/{id} is get-items-id.
func unnamedOperation(method, p string) string {
	return strings.ToLower(method) + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(p)
}

// sortOperations orders operations by URL template, then method.
func sortOperations(ops []Operation) {
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].URLTemplate != ops[j].URLTemplate {
			return ops[i].URLTemplate < ops[j].URLTemplate
		}
		return ops[i].Method < ops[j].Method
	})
}

// lenientOperations reads the operations of a specification from its
// paths alone, as plain YAML or JSON.
func lenientOperations(text string) ([]Operation, bool) {
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, false
	}
	var out []Operation
	for p, item := range doc.Paths {
		for m, node := range item {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue
			}
			var op struct {
				OperationID string `yaml:"operationId"`
			}
			_ = node.Decode(&op)
			name := op.OperationID
			if name == "" {
				name = unnamedOperation(m, p)
			}
			out = append(out, Operation{Name: name, Method: strings.ToUpper(m), URLTemplate: p})
		}
	}
	sortOperations(out)
	return out, true
}

func (r *reader) readProducts() error {
	type info struct {
		DisplayName          string `json:"displayName"`
		State                string `json:"state"`
		SubscriptionRequired *bool  `json:"subscriptionRequired"`
	}
	return eachEntity(r, "products", "productInformation.json", func(name string, p *info) error {
		dir := path.Join("products", name)
		prod := Product{Name: name, DisplayName: p.DisplayName, State: p.State, SubscriptionRequired: p.SubscriptionRequired}
		if text, ok, err := r.file(path.Join(dir, "apis.json")); err != nil {
			return err
		} else if ok {
			var apis []struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(text), &apis); err != nil {
				r.note("refused", path.Join(dir, "apis.json"), err.Error())
			}
			for _, a := range apis {
				prod.APIs = append(prod.APIs, a.Name)
			}
			sort.Strings(prod.APIs)
		}
		var err error
		if prod.Policy, err = r.doc(path.Join(dir, "policy.xml")); err != nil {
			return err
		}
		r.t.Products = append(r.t.Products, prod)
		return nil
	})
}

func (r *reader) readSubscriptions() error {
	type info struct {
		DisplayName string `json:"displayName"`
		Scope       string `json:"scope"`
		State       string `json:"state"`
	}
	return eachEntity(r, "subscriptions", "subscriptionInformation.json", func(name string, p *info) error {
		r.t.Subscriptions = append(r.t.Subscriptions, Subscription{Name: name, DisplayName: p.DisplayName, Scope: p.Scope, State: p.State})
		return nil
	})
}

// eachEntity reads dir/<name>/file of every entity under dir into a T and
// hands it to visit; a file that does not parse, or is missing, is a
// report line.
func eachEntity[T any](r *reader, dir, file string, visit func(name string, p *T) error) error {
	names, err := r.dirs(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		rel := path.Join(dir, name, file)
		var p T
		ok, err := r.info(rel, &p)
		switch {
		case err != nil:
			r.note("refused", rel, err.Error())
		case !ok:
			r.note("skipped", path.Join(dir, name), "no "+file)
		default:
			if err := visit(name, &p); err != nil {
				return err
			}
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
