package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/hostfake"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"gopkg.in/yaml.v3"
)

// suite is one case file.
type suite struct {
	// Config is the plugin configuration (a <policies> document or the JSON
	// object); ConfigFile reads it from a file next to the case file.
	Config     string `yaml:"config"`
	ConfigFile string `yaml:"configFile"`
	// Time fixes the module's clock (RFC 3339) for token expiry.
	Time string `yaml:"time"`
	// Callouts answer the calls the module makes, for every case.
	Callouts []callout  `yaml:"callouts"`
	Cases    []testCase `yaml:"cases"`
}

// callout answers calls to a cluster whose path starts with Path.
type callout struct {
	Cluster string            `yaml:"cluster"`
	Path    string            `yaml:"path"`
	Status  int               `yaml:"status"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	Fail    bool              `yaml:"fail"` // no answer: the call fails
}

type testCase struct {
	Name     string      `yaml:"name"`
	Request  request     `yaml:"request"`
	Upstream upstream    `yaml:"upstream"`
	Callouts []callout   `yaml:"callouts"`
	Expect   expectation `yaml:"expect"`
}

type request struct {
	Method    string            `yaml:"method"`
	Path      string            `yaml:"path"`
	Authority string            `yaml:"authority"`
	Headers   map[string]string `yaml:"headers"`
	ClientIP  string            `yaml:"clientIp"`
	Body      string            `yaml:"body"`
}

// upstream is what the protected API answers when a request reaches it.
type upstream struct {
	Status  int               `yaml:"status"`
	Headers map[string]string `yaml:"headers"`
}

type expectation struct {
	Status int `yaml:"status"`
	// Headers are response headers; an empty value means "absent".
	Headers         map[string]string `yaml:"headers"`
	UpstreamHeaders map[string]string `yaml:"upstreamHeaders"`
	BodyContains    string            `yaml:"bodyContains"`
	// ReachesUpstream, when set, says whether the request got through.
	ReachesUpstream *bool `yaml:"reachesUpstream"`
}

type runner struct {
	wasm           []byte
	out            io.Writer
	verbose        bool
	passed, failed int
}

func (r *runner) runFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s suite
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return err
	}
	if s.ConfigFile != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), s.ConfigFile))
		if err != nil {
			return err
		}
		s.Config = string(b)
	}
	if strings.TrimSpace(s.Config) == "" {
		return fmt.Errorf("no config or configFile")
	}
	vmConfig := ""
	if s.Time != "" {
		if _, err := time.Parse(time.RFC3339, s.Time); err != nil {
			return fmt.Errorf("time: %v", err)
		}
		vmConfig = `{"testClock": "` + s.Time + `"}`
	}
	vm, err := proxytest.NewWasmVMContext(r.wasm)
	if err != nil {
		return fmt.Errorf("loading the module: %v", err)
	}
	defer vm.Close()
	for _, tc := range s.Cases {
		start := time.Now()
		problems, notes := r.runCase(vm, &s, tc, vmConfig)
		took := time.Since(start).Seconds()
		if len(problems) == 0 {
			r.passed++
			fmt.Fprintf(r.out, "--- PASS: %s (%.2fs)\n", tc.Name, took)
		} else {
			r.failed++
			fmt.Fprintf(r.out, "--- FAIL: %s (%.2fs)\n", tc.Name, took)
			for _, p := range problems {
				fmt.Fprintf(r.out, "    %s\n", p)
			}
		}
		if r.verbose {
			for _, n := range notes {
				fmt.Fprintf(r.out, "    | %s\n", n)
			}
		}
	}
	return nil
}

// runCase runs one case in a fresh plugin and returns what did not match
// and, for -v, what happened.
func (r *runner) runCase(vm proxytest.WasmVMContext, s *suite, tc testCase, vmConfig string) (problems, notes []string) {
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(s.Config)).WithVMConfiguration([]byte(vmConfig))
	if tc.Request.ClientIP != "" {
		opt = opt.WithProperty([]string{"source", "address"}, []byte(hostPort(tc.Request.ClientIP)))
	}
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	host.RegisterForeignFunction("verify_signature", hostfake.VerifySignature)
	defer func() {
		for _, l := range host.GetWarnLogs() {
			notes = append(notes, "log: "+l)
		}
	}()
	if host.StartVM() != types.OnVMStartStatusOK {
		return []string{"the VM did not start: " + strings.Join(host.GetCriticalLogs(), "; ")}, nil
	}
	if host.StartPlugin() != types.OnPluginStartStatusOK {
		return []string{"the plugin refused its configuration: " + strings.Join(host.GetCriticalLogs(), "; ")}, nil
	}

	req := tc.Request
	headers := [][2]string{{":method", or(req.Method, "GET")}, {":path", or(req.Path, "/")}, {":authority", or(req.Authority, "api.example.com")}, {":scheme", "https"}}
	headers = append(headers, sortedPairs(req.Headers)...)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, headers, req.Body == "")
	if req.Body != "" {
		host.CallOnRequestBody(id, []byte(req.Body), true)
	}
	answered := map[uint32]bool{}
	for round := 0; round < 20 && host.GetSentLocalResponse(id) == nil && host.GetCurrentHttpStreamAction(id) != types.ActionContinue; round++ {
		pending := 0
		for _, ctx := range []uint32{id, proxytest.PluginContextID} {
			for _, c := range host.GetCalloutAttributesFromContext(ctx) {
				if answered[c.CalloutID] {
					continue
				}
				answered[c.CalloutID] = true
				pending++
				path := pairValue(c.Headers, ":path")
				notes = append(notes, fmt.Sprintf("call: %s %s%s (cluster %s)", pairValue(c.Headers, ":method"), pairValue(c.Headers, ":authority"), path, c.Upstream))
				a, ok := findCallout(tc.Callouts, s.Callouts, c.Upstream, path)
				if !ok {
					return append(problems, fmt.Sprintf("unanswered call to cluster %q path %q: add it to callouts", c.Upstream, path)), notes
				}
				if a.Fail {
					host.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil)
					continue
				}
				hs := append([][2]string{{":status", strconv.Itoa(or(a.Status, 200))}}, sortedPairs(a.Headers)...)
				host.CallOnHttpCallResponse(c.CalloutID, hs, nil, []byte(a.Body))
			}
		}
		if pending == 0 {
			host.Tick() // key fetches start on ticks
		}
	}

	status, respHeaders, body := 0, [][2]string(nil), ""
	reached := false
	if local := host.GetSentLocalResponse(id); local != nil {
		status, respHeaders, body = int(local.StatusCode), local.Headers, string(local.Data)
	} else if host.GetCurrentHttpStreamAction(id) == types.ActionContinue {
		reached = true
		upHeaders := host.GetCurrentRequestHeaders(id)
		for name, want := range tc.Expect.UpstreamHeaders {
			if got := pairValue(upHeaders, strings.ToLower(name)); got != want {
				problems = append(problems, fmt.Sprintf("upstream header %s: got %q, want %q", name, got, want))
			}
		}
		up := append([][2]string{{":status", strconv.Itoa(or(tc.Upstream.Status, 200))}}, sortedPairs(tc.Upstream.Headers)...)
		host.CallOnResponseHeaders(id, up, true)
		if local := host.GetSentLocalResponse(id); local != nil {
			status, respHeaders, body = int(local.StatusCode), local.Headers, string(local.Data)
		} else {
			respHeaders = host.GetCurrentResponseHeaders(id)
			status, _ = strconv.Atoi(pairValue(respHeaders, ":status"))
		}
	} else {
		problems = append(problems, "the request is still paused: a call or key fetch was never answered")
	}
	host.CompleteHttpContext(id)

	if tc.Expect.Status != 0 && status != tc.Expect.Status {
		problems = append(problems, fmt.Sprintf("status: got %d, want %d (body %q)", status, tc.Expect.Status, abbreviate(body)))
	}
	for name, want := range tc.Expect.Headers {
		if got := pairValue(respHeaders, strings.ToLower(name)); got != want {
			problems = append(problems, fmt.Sprintf("header %s: got %q, want %q", name, got, want))
		}
	}
	if tc.Expect.BodyContains != "" && !strings.Contains(body, tc.Expect.BodyContains) {
		problems = append(problems, fmt.Sprintf("body: got %q, want it to contain %q", abbreviate(body), tc.Expect.BodyContains))
	}
	if tc.Expect.ReachesUpstream != nil && *tc.Expect.ReachesUpstream != reached {
		problems = append(problems, fmt.Sprintf("reaches upstream: got %v, want %v", reached, *tc.Expect.ReachesUpstream))
	}
	return problems, notes
}

func findCallout(caseCallouts, suiteCallouts []callout, cluster, path string) (callout, bool) {
	for _, list := range [][]callout{caseCallouts, suiteCallouts} {
		for _, c := range list {
			if c.Cluster == cluster && strings.HasPrefix(path, c.Path) {
				return c, true
			}
		}
	}
	return callout{}, false
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func hostPort(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:40000"
	}
	return ip + ":40000"
}

// sortedPairs turns a header map into lower-case pairs in a stable order.
func sortedPairs(m map[string]string) [][2]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]string{strings.ToLower(k), m[k]})
	}
	return out
}

// pairValue returns the values of name joined with commas, "" when absent.
func pairValue(pairs [][2]string, name string) string {
	var vals []string
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], name) {
			vals = append(vals, kv[1])
		}
	}
	return strings.Join(vals, ",")
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
