package envoytest

import (
	"strconv"
	"sync"
	"testing"
)

// TestMemory_flatThroughEnvoy sends the same allowed and denied requests
// through one Envoy until the module's memory has settled, then as many
// again, and checks that apimguard_vm_memory_pages did not keep growing: a
// Go module that leaks a little per request (a context map never emptied, a
// cache without bound) fails here. The SDK's proxytest cannot show this: it
// never calls the module's proxy_on_delete, so contexts stay alive there.
func TestMemory_flatThroughEnvoy(t *testing.T) {
	s := keyStack(t)
	send := func(n int) {
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/4; i++ {
					h := map[string][]string{"x-api-key": {stackKey}, "Origin": {"https://myapp.com"}}
					want := 200
					if i%2 == 1 {
						h["x-api-key"], want = []string{"Wrong-Key-" + strconv.Itoa(i)}, 401
					}
					if r := s.do(t, "GET", "/orders/"+strconv.Itoa(i), h, ""); r.status != want {
						t.Errorf("request %d: status %d, want %d", i, r.status, want)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	pages := func() int {
		v, err := strconv.Atoi(prometheus(t, s)["apimguard_vm_memory_pages{}"])
		if err != nil || v <= 0 {
			t.Fatalf("apimguard_vm_memory_pages: %q (%v)", prometheus(t, s)["apimguard_vm_memory_pages{}"], err)
		}
		return v
	}
	send(20_000)
	half := pages()
	send(20_000)
	end := pages()
	t.Logf("module memory: %d pages after 20,000 requests, %d after 40,000", half, end)
	// A few pages of slack for the garbage collector's timing; 100 bytes
	// kept per request would add 30 pages.
	if end > half+8 {
		t.Errorf("module memory grew from %d to %d pages over the second 20,000 requests", half, end)
	}
}
