// Package corpus is the one set of policy test cases every tier replays:
// the YAML case files of `apimguard test` (examples/*/*.yaml). A file is a
// plugin configuration, the answers of the services the module calls, and
// cases: a request and what the client (and the upstream) should get. The
// engine replays them natively (RunEngine), the built module under wazero
// replays them (cmd/apimguard), and a real Envoy replays them
// (envoy-test/corpus_test.go); all three compare with Case.Check.
//
// It must not import proxy-wasm or wazero.
package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Suite is one case file.
type Suite struct {
	// Config is the plugin configuration: a string (a <policies> document
	// or the JSON object), or a YAML mapping of the JSON object's keys,
	// which is read as that JSON object. ConfigFile reads it from a file
	// next to the case file instead.
	Config     string    `yaml:"-"`
	RawConfig  yaml.Node `yaml:"config"`
	ConfigFile string    `yaml:"configFile"`
	// Time fixes the module's clock (RFC 3339) for token expiry.
	Time string `yaml:"time"`
	// Callouts answer the calls the module makes, for every case.
	Callouts []Callout `yaml:"callouts"`
	Cases    []Case    `yaml:"cases"`
	// Path is the file the suite was read from.
	Path string `yaml:"-"`
}

// Callout answers calls to a cluster whose path starts with Path.
type Callout struct {
	Cluster string            `yaml:"cluster"`
	Path    string            `yaml:"path"`
	Status  int               `yaml:"status"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	Fail    bool              `yaml:"fail"` // no answer: the call fails
	// DelayMS: the answer comes this long after the call (calls made at
	// once, by wait, are answered in this order).
	DelayMS int `yaml:"delayMs"`
}

// Case is one request and what should happen to it.
type Case struct {
	Name     string      `yaml:"name"`
	Request  Request     `yaml:"request"`
	Upstream Upstream    `yaml:"upstream"`
	Callouts []Callout   `yaml:"callouts"`
	Expect   Expectation `yaml:"expect"`
}

// Request is what the client sends. Method defaults to GET, Path to /,
// Authority to api.example.com.
type Request struct {
	Method    string            `yaml:"method"`
	Path      string            `yaml:"path"`
	Authority string            `yaml:"authority"`
	Headers   map[string]string `yaml:"headers"`
	// ClientIP is the client's address as Envoy sees it (its downstream
	// address).
	ClientIP string `yaml:"clientIp"`
	Body     string `yaml:"body"`
	// Certificate is the client certificate the connection presents (PEM:
	// the certificate, then the intermediates it sends). The module sees
	// it as at Envoy's edge with forward_client_cert_details SANITIZE_SET:
	// in the connection's attributes and in x-forwarded-client-cert, which
	// replaces any the case sends. Key is its private key (PEM), which only
	// the Envoy tier needs, for the handshake.
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"`
	// TLS is the TLS version the connection negotiates, "1.2" or "1.3";
	// without it a request is plain HTTP (TLS 1.3 when it presents a
	// certificate).
	TLS string `yaml:"tls"`
}

// Upstream is what the protected API answers when a request reaches it.
type Upstream struct {
	Status  int               `yaml:"status"`
	Headers map[string]string `yaml:"headers"`
	// Body is the upstream's answer ("": the Envoy tier's recording
	// upstream's JSON, empty elsewhere).
	Body string `yaml:"body"`
}

// Expectation is what the client (and the upstream) should get.
type Expectation struct {
	Status int `yaml:"status"`
	// Headers are response headers; an empty value means "absent".
	Headers         map[string]string `yaml:"headers"`
	UpstreamHeaders map[string]string `yaml:"upstreamHeaders"`
	BodyContains    string            `yaml:"bodyContains"`
	// Body, when set, is the whole body the client gets; UpstreamBody the
	// whole body the request reaches the upstream with.
	Body         *string `yaml:"body"`
	UpstreamBody *string `yaml:"upstreamBody"`
	// ReachesUpstream, when set, says whether the request got through.
	ReachesUpstream *bool `yaml:"reachesUpstream"`
}

// Load reads a case file.
func Load(path string) (*Suite, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Suite
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	s.Path = path
	switch s.RawConfig.Kind {
	case 0:
	case yaml.ScalarNode:
		s.Config = s.RawConfig.Value
	case yaml.MappingNode:
		var m map[string]any
		if err := s.RawConfig.Decode(&m); err != nil {
			return nil, fmt.Errorf("config: %v", err)
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // the policies stay readable where the config is shown
		if err := enc.Encode(m); err != nil {
			return nil, fmt.Errorf("config: %v", err)
		}
		s.Config = strings.TrimSuffix(b.String(), "\n")
	default:
		return nil, fmt.Errorf("config: want a string or a mapping")
	}
	if s.ConfigFile != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), s.ConfigFile))
		if err != nil {
			return nil, err
		}
		s.Config = string(b)
	}
	if strings.TrimSpace(s.Config) == "" {
		return nil, fmt.Errorf("no config or configFile")
	}
	if s.Time != "" {
		if _, err := time.Parse(time.RFC3339, s.Time); err != nil {
			return nil, fmt.Errorf("time: %v", err)
		}
	}
	return &s, nil
}

// Files lists the case files of the corpus under root (the repository):
// examples/*/*.yaml.
func Files(root string) ([]string, error) {
	return filepath.Glob(filepath.Join(root, "examples", "*", "*.yaml"))
}

