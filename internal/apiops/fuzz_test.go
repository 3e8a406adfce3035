package apiops

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzImport: an artifact tree's specification and policy text never make
// the importer's own readers panic: the specification's operations are
// read (or it is refused), and the policy document is scanned for elements
// apimguard does not run, each with a line, column and name. (Compiling
// the documents is the plugin's own reader, which FuzzParseConfig fuzzes.)
func FuzzImport(f *testing.F) {
	for _, p := range []string{"contoso/apis/orders/specification.yaml", "contoso/apis/payments/specification.json", "unsupported/apis/broken-spec/specification.yaml"} {
		spec, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		for _, d := range []string{"contoso/policy.xml", "unsupported/policy.xml", "unsupported/apis/catalog/operations/search/policy.xml"} {
			doc, err := os.ReadFile(filepath.Join("testdata", d))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(spec), string(doc))
		}
	}
	f.Fuzz(func(t *testing.T, spec, doc string) {
		ops, err := operations(spec)
		if err != nil {
			ops, _ = lenientOperations(spec)
		}
		for _, op := range ops {
			if op.Name == "" || op.Method == "" {
				t.Fatalf("operation %+v", op)
			}
		}
		c := &converter{t: &Tree{}}
		c.scan(&Doc{File: "policy.xml", Text: doc})
		for _, e := range c.entries {
			if e.Line < 1 || e.Column < 1 || e.Element == "" {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}
