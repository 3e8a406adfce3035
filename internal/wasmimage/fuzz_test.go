package wasmimage

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzExtract: a layer from a registry is outside input. Whatever its bytes,
// Extract never panics, and what it returns is at most MaxModule bytes.
func FuzzExtract(f *testing.F) {
	good, _ := tarGz(ModuleFile, module)
	other, _ := tarGz("other.wasm", module)
	f.Add(good)
	f.Add(other)
	f.Add([]byte("\x1f\x8b\x08\x00garbage"))
	f.Add([]byte("not gzip at all"))
	f.Fuzz(func(t *testing.T, layerBytes []byte) {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(layerBytes)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return
		}
		img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, MediaType: types.OCILayer})
		if err != nil {
			return
		}
		got, err := Extract(img)
		if err == nil && len(got) > MaxModule {
			t.Fatalf("%d bytes extracted, more than %d", len(got), MaxModule)
		}
	})
}
