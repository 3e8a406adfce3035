package e2e

import (
	"testing"

	"github.com/apimguard/apimguard/envoy-test/internal/envoytest"
)

// TestPolicies_throughEnvoy runs the tests that need nothing but their own
// plugin configuration in one Envoy, one listener each (runShared); the
// tests themselves sit in the files of their policies.
func TestPolicies_throughEnvoy(t *testing.T) {
	runShared(t, envoytest.Params{Env: map[string]string{"api-key": apiKey}}, []listenerTest{
		{"check-header: the seed's example", envoytest.Listener{PluginConfig: seedCheckHeader}, checkHeaderSeed},
		{"check-header: the JSON configuration with namedValues", envoytest.Listener{PluginConfig: checkHeaderJSONConfig}, checkHeaderJSON},
		{"cors: the seed's example before authentication", envoytest.Listener{PluginConfig: corsSeedPolicy}, corsSeed},
		{"ip-filter: real source addresses", envoytest.Listener{PluginConfig: ipFilterPolicy}, ipFilterSourceAddress},
		{"check-ip: the seed's example behind a trusted proxy", envoytest.Listener{PluginConfig: checkIPSeedXFFConfig(), BehindProxy: true}, checkIPSeedXFF},
		{"on-error: a failure in outbound", envoytest.Listener{PluginConfig: outboundFailurePolicy}, outboundFailure},
		{"tls: the floor behind a plain listener", envoytest.Listener{PluginConfig: tlsFloorPlain}, tlsFloorBehindPlainListener},
		{"tls: plain text allowed explicitly", envoytest.Listener{PluginConfig: tlsFloorPlainAllowed}, tlsFloorPlainTextAllowed},
	})
}
