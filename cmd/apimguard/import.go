package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apimguard/apimguard/internal/apiops"
)

// importTree is "apimguard import": an APIOps artifact tree to a plugin
// configuration, an Envoy bootstrap, Istio manifests and a readiness
// report (internal/apiops). It exits 1 when a policy document does not
// load: the files are written all the same, for editing.
func importTree(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "apimguard-import", "the directory to write plugin-config.json, envoy.yaml, istio.yaml, report.txt and report.json to")
	image := fs.String("image", "", "the module's OCI image for the WasmPlugin (default a placeholder to replace)")
	ca := fs.String("ca", "", "the PEM CA bundle the bootstrap's clusters trust (default /etc/ssl/certs/ca-certificates.crt)")
	resolve := map[string]string{}
	fs.Func("resolve", "host=address:port: connect the bootstrap's cluster for host there (repeatable)", func(v string) error {
		h, a, ok := strings.Cut(v, "=")
		if !ok || h == "" || a == "" {
			return fmt.Errorf("want host=address:port")
		}
		resolve[strings.ToLower(h)] = a
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: apimguard import [-o dir] [-image oci://...] [-ca file] [-resolve host=addr:port] artifacts-dir")
		return 2
	}
	dir := fs.Arg(0)
	tree, err := apiops.Read(dir)
	if err != nil {
		fmt.Fprintf(stderr, "apimguard import: %v\n", err)
		return 2
	}
	res, err := apiops.Import(tree, apiops.Options{Image: *image, Resolve: resolve, CAFile: *ca, Dir: filepath.Base(filepath.Clean(dir))})
	if err != nil {
		fmt.Fprintf(stderr, "apimguard import: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "apimguard import: %v\n", err)
		return 2
	}
	names := make([]string, 0, len(res.Files))
	for name := range res.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(*out, name), res.Files[name], 0o644); err != nil {
			fmt.Fprintf(stderr, "apimguard import: %v\n", err)
			return 2
		}
	}
	stdout.Write(res.Files["report.txt"])
	fmt.Fprintf(stdout, "wrote %s to %s\n", strings.Join(names, ", "), *out)
	if res.Loaded < res.Documents {
		return 1
	}
	return 0
}
