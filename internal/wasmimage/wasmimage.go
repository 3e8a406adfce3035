// Package wasmimage packs the plugin's .wasm into an OCI image that Istio's
// WasmPlugin pulls (oci://REGISTRY/REPO:TAG, pinned by its sha256), and
// reads the module back out of one, the way Istio's image fetcher does.
//
// The image is the "compat" variant of the Wasm image specification: a
// standard OCI image (OCI manifest and config media types) with exactly one
// gzipped tar layer holding plugin.wasm, and the manifest annotation
// module.wasm.image/variant=compat. Standard registries and tools (crane,
// docker, podman) handle it like any image; Istio takes plugin.wasm from its
// only layer. The build is reproducible: the same .wasm gives the same
// digest (fixed timestamps, no host metadata).
package wasmimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Names of the compat variant.
const (
	// ModuleFile is the module's name in the layer.
	ModuleFile = "plugin.wasm"
	// VariantAnnotation marks an OCI-typed compat image in its manifest.
	VariantAnnotation = "module.wasm.image/variant"
	Variant           = "compat"
)

// MaxModule bounds the module Extract reads back (the plugin is about 8 MB).
const MaxModule = 64 << 20

// epoch is every timestamp in the image, for a reproducible digest.
var epoch = time.Unix(0, 0).UTC()

// Build packs wasm into a compat image. title names it in the
// org.opencontainers.image.title annotation; version, when not empty, in
// org.opencontainers.image.version.
func Build(wasm []byte, title, version string) (v1.Image, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module (no \\0asm magic)")
	}
	layerBytes, err := tarGz(ModuleFile, wasm)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "apimguard image"}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	cfg.Architecture, cfg.OS = "wasm", "wasip1"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	notes := map[string]string{VariantAnnotation: Variant, "org.opencontainers.image.title": title}
	if version != "" {
		notes["org.opencontainers.image.version"] = version
	}
	return mutate.Annotations(img, notes).(v1.Image), nil
}

// tarGz is a gzipped tar of one file, with fixed metadata.
func tarGz(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o444, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Extract reads the module out of a compat image as Istio does: the image
// must have exactly one layer, of a gzipped tar media type, holding
// plugin.wasm; the file is bounded by MaxModule.
func Extract(img v1.Image) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("a Wasm compat image has one layer, this one has %d", len(layers))
	}
	mt, err := layers[0].MediaType()
	if err != nil {
		return nil, err
	}
	if mt != types.OCILayer && mt != types.DockerLayer {
		return nil, fmt.Errorf("layer media type %s is not a gzipped tar", mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("the layer has no %s", ModuleFile)
		}
		if err != nil {
			return nil, err
		}
		if h.Name != ModuleFile && h.Name != "./"+ModuleFile {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Size > MaxModule {
			return nil, fmt.Errorf("%s is not a regular file of at most %d bytes", ModuleFile, MaxModule)
		}
		return io.ReadAll(io.LimitReader(tr, MaxModule))
	}
}
