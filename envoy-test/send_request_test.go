package envoytest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
)

// introspectionPolicy is the corpus's send-request case file's policy
// (APIM's token introspection pattern), with a 1 s timeout and an on-error
// that names the failure, for what a case cannot check: what the service
// saw, and the timing of failures.
var introspectionPolicy = strings.Replace(strings.Replace(
	corpus.ExamplePolicy(envoyrun.Root(), "policies/send-request.yaml"),
	`timeout="5"`, `timeout="1"`, 1),
	"</inbound>", `</inbound>
  <on-error>
    <set-header name="x-error-reason" exists-action="override">
      <value>@(context.LastError.Source + "/" + context.LastError.Reason)</value>
    </set-header>
  </on-error>`, 1)

// introspector is a local RFC 7662 introspection service: "good" tokens are
// active, the rest inactive; tokens with "slow" in them are answered after
// 3 seconds. With
// cert it speaks TLS.
type introspector struct {
	srv  *http.Server
	port int
	mu   sync.Mutex
	seen []string
}

func startIntrospector(t testing.TB, cert *tls.Certificate) *introspector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil && cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	if err != nil {
		t.Fatal(err)
	}
	in := &introspector{port: ln.Addr().(*net.TCPAddr).Port}
	in.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		tok := form.Get("token")
		in.mu.Lock()
		in.seen = append(in.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+tok)
		in.mu.Unlock()
		if strings.Contains(tok, "slow") {
			time.Sleep(3 * time.Second)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"active": strings.HasPrefix(tok, "good")})
	})}
	go in.srv.Serve(ln)
	t.Cleanup(func() { in.srv.Close() })
	return in
}

