package envoytest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/policy"
)

// tokenSource is a local stand-in for a managed identity's token endpoint
// (IMDS, App Service's identity endpoint, an OAuth 2.0 token endpoint):
// it counts its hits, records the last request, and answers as its mode
// says.
type tokenSource struct {
	mu       sync.Mutex
	hits     int
	mode     string // "ok", "slow", "fail", "garbage"
	lifetime int    // seconds, for "ok"
	delay    time.Duration
	last     *http.Request
	form     url.Values
	port     int
}

func startTokenSource(t *testing.T, cert *tls.Certificate) *tokenSource {
	t.Helper()
	s := &tokenSource{mode: "ok", lifetime: 3600}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.port = ln.Addr().(*net.TCPAddr).Port
	return s
}

func (s *tokenSource) serve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	s.hits++
	n, mode, life, delay := s.hits, s.mode, s.lifetime, s.delay
	s.last, s.form = r, r.PostForm
	s.mu.Unlock()
	time.Sleep(delay)
	switch mode {
	case "slow":
		time.Sleep(8 * time.Second) // past the plugin's 5 s fetch timeout
	case "fail":
		http.Error(w, `{"error":"invalid_request","error_description":"Identity not found"}`, 400)
		return
	case "garbage":
		io.WriteString(w, `{"access_token":"evil\r\nx-injected: 1","expires_in":3600}`)
		return
	}
	fmt.Fprintf(w, `{"access_token":"mi-token-%d.sig","expires_in":"%d","token_type":"Bearer","resource":%q}`, n, life, r.FormValue("resource"))
}

func (s *tokenSource) set(mode string) { s.mu.Lock(); s.mode = mode; s.mu.Unlock() }
func (s *tokenSource) count() int      { s.mu.Lock(); defer s.mu.Unlock(); return s.hits }

// miStack starts Envoy with an authentication-managed-identity policy and
// an IMDS token source.
func miStack(t *testing.T, src *tokenSource, opt envoyrun.StartOptions, policyXML string) *stack {
	cfg := `{"policy": ` + policy.JSONString(policyXML) + `, "managedIdentity": {"source": "imds"}, "upstreams": {"169.254.169.254": "imds"}}`
	return startStackWith(t, 0, opt, envoyrun.Params{PluginConfig: cfg, Clusters: []envoyrun.Cluster{{Name: "imds", Port: src.port}}})
}

const miPolicy = `<policies><inbound>
  <authentication-managed-identity resource="https://orders.contoso.com" client-id="uami-orders" />
</inbound></policies>`

// The backend receives the managed identity's token on the first request
// and on later ones, in place of the client's Authorization; the token
// source (IMDS) is asked once, with Metadata: true, the resource and the
// client id; the token is in no log line and no response.
func TestManagedIdentity_imdsThroughEnvoy(t *testing.T) {
	src := startTokenSource(t, nil)
	st := miStack(t, src, envoyrun.StartOptions{}, miPolicy)
	for i := 0; i < 3; i++ {
		r := st.do(t, "GET", "/orders", map[string][]string{"Authorization": {"Bearer client-token"}}, "")
		if r.status != 200 || strings.Contains(r.body, "mi-token") {
			t.Fatalf("request %d: %d %q", i, r.status, r.body)
		}
		reqs := st.upstream.Requests()
		if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer mi-token-1.sig" {
			t.Fatalf("request %d: the backend got Authorization %q", i, got)
		}
	}
	if n := src.count(); n != 1 {
		t.Errorf("the token source was asked %d times, want 1", n)
	}
	q := src.last.URL.Query()
	if src.last.Header.Get("Metadata") != "true" || q.Get("resource") != "https://orders.contoso.com" || q.Get("client_id") != "uami-orders" || q.Get("api-version") != "2018-02-01" {
		t.Errorf("token request %s %v", src.last.URL, src.last.Header)
	}
	if strings.Contains(st.envoy.Log(), "mi-token-") {
		t.Error("the token is in Envoy's log")
	}
	if !st.logged(`managed identity: token for https://orders.contoso.com fetched`) {
		t.Error("no log line for the fetch")
	}
	var m map[string]string
	for i := 0; i < 20; i++ { // the counts reach Envoy on the plugin's tick
		if m = prometheus(t, st); m[`apimguard_token_fetches{outcome="success"}`] == "1" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := m[`apimguard_token_fetches{outcome="success"}`]; got != "1" {
		t.Errorf(`apimguard_token_fetches{outcome="success"} = %q, want 1`, got)
	}
}

