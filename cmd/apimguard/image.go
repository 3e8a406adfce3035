package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apimguard/apimguard/internal/wasmimage"
)

// image is "apimguard image": the module as an OCI image (Istio's compat
// variant), written as an OCI image layout directory (-o; skopeo copy
// oci:DIR or crane push DIR push it as it is, digest unchanged) and/or
// pushed (-push, with the credentials of docker login), and
// the digests to pin: the image's (WasmPlugin url ...@sha256:, or its
// sha256 field) and the module's (Envoy's remote code source).
func image(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasmPath := fs.String("wasm", "build/apimguard.wasm", "the built module")
	version := fs.String("version", "", "the version, as the image's org.opencontainers.image.version annotation and the tarball's tag")
	out := fs.String("o", "", "write the image here as an OCI image layout (a directory)")
	push := fs.String("push", "", "push the image to this reference (registry/repo:tag)")
	insecure := fs.Bool("insecure", false, "allow a registry over plain HTTP (a local test registry)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*out == "" && *push == "") {
		fmt.Fprintln(stderr, "usage: apimguard image [-wasm file] [-version v] [-o file.tar] [-push registry/repo:tag]")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "apimguard image: %v\n", err)
		return 1
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		return fail(fmt.Errorf("%v (build it with make build)", err))
	}
	img, err := wasmimage.Build(wasm, "apimguard", *version)
	if err != nil {
		return fail(fmt.Errorf("%s: %v", *wasmPath, err))
	}
	digest, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	if *out != "" {
		if err := os.RemoveAll(*out); err != nil {
			return fail(err)
		}
		p, err := layout.Write(*out, empty.Index)
		if err != nil {
			return fail(err)
		}
		ann := map[string]string{}
		if *version != "" {
			ann["org.opencontainers.image.ref.name"] = *version
		}
		if err := p.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "wrote %s (an OCI image layout)\n", *out)
	}
	if *push != "" {
		ref, err := name.ParseReference(*push, opts...)
		if err != nil {
			return fail(err)
		}
		if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "pushed %s\nurl: oci://%s@%s\n", ref, ref.Context(), digest)
	}
	sum := sha256.Sum256(wasm)
	fmt.Fprintf(stdout, "image digest: %s\nmodule sha256: %s\n", digest, hex.EncodeToString(sum[:]))
	return 0
}
