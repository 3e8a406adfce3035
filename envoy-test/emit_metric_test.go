package envoytest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// emitMetricPolicy counts requests per API and client, as APIM users
// write it.
const emitMetricPolicy = `{"policy": "<policies><inbound><emit-metric name=\"Requests\" value=\"@(2)\" namespace=\"orders\"><dimension name=\"API ID\" /><dimension name=\"Client\" value=\"@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;none&quot;))\" /></emit-metric></inbound></policies>",
  "apis": [{"name": "orders", "pathPrefix": "/orders"}]}`

// emitMetricThroughEnvoy: the records reach /stats/prometheus with the
// metric and its dimensions as labels; a client that makes up a new
// dimension value per request stops adding series at the cap.
func emitMetricThroughEnvoy(t *testing.T, s *stack) {
	for i := 0; i < 3; i++ {
		s.do(t, "GET", "/orders/1", map[string][]string{"x-client": {"web.app"}}, "")
	}
	want := `apimguard_custom{metric="Requests",dimensions="API_ID=orders;Client=web_app"} 6`
	waitForStat(t, s, want)
	for i := 0; i < 1010; i++ {
		s.do(t, "GET", "/orders/1", map[string][]string{"x-client": {"c" + strconv.Itoa(i)}}, "")
	}
	waitForStat(t, s, `apimguard_custom_metric_series_dropped{} 11`)
}

// waitForStat waits for a line of /stats/prometheus: the plugin hands its
// counts to Envoy on its tick.
func waitForStat(t *testing.T, s *stack, line string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		page := s.admin(t, "/stats/prometheus")
		if strings.Contains(page, line) {
			return
		}
		if time.Now().After(deadline) {
			var custom []string
			for _, l := range strings.Split(page, "\n") {
				if strings.Contains(l, "apimguard_custom") && len(custom) < 10 {
					custom = append(custom, l)
				}
			}
			t.Fatalf("no %q in /stats/prometheus; custom lines: %s", line, strings.Join(custom, "\n"))
		}
	}
}
