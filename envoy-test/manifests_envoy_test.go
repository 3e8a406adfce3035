package envoytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// TestManifests_plainEnvoy reads the plain-Envoy configurations into
// go-control-plane's Bootstrap (unknown fields refused, every field's
// constraints checked), holds them to the hardened connection manager and
// TLS 1.2 in and out, checks the two differ only in where the module comes
// from, and has a real Envoy validate each with the built module standing
// in at /etc/envoy/apimguard.wasm.
func TestManifests_plainEnvoy(t *testing.T) {
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		t.Fatal(err)
	}
	local, localText := bootstrap(t, "apimguard.yaml")
	remote, remoteText := bootstrap(t, "apimguard-remote.yaml")
	for name, file := range map[string]struct {
		b    *bootstrapv3.Bootstrap
		text string
	}{"apimguard.yaml": {local, localText}, "apimguard-remote.yaml": {remote, remoteText}} {
		b := file.b
		t.Run(name, func(t *testing.T) {
			if err := b.ValidateAll(); err != nil {
				t.Fatal(err)
			}
			listeners := b.GetStaticResources().GetListeners()
			if len(listeners) != 1 || len(listeners[0].GetFilterChains()) != 1 {
				t.Fatalf("want one listener with one filter chain")
			}
			chain := listeners[0].GetFilterChains()[0]
			var down tlsv3.DownstreamTlsContext
			anyInto(t, chain.GetTransportSocket().GetTypedConfig(), &down)
			if v := down.GetCommonTlsContext().GetTlsParams().GetTlsMinimumProtocolVersion(); v != tlsv3.TlsParameters_TLSv1_2 {
				t.Errorf("the listener's TLS floor is %v, want TLSv1_2", v)
			}
			hcm, w := plugin(t, b)
			checkHardened(t, hcm)
			if !hcm.GetUseRemoteAddress().GetValue() {
				t.Error("use_remote_address is not set: check-ip would believe X-Forwarded-For")
			}
			accepts(t, wasmFilter(t, w))
			// The access log prints the plugin's decision, which the
			// configuration sets.
			if logs := hcm.GetAccessLog(); len(logs) != 1 {
				t.Errorf("%d access logs, want 1", len(logs))
			} else {
				var out streamv3.StdoutAccessLog
				anyInto(t, logs[0].GetTypedConfig(), &out)
				if !strings.Contains(out.GetLogFormat().GetTextFormatSource().GetInlineString(), "%FILTER_STATE(wasm.apimguard:PLAIN)%") ||
					!strings.Contains(wasmFilter(t, w), `"accessLog": true`) {
					t.Errorf("the access log does not print the plugin's decision: %v", &out)
				}
			}
			for _, c := range b.GetStaticResources().GetClusters() {
				if c.GetName() == "backend" {
					continue
				}
				var up tlsv3.UpstreamTlsContext
				anyInto(t, c.GetTransportSocket().GetTypedConfig(), &up)
				if up.GetSni() == "" || up.GetCommonTlsContext().GetTlsParams().GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 ||
					up.GetCommonTlsContext().GetValidationContext().GetTrustedCa() == nil {
					t.Errorf("cluster %s: TLS 1.2 or higher with SNI and a trusted CA, got %v", c.GetName(), &up)
				}
			}
			// A real Envoy: the module, the listener's certificate and key
			// under a directory that stands in for /etc/envoy/.
			envoyValidates(t, envoyBin, strings.ReplaceAll(file.text, "/etc/envoy/", etcEnvoy(t, wasm)+"/"))
		})
	}
	// local: the module from a file; remote: fetched, pinned by SHA-256.
	code := func(b *bootstrapv3.Bootstrap) *wasmv3.Wasm { _, w := plugin(t, b); return w }
	if f := code(local).GetConfig().GetVmConfig().GetCode().GetLocal().GetFilename(); f != "/etc/envoy/apimguard.wasm" {
		t.Errorf("apimguard.yaml loads %q", f)
	}
	r := code(remote).GetConfig().GetVmConfig().GetCode().GetRemote()
	if !sha256Hex.MatchString(r.GetSha256()) || r.GetHttpUri().GetCluster() != "artifacts" {
		t.Errorf("apimguard-remote.yaml: remote code %v, want a sha256 and the artifacts cluster", r)
	}
	// Apart from that, the two are the same file.
	a, b := proto.Clone(local).(*bootstrapv3.Bootstrap), proto.Clone(remote).(*bootstrapv3.Bootstrap)
	for _, x := range []*bootstrapv3.Bootstrap{a, b} {
		hcm, w := plugin(t, x)
		w.GetConfig().GetVmConfig().Code = &corev3.AsyncDataSource{}
		hcm.GetHttpFilters()[0].GetTypedConfig().MarshalFrom(w)
		x.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().MarshalFrom(hcm)
		var kept []*clusterv3.Cluster
		for _, c := range x.GetStaticResources().GetClusters() {
			if c.GetName() != "artifacts" {
				kept = append(kept, c)
			}
		}
		x.GetStaticResources().Clusters = kept
	}
	if !proto.Equal(a, b) {
		t.Error("apimguard.yaml and apimguard-remote.yaml differ in more than where the module comes from")
	}
}

