package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"gopkg.in/yaml.v3"
	extensions "istio.io/api/extensions/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/apimguard/apimguard/envoy-test/internal/envoytest"
	"github.com/apimguard/apimguard/internal/pluginconfig"
)

// manifest reads a Kubernetes manifest and returns its kind and its spec
// as JSON (the form Istio's protos read).
func manifest(t *testing.T, file string) (kind string, spec []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(envoytest.Root(), "build", "istio", file))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Spec       map[string]any `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	spec, err = json.Marshal(m.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return m.APIVersion + "/" + m.Kind, spec
}

// strict reads JSON into a proto message, refusing unknown fields.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

// The WasmPlugins parse into Istio's own API type (istio.io/api), pin the
// module by digest, never fail open, and carry a plugin configuration the
// plugin's own reader accepts.
func TestManifests_wasmPlugins(t *testing.T) {
	for _, file := range []string{"wasmplugin-ingress.yaml", "wasmplugin-sidecar.yaml"} {
		t.Run(file, func(t *testing.T) {
			kind, spec := manifest(t, file)
			if kind != "extensions.istio.io/v1alpha1/WasmPlugin" {
				t.Fatalf("kind %s", kind)
			}
			var wp extensions.WasmPlugin
			if err := strict.Unmarshal(spec, &wp); err != nil {
				t.Fatalf("not a WasmPlugin: %v", err)
			}
			if wp.GetFailStrategy() != extensions.FailStrategy_FAIL_RELOAD || wp.GetPhase() != extensions.PluginPhase_AUTHN {
				t.Errorf("failStrategy %v, phase %v: want FAIL_RELOAD, AUTHN", wp.GetFailStrategy(), wp.GetPhase())
			}
			if u := wp.GetUrl(); len(u) < len("oci://@sha256:")+64 || u[:6] != "oci://" {
				t.Errorf("url %q is not an oci:// image pinned by digest", u)
			}
			if len(wp.GetVmConfig().GetEnv()) == 0 {
				t.Error("no vmConfig.env: secrets would have to be in pluginConfig")
			}
			cfg, err := wp.GetPluginConfig().MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			accepts(t, cfg)
		})
	}
}

// The EnvoyFilter parses into Istio's EnvoyFilter, its patch into Envoy's
// own Wasm filter type (go-control-plane), and the filter's configuration
// is one the plugin accepts.
func TestManifests_envoyFilter(t *testing.T) {
	kind, spec := manifest(t, "envoyfilter.yaml")
	if kind != "networking.istio.io/v1alpha3/EnvoyFilter" {
		t.Fatalf("kind %s", kind)
	}
	var ef networking.EnvoyFilter
	if err := strict.Unmarshal(spec, &ef); err != nil {
		t.Fatalf("not an EnvoyFilter: %v", err)
	}
	if len(ef.GetConfigPatches()) != 2 {
		t.Fatalf("%d patches, want 2", len(ef.GetConfigPatches()))
	}
	// The first hardens the connection manager (docs/deployment.md).
	var hcm hcmv3.HttpConnectionManager
	typedConfig(t, ef.GetConfigPatches()[0].GetPatch().GetValue(), &hcm)
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() || !hcm.GetStripTrailingHostDot() ||
		hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Errorf("the connection manager is not hardened: normalize_path %v, merge_slashes %v, strip_trailing_host_dot %v, path_with_escaped_slashes_action %v",
			hcm.GetNormalizePath().GetValue(), hcm.GetMergeSlashes(), hcm.GetStripTrailingHostDot(), hcm.GetPathWithEscapedSlashesAction())
	}
	// The second inserts the plugin.
	var w wasmv3.Wasm
	typedConfig(t, ef.GetConfigPatches()[1].GetPatch().GetValue(), &w)
	if w.GetConfig().GetFailurePolicy().String() != "FAIL_RELOAD" || w.GetConfig().GetVmConfig().GetRuntime() != "envoy.wasm.runtime.v8" {
		t.Errorf("failure_policy %v, runtime %q", w.GetConfig().GetFailurePolicy(), w.GetConfig().GetVmConfig().GetRuntime())
	}
	var sv wrapperspb.StringValue
	if err := w.GetConfig().GetConfiguration().UnmarshalTo(&sv); err != nil {
		t.Fatalf("configuration is not a StringValue: %v", err)
	}
	accepts(t, []byte(sv.GetValue()))
}

// typedConfig reads a patch value's typed_config (an Any) into m, Envoy's
// own type for it.
func typedConfig(t *testing.T, value *structpb.Struct, m proto.Message) {
	t.Helper()
	raw, err := value.GetFields()["typed_config"].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var typed anypb.Any
	if err := strict.Unmarshal(raw, &typed); err != nil {
		t.Fatalf("typed_config: %v", err)
	}
	if err := typed.UnmarshalTo(m); err != nil {
		t.Fatalf("typed_config is not %T: %v", m, err)
	}
}

// accepts checks that the plugin reads and compiles a configuration, as it
// does at start (named values from the VM environment: API_KEY).
func accepts(t *testing.T, cfg []byte) {
	t.Helper()
	t.Setenv("API_KEY", "a-key-for-the-test")
	c, err := pluginconfig.Parse(cfg)
	if err != nil {
		t.Fatalf("the plugin refuses the configuration: %v", err)
	}
	if _, err := c.Compile(nil, nil, time.Now, nil); err != nil {
		t.Fatalf("the plugin refuses the policy: %v", err)
	}
}
