package envoytest

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// The operator's files: Prometheus alert rules and a Grafana dashboard.
var (
	rulesFile     = filepath.Join(envoyrun.Root(), "build", "prometheus", "apimguard-rules.yaml")
	dashboardFile = filepath.Join(envoyrun.Root(), "build", "grafana", "apimguard-dashboard.json")
)

// seen holds every apimguard metric name some Envoy of these tests showed
// in /stats/prometheus (read when each test's Envoy stops).
var seen = struct {
	sync.Mutex
	names map[string]bool
}{names: map[string]bool{}}

var metricName = regexp.MustCompile(`\bapimguard_[a-z_]+\b`)

// seeMetrics records the apimguard metric names an Envoy shows.
func seeMetrics(adminPort int) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/stats/prometheus", adminPort))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	seen.Lock()
	defer seen.Unlock()
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "apimguard_") {
			seen.names[metricName.FindString(l)] = true
		}
	}
}

// usedMetrics is every metric name the rules and the dashboard query.
func usedMetrics() ([]string, error) {
	var exprs []string
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		return nil, err
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
				Labels      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		return nil, fmt.Errorf("%s: %v", rulesFile, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" {
				return nil, fmt.Errorf("%s: a rule without alert, expr or severity: %+v", rulesFile, r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	raw, err = os.ReadFile(dashboardFile)
	if err != nil {
		return nil, err
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		return nil, fmt.Errorf("%s: %v", dashboardFile, err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	set := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			set[n] = true
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// The rules pass promtool (Debian's prometheus package, make promtool), and
// the rules and the dashboard query the plugin's metrics: every one the
// operations guide lists.
func TestObservability_rulesAndDashboard(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run make promtool (Debian's prometheus package)")
	}
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS: 7 rules found") {
		t.Errorf("promtool: %s", out)
	}
	names, err := usedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apimguard_allowed", "apimguard_callouts", "apimguard_client_certificates_stale", "apimguard_denied", "apimguard_errors", "apimguard_internal_errors",
		"apimguard_key_fetches", "apimguard_preflights", "apimguard_requests", "apimguard_subscription_requests",
		"apimguard_token_fetches", "apimguard_vm_memory_pages"}
	if !slices.Equal(names, want) {
		t.Errorf("the rules and the dashboard query %v,\nwant every metric of docs/operations.md: %v", names, want)
	}
}

// TestMain runs the tests, then, on a run of the whole tier, checks that
// every metric the rules and the dashboard query appeared in a real Envoy's
// /stats/prometheus during them: a renamed metric or a typo in a query
// fails here instead of in an operator's empty panel.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code != 0 || flag.Lookup("test.run").Value.String() != "" || flag.Lookup("test.bench").Value.String() != "" {
		os.Exit(code)
	}
	names, err := usedMetrics()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: observability files:", err)
		os.Exit(1)
	}
	var missing []string
	for _, n := range names {
		if !seen.names[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: metrics the rules or the dashboard use never appeared in Envoy's /stats/prometheus during the Envoy tests: %v\n", missing)
		os.Exit(1)
	}
	fmt.Printf("observability: all %d metrics the rules and the dashboard use appeared in Envoy's /stats/prometheus\n", len(names))
	os.Exit(code)
}
