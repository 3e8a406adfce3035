package envoytest

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// TestKeySharing_twoWorkersThroughEnvoy runs Envoy with two worker threads,
// so two VMs: at start one worker fetches the keys for both; after a key
// rotation, the first worker to see the new kid
// fetches the key set once and publishes it in shared data; requests on the
// other worker verify with the shared set instead of fetching again.
func TestKeySharing_twoWorkersThroughEnvoy(t *testing.T) {
	p := newIDP(t)
	p.addKey("k1")
	// A provider slower than the fetch tick: without single flight across
	// workers both would fetch at start.
	p.delay = time.Second
	p.start()
	s := startStackWith(t, 0, envoyrun.StartOptions{Concurrency: 2}, jwtConfig(p))
	// Many new connections: the kernel spreads them over both workers.
	each := func(tok string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			if r := s.doWith(t, c, "GET", "/orders", bearer(tok), ""); r.status != 200 {
				t.Fatalf("request %d: status %d (%s)", i, r.status, r.body)
			}
		}
	}
	each(p.token("k1", claims("my-api-audience")), 20)
	p.mu.Lock()
	p.delay = 0
	p.mu.Unlock()
	workers := workerConnections(t, s)
	if len(workers) != 2 || workers[0] == 0 || workers[1] == 0 {
		t.Fatalf("connections per worker %v: the test needs both workers", workers)
	}

	// At start both workers need the keys; one fetches them for both
	// (a lease in shared data), the other takes the shared set.
	if n := p.keySetHits(); n != 1 {
		t.Fatalf("the key set was fetched %d times at start, want 1 for both workers", n)
	}

	p.addKey("k2")
	before := p.keySetHits()
	tok := p.token("k2", claims("my-api-audience"))
	each(tok, 1) // one worker fetches the rotated set
	each(tok, 20)
	after := workerConnections(t, s)
	if after[0] == workers[0] || after[1] == workers[1] {
		t.Fatalf("connections per worker %v → %v: the new kid did not reach both workers", workers, after)
	}
	if n := p.keySetHits() - before; n != 1 {
		t.Fatalf("the key set was fetched %d times after the rotation, want 1 (the other worker takes the shared set)", n)
	}
}

// workerConnections reads the downstream connections each worker accepted.
func workerConnections(t *testing.T, s *stack) []int {
	t.Helper()
	var out []int
	page := s.admin(t, "/stats?filter=worker_.*downstream_cx_total")
	for _, m := range regexp.MustCompile(`worker_(\d+)\.downstream_cx_total: (\d+)`).FindAllStringSubmatch(page, -1) {
		n, _ := strconv.Atoi(m[2])
		out = append(out, n)
	}
	return out
}
