package envoytest

import (
	"encoding/json"
	"gopkg.in/yaml.v3"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/policy"
)

const monitorHost = "dce-1.eastus-1.ingest.monitor.azure.com"

// monitorStandIn is a local HTTPS stand-in for Azure Monitor's Logs
// Ingestion endpoint: it records every batch, answers as its script says
// (then 204), and keeps the records of the batches it accepted.
type monitorStandIn struct {
	mu       sync.Mutex
	script   []int  // statuses for the next batches (429 with Retry-After: 1)
	down     string // "503": every batch 503 with Retry-After: 1; "hang": no answer
	attempts int
	accepted []map[string]any
	batches  []int // record counts of the accepted batches
	bad      []string
}

func (m *monitorStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var recs []map[string]any
	err := json.Unmarshal(body, &recs)
	m.mu.Lock()
	m.attempts++
	switch {
	case r.Method != "POST" || r.URL.Path != "/dataCollectionRules/dcr-00aa/streams/Custom-ApimGuard_CL" || r.URL.RawQuery != "api-version=2023-01-01":
		m.bad = append(m.bad, "request "+r.Method+" "+r.URL.String())
	case r.Header.Get("Authorization") != "Bearer mi-token-1.sig" || r.Header.Get("Content-Type") != "application/json":
		m.bad = append(m.bad, "headers "+r.Header.Get("Content-Type")+" "+strings.Repeat("*", len(r.Header.Get("Authorization"))))
	case err != nil || len(recs) == 0:
		m.bad = append(m.bad, "body "+string(body))
	}
	status, down := 204, m.down
	if len(m.script) > 0 {
		status, m.script = m.script[0], m.script[1:]
	} else if down == "503" {
		status = 503
	}
	if status == 204 && down != "hang" {
		m.accepted = append(m.accepted, recs...)
		m.batches = append(m.batches, len(recs))
	}
	m.mu.Unlock()
	if down == "hang" && status == 204 {
		select { // past the plugin's 5 s call timeout
		case <-time.After(8 * time.Second):
		case <-r.Context().Done():
		}
		return
	}
	if status != 204 {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
}

func (m *monitorStandIn) set(down string, script ...int) {
	m.mu.Lock()
	m.down, m.script = down, script
	m.mu.Unlock()
}

// paths returns the paths of the accepted records that start with prefix.
func (m *monitorStandIn) paths(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.accepted {
		if p, _ := r["path"].(string); strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// waitFor polls cond for up to a minute (a batch waits for its flush
// interval, a retry for its Retry-After).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// TestAzureMonitor_throughEnvoy: denials reach a local HTTPS stand-in for
// the Logs Ingestion API in batches, with the managed identity's token for
// https://monitor.azure.com and the columns of build/azure's template;
// 429 then 500 lose nothing; down for longer, the records over the
// worker's buffer are dropped and counted, and requests are answered as
// fast as on a listener without export in the same Envoy.
func TestAzureMonitor_throughEnvoy(t *testing.T) {
	ca := newTestCA(t)
	src := startTokenSource(t, nil)
	mon := &monitorStandIn{}
	port := serveHTTPS(t, ca, monitorHost, mon.serve)
	pol := `<policies><inbound><check-header name="x-api-key" failed-check-httpcode="401" failed-check-error-message="Missing key" ignore-case="false"><value>k-1</value></check-header></inbound></policies>`
	cfg := `{"policy": ` + policy.JSONString(pol) + `, "eventsPerSecond": -1, "managedIdentity": {"source": "imds"},
	  "events": {"azureMonitor": {"endpoint": "https://` + monitorHost + `", "ruleId": "dcr-00aa", "stream": "Custom-ApimGuard_CL"}, "batchEvents": 5, "flushSeconds": 1, "bufferEvents": 20},
	  "upstreams": {"169.254.169.254": "imds", "` + monitorHost + `": "monitor"}}`
	hub := &hubStandIn{}
	hubPort := serveHTTPS(t, ca, hubHost, hub.serve)
	plainPort, err := envoyrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hubListener, err := envoyrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t, envoyrun.Params{PluginConfig: cfg,
		Clusters: []envoyrun.Cluster{{Name: "imds", Port: src.port}, {Name: "monitor", Port: port, CAFile: ca.caFile(), SNI: monitorHost},
			{Name: "eventhubs", Port: hubPort, CAFile: ca.caFile(), SNI: hubHost}},
		Extra: []envoyrun.Listener{{Port: plainPort, PluginConfig: `{"policy": ` + policy.JSONString(pol) + `, "eventsPerSecond": -1}`},
			{Port: hubListener, PluginConfig: hubConfig}}})
	plain := &stack{envoy: st.envoy.On(plainPort), upstream: st.upstream}
	deny := func(s *stack, path, key string) time.Duration {
		t.Helper()
		h := map[string][]string{}
		if key != "" {
			h["x-api-key"] = []string{key}
		}
		start := time.Now()
		if r := s.do(t, "GET", path, h, ""); r.status != 401 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		return time.Since(start)
	}

	t.Run("batched, with the template's columns and the bearer token", func(t *testing.T) {
		for i := range 6 {
			deny(st, "/one/"+itoa(i), "")
		}
		deny(st, "/one/6", "wrong-secret-9")
		waitFor(t, "7 records", func() bool { return len(mon.paths("/one/")) == 7 })
		mon.mu.Lock()
		defer mon.mu.Unlock()
		if len(mon.bad) > 0 {
			t.Fatalf("the stand-in saw %q", mon.bad)
		}
		for _, n := range mon.batches {
			if n > 5 {
				t.Errorf("a batch of %d records (batchEvents 5)", n)
			}
		}
		if src.form.Get("resource") != "" || src.last.URL.Query().Get("resource") != "https://monitor.azure.com" {
			t.Errorf("token request %s", src.last.URL)
		}
		stream := templateColumns(t, "stream")
		for _, r := range mon.accepted {
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), "wrong-secret-9") {
				t.Fatalf("a record carries the key the client sent: %s", b)
			}
			if r["event"] != "deny" || r["policy"] != "check-header" || r["status"] != float64(401) || r["section"] != "inbound" ||
				r["method"] != "GET" || r["clientIp"] != "127.0.0.1" || r["requestId"] == "" || r["api"] != "" {
				t.Errorf("record %s", b)
			}
			if ts, err := time.Parse(time.RFC3339, r["TimeGenerated"].(string)); err != nil || time.Since(ts) > 5*time.Minute {
				t.Errorf("TimeGenerated of %s", b)
			}
			for k := range r {
				if !slices.Contains(stream, k) {
					t.Errorf("the plugin sends %q, which the data collection rule's stream does not declare (build/azure/apimguard-monitor.json)", k)
				}
			}
		}
		if r := mon.accepted[len(mon.accepted)-1]; r["reason"] != "HeaderValueNotAllowed" {
			t.Errorf("last reason %v", r["reason"])
		}
	})

	t.Run("429, then 500: nothing lost", func(t *testing.T) {
		mon.mu.Lock()
		before := mon.attempts
		mon.mu.Unlock()
		mon.set("", 429, 500)
		for i := range 6 {
			deny(st, "/two/"+itoa(i), "")
		}
		want := []string{"/two/0", "/two/1", "/two/2", "/two/3", "/two/4", "/two/5"}
		waitFor(t, "the six records after 429 and 500", func() bool { return len(mon.paths("/two/")) >= 6 })
		if got := mon.paths("/two/"); !slices.Equal(got, want) {
			t.Errorf("accepted %q, want each of %q once", got, want)
		}
		mon.mu.Lock()
		defer mon.mu.Unlock()
		if mon.attempts-before < 3 {
			t.Errorf("%d attempts, want at least 3 (429, 500, then 204)", mon.attempts-before)
		}
	})

	t.Run("down: dropped and counted, latency kept", func(t *testing.T) {
		// The stand-in takes batches and never answers: once a full batch
		// hangs there, requests on the exporting listener and on the plain
		// one, interleaved.
		mon.mu.Lock()
		before := mon.attempts
		mon.mu.Unlock()
		mon.set("hang")
		for i := range 5 {
			deny(st, "/three/"+itoa(i), "")
		}
		waitFor(t, "a batch hanging at the stand-in", func() bool { mon.mu.Lock(); defer mon.mu.Unlock(); return mon.attempts > before })
		var withExport, without []time.Duration
		for i := 5; i < 20; i++ {
			withExport = append(withExport, deny(st, "/three/"+itoa(i), ""))
			without = append(without, deny(plain, "/plain/"+itoa(i), ""))
		}
		slices.Sort(withExport)
		slices.Sort(without)
		t.Logf("latency while the sink hangs: median %v (max %v) with export, %v (max %v) without", withExport[7], withExport[14], without[7], without[14])
		// A request that waited for the export would take the call's 5 s.
		if withExport[14] > 2*time.Second || withExport[7] > 2*without[7]+20*time.Millisecond {
			t.Errorf("requests wait for the export: median %v, max %v; without export median %v", withExport[7], withExport[14], without[7])
		}
		// Refusing now, with the 20 records of the buffer (bufferEvents)
		// held: 15 more are dropped and counted.
		mon.set("503")
		for i := range 15 {
			deny(st, "/four/"+itoa(i), "")
		}
		var m map[string]string
		waitFor(t, "15 dropped", func() bool {
			m = prometheus(t, st)
			return m[`apimguard_azure_monitor_events{outcome="dropped"}`] == "15"
		})
		if m[`apimguard_export_batches{outcome="retried"}`] == "" {
			t.Errorf("no retried batches counted: %v", m)
		}
		if !st.logged(`apimguard: export to azure monitor failed`) {
			t.Error("no log line for the failing export")
		}
		// Back: the 20 held records arrive, the dropped ones never do.
		mon.set("")
		waitFor(t, "the 20 held records", func() bool { return len(mon.paths("/three/")) == 20 })
		if got := mon.paths("/four/"); len(got) != 0 {
			t.Errorf("records past the buffer arrived: %q", got)
		}
		if strings.Contains(st.envoy.Log(), "mi-token-") {
			t.Error("the token is in Envoy's log")
		}
	})

	t.Run("log-to-eventhub: Microsoft's example, a partition key, a body cut to 200 KB", func(t *testing.T) {
		hs := &stack{envoy: st.envoy.On(hubListener), upstream: st.upstream}
		big := strings.Repeat("b", 300*1024)
		for i, body := range []string{"small", big} {
			if r := hs.do(t, "POST", "/orders/"+itoa(i), map[string][]string{"x-tenant": {"t-" + itoa(i)}}, body); r.status != 200 {
				t.Fatalf("request %d: %d %s", i, r.status, r.body)
			}
		}
		// More than 16 messages in one request: the rest are dropped and
		// counted, the request is served.
		if r := hs.do(t, "GET", "/flood", nil, ""); r.status != 200 {
			t.Fatalf("flood: %d %s", r.status, r.body)
		}
		waitFor(t, "the messages at the event hub", func() bool { hub.mu.Lock(); defer hub.mu.Unlock(); return len(hub.msgs) >= 4+16 })
		time.Sleep(time.Second) // none more arrive
		hub.mu.Lock()
		defer hub.mu.Unlock()
		if len(hub.bad) > 0 {
			t.Fatalf("the event hub stand-in saw %q", hub.bad)
		}
		// string.Join(",", DateTime.UtcNow, context.Deployment.ServiceName,
		// context.RequestId, context.Request.IpAddress, context.Operation.Name)
		exampleLine := regexp.MustCompile(`^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M,contoso-gw,[0-9a-f-]{36},127\.0\.0\.1,(post-order|flood)$`)
		var example, keyed, flood []hubMessage
		for _, m := range hub.msgs {
			switch {
			case m.Body == "flood":
				flood = append(flood, m)
			case m.BrokerProperties.PartitionKey != "":
				keyed = append(keyed, m)
			case exampleLine.MatchString(m.Body):
				example = append(example, m)
			default:
				t.Errorf("unexpected message %.100q", m.Body)
			}
		}
		// /flood: Microsoft's line and 19 more, 16 kept.
		if len(example) != 3 || len(flood) != 15 {
			t.Errorf("%d example lines (want 3), %d flood messages (want 15): %+v", len(example), len(flood), example)
		}
		if len(keyed) != 2 || keyed[0].BrokerProperties.PartitionKey != "t-0" || keyed[0].Body != "small" ||
			keyed[1].BrokerProperties.PartitionKey != "t-1" || keyed[1].Body != big[:200*1024] {
			t.Errorf("keyed messages: %d", len(keyed))
		}
		if src.last.URL.Query().Get("resource") != "https://eventhubs.azure.net" {
			t.Errorf("token request %s", src.last.URL)
		}
		var m map[string]string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if m = prometheus(t, st); m[`apimguard_eventhub_messages{outcome="dropped"}`] == "4" {
				return
			}
		}
		t.Errorf("apimguard_eventhub_messages{outcome=\"dropped\"} = %q, want 4 (%v)", m[`apimguard_eventhub_messages{outcome="dropped"}`], m)
	})
}

