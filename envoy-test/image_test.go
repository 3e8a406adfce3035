package envoytest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/wasmimage"
)

// checkKey runs the seed's check-header through s: 403 without the key,
// 200 with it.
func checkKey(t *testing.T, s *stack) {
	t.Helper()
	if r := s.do(t, "GET", "/orders/1", nil, ""); r.status != 403 {
		t.Fatalf("without the key: %d %q, want 403", r.status, r.body)
	}
	if r := s.do(t, "GET", "/orders/1", map[string][]string{"x-api-key": {apiKey}}, ""); r.status != 200 {
		t.Fatalf("with the key: %d %q, want 200", r.status, r.body)
	}
}

// builtModule is the bytes of build/apimguard.wasm.
func builtModule(t *testing.T) []byte {
	t.Helper()
	_, wasmPath, err := envoyrun.Paths()
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	return module
}

// The module as Istio gets it: packed into the OCI image (make image),
// pushed to a registry, pulled back by its digest and taken out of the
// image as Istio's fetcher does; the bytes are the built module's, and
// Envoy loads them and enforces the seed's check-header.
func TestImage_pulledModuleRunsInEnvoy(t *testing.T) {
	module := builtModule(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	img, err := wasmimage.Build(module, "apimguard", "test")
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(u.Host+"/apimguard:test", name.Insecure)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	ref, _ := name.NewDigest(u.Host+"/apimguard@"+digest.String(), name.Insecure)
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wasmimage.Extract(pulled)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(module) {
		t.Fatal("the pulled module is not the built one")
	}
	path := filepath.Join(t.TempDir(), "plugin.wasm")
	if err := os.WriteFile(path, got, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, envoyrun.Params{WasmPath: path, PluginConfig: seedCheckHeader, Env: map[string]string{"api-key": apiKey}})
	checkKey(t, s)
}

// Envoy's remote code source: the module fetched over HTTP with its
// SHA-256 loads and enforces; with a SHA-256 that does not match, Envoy
// never runs it, and no request reaches the upstream.
func TestImage_remoteCodeWithSHA256(t *testing.T) {
	module := builtModule(t)
	sum := sha256.Sum256(module)
	var fetches atomic.Int32
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.URL.Path != "/apimguard.wasm" {
			http.NotFound(w, r)
			return
		}
		w.Write(module)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(ln)
	defer origin.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	t.Run("right sha256", func(t *testing.T) {
		s := startStack(t, envoyrun.Params{PluginConfig: seedCheckHeader, Env: map[string]string{"api-key": apiKey},
			Remote: &envoyrun.RemoteCode{Port: port, Path: "/apimguard.wasm", SHA256: hex.EncodeToString(sum[:])}})
		checkKey(t, s)
	})
	t.Run("wrong sha256", func(t *testing.T) {
		wrong := sum
		wrong[0] ^= 1
		before := fetches.Load()
		// Envoy starts; the plugin does not.
		st := startStack(t, envoyrun.Params{PluginConfig: seedCheckHeader, Env: map[string]string{"api-key": apiKey},
			Remote: &envoyrun.RemoteCode{Port: port, Path: "/apimguard.wasm", SHA256: hex.EncodeToString(wrong[:])}})
		// Envoy fetched the module (and retried), found it does not match,
		// and refuses every request (the plugin fails closed): 503, and
		// nothing reaches the upstream.
		if n := fetches.Load() - before; n < 1 {
			t.Fatalf("Envoy fetched the module %d times", n)
		}
		if r := st.do(t, "GET", "/orders/1", map[string][]string{"x-api-key": {apiKey}}, ""); r.status != 503 {
			t.Fatalf("a request with a module whose SHA-256 does not match: %d %q, want 503", r.status, r.body)
		}
		if n := len(st.upstream.Requests()); n != 0 {
			t.Fatalf("%d requests reached the upstream", n)
		}
		if !st.logged("Plugin apimguard failed to load") {
			t.Errorf("Envoy's log does not say the plugin failed to load")
		}
	})
}
