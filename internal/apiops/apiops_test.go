package apiops

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func importDir(t *testing.T, dir string) *Result {
	t.Helper()
	tree, err := Read(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(tree, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the import wrote:\n%s", path, got)
	}
}

// The contoso tree loads whole: every document, the APIs' operations from
// their OpenAPI 3 and Swagger 2 specifications, the products, the
// subscription with its key from the environment, and no secret in any
// output. The same tree gives the same bytes.
func TestImport_contoso(t *testing.T) {
	res := importDir(t, "contoso")
	if res.Documents != 9 || res.Loaded != 9 || res.Summary() != "9 of 9 policy documents load" {
		t.Fatalf("%s\n%s", res.Summary(), res.Files["report.txt"])
	}
	golden(t, "contoso.plugin-config.json", res.Files["plugin-config.json"])
	golden(t, "contoso.report.txt", res.Files["report.txt"])
	again := importDir(t, "contoso")
	for name, b := range res.Files {
		if !bytes.Equal(b, again.Files[name]) {
			t.Errorf("%s differs between two imports of the same tree", name)
		}
	}
	for name, b := range res.Files {
		// The Key Vault reference and the secret are names, never values.
		if strings.Contains(string(b), `"orders-api-key":`) || strings.Contains(string(b), `"payments-function-key":`) {
			t.Errorf("%s gives a secret named value a value", name)
		}
	}
	envoy := string(res.Files["envoy.yaml"])
	if !strings.Contains(envoy, `host_env_keys: ["APIM_SUBSCRIPTION_KEY_GOLD_TEAM","orders-api-key","payments-function-key"]`) {
		t.Errorf("envoy.yaml does not pass the secrets from Envoy's environment")
	}
	istio := string(res.Files["istio.yaml"])
	for _, want := range []string{"kind: WasmPlugin", "- name: \"payments-function-key\"\n      valueFrom: HOST", "kind: ServiceEntry", "host: payments-v2.contoso.com", "prefix: \"/orders/\""} {
		if !strings.Contains(istio, want) {
			t.Errorf("istio.yaml lacks %q", want)
		}
	}
	// The configuration is what the plugin reads and compiles at start.
	t.Setenv("orders-api-key", "k-0123456789")
	t.Setenv("payments-function-key", "f-0123456789")
	t.Setenv("APIM_SUBSCRIPTION_KEY_GOLD_TEAM", "gold-0123456789abcdef")
	cfg, err := pluginconfig.Parse(res.Files["plugin-config.json"])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Counters = &policy.MemoryStore{}
	if _, err := cfg.Compile(noKeys{}, noTokens{}, time.Now, nil); err != nil {
		t.Fatal(err)
	}
}

// A tree with elements apimguard does not run: the report names each one's
// file, line and element, the expression it cannot compile, the
// specification that does not load and the policy of an operation the
// specification lacks.
func TestImport_unsupported(t *testing.T) {
	res := importDir(t, "unsupported")
	if res.Summary() != "0 of 5 policy documents load" {
		t.Errorf("summary %q", res.Summary())
	}
	golden(t, "unsupported.report.txt", res.Files["report.txt"])
	want := []string{
		"refused  policy.xml:3:3: <cache-lookup>: refused: whole responses are not cached by the plugin",
		"refused  policy.xml:7:3: <validate-content>: apimguard does not run this element",
		"refused  policy.xml:13:3: <xml-to-json>: apimguard does not run this element",
		"refused  policy.xml:14:3: <cache-store>: refused:",
		"refused  apis/catalog/operations/search/policy.xml:7:5: <json-to-xml>: apimguard does not run this element",
		"refused  apis/catalog/policy.xml:5:94: <set-variable>: unsupported method Frobnicate of string",
		"refused  policy fragments/legacy-auth/policy.xml:2:2: <authentication-basic>: apimguard does not run this element",
		"refused  apis/broken-spec/specification.yaml: the OpenAPI specification does not load",
		"skipped  apis/catalog/operations/ghost/policy.xml: operation \"ghost\" is not in the API's specification",
	}
	for _, w := range want {
		if !strings.Contains(string(res.Files["report.txt"]), w) {
			t.Errorf("the report lacks %q", w)
		}
	}
	if !strings.Contains(string(res.Files["report.json"]), `"summary": "0 of 5 policy documents load"`) ||
		!strings.Contains(string(res.Files["report.json"]), `"file": "policy.xml",
      "line": 7,
      "column": 3,
      "element": "validate-content",`) {
		t.Errorf("report.json:\n%s", res.Files["report.json"])
	}
}

// What Read refuses: not a directory.
func TestRead_notATree(t *testing.T) {
	if _, err := Read(filepath.Join("testdata", "contoso", "policy.xml")); err == nil || !strings.Contains(err.Error(), "is not a directory of APIOps artifacts") {
		t.Errorf("err = %v", err)
	}
}

// An exported specification with placeholders the OpenAPI reader refuses
// (APIOps' own sample has "servers: - url: [url]") still gives its paths.
func TestOperations_lenient(t *testing.T) {
	spec := "openapi: 3.0.1\ninfo:\n  title: t\n  version: '1'\nservers:\n  - url: [url]\npaths:\n  /items/{id}:\n    get:\n      operationId: get-item\n    delete: {}\n"
	if _, err := operations(spec); err == nil {
		t.Fatal("the OpenAPI reader took a server url that is a list")
	}
	ops, ok := lenientOperations(spec)
	if !ok || len(ops) != 2 || ops[0] != (Operation{Name: "delete-items-id", Method: "DELETE", URLTemplate: "/items/{id}"}) ||
		ops[1] != (Operation{Name: "get-item", Method: "GET", URLTemplate: "/items/{id}"}) {
		t.Errorf("%+v %v", ops, ok)
	}
}
