package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apimguard/apimguard/internal/wasmimage"
)

// "apimguard image" pushes the built module to a registry and prints the
// digest to pin; pulled by that digest, the image holds the module byte for
// byte, and the tarball it writes holds the same image.
func TestImage_pushAndPin(t *testing.T) {
	module, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatalf("%s is missing: run make build (%v)", wasm, err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	dir := filepath.Join(t.TempDir(), "oci")
	var out, errOut bytes.Buffer
	code := run([]string{"image", "-wasm", wasm, "-version", "v9.9.9", "-o", dir, "-insecure", "-push", u.Host + "/apimguard:v9.9.9"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	m := regexp.MustCompile(`(?m)^image digest: (sha256:[0-9a-f]{64})\nmodule sha256: ([0-9a-f]{64})$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no digests in the output:\n%s", out.String())
	}
	if sum := sha256.Sum256(module); m[2] != hex.EncodeToString(sum[:]) {
		t.Errorf("module sha256 %s, want %x", m[2], sum)
	}
	if !strings.Contains(out.String(), "url: oci://"+u.Host+"/apimguard@"+m[1]) {
		t.Errorf("no pinned url in the output:\n%s", out.String())
	}
	ref, err := name.NewDigest(u.Host+"/apimguard@"+m[1], name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wasmimage.Extract(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, module) {
		t.Fatalf("the pulled module differs from %s", wasm)
	}
	// The layout holds the same image, under the same digest.
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := v1.NewHash(m[1])
	fromLayout, err := idx.Image(h)
	if err != nil {
		t.Fatalf("the layout has no image %s: %v", m[1], err)
	}
	if got, err := wasmimage.Extract(fromLayout); err != nil || !bytes.Equal(got, module) {
		t.Errorf("the layout's module differs (%v)", err)
	}
	// Usage errors.
	if code := run([]string{"image", "-wasm", wasm}, io.Discard, io.Discard); code != 2 {
		t.Errorf("no -o or -push: exit %d, want 2", code)
	}
	if code := run([]string{"image", "-wasm", "main.go", "-o", dir}, io.Discard, &errOut); code != 1 {
		t.Errorf("not a module: exit %d, want 1", code)
	}
}