const hubHost = "contoso.servicebus.windows.net"

// hubConfig logs Microsoft's example line and each request's body (keyed by
// the client's tenant header) to the logger contoso-logger, and /flood
// makes 20 messages in one request.
var hubConfig = `{"policy": ` + policy.JSONString(`<policies><inbound>
<log-to-eventhub logger-id ='contoso-logger'>
  @( string.Join(",", DateTime.UtcNow, context.Deployment.ServiceName, context.RequestId, context.Request.IpAddress, context.Operation.Name) )
</log-to-eventhub>
<choose><when condition="@(context.Request.Url.Path == &quot;/flood&quot;)">`+strings.Repeat(`<log-to-eventhub logger-id="contoso-logger">flood</log-to-eventhub>`, 19)+`</when>
<otherwise><log-to-eventhub logger-id="contoso-logger" partition-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-tenant&quot;, &quot;&quot;))">@(context.Request.Body.As&lt;string&gt;(preserveContent: true))</log-to-eventhub></otherwise></choose>
</inbound></policies>`) + `, "deployment": {"serviceName": "contoso-gw"},
  "apis": [{"name": "orders", "pathPrefix": "/", "operations": [{"name": "post-order", "method": "POST", "urlTemplate": "/orders/{id}"}, {"name": "flood", "method": "GET", "urlTemplate": "/flood"}]}], "managedIdentity": {"source": "imds"},
  "loggers": {"contoso-logger": {"type": "azureEventHub", "endpointAddress": "` + hubHost + `", "name": "apim-logs", "identityClientId": "SystemAssigned"}},
  "events": {"flushSeconds": 1},
  "upstreams": {"169.254.169.254": "imds", "` + hubHost + `": "eventhubs"}}`

