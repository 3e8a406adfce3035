package wasmimage

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// module is a small valid WebAssembly module (the magic and version, an
// empty custom section) standing in for the plugin where its size does not
// matter.
var module = []byte("\x00asm\x01\x00\x00\x00\x00\x05\x04note")

// The image is pushed to a registry (go-containerregistry's, in process),
// pulled back by its digest, has the media types and annotation Istio's
// fetcher looks for, and gives back the module byte for byte.
func TestBuild_pushPullByDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	img, err := Build(module, "apimguard", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(u.Host+"/apimguard/plugin:v1.2.3", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(u.Host+"/apimguard/plugin@"+digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pulled.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s, config %s: want the OCI image media types", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Fatalf("layers %+v: want one %s", m.Layers, types.OCILayer)
	}
	if m.Annotations[VariantAnnotation] != "compat" || m.Annotations["org.opencontainers.image.version"] != "v1.2.3" {
		t.Errorf("annotations %v", m.Annotations)
	}
	got, err := Extract(pulled)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, module) {
		t.Fatalf("pulled module differs: %d bytes, want %d", len(got), len(module))
	}
	// Pulled by tag, it is the same image.
	byTag, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := byTag.Digest(); d != digest {
		t.Errorf("by tag %s, by digest %s", d, digest)
	}
}

// The same module always gives the same image digest, and another module
// another one.
func TestBuild_reproducible(t *testing.T) {
	digest := func(wasm []byte) string {
		img, err := Build(wasm, "apimguard", "")
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b := digest(module), digest(module)
	if a != b {
		t.Fatalf("two builds of one module: %s and %s", a, b)
	}
	other := append(append([]byte(nil), module...), 'x')
	if digest(other) == a {
		t.Fatal("another module gave the same digest")
	}
}

func TestBuild_refusesWhatIsNotWasm(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("\x7fELF\x02\x01\x01\x00"), []byte("\x00asm")} {
		if _, err := Build(b, "x", ""); err == nil {
			t.Errorf("%q was packed", b)
		}
	}
}
