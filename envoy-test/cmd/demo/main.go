// Command demo is `make run`: a real Envoy enforcing every example of the
// seed document at once (cors, check-ip, check-header and validate-jwt
// against an OpenID provider the demo starts) with the built module, in
// front of a small local upstream. It prints ready-to-paste curl lines, with
// freshly minted tokens, that show each policy allowing and refusing, and
// stops everything on Ctrl-C. envoy-test's TestDemo runs the printed lines.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

func main() {
	port := flag.Int("port", 10000, "Envoy listener port")
	admin := flag.Int("admin-port", 9901, "Envoy admin port")
	upPort := flag.Int("upstream-port", 10001, "local upstream port")
	key := flag.String("key", "demo-key-123", "the API key check-header accepts (the named value API_KEY)")
	flag.Parse()
	if err := run(*port, *admin, *upPort, *key); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(port, admin, upPort int, apiKey string) error {
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		return err
	}
	policy, cfg, err := pluginConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "apimguard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	provider, err := startIdP(dir)
	if err != nil {
		return fmt.Errorf("starting the identity provider: %w", err)
	}
	defer provider.Close()
	good, err := token(provider.key, audience)
	if err != nil {
		return err
	}
	other, err := token(provider.key, "someone-else")
	if err != nil {
		return err
	}
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	forged, err := token(attacker, audience)
	if err != nil {
		return err
	}
	up, err := envoyrun.StartUpstream(fmt.Sprintf("127.0.0.1:%d", upPort))
	if err != nil {
		return fmt.Errorf("starting the upstream: %w", err)
	}
	defer up.Close()
	envoyCfg, err := envoyrun.Render("apimguard.yaml", envoyrun.Params{
		ListenerPort: port, AdminPort: admin, UpstreamPort: upPort,
		WasmPath: wasm, PluginConfig: cfg, HostEnvKeys: []string{"API_KEY"},
		// X-Forwarded-For as received: the plugin's clientIp takes its
		// last entry (pluginConfig).
		BehindProxy: true,
		Clusters:    []envoyrun.Cluster{{Name: idpName, Port: provider.port, CAFile: provider.caFile, SNI: idpHost}},
	})
	if err != nil {
		return err
	}
	e, err := envoyrun.Start(envoyBin, envoyCfg, admin, port, envoyrun.StartOptions{Env: []string{"API_KEY=" + apiKey}})
	if err != nil {
		if e != nil {
			fmt.Fprintln(os.Stderr, e.Log())
		}
		return err
	}
	defer e.Stop()
	fmt.Printf(`
apimguard is enforcing every example of the seed on http://127.0.0.1:%[1]d
  upstream             http://127.0.0.1:%[2]d
  identity provider    https://127.0.0.1:%[3]d, standing in for %[4]s (Envoy trusts the demo's CA for that name)
  Envoy admin          http://127.0.0.1:%[5]d  (/stats/prometheus has apimguard_requests, apimguard_denied, ...)
  Envoy configuration  %[6]s

Policy (each element verbatim from the seed; allowedKey is the named value API_KEY):
%[7]s

with "upstreams": {"%[4]s": "%[12]s"} (the cluster of the discovery and key
requests) and "clientIp": {"xffTrustedHops": 1} (the caller is the last X-Forwarded-For entry).

Try these in a shell (the tokens are valid for an hour; X-Forwarded-For plays the
caller's address, as a load balancer in front would write it):

  TOKEN=%[8]s
  OTHER_AUDIENCE_TOKEN=%[9]s
  FORGED_TOKEN=%[10]s

%[11]s
Every refusal is a security event on Envoy's log and counted in apimguard_denied.
Ctrl-C stops Envoy, the identity provider and the upstream.
`, port, upPort, provider.port, idpHost, admin, e.Config, policy, good, other, forged, curlLines(port, tries(apiKey)), idpName)
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
