package envoytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy/jwt"
)

// doc is one document of a manifest file: its apiVersion/kind, the whole
// document and its spec as JSON.
type doc struct {
	kind       string
	whole      []byte
	spec       []byte
	apiVersion string
}

// manifests reads the documents of a multi-document YAML file under build/,
// leaving out documents that hold only comments.
func manifests(t *testing.T, file string) []doc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(envoyrun.Root(), "build", file))
	if err != nil {
		t.Fatal(err)
	}
	return manifestDocs(t, file, raw)
}

// manifestDocs reads the documents of multi-document YAML (file names it).
func manifestDocs(t *testing.T, file string, raw []byte) []doc {
	t.Helper()
	var out []doc
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if m == nil {
			continue
		}
		whole, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(m["spec"])
		kind, _ := m["kind"].(string)
		version, _ := m["apiVersion"].(string)
		out = append(out, doc{kind: kind, apiVersion: version, whole: whole, spec: spec})
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no manifest", file)
	}
	return out
}

// strict reads JSON into a proto message, refusing unknown fields.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

// TestManifests_istio reads every Istio manifest into istio.io/api's types
// (unknown fields refused). Each file that attaches the plugin also hardens
// the connection manager and carries a plugin configuration with every seed
// example verbatim that the plugin's reader and a real Envoy accept; the
// identity provider's ServiceEntry and DestinationRule make the cluster
// validate-jwt calls, speaking TLS to the provider.
func TestManifests_istio(t *testing.T) {
	for _, file := range []string{"wasmplugin-ingress.yaml", "wasmplugin-sidecar.yaml", "envoyfilter.yaml", "identity-provider.yaml"} {
		t.Run(file, func(t *testing.T) {
			var configs []string
			hardened := false
			for _, d := range manifests(t, filepath.Join("istio", file)) {
				switch d.kind {
				case "WasmPlugin":
					configs = append(configs, wasmPlugin(t, d))
				case "EnvoyFilter":
					h, cfg := envoyFilter(t, d)
					hardened = hardened || h
					if cfg != "" {
						configs = append(configs, cfg)
					}
				case "ServiceEntry":
					var se networking.ServiceEntry
					if err := strict.Unmarshal(d.spec, &se); err != nil {
						t.Fatalf("not a ServiceEntry: %v", err)
					}
					if strings.Join(se.GetHosts(), ",") != "login.microsoftonline.com" || len(se.GetPorts()) != 1 || se.GetPorts()[0].GetNumber() != 443 {
						t.Errorf("the ServiceEntry must make outbound|443||login.microsoftonline.com: hosts %v, ports %v", se.GetHosts(), se.GetPorts())
					}
				case "DestinationRule":
					var dr networking.DestinationRule
					if err := strict.Unmarshal(d.spec, &dr); err != nil {
						t.Fatalf("not a DestinationRule: %v", err)
					}
					tls := dr.GetTrafficPolicy().GetTls()
					if tls.GetMode() != networking.ClientTLSSettings_SIMPLE || tls.GetSni() != "login.microsoftonline.com" {
						t.Errorf("the provider's cluster must speak TLS with its name: mode %v, sni %q", tls.GetMode(), tls.GetSni())
					}
				default:
					t.Fatalf("unexpected %s", d.kind)
				}
			}
			if file == "identity-provider.yaml" {
				return
			}
			if !hardened {
				t.Error("no EnvoyFilter hardens the connection manager")
			}
			if len(configs) != 1 {
				t.Fatalf("%d plugin configurations, want 1", len(configs))
			}
			accepts(t, configs[0])
		})
	}
}

// wasmPlugin checks a WasmPlugin: pinned by digest, never failing open,
// secrets from the VM's environment; it returns its plugin configuration.
func wasmPlugin(t *testing.T, d doc) string {
	t.Helper()
	var wp extensions.WasmPlugin
	if err := strict.Unmarshal(d.spec, &wp); err != nil {
		t.Fatalf("not a WasmPlugin: %v", err)
	}
	if wp.GetFailStrategy() != extensions.FailStrategy_FAIL_RELOAD || wp.GetPhase() != extensions.PluginPhase_AUTHN {
		t.Errorf("failStrategy %v, phase %v: want FAIL_RELOAD, AUTHN", wp.GetFailStrategy(), wp.GetPhase())
	}
	if !pinned(wp.GetUrl()) || !strings.HasPrefix(wp.GetUrl(), "oci://") {
		t.Errorf("url %q is not an oci:// image pinned by digest", wp.GetUrl())
	}
	if !strings.HasSuffix(wp.GetUrl(), "@sha256:"+wp.GetSha256()) {
		t.Errorf("sha256 %q is not the url's digest", wp.GetSha256())
	}
	if wp.GetImagePullPolicy() != extensions.PullPolicy_IfNotPresent {
		t.Errorf("imagePullPolicy %v", wp.GetImagePullPolicy())
	}
	if len(wp.GetVmConfig().GetEnv()) == 0 {
		t.Error("no vmConfig.env: secrets would have to be in pluginConfig")
	}
	cfg, err := wp.GetPluginConfig().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(cfg)
}