type hubMessage struct {
	Body             string
	BrokerProperties struct{ PartitionKey string }
}

// hubStandIn is a local HTTPS stand-in for an Event Hubs namespace's REST
// endpoint: it keeps the messages of every batch and answers 201.
type hubStandIn struct {
	mu   sync.Mutex
	msgs []hubMessage
	bad  []string
}

func (h *hubStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var batch []hubMessage
	err := json.Unmarshal(body, &batch)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case r.Method != "POST" || r.URL.Path != "/apim-logs/messages" || r.URL.RawQuery != "timeout=60&api-version=2014-01":
		h.bad = append(h.bad, "request "+r.Method+" "+r.URL.String())
	case !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer mi-token-") || r.Header.Get("Content-Type") != "application/vnd.microsoft.servicebus.json":
		h.bad = append(h.bad, "headers")
	case err != nil:
		h.bad = append(h.bad, "body "+err.Error())
	}
	keys := map[string]bool{}
	for _, m := range batch {
		keys[m.BrokerProperties.PartitionKey] = true
	}
	if len(keys) > 1 {
		h.bad = append(h.bad, "a batch with several partition keys")
	}
	h.msgs = append(h.msgs, batch...)
	w.WriteHeader(201)
}

// templateColumns returns the column names of build/azure's template:
// "stream" those of the data collection rule's stream declaration (the
// fields the plugin sends), "table" those of the custom table.
func templateColumns(t *testing.T, which string) []string {
	t.Helper()
	tmpl := readTemplate(t)
	var cols []struct{ Name string }
	switch which {
	case "stream":
		cols = tmpl.Variables.Columns
	default:
		for _, r := range tmpl.Resources {
			if r.Type == "Microsoft.OperationalInsights/workspaces/tables" {
				cols = r.Properties.Schema.Columns
			}
		}
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	return names
}

type armTemplate struct {
	Variables struct {
		Columns []struct{ Name string }
	}
	Resources []struct {
		Type       string
		Name       string
		Properties struct {
			DisplayName string
			WindowSize  string
			Schema      struct{ Columns []struct{ Name string } }
			DataFlows   []struct{ TransformKql string }
			Criteria    struct{ AllOf []struct{ Query string } }
		}
	}
}

func readTemplate(t *testing.T) armTemplate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(envoyrun.Root(), "build", "azure", "apimguard-monitor.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl armTemplate
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatalf("build/azure/apimguard-monitor.json does not parse: %v", err)
	}
	return tmpl
}