// Two workers: however many requests arrive on both at once, the token
// source is asked once per refresh window in total (a lease in shared data
// picks the worker that fetches; the other takes the shared token).
func TestManagedIdentity_twoWorkersThroughEnvoy(t *testing.T) {
	src := startTokenSource(t, nil)
	src.lifetime, src.delay = 64, 300*time.Millisecond // refreshed 32 s after the fetch
	st := miStack(t, src, envoyrun.StartOptions{Concurrency: 2}, miPolicy)
	burst := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				resp, err := c.Get(st.envoy.URL("/orders"))
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- resp.Status
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("a request failed: %s", e)
		}
	}
	burst(20)
	if w := workerConnections(t, st); len(w) != 2 || w[0] == 0 || w[1] == 0 {
		t.Fatalf("connections per worker %v: the test needs both workers", w)
	}
	if n := src.count(); n != 1 {
		t.Fatalf("first window: the token source was asked %d times, want 1", n)
	}
	// Keep both workers using the token past its refresh time.
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) && src.count() < 2 {
		burst(4)
		time.Sleep(500 * time.Millisecond)
	}
	// Until the refresh's answer arrives (and, on the other worker, until
	// its next tick takes the shared token) the current token, still
	// valid, is used; then every request on both workers has the new one.
	time.Sleep(1500 * time.Millisecond)
	before, w0 := len(st.upstream.Requests()), workerConnections(t, st)
	burst(20)
	if n := src.count(); n != 2 {
		t.Fatalf("after one refresh window: the token source was asked %d times, want 2", n)
	}
	for _, r := range st.upstream.Requests()[before:] {
		if got := r.Header.Get("Authorization"); got != "Bearer mi-token-2.sig" {
			t.Fatalf("after the refresh the backend got %q", got)
		}
	}
	if w := workerConnections(t, st); len(w) != 2 || len(w0) != 2 || w[0] == w0[0] || w[1] == w0[1] {
		t.Fatalf("connections per worker %v → %v: the last burst did not reach both workers", w0, w)
	}
}