// bootstrap reads build/envoy/name as Envoy's Bootstrap; text is the file.
func bootstrap(t *testing.T, name string) (b *bootstrapv3.Bootstrap, text string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(envoyrun.Root(), "build", "envoy", name))
	if err != nil {
		t.Fatal(err)
	}
	return bootstrapFrom(t, name, raw), string(raw)
}

// bootstrapFrom reads YAML as Envoy's Bootstrap (unknown fields refused).
func bootstrapFrom(t *testing.T, name string, raw []byte) *bootstrapv3.Bootstrap {
	t.Helper()
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := strict.Unmarshal(js, b); err != nil {
		t.Fatalf("%s is not an Envoy bootstrap: %v", name, err)
	}
	return b
}

// plugin unpacks the listener's connection manager and its first HTTP
// filter, the plugin.
func plugin(t *testing.T, b *bootstrapv3.Bootstrap) (*hcmv3.HttpConnectionManager, *wasmv3.Wasm) {
	t.Helper()
	var hcm hcmv3.HttpConnectionManager
	anyInto(t, b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig(), &hcm)
	var w wasmv3.Wasm
	anyInto(t, hcm.GetHttpFilters()[0].GetTypedConfig(), &w)
	return &hcm, &w
}

// anyInto unpacks a typed_config into m.
func anyInto(t *testing.T, a interface {
	UnmarshalTo(proto.Message) error
}, m proto.Message) {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("typed_config is not %T: %v", m, err)
	}
}

