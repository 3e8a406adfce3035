package envoytest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
)

// TestFlow_throughEnvoy: retry and wait in one Envoy.
//
// retry: the corpus's retry policy (examples/policies/retry.yaml, its
// service over plain HTTP here) against a service that stays unavailable
// makes exactly three calls, the last after Envoy waited a second without
// holding the worker; a retry whose condition never turns false and whose
// count an expression makes huge ends after 51 calls.
//
// wait: its calls are really in flight together (each service answers only
// once it has seen the other's call); the calls that for="any" abandons
// answer after their requests ended, many at once, and the VM serves the
// next request as before; a call that cannot be made ends the wait.
func TestFlow_throughEnvoy(t *testing.T) {
	var calls atomic.Int32
	svc := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go svc.Serve(ln)
	t.Cleanup(func() { svc.Close() })
	w := startWaitServices(t)

	forever := `<policies><inbound>
  <retry condition="true" count="@(2147483647)" interval="0">
    <send-request mode="new" response-variable-name="check" timeout="5" ignore-error="true">
      <set-url>http://validation.contoso.com/check</set-url>
    </send-request>
  </retry>
</inbound></policies>`
	cfg := func(p string) string {
		b, _ := json.Marshal(map[string]any{"policy": p, "upstreams": map[string]string{
			"validation.contoso.com": "validation", "a.contoso.com": "wait", "b.contoso.com": "wait",
			"slow.contoso.com": "wait", "nowhere.contoso.com": "no-such-cluster",
		}})
		return string(b)
	}
	plain := strings.Replace(corpus.ExamplePolicy(envoyrun.Root(), "policies/retry.yaml"), "https://validation.contoso.com", "http://validation.contoso.com", 1)
	runShared(t, envoyrun.Params{Clusters: []envoyrun.Cluster{{Name: "validation", Port: port}, {Name: "wait", Port: w.port}}}, []listenerTest{
		{"a service that stays unavailable: three calls, one wait", envoyrun.Listener{PluginConfig: cfg(plain)}, func(t *testing.T, s *stack) {
			calls.Store(0)
			start := time.Now()
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 502 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if n, took := calls.Load(), time.Since(start); n != 3 || took < 900*time.Millisecond {
				t.Errorf("%d calls in %v, want 3 with a wait of about a second", n, took)
			}
		}},
		{"a retry that would loop forever ends after 51 calls", envoyrun.Listener{PluginConfig: cfg(forever)}, func(t *testing.T, s *stack) {
			calls.Store(0)
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 200 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if n := calls.Load(); n != 51 {
				t.Errorf("%d calls, want 51 (count bounded to 50)", n)
			}
		}},
		{"retry around forward-request: Envoy's router sends the request again", envoyrun.Listener{PluginConfig: backendPolicy(`<retry condition="@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 500)" count="3" interval="1" first-fast-retry="true">
      <forward-request buffer-request-body="true" timeout="20" />
    </retry>`)}, func(t *testing.T, s *stack) {
			before := len(s.upstream.Requests())
			s.upstream.FailNext(2, 503)
			if r := s.do(t, "POST", "/orders/r1", nil, `{"item": 1}`); r.status != 200 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			got := s.upstream.Requests()[before:]
			if len(got) != 3 {
				t.Fatalf("%d requests reached the backend, want 3", len(got))
			}
			for _, r := range got {
				if r.Body != `{"item": 1}` || r.Header.Get("x-envoy-retry-on") != "" {
					t.Errorf("an attempt: body %q, x-envoy-retry-on %q", r.Body, r.Header.Get("x-envoy-retry-on"))
				}
			}
			// A status the condition does not name is not retried.
			before = len(s.upstream.Requests())
			s.upstream.FailNext(1, 404)
			if r := s.do(t, "GET", "/orders/r2", nil, ""); r.status != 404 || len(s.upstream.Requests())-before != 1 {
				t.Errorf("a 404: status %d, %d requests", r.status, len(s.upstream.Requests())-before)
			}
		}},
		{"retry around forward-request: a client cannot raise the count", envoyrun.Listener{PluginConfig: backendPolicy(`<retry condition="@(context.Response.StatusCode == 503)" count="1" interval="0">
      <forward-request />
    </retry>`)}, func(t *testing.T, s *stack) {
			before := len(s.upstream.Requests())
			s.upstream.FailNext(10, 503)
			defer s.upstream.FailNext(0, 0)
			h := map[string][]string{"x-envoy-max-retries": {"9"}, "x-envoy-retry-on": {"5xx,reset"}, "x-envoy-retriable-status-codes": {"404"}}
			if r := s.do(t, "GET", "/orders/r3", h, ""); r.status != 503 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if n := len(s.upstream.Requests()) - before; n != 2 {
				t.Errorf("%d requests reached the backend, want 2 (count 1)", n)
			}
		}},
		{"forward-request timeout: a backend slower than it gets 504", envoyrun.Listener{PluginConfig: backendPolicy(`<forward-request timeout-ms="300" />`)}, func(t *testing.T, s *stack) {
			s.upstream.Delay(3 * time.Second)
			defer s.upstream.Delay(0)
			if r := s.do(t, "GET", "/orders/slow", nil, ""); r.status != 504 || r.body != "upstream request timeout" {
				t.Fatalf("status %d %q", r.status, r.body)
			}
		}},
		{"wait: its calls are in flight together", envoyrun.Listener{PluginConfig: cfg(waitPolicy("all", "a", "b"))}, func(t *testing.T, s *stack) {
			// Each service holds its answer until it has seen the other's
			// call (at most 8 s): calls made one after the other would
			// answer "alone".
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 200 || r.body != "a met b, b met a" {
				t.Fatalf("status %d %q", r.status, r.body)
			}
		}},
		{"wait: answers of abandoned calls arrive after their requests", envoyrun.Listener{PluginConfig: cfg(waitPolicy("any", "a", "slow"))}, func(t *testing.T, s *stack) {
			const n = 20
			w.slowDone.Store(0)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					if r := s.do(t, "GET", "/orders", nil, ""); r.status != 200 || r.body != "a alone, none" {
						t.Errorf("status %d %q", r.status, r.body)
					}
				})
			}
			wg.Wait()
			// The slow service answers each call 2 s after it came; the
			// requests are long over by then.
			for deadline := time.Now().Add(60 * time.Second); w.slowDone.Load() < n && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			if got := w.slowDone.Load(); got != n {
				t.Fatalf("the slow service answered %d of %d calls", got, n)
			}
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 200 || r.body != "a alone, none" {
				t.Errorf("after the late answers: status %d %q", r.status, r.body)
			}
			if strings.Contains(s.envoy.Log(), "panic") || strings.Contains(s.envoy.Log(), "cannot resume") {
				t.Errorf("Envoy's log:\n%s", s.envoy.Log())
			}
		}},
		{"wait: a call that cannot be made ends the wait", envoyrun.Listener{PluginConfig: cfg(waitPolicy("all", "a", "nowhere"))}, func(t *testing.T, s *stack) {
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 500 || r.body != "send-request BackendConnectionFailure" {
				t.Fatalf("status %d %q", r.status, r.body)
			}
		}},
	})
}

