package envoytest

import (
	"strings"
	"testing"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// TestPolicies_throughEnvoy runs the tests that need nothing but their own
// plugin configuration in one Envoy, one listener each (runShared); the
// tests themselves sit in the files of their policies.
func TestPolicies_throughEnvoy(t *testing.T) {
	runShared(t, envoyrun.Params{Env: map[string]string{"api-key": apiKey, "big": strings.Repeat("b", 1024)}}, []listenerTest{
		{"check-header: the seed's example", envoyrun.Listener{PluginConfig: seedCheckHeader}, checkHeaderSeed},
		{"check-header: the JSON configuration with namedValues", envoyrun.Listener{PluginConfig: checkHeaderJSONConfig}, checkHeaderJSON},
		{"cors: the seed's example before authentication", envoyrun.Listener{PluginConfig: corsSeedPolicy}, corsSeed},
		{"ip-filter: real source addresses", envoyrun.Listener{PluginConfig: ipFilterPolicy}, ipFilterSourceAddress},
		{"check-ip: the seed's example behind a trusted proxy", envoyrun.Listener{PluginConfig: checkIPSeedXFFConfig(), BehindProxy: true}, checkIPSeedXFF},
		{"on-error: a failure in outbound", envoyrun.Listener{PluginConfig: outboundFailurePolicy}, outboundFailure},
		{"tls: the floor behind a plain listener", envoyrun.Listener{PluginConfig: tlsFloorPlain}, tlsFloorBehindPlainListener},
		{"tls: plain text allowed explicitly", envoyrun.Listener{PluginConfig: tlsFloorPlainAllowed}, tlsFloorPlainTextAllowed},
		{"trace: records in the log, rate-limited", envoyrun.Listener{PluginConfig: tracePolicy}, traceThroughEnvoy},
		{"emit-metric: labelled series, capped", envoyrun.Listener{PluginConfig: emitMetricPolicy}, emitMetricThroughEnvoy},
		{"find-and-replace: bodies bounded", envoyrun.Listener{PluginConfig: bodyPolicy}, bodyLimitsThroughEnvoy},
		{"expressions: loops and strings bounded", envoyrun.Listener{PluginConfig: expressionBudgetPolicy}, expressionBudgetThroughEnvoy},
		{"expressions: bodies read with the headers held, bounded", envoyrun.Listener{PluginConfig: messageBodyConfig()}, messageBodyThroughEnvoy},
		{"access log: the plugin's decision on every line", envoyrun.Listener{PluginConfig: accessLogConfig, AccessLog: true}, accessLogThroughEnvoy},
	})
}