// A slow, failing or garbage-answering token source gets the fixed 500 and
// the request never reaches the backend without the token; ignore-error
// lets it through without the client's Authorization; when the source
// recovers, so does the gateway, without a restart.
func TestManagedIdentity_failuresThroughEnvoy(t *testing.T) {
	src := startTokenSource(t, nil)
	st := miStack(t, src, envoyrun.StartOptions{}, `<policies><inbound>
  <choose>
    <when condition="@(context.Request.Url.Path.StartsWith("/optional"))">
      <authentication-managed-identity resource="https://optional.contoso.com" ignore-error="true" />
    </when>
    <otherwise>
      <authentication-managed-identity resource="https://orders.contoso.com" />
    </otherwise>
  </choose>
</inbound></policies>`)
	for _, mode := range []string{"fail", "garbage", "slow"} {
		src.set(mode)
		time.Sleep(2100 * time.Millisecond) // past the retry delay of the last failure
		before := len(st.upstream.Requests())
		r := st.do(t, "GET", "/orders", map[string][]string{"Authorization": {"Bearer client-token"}}, "")
		if r.status != 500 || r.body != policy.InternalErrorBody {
			t.Errorf("%s: %d %q, want 500 %s", mode, r.status, r.body, policy.InternalErrorBody)
		}
		if n := len(st.upstream.Requests()); n != before {
			t.Errorf("%s: the request reached the backend", mode)
		}
		r = st.do(t, "GET", "/optional", map[string][]string{"Authorization": {"Bearer client-token"}}, "")
		reqs := st.upstream.Requests()
		if r.status != 200 || reqs[len(reqs)-1].Header.Get("Authorization") != "" {
			t.Errorf("%s, ignore-error: %d, backend Authorization %q", mode, r.status, reqs[len(reqs)-1].Header.Get("Authorization"))
		}
	}
	src.set("ok")
	var r response
	for i := 0; i < 30; i++ {
		if r = st.do(t, "GET", "/orders", nil, ""); r.status == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	reqs := st.upstream.Requests()
	if r.status != 200 || !strings.HasPrefix(reqs[len(reqs)-1].Header.Get("Authorization"), "Bearer mi-token-") {
		t.Fatalf("after the source recovered: %d", r.status)
	}
	log := st.envoy.Log()
	for _, secret := range []string{"mi-token-", "evil", "Identity not found"} {
		if strings.Contains(log, secret) {
			t.Errorf("Envoy's log holds %q", secret)
		}
	}
	if !st.logged(`"reason":"ManagedIdentityTokenUnavailable"`) {
		t.Error("no security event for the missing token")
	}
}

// App Service and Container Apps: the endpoint and the X-IDENTITY-HEADER
// secret come from the VM's environment (IDENTITY_ENDPOINT,
// IDENTITY_HEADER), as the platform sets them. A token endpoint reached
// over TLS with client credentials (off Azure) works the same way, inside
// send-request too.
func TestManagedIdentity_appServiceAndClientCredentialsThroughEnvoy(t *testing.T) {
	t.Run("app service", func(t *testing.T) {
		src := startTokenSource(t, nil)
		cfg := `{"policy": ` + policy.JSONString(miPolicy) + `, "managedIdentity": {"source": "appService", "identityHeader": "{{IDENTITY_HEADER}}"}, "upstreams": {"localhost:` + itoa(src.port) + `": "identity"}}`
		st := startStack(t, envoyrun.Params{PluginConfig: cfg, Clusters: []envoyrun.Cluster{{Name: "identity", Port: src.port}},
			Env: map[string]string{"IDENTITY_ENDPOINT": "http://localhost:" + itoa(src.port) + "/msi/token", "IDENTITY_HEADER": "app-service-secret"}})
		if r := st.do(t, "GET", "/orders", nil, ""); r.status != 200 {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if h, q := src.last.Header.Get("X-Identity-Header"), src.last.URL.Query(); h != "app-service-secret" || q.Get("api-version") != "2019-08-01" || src.last.URL.Path != "/msi/token" || q.Get("client_id") != "uami-orders" {
			t.Errorf("token request %s, X-IDENTITY-HEADER %q", src.last.URL, h)
		}
		if strings.Contains(st.envoy.Log(), "app-service-secret") {
			t.Error("the identity header secret is in Envoy's log")
		}
	})
	t.Run("client credentials over TLS, in send-request", func(t *testing.T) {
		ca := newTestCA(t)
		cert, _, _ := ca.leaf("idp", "login.example.com")
		src := startTokenSource(t, &cert)
		vault, err := envoyrun.StartUpstream("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { vault.Close() })
		doc := `<policies><inbound>
  <send-request mode="new" response-variable-name="secret" timeout="5">
    <set-url>http://vault.example.com/secrets/db</set-url>
    <authentication-managed-identity resource="api://vault" />
  </send-request>
  <set-header name="x-vault-status" exists-action="override"><value>@(((IResponse)context.Variables["secret"]).StatusCode.ToString())</value></set-header>
</inbound></policies>`
		cfg := `{"policy": ` + policy.JSONString(doc) + `,
  "managedIdentity": {"source": "clientCredentials", "endpoint": "https://login.example.com/tenant/oauth2/v2.0/token", "clientId": "orders-gateway", "clientSecret": "{{MI_CLIENT_SECRET}}"},
  "upstreams": {"login.example.com": "idp", "vault.example.com": "vault"}}`
		st := startStack(t, envoyrun.Params{PluginConfig: cfg, Env: map[string]string{"MI_CLIENT_SECRET": "cc-secret-value"},
			Clusters: []envoyrun.Cluster{{Name: "idp", Port: src.port, CAFile: ca.caFile(), SNI: "login.example.com"}, {Name: "vault", Port: vault.Port()}}})
		r := st.do(t, "GET", "/orders", map[string][]string{"Authorization": {"Bearer client-token"}}, "")
		if r.status != 200 {
			t.Fatalf("%d %q", r.status, r.body)
		}
		calls := vault.Requests()
		if len(calls) != 1 || calls[0].Header.Get("Authorization") != "Bearer mi-token-1.sig" {
			t.Fatalf("the vault got %+v", calls)
		}
		up := st.upstream.Requests()
		if got := up[len(up)-1].Header; got.Get("Authorization") != "Bearer client-token" || got.Get("x-vault-status") != "200" {
			t.Errorf("the backend got %v", got)
		}
		if src.last.Method != "POST" || src.form.Get("grant_type") != "client_credentials" || src.form.Get("client_id") != "orders-gateway" || src.form.Get("client_secret") != "cc-secret-value" || src.form.Get("scope") != "api://vault/.default" {
			t.Errorf("token request %s %v", src.last.Method, src.form)
		}
		if strings.Contains(st.envoy.Log(), "cc-secret-value") || strings.Contains(st.envoy.Log(), "mi-token-") {
			t.Error("a secret is in Envoy's log")
		}
	})
}