// kqlWords are the KQL operators, functions and keywords the queries use;
// any other name in a query must be a column of the table or a name the
// query makes (x = ...).
var kqlWords = map[string]bool{"where": true, "in": true, "and": true, "or": true, "extend": true, "iff": true, "summarize": true, "sumif": true,
	"ago": true, "between": true, "by": true, "count": true, "project": true, "away": true, "source": true, "toint": true, "bin": true, "sum": true, "top": true}

// TestAzureMonitor_template: the ARM template parses, has every resource
// docs/operations.md names, and its queries (the alert rules' and the
// KQL blocks of docs/operations.md) use only the table's columns.
func TestAzureMonitor_template(t *testing.T) {
	tmpl := readTemplate(t)
	types := map[string]int{}
	for _, r := range tmpl.Resources {
		types[r.Type]++
	}
	for typ, n := range map[string]int{"Microsoft.OperationalInsights/workspaces/tables": 1, "Microsoft.Insights/dataCollectionEndpoints": 1,
		"Microsoft.Insights/dataCollectionRules": 1, "Microsoft.Authorization/roleAssignments": 1, "Microsoft.Insights/scheduledQueryRules": 3} {
		if types[typ] != n {
			t.Errorf("%d resources of type %s, want %d", types[typ], typ, n)
		}
	}
	table := templateColumns(t, "table")
	stream := templateColumns(t, "stream")
	// The table is the stream with count renamed suppressed (the rule's
	// transformation).
	renamed := slices.Clone(stream)
	for i, c := range renamed {
		if c == "count" {
			renamed[i] = "suppressed"
		}
	}
	if !slices.Equal(renamed, table) {
		t.Errorf("table columns %q, stream columns %q", table, stream)
	}
	doc, err := os.ReadFile(filepath.Join(envoyrun.Root(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{}
	for _, r := range tmpl.Resources {
		for _, a := range r.Properties.Criteria.AllOf {
			queries[r.Properties.DisplayName] = a.Query
			if !strings.Contains(string(doc), r.Properties.DisplayName) {
				t.Errorf("docs/operations.md does not name the alert %s", r.Properties.DisplayName)
			}
		}
	}
	blocks := regexp.MustCompile("(?s)```kusto\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		t.Error("docs/operations.md has no kusto blocks")
	}
	for i, b := range blocks {
		queries["docs/operations.md block "+itoa(i+1)] = b[1]
	}
	strs := regexp.MustCompile(`"[^"]*"|'[^']*'|\b\d+(\.\d+)?[a-z]*`) // strings, numbers, timespans (5m)
	ident := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	made := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*=[^=]`)
	for name, q := range queries {
		if !strings.HasPrefix(strings.TrimSpace(q), "ApimGuard_CL") {
			t.Errorf("%s does not read ApimGuard_CL", name)
		}
		q = strs.ReplaceAllString(q, "")
		known := map[string]bool{"ApimGuard_CL": true}
		for _, m := range made.FindAllStringSubmatch(q, -1) {
			known[m[1]] = true
		}
		for _, w := range ident.FindAllString(q, -1) {
			if !known[w] && !kqlWords[w] && !slices.Contains(table, w) {
				t.Errorf("%s uses %q, not a column of ApimGuard_CL", name, w)
			}
		}
	}
}

// TestAzureMonitor_prometheusRuleGroup: build/azure's managed Prometheus
// rule group holds the rules of build/prometheus/apimguard-rules.yaml, each
// with the same expression, duration and severity.
func TestAzureMonitor_prometheusRuleGroup(t *testing.T) {
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(envoyrun.Root(), "build", "azure", "apimguard-prometheus-rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	var group struct {
		Resources []struct {
			Type       string
			Properties struct {
				Rules []struct {
					Alert, Expression, For string
					Severity               int
				}
			}
		}
	}
	if err := json.Unmarshal(b, &group); err != nil || len(group.Resources) != 1 || group.Resources[0].Type != "Microsoft.AlertsManagement/prometheusRuleGroups" {
		t.Fatalf("build/azure/apimguard-prometheus-rules.json: %v %+v", err, group)
	}
	got := group.Resources[0].Properties.Rules
	want := rules.Groups[0].Rules
	if len(got) != len(want) {
		t.Fatalf("%d rules in the rule group, %d in the rule file", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		dur := ""
		if w.For != "" {
			dur = "PT" + strings.ToUpper(w.For)
		}
		sev := map[string]int{"critical": 0, "warning": 2}[w.Labels["severity"]]
		if g.Alert != w.Alert || g.Expression != strings.TrimSpace(w.Expr) || g.For != dur || g.Severity != sev {
			t.Errorf("rule %d: %+v, want %s %q for %q severity %d", i, g, w.Alert, w.Expr, dur, sev)
		}
	}
}
