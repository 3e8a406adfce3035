package envoytest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// rateLimitService is Envoy's rate limit service (make ratelimit builds it)
// in front of a Redis of its own, both on free loopback ports.
type rateLimitService struct {
	bin, dir  string
	env       []string
	httpPort  int
	cmd       *exec.Cmd
	log       *os.File
	redis     *exec.Cmd
	redisPort int
}

func startRateLimitService(t *testing.T, rulesYAML string) *rateLimitService {
	t.Helper()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run make ratelimit (Debian's redis-server)")
	}
	s := &rateLimitService{bin: filepath.Join(envoyrun.Root(), ".tools", "bin", "ratelimit"), dir: t.TempDir()}
	if _, err := os.Stat(s.bin); err != nil {
		t.Fatalf("%s is missing: run make ratelimit (it builds Envoy's rate limit service)", s.bin)
	}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = envoyrun.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	s.redisPort, s.httpPort = ports[0], ports[1]
	s.redis = exec.Command(redisBin, "--port", strconv.Itoa(s.redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := s.redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.redis.Process.Kill(); s.redis.Wait() })
	waitFor(t, "redis", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.redisPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	config := filepath.Join(s.dir, "runtime", "ratelimit", "config")
	if err := os.MkdirAll(config, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "apimguard.yaml"), []byte(rulesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(), "USE_STATSD=false", "LOG_LEVEL=warn", "REDIS_SOCKET_TYPE=tcp", "REDIS_URL=127.0.0.1:"+strconv.Itoa(s.redisPort),
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(s.httpPort), "GRPC_HOST=127.0.0.1", "GRPC_PORT="+strconv.Itoa(ports[2]),
		"DEBUG_HOST=127.0.0.1", "DEBUG_PORT="+strconv.Itoa(ports[3]),
		"RUNTIME_ROOT="+filepath.Join(s.dir, "runtime"), "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true")
	s.start(t)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.log.Name())
			t.Logf("rate limit service's log:\n%s", b)
		}
	})
	return s
}

func (s *rateLimitService) start(t *testing.T) {
	t.Helper()
	var err error
	if s.log, err = os.CreateTemp(s.dir, "ratelimit-*.log"); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(s.bin)
	s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = s.env, s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rate limit service", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(s.httpPort) + "/healthcheck")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

func (s *rateLimitService) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// waitFor polls ready for up to a minute (a busy machine starts processes
// slowly).
func waitFor(t *testing.T, what string, ready func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within a minute", what)
		}
	}
}

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
	file := filepath.Join(t.TempDir(), "plugin.json")
	if err := os.WriteFile(file, []byte(config("deny")), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := exec.Command("go", "run", "./cmd/apimguard", "ratelimit-config", file)
	gen.Dir = envoyrun.Root()
	rules, err := gen.Output()
	if err != nil {
		t.Fatalf("apimguard ratelimit-config: %v", err)
	}
	if !strings.Contains(string(rules), `value: "rate-limit-by-key/5/minute"`) || !strings.Contains(string(rules), `value: "quota-by-key/3/hour"`) {
		t.Fatalf("the generated rules:\n%s", rules)
	}
	svc := startRateLimitService(t, string(rules))
	proxies := make([]*stack, 2)
	for i, whenDown := range []string{"deny", "allow"} {
		proxies[i] = startStackWith(t, 0, envoyrun.StartOptions{}, envoyrun.Params{PluginConfig: config(whenDown),
			Clusters: []envoyrun.Cluster{{Name: "ratelimit", Port: svc.httpPort}}})
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
		svc.stop()
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
		svc.start(t)
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
