package envoytest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
)

// TestCorpus_throughEnvoy replays every case file of the corpus
// (examples/*/*.yaml) through a real Envoy: one listener per file, with
// the file's plugin configuration, in as few Envoys as the files allow
// (files with the same clock share one Envoy and its VM when the services
// they call differ); the services the module calls are local servers
// answering from the file's callouts, the file's fixed time is the VM's
// testClock. A case's clientIp reaches the plugin as Envoy's downstream
// address: its listener runs with use_remote_address: false and the client
// sends it as X-Forwarded-For. The engine (policy.TestCorpus_engine) and
// the module under wazero (cmd/apimguard) replay the same files.
func TestCorpus_throughEnvoy(t *testing.T) {
	files, err := corpus.Files(envoyrun.Root())
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files under examples/ (%v)", err)
	}
	var suites []*corpus.Suite
	for _, file := range files {
		s, err := corpus.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, s)
	}
	for _, group := range shareEnvoys(suites) {
		replay(t, group, "")
	}
}

// shareEnvoys groups suites that can share one Envoy: the same clock (a
// VM setting) and no cluster in common (each cluster's stand-in answers
// for one file, each backend's cluster is declared once), in file order.
func shareEnvoys(suites []*corpus.Suite) [][]*corpus.Suite {
	var groups [][]*corpus.Suite
next:
	for _, s := range suites {
		for i, g := range groups {
			if g[0].Time != s.Time {
				continue
			}
			taken := map[string]bool{}
			for _, o := range g {
				for _, c := range append(clustersOf(o), upstreamClusters(o)...) {
					taken[c] = true
				}
			}
			for _, c := range append(clustersOf(s), upstreamClusters(s)...) {
				if taken[c] {
					continue next
				}
			}
			groups[i] = append(g, s)
			continue next
		}
		groups = append(groups, []*corpus.Suite{s})
	}
	return groups
}

// replay runs suites' cases through one Envoy, each suite on its own
// listener (runShared), one subtest per file; with dynamicModule, through
// the native build instead of the Wasm module.
func replay(t *testing.T, suites []*corpus.Suite, dynamicModule string) {
	var mu sync.Mutex
	var current corpus.Case
	p := envoyrun.Params{DynamicModule: dynamicModule}
	if suites[0].Time != "" {
		p.VMConfig = `{"testClock": "` + suites[0].Time + `"}`
	}
	// The services the module calls speak TLS, as in production: Envoy
	// checks their certificate (from the test CA, for the host the
	// cluster stands for) and speaks nothing below TLS 1.2.
	ca := newTestCA(t)
	caFile := ca.caFile()
	var tests []listenerTest
	for _, s := range suites {
		for _, cluster := range clustersOf(s) {
			host := clusterHost(cluster)
			cert, _, _ := ca.leaf("callout-"+strconv.Itoa(len(p.Clusters)), host)
			port := serveCallouts(t, cert, func(path string) (corpus.Callout, bool) {
				mu.Lock()
				defer mu.Unlock()
				return s.Callout(current, cluster, path)
			})
			p.Clusters = append(p.Clusters, envoyrun.Cluster{Name: cluster, Port: port, CAFile: caFile, SNI: host})
		}
		// set-backend-service's backends: their clusters reach the
		// recording upstream, through the route that reads the plugin's
		// x-apimguard-backend.
		if strings.Contains(s.Config, "set-backend-service") {
			p.Backends = true
			callouts := map[string]bool{}
			for _, c := range clustersOf(s) {
				callouts[c] = true
			}
			for _, c := range upstreamClusters(s) {
				if !callouts[c] {
					p.Clusters = append(p.Clusters, envoyrun.Cluster{Name: c, Upstream: true})
				}
			}
		}
		l := envoyrun.Listener{PluginConfig: s.Config}
		for _, tc := range s.Cases {
			if tc.Request.ClientIP != "" {
				l.BehindProxy = true
			}
			if (tc.Request.Certificate != "" || tc.Request.TLS != "") && l.TLS == nil {
				// TLS 1.2 and 1.3 at the edge as shipped, asking for a
				// client certificate and handing it to the plugin
				// (SANITIZE_SET); the plugin checks trust, so the
				// listener lets any through.
				_, cert, key := ca.leaf("edge", "api.example.com")
				l.TLS = &envoyrun.TLSListener{CertFile: cert, KeyFile: key, MinVersion: "TLSv1_2", ClientCAFile: ca.caFile(), AcceptUntrusted: true}
				l.XFCC = "SANITIZE_SET"
			}
		}
		edge := map[bool]*testCA{true: ca}[l.TLS != nil]
		tests = append(tests, listenerTest{name: filepath.Base(s.Path), listener: l, run: func(t *testing.T, st *stack) {
			for _, tc := range s.Cases {
				t.Run(tc.Name, func(t *testing.T) {
					mu.Lock()
					current = tc
					mu.Unlock()
					st.upstream.AnswerBody(tc.Upstream.Status, tc.Upstream.Headers, tc.Upstream.Body)
					if problems := tc.Check(exchange(t, st, edge, tc)); len(problems) > 0 {
						t.Error(strings.Join(problems, "\n"))
					}
				})
			}
		}})
	}
	name := tests[0].name
	if len(tests) > 1 {
		name += "+" + strconv.Itoa(len(tests)-1)
	}
	t.Run(name, func(t *testing.T) { runShared(t, p, tests) })
}

