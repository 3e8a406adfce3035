package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoytest"
)

// introspectionPolicy is APIM's token introspection pattern.
const introspectionPolicy = `<policies>
  <inbound>
    <send-request mode="new" response-variable-name="tokenstate" timeout="1" ignore-error="false">
      <set-url>http://introspect.example/introspect</set-url>
      <set-method>POST</set-method>
      <set-header name="Content-Type" exists-action="override">
        <value>application/x-www-form-urlencoded</value>
      </set-header>
      <set-body>@($"token={context.Request.Headers.GetValueOrDefault("Authorization","scheme param").Split(' ').Last()}")</set-body>
    </send-request>
    <choose>
      <when condition="@((bool)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["active"] == false)">
        <return-response>
          <set-status code="401" reason="Unauthorized" />
          <set-header name="WWW-Authenticate" exists-action="override">
            <value>Bearer error="invalid_token"</value>
          </set-header>
        </return-response>
      </when>
    </choose>
  </inbound>
  <on-error>
    <set-header name="x-error-reason" exists-action="override">
      <value>@(context.LastError.Source + "/" + context.LastError.Reason)</value>
    </set-header>
  </on-error>
</policies>`

// introspector is a local RFC 7662 introspection service: "good" tokens are
// active, "slow" ones answer after 3 seconds, the rest are inactive.
type introspector struct {
	srv  *http.Server
	port int
	mu   sync.Mutex
	seen []string
}

func startIntrospector(t testing.TB) *introspector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
		if strings.HasPrefix(tok, "slow") {
			time.Sleep(3 * time.Second)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"active": strings.HasPrefix(tok, "good")})
	})}
	go in.srv.Serve(ln)
	t.Cleanup(func() { in.srv.Close() })
	return in
}

func TestSendRequest_introspectionThroughEnvoy(t *testing.T) {
	in := startIntrospector(t)
	down, _ := envoytest.FreePort() // nothing listens here
	cfg := func(cluster string) string {
		b, _ := json.Marshal(map[string]any{"policy": introspectionPolicy, "upstreams": map[string]string{"introspect.example": cluster}})
		return string(b)
	}
	s := startStack(t, envoytest.Params{PluginConfig: cfg("introspection"), Clusters: []envoytest.Cluster{{Name: "introspection", Port: in.port}}})

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
	t.Run("inactive token: 401 with WWW-Authenticate", func(t *testing.T) {
		before := len(s.upstream.Requests())
		r := s.do(t, "POST", "/orders", map[string][]string{"Authorization": {"Bearer revoked-7"}}, `{}`)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Fatalf("got %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		if len(s.upstream.Requests()) != before {
			t.Error("the upstream was called")
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

	t.Run("service down: fails closed within the timeout", func(t *testing.T) {
		s := startStack(t, envoytest.Params{PluginConfig: cfg("introspection"), Clusters: []envoytest.Cluster{{Name: "introspection", Port: down}}})
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
	svc, err := envoytest.StartUpstream("127.0.0.1:0")
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
	st := startStack(t, envoytest.Params{PluginConfig: string(cfg), Clusters: []envoytest.Cluster{{Name: "idp", Port: p.port}, {Name: "profiles", Port: svc.Port()}}})
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
