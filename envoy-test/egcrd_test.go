package envoytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"sigs.k8s.io/yaml"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// egMinimum is the oldest Envoy Gateway the shipped manifest works with: the
// first release whose CRDs have every field it sets
// (ClientTrafficPolicy's headers.host.stripTrailingHostDot is v1.9's). The
// tests read the manifest with exactly this release's API types and CRDs
// (go.mod requires it), and the manifest's first line names it.
const egMinimum = "v1.9.0"

// egModule is the directory of the github.com/envoyproxy/gateway module the
// tests build with, and its version.
var egModule = sync.OnceValues(func() ([2]string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/envoyproxy/gateway")
	cmd.Dir = envoyrun.Root()
	out, err := cmd.Output()
	if err != nil {
		return [2]string{}, err
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	return [2]string{dir, version}, nil
})

// egCRD checks a document against the CustomResourceDefinition of its kind
// that Envoy Gateway egMinimum ships (charts/gateway-crds-helm): the
// OpenAPI schema (types, enums, patterns, bounds) and no field the schema
// does not have (the API server would drop it, and with it the setting).
// The schema's CEL rules are not evaluated here.
func egCRD(t *testing.T, d doc) {
	t.Helper()
	mod, err := egModule()
	if err != nil {
		t.Fatalf("go list -m github.com/envoyproxy/gateway: %v", err)
	}
	if mod[1] != egMinimum {
		t.Fatalf("the tests build with Envoy Gateway %s, but the manifest claims %s or later: test with the minimum (go get github.com/envoyproxy/gateway@%s)", mod[1], egMinimum, egMinimum)
	}
	plural := strings.ToLower(d.kind) + "s"
	if strings.HasSuffix(plural, "ys") {
		plural = strings.TrimSuffix(plural, "ys") + "ies"
	}
	text, err := os.ReadFile(filepath.Join(mod[0], "charts", "gateway-crds-helm", "templates", "generated", "gateway.envoyproxy.io_"+plural+".yaml"))
	if err != nil {
		t.Fatalf("Envoy Gateway %s has no CRD for %s: %v", mod[1], d.kind, err)
	}
	var lines []string
	for _, l := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(l, "{{") && l != "---" { // the chart's Helm guard
			lines = append(lines, l)
		}
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &crd); err != nil {
		t.Fatalf("the CRD of %s: %v", d.kind, err)
	}
	version := strings.TrimPrefix(d.apiVersion, crd.Spec.Group+"/")
	var v1schema *apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Schema != nil {
			v1schema = v.Schema.OpenAPIV3Schema
		}
	}
	if v1schema == nil {
		t.Fatalf("Envoy Gateway %s's CRD of %s has no version %s", mod[1], d.kind, version)
	}
	var schema apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1schema, &schema, nil); err != nil {
		t.Fatal(err)
	}
	validator, _, err := validation.NewSchemaValidator(&schema)
	if err != nil {
		t.Fatal(err)
	}
	structural, err := structuralschema.NewStructural(&schema)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(d.whole, &obj); err != nil {
		t.Fatal(err)
	}
	if errs := validation.ValidateCustomResource(nil, obj, validator); len(errs) > 0 {
		t.Errorf("%s against Envoy Gateway %s's CRD: %v", d.kind, mod[1], errs.ToAggregate())
	}
	if dropped := pruning.PruneWithOptions(obj, structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(dropped) > 0 {
		t.Errorf("%s: Envoy Gateway %s's CRD has no field %v: the API server would drop it", d.kind, mod[1], dropped)
	}
}
