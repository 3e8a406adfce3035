package envoytest

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// globalPolicy: 5 calls a minute by the x-client header under /limited, a
// quota of 3 an hour under /quota, both counted by Envoy's rate limit
// service.
const globalPolicy = `<policies>
  <inbound>
    <choose>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/limited&quot;))">
        <rate-limit-by-key calls="5" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
      </when>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/quota&quot;))">
        <quota-by-key calls="3" renewal-period="3600" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
      </when>
    </choose>
  </inbound>
</policies>`

// TestThrottling_globalTwoEnvoys: two Envoys count against one limit in
// Envoy's rate limit service (with Redis); with the service stopped, the
// one configured to deny answers 500, the one configured to allow lets rate
// limits through, quotas are denied by both; started again, the service is
// asked again without restarting anything, and the counts it kept hold.
func TestThrottling_globalTwoEnvoys(t *testing.T) {
	config := func(whenDown string) string {
		b, _ := json.Marshal(map[string]any{"policy": globalPolicy,
			"rateLimitService": map[string]any{"cluster": "ratelimit", "domain": "apimguard-test", "timeoutMs": 2000, "rateLimitsWhenDown": whenDown}})
		return string(b)
	}
	rules, err := envoyrun.RateLimitGenerate(config("deny"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rules, `value: "rate-limit-by-key/5/minute"`) || !strings.Contains(rules, `value: "quota-by-key/3/hour"`) {
		t.Fatalf("the generated rules:\n%s", rules)
	}
	svc, err := envoyrun.StartRateLimitService(rules)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(svc.Log)
			t.Logf("rate limit service's log:\n%s", b)
		}
		svc.Close()
	})
	proxies := make([]*stack, 2)
	for i, whenDown := range []string{"deny", "allow"} {
		proxies[i] = startStackWith(t, 0, envoyrun.StartOptions{}, envoyrun.Params{PluginConfig: config(whenDown),
			Clusters: []envoyrun.Cluster{{Name: "ratelimit", Port: svc.HTTPPort}}})
	}
	deny, allow := proxies[0], proxies[1]

	t.Run("one limit across both proxies", func(t *testing.T) {
		// The service's minute windows start on the minute: keep clear of
		// the next.
		if s := time.Now().Second(); s > 40 {
			time.Sleep(time.Duration(61-s) * time.Second)
		}
		var got []string
		for i := 0; i < 8; i++ {
			a := throttleGet(proxies[i%2], "/limited", "alice")
			got = append(got, fmt.Sprintf("%d/%s", a.status, a.retry))
			if a.status == 429 {
				if secs, err := strconv.Atoi(a.retry); err != nil || secs < 1 || secs > 60 ||
					a.body != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in `+a.retry+` seconds."}` {
					t.Errorf("429: Retry-After %q, body %s", a.retry, a.body)
				}
			}
		}
		if ok := strings.Count(strings.Join(got, " "), "200/"); ok != 5 || !strings.HasPrefix(got[5], "429/") || !strings.HasPrefix(got[7], "429/") {
			t.Fatalf("8 calls alternating between the proxies: %v, want 5 passed, then 429s", got)
		}
		for i := 0; i < 4; i++ {
			a := throttleGet(proxies[i%2], "/quota", "dave")
			want := 200
			if i == 3 {
				want = 403
			}
			if a.status != want {
				t.Fatalf("quota call %d: %d, want %d", i+1, a.status, want)
			}
		}
	})

	t.Run("the service stopped, then started again", func(t *testing.T) {
		svc.Stop()
		if a := throttleGet(deny, "/limited", "bob"); a.status != 500 || a.body != `{"statusCode":500,"message":"Internal server error"}` {
			t.Errorf("rateLimitsWhenDown deny: %d %s", a.status, a.body)
		}
		if a := throttleGet(allow, "/limited", "bob"); a.status != 200 {
			t.Errorf("rateLimitsWhenDown allow: %d", a.status)
		}
		for _, p := range proxies {
			if a := throttleGet(p, "/quota", "carol"); a.status != 500 {
				t.Errorf("a quota without the service: %d, want 500", a.status)
			}
		}
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		if a := throttleGet(deny, "/limited", "erin"); a.status != 200 {
			t.Errorf("after the service came back: %d", a.status)
		}
		// Its counts were in Redis: dave's quota is still used up.
		if a := throttleGet(allow, "/quota", "dave"); a.status != 403 {
			t.Errorf("dave's quota after the restart: %d, want 403", a.status)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if strings.Contains(deny.admin(t, "/stats?filter=rate_limit_service_failures"), "rate_limit_service_failures: ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failure counted: %s", deny.admin(t, "/stats?filter=apimguard"))
			}
		}
	})
}
