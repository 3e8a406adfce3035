package envoytest

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// stack is a running Envoy with apimguard in front of a recording upstream.
type stack struct {
	envoy    *envoyrun.Envoy
	upstream *envoyrun.Upstream
}

// startStack starts the upstream and Envoy for one test; both are stopped
// when the test ends and Envoy's log is printed if it failed. A missing
// Envoy or module fails the test: this tier is never skipped.
func startStack(t testing.TB, p envoyrun.Params, env ...string) *stack {
	t.Helper()
	return startStackOn(t, 0, p, env...)
}

// startStackOn is startStack with a chosen listener port (0: any free one).
func startStackOn(t testing.TB, port int, p envoyrun.Params, env ...string) *stack {
	t.Helper()
	return startStackWith(t, port, envoyrun.StartOptions{Env: env}, p)
}

// startStackWith is startStack with a chosen listener port and options.
func startStackWith(t testing.TB, port int, opt envoyrun.StartOptions, p envoyrun.Params) *stack {
	t.Helper()
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		t.Fatal(err)
	}
	up, err := envoyrun.StartUpstream("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	if p.WasmPath == "" {
		p.WasmPath = wasm
	}
	p.UpstreamPort, p.ListenerPort = up.Port(), port
	if p.ListenerPort == 0 {
		if p.ListenerPort, err = envoyrun.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	if p.AdminPort, err = envoyrun.FreePort(); err != nil {
		t.Fatal(err)
	}
	cfg, err := envoyrun.Render("apimguard.yaml", p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := envoyrun.Start(envoyBin, cfg, p.AdminPort, p.ListenerPort, opt)
	t.Cleanup(func() {
		if err == nil {
			seeMetrics(e.AdminPort)
		}
		e.Stop()
		if t.Failed() {
			t.Logf("envoy config:\n%s\nenvoy log:\n%s", cfg, e.Log())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{envoy: e, upstream: up}
}

// response is what a client got back.
type response struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Timeout: 10 * time.Second}

// do sends a request through Envoy.
func (s *stack) do(t testing.TB, method, path string, headers map[string][]string, body string) response {
	t.Helper()
	return s.doWith(t, client, method, path, headers, body)
}

// clientFrom returns a client whose connections come from the loopback
// address ip (any 127.0.0.0/8 address works on Linux).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// doWith sends a request through Envoy with the given client.
func (s *stack) doWith(t testing.TB, client *http.Client, method, path string, headers map[string][]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.envoy.URL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// raw sends one HTTP/1.1 request written byte for byte (a path Go's client
// would clean, two Host lines) on a new connection and reads the answer.
func (s *stack) raw(t testing.TB, request string) response {
	t.Helper()
	conn, err := net.Dial("tcp", "127.0.0.1:"+itoa(s.envoy.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// admin reads a page of Envoy's admin interface.
func (s *stack) admin(t testing.TB, path string) string {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + itoa(s.envoy.AdminPort) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// logged reports whether Envoy's log holds s, waiting up to five seconds:
// the log reaches the test through a pipe, after the response.
func (s *stack) logged(sub string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s.envoy.Log(), sub) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// listenerTest is a test that needs only its own plugin configuration: it
// runs on its own listener of an Envoy that other such tests share.
type listenerTest struct {
	name     string
	listener envoyrun.Listener
	run      func(t *testing.T, s *stack)
}

// runShared starts one Envoy with one listener per test (p gives what
// they share: the VM's environment, clusters, clock) and runs each test as
// a subtest against its listener. The listeners share one VM, so the
// module is compiled once for all of them: on a slow machine each Envoy
// start costs tens of seconds.
func runShared(t *testing.T, p envoyrun.Params, tests []listenerTest) {
	t.Helper()
	first := tests[0].listener
	p.PluginConfig, p.TLS, p.BehindProxy, p.XFCC, p.AccessLog = first.PluginConfig, first.TLS, first.BehindProxy, first.XFCC, first.AccessLog
	ports := make([]int, len(tests))
	for _, tc := range tests[1:] {
		l := tc.listener
		var err error
		if l.Port, err = envoyrun.FreePort(); err != nil {
			t.Fatal(err)
		}
		p.Extra = append(p.Extra, l)
		ports[len(p.Extra)] = l.Port
	}
	st := startStack(t, p)
	ports[0] = st.envoy.Port
	for i, tc := range tests {
		view := &stack{envoy: st.envoy.On(ports[i]), upstream: st.upstream}
		t.Run(tc.name, func(t *testing.T) { tc.run(t, view) })
	}
}

// serveHTTPS starts a local HTTPS server for host (a certificate of ca)
// answering with h, stopped when the test ends, and returns its port: a
// stand-in for a service the plugin calls.
func serveHTTPS(t *testing.T, ca *testCA, host string, h http.HandlerFunc) int {
	t.Helper()
	cert, _, _ := ca.leaf(host, host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}
