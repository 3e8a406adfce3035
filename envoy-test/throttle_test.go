package envoytest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// throttlePolicy limits by the x-client header: 20 calls per 5 minutes
// under /limited, 1 under /flood, 4 per 8 s under /renewing, a quota of 3
// under /quota, and 2 requests at once to the backend under /slow. The
// long windows keep the counts exact on a slow machine: a token comes back
// every 15 s under /limited, every 300 s under /flood.
const throttlePolicy = `<policies>
  <inbound>
    <choose>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/limited&quot;))">
        <rate-limit-by-key calls="20" renewal-period="300" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" remaining-calls-header-name="x-ratelimit-remaining" />
      </when>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/flood&quot;))">
        <rate-limit-by-key calls="1" renewal-period="300" counter-key="@(&quot;flood-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
      </when>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/renewing&quot;))">
        <rate-limit-by-key calls="4" renewal-period="8" counter-key="@(&quot;renewing-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
      </when>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/bandwidth&quot;))">
        <quota-by-key bandwidth="2" renewal-period="300" counter-key="@(&quot;bandwidth-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
      </when>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/quota&quot;))">
        <quota-by-key calls="3" renewal-period="300" counter-key="@(&quot;quota-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
      </when>
    </choose>
  </inbound>
  <backend>
    <choose>
      <when condition="@(context.Request.Url.Path.StartsWith(&quot;/slow&quot;))">
        <limit-concurrency key="slow-backend" max-count="2">
          <forward-request timeout="30" />
        </limit-concurrency>
      </when>
      <otherwise>
        <forward-request />
      </otherwise>
    </choose>
  </backend>
</policies>`

// throttleAnswer is what a client got.
type throttleAnswer struct {
	status          int
	retry, left     string
	body            string
	elapsed         time.Duration
	transportFailed bool
}

// throttleGet sends one request on a new connection (so that requests
// spread over Envoy's workers); safe from any goroutine.
func throttleGet(s *stack, path, clientKey string) throttleAnswer {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", s.envoy.URL(path), nil)
	req.Header.Set("x-client", clientKey)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return throttleAnswer{transportFailed: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return throttleAnswer{transportFailed: true}
	}
	return throttleAnswer{status: resp.StatusCode, retry: resp.Header.Get("Retry-After"), left: resp.Header.Get("x-ratelimit-remaining"),
		body: string(b), elapsed: time.Since(start)}
}

// throttleMany sends n requests at once.
func throttleMany(s *stack, n int, path, clientKey string) []throttleAnswer {
	out := make([]throttleAnswer, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = throttleGet(s, path, clientKey)
		}()
	}
	wg.Wait()
	return out
}

func countStatus(as []throttleAnswer, status int) int {
	n := 0
	for _, a := range as {
		if a.status == status {
			n++
		}
	}
	return n
}