// pinned says an image reference ends in @sha256: and 64 hex digits.
func pinned(ref string) bool {
	i := strings.LastIndex(ref, "@sha256:")
	return i > 0 && sha256Hex.MatchString(ref[i+len("@sha256:"):])
}

// sha256Hex is a SHA-256 digest in lower-case hex.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// envoyFilter reads an EnvoyFilter's patches into Envoy's own types
// (go-control-plane): whether one hardens the connection manager, and the
// plugin configuration of the one that inserts the plugin ("" for none).
func envoyFilter(t *testing.T, d doc) (hardened bool, cfg string) {
	t.Helper()
	var ef networking.EnvoyFilter
	if err := strict.Unmarshal(d.spec, &ef); err != nil {
		t.Fatalf("not an EnvoyFilter: %v", err)
	}
	for _, p := range ef.GetConfigPatches() {
		switch p.GetApplyTo() {
		case networking.EnvoyFilter_NETWORK_FILTER:
			var hcm hcmv3.HttpConnectionManager
			typedConfig(t, p.GetPatch().GetValue(), &hcm)
			checkHardened(t, &hcm)
			hardened = p.GetPatch().GetOperation() == networking.EnvoyFilter_Patch_MERGE
		case networking.EnvoyFilter_HTTP_FILTER:
			var w wasmv3.Wasm
			typedConfig(t, p.GetPatch().GetValue(), &w)
			cfg = wasmFilter(t, &w)
		default:
			t.Errorf("unexpected patch of %v", p.GetApplyTo())
		}
	}
	return hardened, cfg
}

// checkHardened holds a connection manager to docs/deployment.md's
// settings.
func checkHardened(t *testing.T, hcm *hcmv3.HttpConnectionManager) {
	t.Helper()
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() || !hcm.GetStripTrailingHostDot() ||
		hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Errorf("the connection manager is not hardened: normalize_path %v, merge_slashes %v, strip_trailing_host_dot %v, path_with_escaped_slashes_action %v",
			hcm.GetNormalizePath().GetValue(), hcm.GetMergeSlashes(), hcm.GetStripTrailingHostDot(), hcm.GetPathWithEscapedSlashesAction())
	}
}

// wasmFilter checks Envoy's Wasm filter never fails open and returns the
// plugin configuration it carries.
func wasmFilter(t *testing.T, w *wasmv3.Wasm) string {
	t.Helper()
	if w.GetConfig().GetFailurePolicy().String() != "FAIL_RELOAD" || w.GetConfig().GetVmConfig().GetRuntime() != "envoy.wasm.runtime.v8" {
		t.Errorf("failure_policy %v, runtime %q", w.GetConfig().GetFailurePolicy(), w.GetConfig().GetVmConfig().GetRuntime())
	}
	var sv wrapperspb.StringValue
	if err := w.GetConfig().GetConfiguration().UnmarshalTo(&sv); err != nil {
		t.Fatalf("configuration is not a StringValue: %v", err)
	}
	return sv.GetValue()
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

// accepts checks that a plugin configuration holds every example of the
// seed verbatim, that the plugin's reader parses and compiles it as it does
// at start (the named value API_KEY from the VM's environment), and that
// the built module in a real Envoy starts with it (envoy --mode validate
// runs the plugin's start).
func accepts(t *testing.T, cfg string) {
	t.Helper()
	t.Setenv("API_KEY", "a-key-for-the-test")
	c, err := pluginconfig.Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("the plugin refuses the configuration: %v", err)
	}
	if _, err := c.Compile(noKeys{}, nil, time.Now, nil); err != nil {
		t.Fatalf("the plugin refuses the policy: %v", err)
	}
	for _, element := range []string{"validate-jwt", "check-header", "check-ip", "cors"} {
		if !strings.Contains(c.Policy, corpus.MustSeedBlock(envoyrun.Root(), element)) {
			t.Errorf("the policy does not hold the seed's <%s> example verbatim", element)
		}
	}
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := envoyrun.Render("apimguard.yaml", envoyrun.Params{ListenerPort: 1, AdminPort: 2, UpstreamPort: 3, WasmPath: wasm, PluginConfig: cfg, HostEnvKeys: []string{"API_KEY"}})
	if err != nil {
		t.Fatal(err)
	}
	envoyValidates(t, envoyBin, rendered)
}

// noKeys is a key store that has loaded no keys yet, as at start.
type noKeys struct{}

func (noKeys) KeySet(string) *jwt.KeySet { return nil }

// envoyValidates runs envoy --mode validate on a configuration: Envoy reads
// every field, opens every file it names and starts each Wasm plugin.
func envoyValidates(t *testing.T, envoyBin, config string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(envoyBin, "--mode", "validate", "--concurrency", "1", "-l", "warning", "-c", file)
	cmd.Env = append(os.Environ(), "API_KEY=a-key-for-the-test")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "' OK") {
		t.Errorf("envoy --mode validate refuses it (%v):\n%s", err, out)
	}
}
