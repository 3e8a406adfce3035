//go:build !wasip1

package main

import (
	"testing"

	"github.com/apimguard/apimguard/policy"
)

// A finished context is cleared and reused for the next stream; one that
// ever paused for a call or a fetch is not (a late answer may still hold
// it), and neither is one past the pool's bound.
func TestHttpContext_reuse(t *testing.T) {
	p := &pluginContext{keys: newKeyManager()}
	p.memory.seen = 1 // no gauge reading: there is no host here
	h1 := p.NewHttpContext(1).(*httpContext)
	h1.answered, h1.prog = true, &policy.Program{}
	h1.OnHttpStreamDone()
	h2 := p.NewHttpContext(2).(*httpContext)
	if h2 != h1 {
		t.Fatal("a finished context was not reused")
	}
	if h2.id != 2 || h2.plugin != p || h2.answered || h2.prog != nil || h2.done {
		t.Fatalf("the reused context kept state: %+v", h2)
	}
	h2.paused = true
	h2.OnHttpStreamDone()
	if h3 := p.NewHttpContext(3).(*httpContext); h3 == h2 {
		t.Fatal("a context that paused was reused")
	}
	for i := 0; i < maxFree+5; i++ {
		p.release(&httpContext{})
	}
	if len(p.free) != maxFree {
		t.Fatalf("%d contexts kept, want at most %d", len(p.free), maxFree)
	}
}
