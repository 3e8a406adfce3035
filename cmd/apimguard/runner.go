package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/corpus"
	"github.com/apimguard/apimguard/internal/testsupport/hostfake"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

type runner struct {
	wasm           []byte
	out            io.Writer
	verbose        bool
	passed, failed int
}

func (r *runner) runFile(path string) error {
	s, err := corpus.Load(path)
	if err != nil {
		return err
	}
	vmConfig := ""
	if s.Time != "" {
		vmConfig = `{"testClock": "` + s.Time + `"}`
	}
	vm, err := proxytest.NewWasmVMContext(r.wasm)
	if err != nil {
		return fmt.Errorf("loading the module: %v", err)
	}
	defer vm.Close()
	for _, tc := range s.Cases {
		start := time.Now()
		problems, notes := r.runCase(vm, s, tc, vmConfig)
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
func (r *runner) runCase(vm proxytest.WasmVMContext, s *corpus.Suite, tc corpus.Case, vmConfig string) (problems, notes []string) {
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(s.Config)).WithVMConfiguration([]byte(vmConfig))
	if tc.Request.ClientIP != "" {
		opt = opt.WithProperty([]string{"source", "address"}, []byte(hostPort(tc.Request.ClientIP)))
	}
	conn, err := tc.Request.Connection()
	if err != nil {
		return []string{err.Error()}, nil
	}
	for name, v := range map[string]string{"tls_version": conn.TLSVersion, "sha256_peer_certificate_digest": conn.Peer.SHA256, "subject_peer_certificate": conn.Peer.Subject,
		"uri_san_peer_certificate": conn.Peer.URISAN, "dns_san_peer_certificate": conn.Peer.DNSSAN} {
		if v != "" {
			opt = opt.WithProperty([]string{"connection", name}, []byte(v))
		}
	}
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	host.RegisterForeignFunction("verify_signature", hostfake.VerifySignature)
	host.RegisterForeignFunction("clear_route_cache", hostfake.ClearRouteCache)
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
	headers := [][2]string{{":method", corpus.Or(req.Method, "GET")}, {":path", corpus.Or(req.Path, "/")}, {":authority", corpus.Or(req.Authority, "api.example.com")}, {":scheme", "https"}}
	headers = append(headers, req.HeadersWith(conn)...)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, headers, req.Body == "")
	if req.Body != "" {
		host.CallOnRequestBody(id, []byte(req.Body), true)
	}
	// answered counts the calls answered per context: the emulator lists a
	// context's calls in order but reuses call ids once answered.
	answered := map[uint32]int{}
	// Rounds answer calls and tick the plugin (key fetches start on ticks;
	// a request waiting between a retry's attempts resumes after a number
	// of ticks, and idle rounds after the first few sleep a little). 60 s
	// bound the whole case.
	deadline := time.Now().Add(60 * time.Second)
	for round := 0; time.Now().Before(deadline) && host.GetSentLocalResponse(id) == nil && host.GetCurrentHttpStreamAction(id) != types.ActionContinue; round++ {
		// The round's new calls are answered in the order of their
		// delays (a wait's calls go out together).
		type due struct {
			id uint32
			a  corpus.Callout
		}
		var batch []due
		for _, ctx := range []uint32{id, proxytest.PluginContextID} {
			calls := host.GetCalloutAttributesFromContext(ctx)
			for _, c := range calls[min(answered[ctx], len(calls)):] {
				answered[ctx]++
				path := corpus.Value(c.Headers, ":path")
				notes = append(notes, fmt.Sprintf("call: %s %s%s (cluster %s)", corpus.Value(c.Headers, ":method"), corpus.Value(c.Headers, ":authority"), path, c.Upstream))
				a, ok := s.Callout(tc, c.Upstream, path)
				if !ok {
					return append(problems, fmt.Sprintf("unanswered call to cluster %q path %q: add it to callouts", c.Upstream, path)), notes
				}
				batch = append(batch, due{c.CalloutID, a})
			}
		}
		sort.SliceStable(batch, func(i, j int) bool { return batch[i].a.DelayMS < batch[j].a.DelayMS })
		for _, d := range batch {
			if d.a.Fail {
				host.CallOnHttpCallResponse(d.id, nil, nil, nil)
				continue
			}
			hs := append([][2]string{{":status", strconv.Itoa(corpus.Or(d.a.Status, 200))}}, corpus.Pairs(d.a.Headers)...)
			host.CallOnHttpCallResponse(d.id, hs, nil, []byte(d.a.Body))
		}
		pending := len(batch)
		if pending == 0 {
			if round >= 20 {
				time.Sleep(20 * time.Millisecond)
			}
			host.Tick()
		}
	}

	var o corpus.Outcome
	if local := host.GetSentLocalResponse(id); local != nil {
		o.Status, o.Headers, o.Body = int(local.StatusCode), local.Headers, string(local.Data)
	} else if host.GetCurrentHttpStreamAction(id) == types.ActionContinue {
		o.Reached, o.UpstreamHeaders = true, host.GetCurrentRequestHeaders(id)
		o.UpstreamBody = string(host.GetCurrentRequestBody(id))
		// The upstream answers with a body, as the Envoy tier's does.
		up := append([][2]string{{":status", strconv.Itoa(corpus.Or(tc.Upstream.Status, 200))}}, corpus.Pairs(tc.Upstream.Headers)...)
		host.CallOnResponseHeaders(id, up, false)
		if host.GetSentLocalResponse(id) == nil {
			host.CallOnResponseBody(id, []byte(tc.Upstream.Body), true)
		}
		if local := host.GetSentLocalResponse(id); local != nil {
			o.Status, o.Headers, o.Body = int(local.StatusCode), local.Headers, string(local.Data)
		} else {
			o.Headers = host.GetCurrentResponseHeaders(id)
			o.Body = string(host.GetCurrentResponseBody(id))
			o.Status, _ = strconv.Atoi(corpus.Value(o.Headers, ":status"))
		}
	} else {
		problems = append(problems, "the request is still paused: a call or key fetch was never answered")
	}
	host.CompleteHttpContext(id)
	return append(problems, tc.Check(o)...), notes
}

func hostPort(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:40000"
	}
	return ip + ":40000"
}