// backendPolicy is a plugin configuration whose backend section is backend.
func backendPolicy(backend string) string {
	return "<policies><backend>\n    " + backend + "\n  </backend></policies>"
}

// waitPolicy waits (for all or any) on calls to two services, and answers
// with what each said ("none" for no answer).
func waitPolicy(mode, first, second string) string {
	call := func(name string) string {
		return `<send-request mode="new" response-variable-name="` + name + `" timeout="30" ignore-error="false">
      <set-url>http://` + name + `.contoso.com/` + name + `?other=` + map[string]string{first: second, second: first}[name] + `</set-url>
    </send-request>`
	}
	said := func(name string) string {
		return `(context.Variables.ContainsKey("` + name + `") ? ((IResponse)context.Variables["` + name + `"]).Body.As<string>() : "none")`
	}
	return `<policies><inbound>
  <wait for="` + mode + `">` + call(first) + call(second) + `</wait>
  <return-response>
    <set-status code="200" />
    <set-body>@(` + said(first) + ` + ", " + ` + said(second) + `)</set-body>
  </return-response>
</inbound>
<on-error>
  <return-response>
    <set-status code="500" />
    <set-body>@(context.LastError.Source + " " + context.LastError.Reason)</set-body>
  </return-response>
</on-error></policies>`
}

// waitServices stand in for the services a wait calls: /NAME?other=OTHER
// answers "NAME met OTHER" once OTHER's call has arrived too (or "NAME
// alone" after 8 s); /slow answers after 2 s.
type waitServices struct {
	port     int
	mu       sync.Mutex
	arrived  map[string]chan struct{}
	slowDone atomic.Int32
}

func startWaitServices(t *testing.T) *waitServices {
	w := &waitServices{arrived: map[string]chan struct{}{}}
	seen := func(name string) chan struct{} {
		w.mu.Lock()
		defer w.mu.Unlock()
		c, ok := w.arrived[name]
		if !ok {
			c = make(chan struct{})
			w.arrived[name] = c
		}
		return c
	}
	srv := http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "slow" {
			time.Sleep(2 * time.Second)
			io.WriteString(rw, "slow")
			w.slowDone.Add(1)
			return
		}
		other := r.URL.Query().Get("other")
		if other != "a" && other != "b" {
			io.WriteString(rw, name+" alone")
			return
		}
		me := seen(name)
		select {
		case <-me:
		default:
			close(me)
		}
		select {
		case <-seen(other):
			io.WriteString(rw, name+" met "+other)
		case <-time.After(8 * time.Second):
			io.WriteString(rw, name+" alone")
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return w
}