// The corpus (examples/policies/send-request.yaml) shows the answers to an
// active and an inactive token; here what the service saw and how fast a
// slow or missing service fails closed.
func TestSendRequest_introspectionThroughEnvoy(t *testing.T) {
	ca := newTestCA(t)
	cert, _, _ := ca.leaf("introspection", "auth.example.com")
	in := startIntrospector(t, &cert)
	down, _ := envoyrun.FreePort() // nothing listens here
	cfg, _ := json.Marshal(map[string]any{"policy": introspectionPolicy, "upstreams": map[string]string{"auth.example.com": "introspection"}})
	cluster := func(port int) []envoyrun.Cluster {
		return []envoyrun.Cluster{{Name: "introspection", Port: port, CAFile: ca.caFile(), SNI: "auth.example.com"}}
	}
	s := startStack(t, envoyrun.Params{PluginConfig: string(cfg), Clusters: cluster(in.port)})

	t.Run("active token: upstream answers and gets the original body", func(t *testing.T) {
		r := s.do(t, "POST", "/orders", map[string][]string{"Authorization": {"Bearer good-1"}, "Content-Type": {"application/json"}}, `{"order":42}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		reqs := s.upstream.Requests()
		if last := reqs[len(reqs)-1]; last.Method != "POST" || last.Body != `{"order":42}` {
			t.Errorf("upstream got %s %q", last.Method, last.Body)
		}
		in.mu.Lock()
		seen := in.seen[len(in.seen)-1]
		in.mu.Unlock()
		if seen != "POST /introspect application/x-www-form-urlencoded good-1" {
			t.Errorf("introspection service saw %q", seen)
		}
	})
	t.Run("slower than the timeout: fails closed at the timeout", func(t *testing.T) {
		start := time.Now()
		r := s.do(t, "GET", "/orders", map[string][]string{"Authorization": {"Bearer slow-1"}}, "")
		took := time.Since(start)
		if r.status != 500 || r.body != `{"statusCode":500,"message":"Internal server error"}` {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		if took < 900*time.Millisecond || took > 2*time.Second {
			t.Errorf("answered after %v, want about the 1 s timeout", took)
		}
		if got := r.header.Get("x-error-reason"); got != "send-request/Timeout" {
			t.Errorf("LastError = %q, want send-request/Timeout", got)
		}
	})

	t.Run("a body that ends during the call is read by a policy after it", func(t *testing.T) {
		// The client's body is complete long before the 3-second answer:
		// no body callback comes after the call, so the plugin must have
		// kept it. Read without preserveContent, it is replaced.
		policy := strings.Replace(corpus.ExamplePolicy(envoyrun.Root(), "policies/send-request.yaml"), "</inbound>",
			`<set-body>@{ var o = context.Request.Body.As<JObject>(); o["checked"] = true; return o.ToString(Formatting.None); }</set-body></inbound>`, 1)
		cfg, _ := json.Marshal(map[string]any{"policy": policy, "upstreams": map[string]string{"auth.example.com": "introspection"}})
		s := startStack(t, envoyrun.Params{PluginConfig: string(cfg), Clusters: cluster(in.port)})
		before := len(s.upstream.Requests())
		r := s.do(t, "POST", "/orders", map[string][]string{"Authorization": {"Bearer good-slow-1"}, "Content-Type": {"application/json"}}, `{"order":42}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if got := s.upstream.Requests()[before:]; len(got) != 1 || got[0].Body != `{"order":42,"checked":true}` {
			t.Fatalf("the backend got %+v", got)
		}
		before = len(s.upstream.Requests())
		if r := s.do(t, "POST", "/orders", map[string][]string{"Authorization": {"Bearer good-slow-2"}}, strings.Repeat("x", 2<<20)); r.status != 413 {
			t.Errorf("2 MiB during the call: %d %.80q, want 413", r.status, r.body)
		}
		if n := len(s.upstream.Requests()) - before; n != 0 {
			t.Errorf("2 MiB during the call: the backend was reached %d times", n)
		}
	})

	t.Run("a body that ends during the call is changed by an edit after it", func(t *testing.T) {
		policy := strings.Replace(corpus.ExamplePolicy(envoyrun.Root(), "policies/send-request.yaml"), "</inbound>",
			`<find-and-replace from="42" to="43" /></inbound>`, 1)
		cfg, _ := json.Marshal(map[string]any{"policy": policy, "upstreams": map[string]string{"auth.example.com": "introspection"}})
		s := startStack(t, envoyrun.Params{PluginConfig: string(cfg), Clusters: cluster(in.port)})
		before := len(s.upstream.Requests())
		r := s.do(t, "POST", "/orders", map[string][]string{"Authorization": {"Bearer good-slow-3"}, "Content-Type": {"application/json"}}, `{"order":42}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if got := s.upstream.Requests()[before:]; len(got) != 1 || got[0].Body != `{"order":43}` {
			t.Fatalf("the backend got %+v", got)
		}
	})

	t.Run("service down: fails closed within the timeout", func(t *testing.T) {
		s := startStack(t, envoyrun.Params{PluginConfig: string(cfg), Clusters: cluster(down)})
		start := time.Now()
		r := s.do(t, "GET", "/orders", map[string][]string{"Authorization": {"Bearer good-2"}}, "")
		if r.status != 500 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("answered after %v, want within the 1 s timeout", took)
		}
		if got := r.header.Get("x-error-reason"); got != "send-request/BackendConnectionFailure" {
			t.Errorf("LastError = %q, want send-request/BackendConnectionFailure", got)
		}
	})
}

// A request that waited for signing keys and then makes a send-request
// call: the call is dispatched while the key fetch's answer resumes the
// request, and its answer must come back to the request (it hung before:
// the SDK filed the call under the plugin's context).
func TestSendRequest_afterKeyWaitThroughEnvoy(t *testing.T) {
	p := newIDP(t)
	p.addKey("k1")
	svc, err := envoyrun.StartUpstream("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	doc := "<policies>\n<inbound>\n" + seedValidateJWT + `
<send-request mode="new" response-variable-name="profile" timeout="5">
  <set-url>http://profiles.example.com/me</set-url>
</send-request>
<set-header name="x-profile-status" exists-action="override"><value>@(((IResponse)context.Variables["profile"]).StatusCode.ToString())</value></set-header>
</inbound>
</policies>`
	cfg, _ := json.Marshal(map[string]any{"policy": doc, "upstreams": map[string]string{"login.microsoftonline.com": "idp", "profiles.example.com": "profiles"}})
	st := startStack(t, envoyrun.Params{PluginConfig: string(cfg), Clusters: []envoyrun.Cluster{{Name: "idp", Port: p.port}, {Name: "profiles", Port: svc.Port()}}})
	p.start()
	// A token of a known key: no wait.
	if r := st.do(t, "GET", "/orders", bearer(p.token("k1", claims("my-api-audience"))), ""); r.status != 200 {
		t.Fatalf("first request: %d %q", r.status, r.body)
	}
	// The provider rotates: a token with the new kid makes the request
	// wait for a refetch, and the call is made while that fetch's answer
	// resumes it.
	p.addKey("k2")
	tok := p.token("k2", claims("my-api-audience"))
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", st.envoy.URL("/orders"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case status := <-done:
		reqs := st.upstream.Requests()
		if status != 200 || len(reqs) != 2 || reqs[1].Header.Get("x-profile-status") != "200" || len(svc.Requests()) != 2 {
			t.Fatalf("status %d; the profile service got %d calls", status, len(svc.Requests()))
		}
	case <-time.After(12 * time.Second):
		t.Fatal("the request hung")
	}
}
