// Command apimguard checks policies without Envoy and packages the module.
//
// "apimguard test" loads the built module in wazero (through the proxy-wasm
// Go SDK's proxytest host) with a plugin configuration and runs the test
// cases of YAML files against it, in the style of go test.
//
// "apimguard image" packs the module into the OCI image Istio's WasmPlugin
// pulls (image.go), writes it as a tarball and/or pushes it, and prints the
// digests to pin.
//
// "apimguard ratelimit-config" writes the configuration of Envoy's rate
// limit service for a plugin configuration that counts there (ratelimit.go).
//
//	apimguard test [-v] [-wasm build/apimguard.wasm] cases.yaml...
//	apimguard image [-wasm build/apimguard.wasm] [-version v] [-o file.tar] [-push registry/repo:tag]
//	apimguard ratelimit-config plugin-configuration.json
//	apimguard import [-o dir] [-image oci://...] [-ca file] [-resolve host=addr:port] artifacts-dir
//
// "apimguard import" turns an APIM instance kept as APIOps artifacts into a
// plugin configuration, an Envoy bootstrap, Istio manifests and a readiness
// report (import.go, internal/apiops).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "image" {
		return image(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "import" {
		return importTree(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ratelimit-config" {
		return ratelimitConfig(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, "usage: apimguard test [-v] [-wasm file] cases.yaml...\n       apimguard image [-wasm file] [-version v] [-o file.tar] [-push registry/repo:tag]\n       apimguard ratelimit-config plugin-configuration.json\n       apimguard import [-o dir] [-image oci://...] [-resolve host=addr:port] artifacts-dir")
		return 2
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "show the policy that decided each case (security events) and the calls the module made")
	wasmPath := fs.String("wasm", "build/apimguard.wasm", "the built module")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "apimguard test: no case files")
		return 2
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fmt.Fprintf(stderr, "apimguard test: %v (build it with make build)\n", err)
		return 2
	}
	// The SDK's host emulator reports through the standard logger; -v
	// shows what matters (security events, calls) per case instead.
	log.SetOutput(io.Discard)
	r := &runner{wasm: wasm, out: stdout, verbose: *verbose}
	for _, file := range fs.Args() {
		if err := r.runFile(file); err != nil {
			fmt.Fprintf(stderr, "apimguard test: %s: %v\n", file, err)
			return 2
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		return 1
	}
	return 0
}