// etcEnvoy makes a directory laid out as the shipped configurations expect
// /etc/envoy/: the module, and a listener certificate and key under tls/.
func etcEnvoy(t *testing.T, wasm string) string {
	t.Helper()
	ca := newTestCA(t)
	_, cert, key := ca.leaf("edge", "api.example.com")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{wasm: "apimguard.wasm", cert: "tls/server.pem", key: "tls/server-key.pem"} {
		if err := os.Symlink(from, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestManifests_envoyGateway reads the Envoy Gateway manifest into Envoy
// Gateway's own API types and checks it against the CRDs of the oldest
// release it claims (egMinimum; unknown fields refused): the connection manager hardened and TLS 1.2 at its listeners,
// the identity provider's cluster (go-control-plane's Cluster) speaking
// TLS 1.2 and named in the plugin's upstreams, the module pinned by digest
// and never failing open, and a plugin configuration the plugin and a real
// Envoy accept.
func TestManifests_envoyGateway(t *testing.T) {
	var cluster string
	var cfg []byte
	kinds := map[string]bool{}
	for _, d := range manifests(t, filepath.Join("envoy-gateway", "apimguard.yaml")) {
		if d.apiVersion != "gateway.envoyproxy.io/v1alpha1" {
			t.Fatalf("apiVersion %s", d.apiVersion)
		}
		kinds[d.kind] = true
		switch d.kind {
		case "ClientTrafficPolicy":
			var p egv1a1.ClientTrafficPolicy
			egStrict(t, d, &p)
			s := p.Spec
			if s.Path == nil || s.Path.EscapedSlashesAction == nil || *s.Path.EscapedSlashesAction != egv1a1.RejectRequestAction ||
				(s.Path.DisableMergeSlashes != nil && *s.Path.DisableMergeSlashes) {
				t.Errorf("path: want escapedSlashesAction RejectRequest and slashes merged, got %+v", s.Path)
			}
			if s.Headers == nil || s.Headers.Host == nil || s.Headers.Host.StripTrailingHostDot == nil || !*s.Headers.Host.StripTrailingHostDot {
				t.Errorf("headers.host: want stripTrailingHostDot, got %+v", s.Headers)
			}
			if s.TLS == nil || s.TLS.MinVersion == nil || *s.TLS.MinVersion != egv1a1.TLSv12 {
				t.Errorf("tls: want minVersion 1.2, got %+v", s.TLS)
			}
		case "EnvoyPatchPolicy":
			var p egv1a1.EnvoyPatchPolicy
			egStrict(t, d, &p)
			if len(p.Spec.JSONPatches) != 1 || p.Spec.JSONPatches[0].Type != egv1a1.ClusterEnvoyResourceType || p.Spec.JSONPatches[0].Operation.Value == nil {
				t.Fatalf("want one patch adding a cluster, got %+v", p.Spec.JSONPatches)
			}
			var c clusterv3.Cluster
			if err := strict.Unmarshal(p.Spec.JSONPatches[0].Operation.Value.Raw, &c); err != nil {
				t.Fatalf("the patch is not an Envoy cluster: %v", err)
			}
			if err := c.ValidateAll(); err != nil {
				t.Fatal(err)
			}
			var up tlsv3.UpstreamTlsContext
			anyInto(t, c.GetTransportSocket().GetTypedConfig(), &up)
			if up.GetSni() != "login.microsoftonline.com" || up.GetCommonTlsContext().GetTlsParams().GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 {
				t.Errorf("the provider's cluster: sni %q, TLS floor %v", up.GetSni(), up.GetCommonTlsContext().GetTlsParams().GetTlsMinimumProtocolVersion())
			}
			cluster = c.GetName()
		case "EnvoyExtensionPolicy":
			var p egv1a1.EnvoyExtensionPolicy
			egStrict(t, d, &p)
			if len(p.Spec.Wasm) != 1 {
				t.Fatalf("%d Wasm extensions, want 1", len(p.Spec.Wasm))
			}
			w := p.Spec.Wasm[0]
			if w.Code.Type != egv1a1.ImageWasmCodeSourceType || w.Code.Image == nil || !pinned(w.Code.Image.URL) {
				t.Errorf("code: want an image pinned by digest, got %+v", w.Code)
			}
			if w.FailOpen == nil || *w.FailOpen {
				t.Error("failOpen must be false, and said")
			}
			if w.Env == nil || len(w.Env.HostKeys) == 0 {
				t.Error("no env.hostKeys: secrets would have to be in config")
			}
			if w.Config == nil {
				t.Fatal("no config")
			}
			cfg = w.Config.Raw
		default:
			t.Fatalf("unexpected %s", d.kind)
		}
	}
	raw, err := os.ReadFile(filepath.Join(envoyrun.Root(), "build", "envoy-gateway", "apimguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(raw), "\n"); !strings.Contains(first, "Envoy Gateway ("+egMinimum+" or later)") {
		t.Errorf("the manifest's first line does not name the minimum the tests check, %s: %q", egMinimum, first)
	}
	if len(kinds) != 3 {
		t.Fatalf("want a ClientTrafficPolicy, an EnvoyPatchPolicy and an EnvoyExtensionPolicy, got %v", kinds)
	}
	accepts(t, string(cfg))
	if !strings.Contains(string(cfg), `"login.microsoftonline.com":"`+cluster+`"`) {
		t.Errorf("the plugin's upstreams do not send the provider's host to the patched cluster %q: %s", cluster, cfg)
	}
}

// egStrict reads a document into an Envoy Gateway type, refusing unknown
// fields.
func egStrict(t *testing.T, d doc, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(d.whole, into); err != nil {
		t.Fatalf("not a %s: %v", d.kind, err)
	}
	egCRD(t, d)
}
