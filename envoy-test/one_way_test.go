package envoytest

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
)

// TestSendOneWayRequest_throughEnvoy: the corpus's audit policy
// (examples/policies/send-one-way-request.yaml) against an audit service
// that does not answer until the client has its own answer: the client is
// never held by it, and the audit service still gets the event.
func TestSendOneWayRequest_throughEnvoy(t *testing.T) {
	ca := newTestCA(t)
	got := make(chan string, 4)
	release := make(chan struct{})
	port := serveHTTPS(t, ca, "audit.contoso.com", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + string(b)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(202)
	})
	cfg, _ := json.Marshal(map[string]any{"policy": corpus.ExamplePolicy(envoyrun.Root(), "policies/send-one-way-request.yaml"),
		"upstreams": map[string]string{"audit.contoso.com": "audit"}})
	st := startStack(t, envoyrun.Params{PluginConfig: string(cfg),
		Clusters: []envoyrun.Cluster{{Name: "audit", Port: port, CAFile: ca.caFile(), SNI: "audit.contoso.com"}}})
	// The audit service answers only after this: a plugin that waited for
	// it would hold the client until the client gives up.
	defer close(release)
	if r := st.do(t, "POST", "/orders", nil, `{"item":1}`); r.status != 200 {
		t.Fatalf("status %d %q", r.status, r.body)
	}
	select {
	case event := <-got:
		if want := `POST /events {"method":"POST","path":"/orders"}`; event != want {
			t.Errorf("the audit service got %q, want %q", event, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the audit service got nothing")
	}
}