// exchange sends a case's request through Envoy and returns what the client
// and the upstream saw. With ca set, the listener speaks TLS and the
// client speaks the case's version (any from 1.2 without one) and presents
// the case's certificate.
func exchange(t *testing.T, st *stack, ca *testCA, tc corpus.Case) corpus.Outcome {
	r := tc.Request
	url, c := st.envoy.URL(corpus.Or(r.Path, "/")), client
	if ca != nil {
		url = "https://127.0.0.1:" + itoa(st.envoy.Port) + corpus.Or(r.Path, "/")
		var cert *tls.Certificate
		if r.Certificate != "" {
			pair, err := tls.X509KeyPair([]byte(r.Certificate), []byte(r.Key))
			if err != nil {
				t.Fatalf("request.certificate and request.key: %v (the Envoy tier presents the certificate in a real handshake and needs its key)", err)
			}
			cert = &pair
		}
		version := map[string]uint16{"": 0, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}[r.TLS]
		c = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ca.pool(), ServerName: "api.example.com", MinVersion: max(version, tls.VersionTLS12), MaxVersion: version,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if cert == nil {
					return &tls.Certificate{}, nil
				}
				return cert, nil
			}}}}
	}
	req, err := http.NewRequest(corpus.Or(r.Method, "GET"), url, strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = corpus.Or(r.Authority, "api.example.com")
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if r.ClientIP != "" {
		req.Header.Set("X-Forwarded-For", r.ClientIP)
	}
	before := len(st.upstream.Requests())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	o := corpus.Outcome{Status: resp.StatusCode, Headers: pairs(resp.Header), Body: string(body)}
	if got := st.upstream.Requests()[before:]; len(got) > 0 {
		last := got[len(got)-1]
		o.Reached = true
		o.UpstreamHeaders = append([][2]string{{":method", last.Method}, {":path", last.Path}, {":authority", last.Host}}, pairs(last.Header)...)
		o.UpstreamBody = last.Body
	}
	return o
}

// pairs turns Go's header map into lower-case pairs.
func pairs(h http.Header) [][2]string {
	var out [][2]string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, [2]string{strings.ToLower(k), v})
		}
	}
	return out
}

// clustersOf lists the clusters a suite's callouts name.
func clustersOf(s *corpus.Suite) []string {
	seen := map[string]bool{}
	for _, c := range s.Callouts {
		seen[c.Cluster] = true
	}
	for _, tc := range s.Cases {
		for _, c := range tc.Callouts {
			seen[c.Cluster] = true
		}
	}
	var out []string
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// clusterHost is the host name a cluster stands for: HOST in Istio's
// outbound|PORT||HOST, else the cluster's name.
func clusterHost(cluster string) string {
	if parts := strings.Split(cluster, "|"); len(parts) == 4 && parts[3] != "" {
		return parts[3]
	}
	return cluster
}

// serveCallouts starts a local HTTPS server with cert answering with
// answer(path): the callout's status, headers and body; a callout with
// fail: true, or none, drops the connection without an answer.
func serveCallouts(t *testing.T, cert tls.Certificate, answer func(path string) (corpus.Callout, bool)) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		a, ok := answer(r.RequestURI)
		time.Sleep(time.Duration(a.DelayMS) * time.Millisecond)
		if !ok || a.Fail {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
			}
			return
		}
		for k, v := range a.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(a.Body)))
		w.WriteHeader(corpus.Or(a.Status, 200))
		io.WriteString(w, a.Body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// upstreamClusters lists the clusters of a suite's "upstreams", sorted.
// (A configuration that is not JSON has none; one the plugin cannot read
// fails its cases.)
func upstreamClusters(s *corpus.Suite) []string {
	var cfg struct {
		Upstreams map[string]string `json:"upstreams"`
	}
	_ = json.Unmarshal([]byte(s.Config), &cfg)
	var out []string
	for _, c := range cfg.Upstreams {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