// Clock is the suite's fixed time, or the zero time when it has none.
func (s *Suite) Clock() time.Time {
	t, _ := time.Parse(time.RFC3339, s.Time)
	return t
}

// Callout finds the answer for a call to cluster and path: the case's
// callouts first, then the suite's.
func (s *Suite) Callout(tc Case, cluster, path string) (Callout, bool) {
	for _, list := range [][]Callout{tc.Callouts, s.Callouts} {
		for _, c := range list {
			if c.Cluster == cluster && strings.HasPrefix(path, c.Path) {
				return c, true
			}
		}
	}
	return Callout{}, false
}

// Outcome is what a tier observed for one case.
type Outcome struct {
	Status  int
	Headers [][2]string // response headers the client got
	Body    string
	// UpstreamBody is the body the request reached the upstream with.
	UpstreamBody string
	// Reached is set when the request went on to the upstream;
	// UpstreamHeaders are then the headers it arrived with.
	Reached         bool
	UpstreamHeaders [][2]string
}

// Check compares an outcome with the case's expectation and lists what
// differs, one line each; none when it passed.
func (tc Case) Check(o Outcome) []string {
	var problems []string
	e := tc.Expect
	if e.Status != 0 && o.Status != e.Status {
		problems = append(problems, fmt.Sprintf("status: got %d, want %d (body %q)", o.Status, e.Status, abbreviate(o.Body)))
	}
	for _, name := range sortedKeys(e.Headers) {
		if got := Value(o.Headers, name); got != e.Headers[name] {
			problems = append(problems, fmt.Sprintf("header %s: got %q, want %q", name, got, e.Headers[name]))
		}
	}
	if o.Reached {
		for _, name := range sortedKeys(e.UpstreamHeaders) {
			if got := Value(o.UpstreamHeaders, name); got != e.UpstreamHeaders[name] {
				problems = append(problems, fmt.Sprintf("upstream header %s: got %q, want %q", name, got, e.UpstreamHeaders[name]))
			}
		}
	}
	if e.Body != nil && o.Body != *e.Body {
		problems = append(problems, fmt.Sprintf("body: got %q, want %q", abbreviate(o.Body), abbreviate(*e.Body)))
	}
	if e.UpstreamBody != nil && o.Reached && o.UpstreamBody != *e.UpstreamBody {
		problems = append(problems, fmt.Sprintf("upstream body: got %q, want %q", abbreviate(o.UpstreamBody), abbreviate(*e.UpstreamBody)))
	}
	if e.BodyContains != "" && !strings.Contains(o.Body, e.BodyContains) {
		problems = append(problems, fmt.Sprintf("body: got %q, want it to contain %q", abbreviate(o.Body), e.BodyContains))
	}
	if e.ReachesUpstream != nil && *e.ReachesUpstream != o.Reached {
		problems = append(problems, fmt.Sprintf("reaches upstream: got %v, want %v", o.Reached, *e.ReachesUpstream))
	}
	return problems
}

// Or is v, or def when v is the zero value.
func Or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Pairs turns a header map into lower-case pairs in a stable order.
func Pairs(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, [2]string{strings.ToLower(k), m[k]})
	}
	return out
}

// Value returns the values of name in pairs (any case) joined with commas,
// "" when absent.
func Value(pairs [][2]string, name string) string {
	var vals []string
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], name) {
			vals = append(vals, kv[1])
		}
	}
	return strings.Join(vals, ",")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// SeedFile is the seed document the project comes from, byte for byte
// (shared/seed), under the repository root: the one copy of its examples.
const SeedFile = "examples/seed/seed.txt"

// SeedBlock returns the first <element ...>...</element> block of the seed
// document under root, byte for byte: tests and tools that need a seed
// example read it here instead of keeping a copy.
func SeedBlock(root, element string) (string, error) {
	seed, err := os.ReadFile(filepath.Join(root, SeedFile))
	if err != nil {
		return "", err
	}
	open := "<" + element
	for i := 0; ; {
		j := strings.Index(string(seed[i:]), open)
		if j < 0 {
			return "", fmt.Errorf("no <%s> block in %s", element, SeedFile)
		}
		start := i + j
		if next := start + len(open); next < len(seed) && (seed[next] == ' ' || seed[next] == '>' || seed[next] == '\n') {
			end := strings.Index(string(seed[start:]), "</"+element+">")
			if end < 0 {
				return "", fmt.Errorf("<%s> is not closed in %s", element, SeedFile)
			}
			return string(seed[start : start+end+len("</"+element+">")]), nil
		}
		i = start + len(open)
	}
}

// MustSeedBlock is SeedBlock for test fixtures: it panics on an error.
func MustSeedBlock(root, element string) string {
	b, err := SeedBlock(root, element)
	if err != nil {
		panic(err)
	}
	return b
}

// ExamplePolicy returns the policy document of the case file rel under
// root's examples/ (for example "policies/send-request.yaml"), for a test
// that checks more of the same policy than a case can say (what a called
// service saw, timing). It panics on an error: test fixtures only.
func ExamplePolicy(root, rel string) string {
	s, err := Load(filepath.Join(root, "examples", rel))
	if err != nil {
		panic(err)
	}
	var cfg struct {
		Policy string `json:"policy"`
	}
	if err := json.Unmarshal([]byte(s.Config), &cfg); err != nil || cfg.Policy == "" {
		panic(fmt.Sprintf("%s: no policy in its config (%v)", rel, err))
	}
	return cfg.Policy
}
