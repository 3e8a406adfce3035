// Command demo is `make run`: it starts a small local upstream and a real
// Envoy that enforces the seed's check-header example with the built module,
// prints curl commands to try, and stops both on Ctrl-C.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/apimguard/apimguard/envoy-test/internal/envoytest"
	"github.com/apimguard/apimguard/internal/corpus"
)

// seedPolicy is the seed's check-header example, verbatim from the corpus's
// copy of the seed; the key comes from the named value API_KEY, which Envoy
// hands to the VM from its own environment.
func seedPolicy() (string, error) {
	block, err := corpus.SeedBlock(envoytest.Root(), "check-header")
	if err != nil {
		return "", err
	}
	return "<policies>\n  <inbound>\n    <set-variable name=\"allowedKey\" value=\"{{API_KEY}}\" />\n" + block + "\n  </inbound>\n</policies>", nil
}

func main() {
	port := flag.Int("port", 10000, "Envoy listener port")
	admin := flag.Int("admin-port", 9901, "Envoy admin port")
	upPort := flag.Int("upstream-port", 10001, "local upstream port")
	key := flag.String("key", "demo-key-123", "the API key the policy accepts")
	flag.Parse()
	if err := run(*port, *admin, *upPort, *key); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(port, admin, upPort int, key string) error {
	envoyBin, wasm, err := envoytest.Paths()
	if err != nil {
		return err
	}
	policy, err := seedPolicy()
	if err != nil {
		return err
	}
	up, err := envoytest.StartUpstream(fmt.Sprintf("127.0.0.1:%d", upPort))
	if err != nil {
		return fmt.Errorf("starting the upstream: %w", err)
	}
	defer up.Close()
	cfg, err := envoytest.Render("apimguard.yaml", envoytest.Params{
		ListenerPort: port, AdminPort: admin, UpstreamPort: upPort,
		WasmPath: wasm, PluginConfig: policy, HostEnvKeys: []string{"API_KEY"},
	})
	if err != nil {
		return err
	}
	e, err := envoytest.Start(envoyBin, cfg, admin, port, envoytest.StartOptions{Env: []string{"API_KEY=" + key}})
	if err != nil {
		if e != nil {
			fmt.Fprintln(os.Stderr, e.Log())
		}
		return err
	}
	defer e.Stop()
	fmt.Printf(`
apimguard is enforcing the seed's check-header example on http://127.0.0.1:%[1]d
(upstream 127.0.0.1:%[2]d, Envoy admin http://127.0.0.1:%[3]d, config %[4]s)

Policy:
%[5]s

Try:
  curl -i -H 'x-api-key: %[6]s' http://127.0.0.1:%[1]d/orders/42    # 200 from the upstream
  curl -i -H 'x-api-key: wrong' http://127.0.0.1:%[1]d/orders/42           # 403 {"statusCode":403,...}
  curl -i http://127.0.0.1:%[1]d/orders/42                                 # 403, no key

Ctrl-C stops Envoy and the upstream.
`, port, upPort, admin, e.Config, policy, key)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
		fmt.Println("\nstopping")
	case <-e.Done():
		return fmt.Errorf("envoy exited:\n%s", e.Log())
	}
	return nil
}
