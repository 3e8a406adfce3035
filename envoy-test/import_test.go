package envoytest

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/apiops"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
)

// serviceStandIn is a local HTTPS service that records the requests it
// gets and answers 200 with its own name.
type serviceStandIn struct {
	name string
	mu   sync.Mutex
	seen []*http.Request
}

func (s *serviceStandIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r)
	s.mu.Unlock()
	w.Header().Set("x-functions-key", "echoed-by-"+s.name)
	io.WriteString(w, s.name)
}

// last returns the last request it got, or nil.
func (s *serviceStandIn) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return nil
	}
	return s.seen[len(s.seen)-1]
}

func (s *serviceStandIn) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.seen) }

// TestImport_throughEnvoy imports internal/apiops/testdata/contoso (two APIs
// with OpenAPI 3 and Swagger 2 specifications, operation policies, a
// fragment, two products and a subscription, a backend, plain, secret and
// Key Vault named values) and runs the Envoy bootstrap it writes, as
// written, in a real Envoy: only the module's and certificates' paths, the
// ports and the services' addresses (-resolve) are the test's. Requests
// reach the right scopes (global, fragment, API, operation, product) and
// services; the secrets come from Envoy's environment.
func TestImport_throughEnvoy(t *testing.T) {
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	services := map[string]*serviceStandIn{}
	resolve := map[string]string{}
	for _, host := range []string{"orders.contoso.com", "payments.contoso.com", "payments-v2.contoso.com"} {
		s := &serviceStandIn{name: host}
		services[host] = s
		resolve[host] = "127.0.0.1:" + itoa(serveHTTPS(t, ca, host, s.serve))
	}
	tree, err := apiops.Read(filepath.Join(envoyrun.Root(), "internal", "apiops", "testdata", "contoso"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := apiops.Import(tree, apiops.Options{Resolve: resolve, CAFile: ca.caFile()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Loaded != res.Documents {
		t.Fatalf("%s\n%s", res.Summary(), res.Files["report.txt"])
	}
	// /etc/envoy/ as the bootstrap expects it: the module and the
	// listener's certificate.
	dir := t.TempDir()
	_, cert, key := ca.leaf("edge", "api.example.com")
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{wasm: "apimguard.wasm", cert: "tls/server.pem", key: "tls/server-key.pem"} {
		if err := os.Symlink(from, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	port, err := envoyrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := envoyrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/etc/envoy/", dir+"/", "port_value: 8443", "port_value: "+itoa(port), "port_value: 9901", "port_value: "+itoa(admin)).Replace(string(res.Files["envoy.yaml"]))
	e, err := envoyrun.Start(envoyBin, cfg, admin, port, envoyrun.StartOptions{Env: []string{
		"orders-api-key=orders-key-7f3a", "payments-function-key=fn-key-from-vault-91c2", "APIM_SUBSCRIPTION_KEY_GOLD_TEAM=gold-key-55e1-4b7d-a0c3"}})
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("envoy config:\n%s\nenvoy log:\n%s", cfg, e.Log())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: "api.example.com"}}}
	do := func(method, path string, h map[string]string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://127.0.0.1:"+itoa(port)+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	expect := func(what string, r *http.Request, path string, headers map[string]string) {
		t.Helper()
		if r == nil {
			t.Fatalf("%s: the service got nothing", what)
		}
		if r.URL.Path != path {
			t.Errorf("%s: the service got %s, want %s", what, r.URL.Path, path)
		}
		for k, v := range headers {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got, v)
			}
		}
	}
	orders, payments, paymentsV2 := services["orders.contoso.com"], services["payments.contoso.com"], services["payments-v2.contoso.com"]

	t.Run("global, fragment, API and operation scopes on orders", func(t *testing.T) {
		status, h, body := do("GET", "/orders/42", map[string]string{"x-api-key": "orders-key-7f3a"})
		if status != 200 || body != "orders.contoso.com" || h.Get("X-Served-By") != "contoso-edge" {
			t.Fatalf("%d %q %v", status, body, h)
		}
		r := orders.last()
		expect("GET /orders/42", r, "/api/42", map[string]string{"X-Gateway": "contoso-edge", "X-Api": "orders", "X-Operation": "get-order 42", "Host": ""})
		if r.Host != "orders.contoso.com" || r.Header.Get("X-Correlation-Id") == "" {
			t.Errorf("host %q, correlation id %q", r.Host, r.Header.Get("X-Correlation-Id"))
		}
		if status, _, _ := do("POST", "/orders", map[string]string{"x-api-key": "orders-key-7f3a"}); status != 200 {
			t.Fatalf("POST /orders: %d", status)
		}
		expect("POST /orders", orders.last(), "/api", map[string]string{"X-Operation": "create-order"})
	})

	t.Run("the API's key check refuses before the service", func(t *testing.T) {
		n := orders.count()
		if status, _, body := do("GET", "/orders/42", map[string]string{"x-api-key": "wrong"}); status != 401 || !strings.Contains(body, "Missing or wrong key") {
			t.Fatalf("%d %q", status, body)
		}
		if orders.count() != n {
			t.Error("the service got a request the API's policy refused")
		}
	})

	t.Run("product scope and the Key Vault secret on payments, set-backend-service on refund", func(t *testing.T) {
		if status, _, _ := do("GET", "/payments/7", nil); status != 401 {
			t.Fatalf("without a subscription key: %d", status)
		}
		if payments.count() != 0 {
			t.Fatal("the service got a request without a subscription key")
		}
		status, h, body := do("GET", "/payments/7", map[string]string{"Ocp-Apim-Subscription-Key": "gold-key-55e1-4b7d-a0c3"})
		if status != 200 || body != "payments.contoso.com" || h.Get("x-functions-key") != "" {
			t.Fatalf("%d %q x-functions-key %q", status, body, h.Get("x-functions-key"))
		}
		expect("GET /payments/7", payments.last(), "/7", map[string]string{"X-Product": "gold", "x-functions-key": "fn-key-from-vault-91c2"})
		if status, _, body := do("POST", "/payments/7/refund", map[string]string{"Ocp-Apim-Subscription-Key": "gold-key-55e1-4b7d-a0c3"}); status != 200 || body != "payments-v2.contoso.com" {
			t.Fatalf("refund: %d %q", status, body)
		}
		expect("POST /payments/7/refund", paymentsV2.last(), "/api/7/refund", map[string]string{"X-Product": "gold", "x-apimguard-backend": ""})
		// The gold subscription reaches orders too, with its product's policy.
		if status, _, _ := do("GET", "/orders/1", map[string]string{"x-api-key": "orders-key-7f3a", "Ocp-Apim-Subscription-Key": "gold-key-55e1-4b7d-a0c3"}); status != 200 {
			t.Fatalf("orders with the gold key: %d", status)
		}
		expect("GET /orders/1 (gold)", orders.last(), "/api/1", map[string]string{"X-Product": "gold"})
	})

	if strings.Contains(e.Log(), "fn-key-from-vault-91c2") || strings.Contains(cfg, "fn-key-from-vault-91c2") {
		t.Error("a secret is in Envoy's log or configuration")
	}
}

// TestImport_manifests reads the bootstrap and the Istio manifests the
// import writes into their real API types (unknown fields refused) and holds
// them to what the shipped ones promise: the hardened connection manager,
// TLS 1.2 or higher to every service, the decision in the access log, a
// WasmPlugin pinned by digest that never fails open with the secrets from
// the environment, a ServiceEntry and DestinationRule per host, and a
// plugin configuration the plugin reads and compiles.
func TestImport_manifests(t *testing.T) {
	tree, err := apiops.Read(filepath.Join(envoyrun.Root(), "internal", "apiops", "testdata", "contoso"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := apiops.Import(tree, apiops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := bootstrapFrom(t, "envoy.yaml", res.Files["envoy.yaml"])
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	hcm, w := plugin(t, b)
	checkHardened(t, hcm)
	if len(hcm.GetAccessLog()) != 1 {
		t.Error("no access log")
	}
	clusters := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = true
		var up tlsv3.UpstreamTlsContext
		anyInto(t, c.GetTransportSocket().GetTypedConfig(), &up)
		if up.GetSni() == "" || up.GetCommonTlsContext().GetTlsParams().GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 {
			t.Errorf("cluster %s: TLS 1.2 or higher with SNI, got %v", c.GetName(), &up)
		}
	}
	for _, want := range []string{"outbound|443||orders.contoso.com", "outbound|443||payments.contoso.com", "outbound|443||payments-v2.contoso.com"} {
		if !clusters[want] {
			t.Errorf("no cluster %s (have %v)", want, clusters)
		}
	}
	t.Setenv("orders-api-key", "k-0123456789")
	t.Setenv("payments-function-key", "f-0123456789")
	t.Setenv("APIM_SUBSCRIPTION_KEY_GOLD_TEAM", "gold-0123456789abcdef")
	compiles := func(where, cfg string) {
		t.Helper()
		c, err := pluginconfig.Parse([]byte(cfg))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		c.Counters = &policy.MemoryStore{}
		if _, err := c.Compile(noKeys{}, nil, time.Now, nil); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	compiles("envoy.yaml", wasmFilter(t, w))
	kinds := map[string]int{}
	for _, d := range manifestDocs(t, "istio.yaml", res.Files["istio.yaml"]) {
		kinds[d.kind]++
		switch d.kind {
		case "WasmPlugin":
			compiles("istio.yaml", wasmPlugin(t, d))
		case "EnvoyFilter":
			if hardened, _ := envoyFilter(t, d); !hardened {
				t.Error("the EnvoyFilter does not harden the connection manager")
			}
		case "ServiceEntry":
			var se networking.ServiceEntry
			if err := strict.Unmarshal(d.spec, &se); err != nil {
				t.Fatalf("not a ServiceEntry: %v", err)
			}
		case "DestinationRule":
			var dr networking.DestinationRule
			if err := strict.Unmarshal(d.spec, &dr); err != nil {
				t.Fatalf("not a DestinationRule: %v", err)
			}
			if tls := dr.GetTrafficPolicy().GetTls(); tls.GetMode() != networking.ClientTLSSettings_SIMPLE || tls.GetSni() != dr.GetHost() {
				t.Errorf("DestinationRule %s: mode %v sni %q", dr.GetHost(), tls.GetMode(), tls.GetSni())
			}
		case "VirtualService":
			var vs networking.VirtualService
			if err := strict.Unmarshal(d.spec, &vs); err != nil {
				t.Fatalf("not a VirtualService: %v", err)
			}
			if len(vs.GetHttp()) != 2 {
				t.Errorf("%d routes, want one per API (2)", len(vs.GetHttp()))
			}
		default:
			t.Errorf("unexpected %s", d.kind)
		}
	}
	if kinds["WasmPlugin"] != 1 || kinds["EnvoyFilter"] != 1 || kinds["ServiceEntry"] != 3 || kinds["DestinationRule"] != 3 || kinds["VirtualService"] != 1 {
		t.Errorf("istio.yaml holds %v", kinds)
	}
}