// TestThrottling_twoWorkersThroughEnvoy: the throttling elements in an
// Envoy with two workers, counting in its shared data.
func TestThrottling_twoWorkersThroughEnvoy(t *testing.T) {
	cfg, _ := json.Marshal(map[string]any{"policy": throttlePolicy})
	st := startStackWith(t, 0, envoyrun.StartOptions{Concurrency: 2}, envoyrun.Params{PluginConfig: string(cfg)})

	t.Run("a limit of 20 holds exactly across both workers", func(t *testing.T) {
		start := time.Now()
		got := throttleMany(st, 30, "/limited", "alice")
		// One more every 15 s: a machine slow enough to take that long
		// gets that many more.
		extra := int(time.Since(start) / (15 * time.Second))
		if ok, limited := countStatus(got, 200), countStatus(got, 429); ok != 20+extra || limited != 10-extra {
			t.Fatalf("30 requests at once: %d passed and %d got 429, want %d and %d", ok, limited, 20+extra, 10-extra)
		}
		workers := workerConnections(t, st)
		if len(workers) != 2 || workers[0] == 0 || workers[1] == 0 {
			t.Fatalf("connections per worker %v: the test needs both workers", workers)
		}
		for _, a := range got {
			if a.status != 429 {
				continue
			}
			if secs, err := strconv.Atoi(a.retry); err != nil || secs < 1 || secs > 15 {
				t.Errorf("Retry-After %q, want at most 15 s", a.retry)
			}
			if a.body != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in `+a.retry+` seconds."}` {
				t.Errorf("429 body %s", a.body)
			}
		}
		if a := throttleGet(st, "/limited", "bob"); a.status != 200 || a.left != "19" {
			t.Errorf("another key: %d, %q left, want 200 and 19", a.status, a.left)
		}
		if a := throttleGet(st, "/elsewhere", "alice"); a.status != 200 {
			t.Errorf("outside the limited paths: %d", a.status)
		}
	})

	t.Run("the window renews", func(t *testing.T) {
		// 4 per 8 s: one more every 2 s. A slow machine may see one more
		// per 2 s that pass while it sends.
		burst := func() {
			t.Helper()
			start, passed := time.Now(), 0
			for {
				a := throttleGet(st, "/renewing", "carol")
				if a.status == 429 {
					if secs, err := strconv.Atoi(a.retry); err != nil || secs < 1 || secs > 2 {
						t.Errorf("Retry-After %q, want 1 or 2", a.retry)
					}
					break
				}
				if a.status != 200 {
					t.Fatalf("status %d", a.status)
				}
				passed++
			}
			if extra := int(time.Since(start) / (2 * time.Second)); passed < 4 || passed > 4+extra {
				t.Fatalf("%d passed before the first 429, want 4 (+%d for the time it took)", passed, extra)
			}
		}
		burst()
		time.Sleep(8*time.Second + 200*time.Millisecond)
		burst()
	})

	t.Run("a quota answers 403", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if a := throttleGet(st, "/quota", "dave"); a.status != 200 {
				t.Fatalf("call %d: %d", i+1, a.status)
			}
		}
		a := throttleGet(st, "/quota", "dave")
		secs, err := strconv.Atoi(a.retry)
		if a.status != 403 || err != nil || secs < 1 || secs > 300 ||
			!regexp.MustCompile(`^\{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in 00:0[0-5]:[0-5][0-9]."\}$`).MatchString(a.body) {
			t.Errorf("4th call: %d, Retry-After %q, %s", a.status, a.retry, a.body)
		}
		if a := throttleGet(st, "/quota", "erin"); a.status != 200 {
			t.Errorf("another key: %d", a.status)
		}
	})

	t.Run("a bandwidth quota counts the bytes of requests and responses", func(t *testing.T) {
		// 2 KB: the upstream echoes the request as JSON, so one request of
		// 1.5 KB passes and uses more than 3 KB with its response; the next
		// finds the quota used.
		pad := strings.Repeat("p", 1500)
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		send := func() (int, string) {
			r := st.doWith(t, c, "POST", "/bandwidth", map[string][]string{"x-client": {"frank"}}, pad)
			return r.status, r.body
		}
		if st, body := send(); st != 200 {
			t.Fatalf("first: %d %s", st, body)
		}
		// The bytes are counted when the stream ends, just after the
		// client has its answer.
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, body := send()
			if st == 403 {
				if !strings.HasPrefix(body, `{"statusCode":403,"message":"Out of bandwidth quota. Quota will be replenished in 00:0`) {
					t.Errorf("403 body %s", body)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the bandwidth quota never ran out: %d", st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("a concurrency limit of 2 lets 2 slow requests through at once", func(t *testing.T) {
		st.upstream.Delay(3 * time.Second)
		got := throttleMany(st, 5, "/slow", "")
		st.upstream.Delay(0)
		if ok, limited := countStatus(got, 200), countStatus(got, 429); ok != 2 || limited != 3 {
			t.Fatalf("5 at once: %d passed and %d got 429, want 2 and 3", ok, limited)
		}
		for _, a := range got {
			if a.status == 429 && (a.elapsed > 2500*time.Millisecond || a.body != `{"statusCode":429,"message":"Too many concurrent requests."}`) {
				t.Errorf("a refused request waited %v (%s): it must fail at once", a.elapsed, a.body)
			}
		}
		// The slots came back with the responses.
		if got := throttleMany(st, 2, "/slow", ""); countStatus(got, 200) != 2 {
			t.Errorf("after the slow ones: %d of 2 passed", countStatus(got, 200))
		}
	})
}

// TestThrottling_madeUpKeys: a client that makes up thousands of keys
// fills the counter table; it never resets another client's counter, and
// the overflows are counted.
func TestThrottling_madeUpKeys(t *testing.T) {
	cfg, _ := json.Marshal(map[string]any{"policy": throttlePolicy})
	st := startStackWith(t, 0, envoyrun.StartOptions{Concurrency: 2}, envoyrun.Params{PluginConfig: string(cfg)})
	start := time.Now()
	if a := throttleGet(st, "/flood", "victim"); a.status != 200 {
		t.Fatalf("the victim's first call: %d", a.status)
	}
	// 12,000 keys over 8,192 slots: many buckets overflow.
	const keys, senders = 12000, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for i := w; i < keys; i += senders {
				req, _ := http.NewRequest("GET", st.envoy.URL("/flood"), nil)
				req.Header.Set("x-client", "made-up-"+strconv.Itoa(i))
				resp, err := c.Do(req)
				if err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
					continue
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if failures > 0 {
		t.Fatalf("%d requests failed", failures)
	}
	// The victim's budget of 1 comes back after 300 s.
	if elapsed := time.Since(start); elapsed > 290*time.Second {
		t.Fatalf("the flood took %v: the victim's budget may have come back, nothing to see", elapsed)
	}
	if a := throttleGet(st, "/flood", "victim"); a.status != 429 {
		t.Errorf("the victim's counter was reset: %d", a.status)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		m := regexp.MustCompile(`throttle_overflows: (\d+)`).FindStringSubmatch(st.admin(t, "/stats?filter=throttle_overflows"))
		if m != nil && m[1] != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no overflow counted: %s", st.admin(t, "/stats?filter=apimguard"))
		}
	}
}
