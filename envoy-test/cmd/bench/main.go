// Command bench is make bench: it compares apimguard with Envoy's native
// filters for the same policies in a real Envoy, on one machine, and writes
// a results table. Envoy runs on core 0 (--concurrency 1), the load
// generators on core 1; the variants run interleaved, round after round, and
// every figure is a median of per-round values with its spread.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

const apiKey = "bench-key-7f3a"

// noopModule is G0's module (make bench builds it).
var noopModule = filepath.Join(envoyrun.Root(), "build", "noop.wasm")

// perfDir, when set, is where measure records a perf profile of Envoy;
// twin, when set, is a module each P variant also runs with (-ab).
var perfDir, twin string

type variant struct {
	name, what string
	params     envoyrun.Params
	mix        *mix
}

// mix is a token mix: the tokens the requests carry, round-robin, and the
// wrk script and vegeta targets that send them.
type mix struct {
	name            string
	tokens          []string
	script, targets string
}

// Token mixes. reuse: 100 tokens, so every cache holds them all. unique:
// more tokens than either cache keeps (jwt_authn's 1000, apimguard's 1024,
// both evicting the oldest), so every request misses.
const (
	reuseTokens  = 100
	uniqueTokens = 4096
)

// measurement is one variant in one round.
type measurement struct {
	rps            float64 // wrk, closed loop
	p50, p99, p999 float64 // ms, vegeta at a fixed rate
	cpuMicros      float64 // Envoy CPU per request (wrk run)
	rssMB          float64
	pages          float64 // apimguard's linear memory after the wrk run; 0 for other variants
	readyMS        float64
}

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	seconds := flag.Int("seconds", 5, "seconds per load run")
	out := flag.String("out", "", "also write the Markdown table here, between the make bench markers")
	soak := flag.Float64("soak", 1e6, "requests for the memory soak through P (0: none)")
	only := flag.String("only", "", "comma-separated variants to run, for quick experiments: per-round lines only, no table")
	module := flag.String("wasm", "", "a module for the P variants instead of build/apimguard.wasm, for experiments")
	flag.StringVar(&twin, "ab", "", "another module: each selected P variant also runs with it, interleaved, as VARIANT*, for A/B experiments")
	flag.StringVar(&perfDir, "perf", "", "record a perf profile of Envoy during each measured wrk run into this directory (VARIANT-ROUND.data), for experiments")
	policyFile := flag.String("policy", "", "an APIM policy document for P and P-nc instead of the built-in one, for experiments (requests carry Authorization, x-api-key and Origin; BENCH_KEY_N stands for the RS256 key's modulus)")
	flag.Parse()
	if (*policyFile != "" || *module != "" || twin != "" || perfDir != "") && *out != "" {
		fmt.Fprintln(os.Stderr, "bench: -policy, -wasm, -ab and -perf are for experiments; they cannot write the BENCHMARKS.md table")
		os.Exit(2)
	}
	if err := run(*rounds, *seconds, *soak, *out, *only, *policyFile, *module); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rounds, seconds int, soak float64, out, only, policyFile, module string) error {
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		return err
	}
	if module != "" {
		wasm = module
	}
	nativeLib, err := envoyrun.NativePath()
	if err != nil {
		return err
	}
	noop := noopModule
	if _, err := os.Stat(noop); err != nil {
		return fmt.Errorf("%s is missing: run make bench (it builds it)", noop)
	}
	for _, tool := range []string{"wrk", "vegeta", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: run make bench (it installs wrk and vegeta)", tool)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	all, err := signAll(key, reuseTokens+uniqueTokens)
	if err != nil {
		return err
	}
	reuse := &mix{name: "reuse", tokens: all[:reuseTokens]}
	unique := &mix{name: "unique", tokens: all[reuseTokens:]}
	n := base64.RawURLEncoding.EncodeToString(key.N.Bytes())
	policy := `<policies><inbound>
<cors><allowed-origins><origin>https://myapp.com</origin></allowed-origins><allowed-headers><header>content-type</header><header>authorization</header><header>x-api-key</header></allowed-headers></cors>
<ip-filter action="allow"><address>127.0.0.0/8</address></ip-filter>
<check-header name="x-api-key" failed-check-httpcode="403"><value>` + apiKey + `</value></check-header>
<validate-jwt header-name="Authorization"><issuer-signing-keys><key id="k1" n="` + n + `" e="AQAB"/></issuer-signing-keys>
<audiences><audience>api://bench</audience></audiences><issuers><issuer>https://idp.example/</issuer></issuers></validate-jwt>
</inbound></policies>`
	if policyFile != "" {
		b, err := os.ReadFile(policyFile)
		if err != nil {
			return err
		}
		policy = strings.ReplaceAll(string(b), "BENCH_KEY_N", n)
	}
	pluginCfg := func(cache int) string {
		b, _ := json.Marshal(map[string]any{"policy": policy, "tokenCache": cache})
		return string(b)
	}
	// P-rl: P and a local rate limit every request counts against (never
	// reached: a million a second), keyed by a header as users key them.
	limitedPolicy := strings.Replace(policy, "</inbound>",
		`<rate-limit-by-key calls="1000000" renewal-period="1" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-api-key&quot;, &quot;&quot;))" /></inbound>`, 1)
	limited, _ := json.Marshal(map[string]any{"policy": limitedPolicy})
	// P-rlg: the same limit in Envoy's rate limit service (with Redis),
	// started for the run when P-rlg is measured.
	limitedGlobal, _ := json.Marshal(map[string]any{"policy": limitedPolicy,
		"rateLimitService": map[string]any{"cluster": "ratelimit", "domain": "apimguard-bench"}})
	native := envoyrun.Params{Native: true, JWTCache: true, APIKey: apiKey, JWKS: string(jwks)}
	nativeNC := native
	nativeNC.JWTCache = false
	variants := []variant{
		{"B0", "bare Envoy", envoyrun.Params{}, reuse},
		{"N", "native jwt_authn (cache), rbac, cors", native, reuse},
		{"N-u", "N, unique tokens: every request misses the JWT cache", native, unique},
		{"N-nc", "N without the JWT cache, unique tokens", nativeNC, unique},
		{"G0", "a no-op Go proxy-wasm module (the floor of Go and the SDK)", envoyrun.Params{Plugin: true, WasmPath: noop, PluginConfig: "{}"}, reuse},
		{"P0", "apimguard with an empty policy (the module's fixed cost)", envoyrun.Params{Plugin: true, WasmPath: wasm, PluginConfig: `{"policy": "<policies/>"}`}, reuse},
		{"P", "apimguard: cors, ip-filter, check-header, validate-jwt", envoyrun.Params{Plugin: true, WasmPath: wasm, PluginConfig: pluginCfg(0)}, reuse},
		{"P-u", "P, unique tokens: every request misses the token cache", envoyrun.Params{Plugin: true, WasmPath: wasm, PluginConfig: pluginCfg(0)}, unique},
		{"P-nc", "P with the verified-token cache off, unique tokens", envoyrun.Params{Plugin: true, WasmPath: wasm, PluginConfig: pluginCfg(-1)}, unique},
		{"D0", "the native build with an empty policy (Go inside Envoy, the ABI's crossings)", envoyrun.Params{DynamicModule: nativeLib, PluginConfig: `{"policy": "<policies/>"}`}, reuse},
		{"D", "P's policy through the native build (the engine as an Envoy dynamic module)", envoyrun.Params{DynamicModule: nativeLib, PluginConfig: pluginCfg(0)}, reuse},
		{"D-u", "D, unique tokens: every request misses the token cache (signatures in Go)", envoyrun.Params{DynamicModule: nativeLib, PluginConfig: pluginCfg(0)}, unique},
		{"P-rl", "P and a local rate-limit-by-key (counters in shared data)", envoyrun.Params{Plugin: true, WasmPath: wasm, PluginConfig: string(limited)}, reuse},
		{"P-rlg", "P and the same limit in Envoy's rate limit service (Redis)", envoyrun.Params{Plugin: true, WasmPath: wasm, PluginConfig: string(limitedGlobal)}, reuse},
	}
	if only != "" {
		names := strings.Split(only, ",")
		variants = slices.DeleteFunc(variants, func(v variant) bool { return !slices.Contains(names, v.name) })
		if len(variants) != len(names) {
			return fmt.Errorf("-only %s: the variants are B0, N, N-u, N-nc, G0, P0, P, P-u, P-nc, D0, D, D-u, P-rl, P-rlg", only)
		}
	}
	if twin != "" {
		for i := len(variants) - 1; i >= 0; i-- {
			if v := variants[i]; v.params.WasmPath == wasm {
				v.name, v.params.WasmPath = v.name+"*", twin
				variants = slices.Insert(variants, i+1, v)
			}
		}
	}
	if i := slices.IndexFunc(variants, func(v variant) bool { return v.name == "P-rlg" }); i >= 0 {
		rules, err := envoyrun.RateLimitGenerate(string(limitedGlobal))
		if err != nil {
			return err
		}
		svc, err := envoyrun.StartRateLimitService(rules)
		if err != nil {
			return err
		}
		defer svc.Close()
		variants[i].params.Clusters = []envoyrun.Cluster{{Name: "ratelimit", Port: svc.HTTPPort}}
	}
	dir, err := os.MkdirTemp("", "apimguard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, m := range []*mix{reuse, unique} {
		m.script, m.targets = filepath.Join(dir, m.name+".lua"), filepath.Join(dir, m.name+"-targets.txt")
		if err := writeWrkScript(m.script, m.tokens); err != nil {
			return err
		}
	}

	results := map[string][]measurement{}
	var fixedRate float64
	for round := 1; round <= rounds; round++ {
		for _, v := range variants {
			m, err := measure(envoyBin, v, round, seconds, &fixedRate)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, v.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-5s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  cpu %.1f µs/req  rss %.0f MB  ready %.0f ms\n",
				round, v.name, m.rps, m.p50, m.p99, m.cpuMicros, m.rssMB, m.readyMS)
			if m.pages > 0 {
				fmt.Fprintf(os.Stderr, "               %.0f pages\n", m.pages)
			}
			results[v.name] = append(results[v.name], m)
		}
	}
	if only != "" || twin != "" || perfDir != "" || policyFile != "" || module != "" {
		return nil // an experiment: the per-round lines are its output
	}
	table := report(variants, results, rounds, seconds, fixedRate)
	var points, points2 []memPoint
	if soak > 0 {
		p := variants[slices.IndexFunc(variants, func(v variant) bool { return v.name == "P" })]
		if points, err = memorySoak(envoyBin, p, soak, 10, 1); err != nil {
			return fmt.Errorf("memory soak: %w", err)
		}
		table += memoryReport(p.name, points, 1)
		if points2, err = memorySoak(envoyBin, p, soak, 10, 2); err != nil {
			return fmt.Errorf("memory soak, two workers: %w", err)
		}
		table += memoryReport(p.name, points2, 2)
	}
	sizes := map[string]int64{}
	for name, path := range map[string]string{"P": wasm, "G0": noop} {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		sizes[name] = st.Size()
	}
	table += targetTable(results, points, points2, sizes)
	fmt.Print(table)
	if out == "" {
		return nil
	}
	return writeSection(out, table)
}

// Markers around the part of BENCHMARKS.md that make bench rewrites.
const (
	sectionBegin = "<!-- make bench: begin -->"
	sectionEnd   = "<!-- make bench: end -->"
)

// writeSection puts table between the markers in path, keeping the rest of
// the file. A missing file is created with the table alone; a file without
// the markers is an error rather than silently overwritten.
func writeSection(path, table string) error {
	old, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return os.WriteFile(path, []byte(table), 0o644)
	}
	if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, sectionBegin), strings.Index(s, sectionEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q section to replace", path, sectionBegin, sectionEnd)
	}
	s = s[:i+len(sectionBegin)] + "\n" + table + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// signAll signs n tokens, each for its own subject, on every core.
func signAll(key *rsa.PrivateKey, n int) ([]string, error) {
	out := make([]string, n)
	errs := make(chan error, runtime.NumCPU())
	for w := 0; w < runtime.NumCPU(); w++ {
		go func(w int) {
			for i := w; i < n; i += runtime.NumCPU() {
				var err error
				if out[i], err = sign(key, i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	var first error
	for w := 0; w < runtime.NumCPU(); w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

func sign(key *rsa.PrivateKey, i int) (string, error) {
	return testjwt.SignE(jose.RS256, key, testjwt.KID("k1"),
		map[string]any{"iss": "https://idp.example/", "aud": "api://bench", "sub": "user-" + strconv.Itoa(i), "exp": time.Now().Add(24 * time.Hour).Unix()})
}

// writeWrkScript makes wrk send the tokens round-robin with the other headers.
func writeWrkScript(path string, tokens []string) error {
	var b strings.Builder
	b.WriteString("local tokens = {\n")
	for _, t := range tokens {
		b.WriteString("  \"" + t + "\",\n")
	}
	b.WriteString("}\nlocal i = 0\nrequest = function()\n  i = i % #tokens + 1\n")
	b.WriteString("  return wrk.format(\"GET\", \"/bench\", {[\"Authorization\"] = \"Bearer \" .. tokens[i], [\"x-api-key\"] = \"" + apiKey + "\", [\"Origin\"] = \"https://myapp.com\"})\nend\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// start runs Envoy for a variant on core 0 and returns it with the time it
// took to become ready (the configuration load, for the plugin variants).
func start(envoyBin string, v variant) (*envoyrun.Envoy, float64, error) {
	return startWorkers(envoyBin, v, 1)
}

// startWorkers is start with that many worker threads, all on core 0.
func startWorkers(envoyBin string, v variant, workers int) (*envoyrun.Envoy, float64, error) {
	p := v.params
	var err error
	if p.ListenerPort, err = envoyrun.FreePort(); err != nil {
		return nil, 0, err
	}
	if p.AdminPort, err = envoyrun.FreePort(); err != nil {
		return nil, 0, err
	}
	cfg, err := envoyrun.Render("bench.yaml", p)
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	e, err := envoyrun.Start(envoyBin, cfg, p.AdminPort, p.ListenerPort, envoyrun.StartOptions{Prefix: []string{"taskset", "-c", "0"}, Concurrency: workers})
	if err != nil {
		if e != nil {
			fmt.Fprintln(os.Stderr, e.Log())
		}
		return nil, 0, err
	}
	return e, float64(time.Since(t0).Microseconds()) / 1000, nil
}

func measure(envoyBin string, v variant, round, seconds int, fixedRate *float64) (measurement, error) {
	script, targets := v.mix.script, v.mix.targets
	var m measurement
	e, ready, err := start(envoyBin, v)
	if err != nil {
		return m, err
	}
	defer e.Stop()
	m.readyMS = ready
	url := e.URL("")

	// Warm up (key loading, JIT, caches).
	if _, err := wrk(url, script, 1); err != nil {
		return m, err
	}
	var perf *exec.Cmd
	if perfDir != "" {
		perf = exec.Command("perf", "record", "-q", "-F", "2000", "-g", "-p", strconv.Itoa(e.Pid()),
			"-o", filepath.Join(perfDir, fmt.Sprintf("%s-%d.data", v.name, round)))
		if err := perf.Start(); err != nil {
			return m, fmt.Errorf("perf: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	cpu0, err := cpuTicks(e.Pid())
	if err != nil {
		return m, err
	}
	requests, err := wrk(url, script, seconds)
	if err != nil {
		return m, err
	}
	cpu1, _ := cpuTicks(e.Pid())
	if perf != nil {
		perf.Process.Signal(os.Interrupt)
		perf.Wait()
	}
	m.rps = requests / float64(seconds)
	m.cpuMicros = float64(cpu1-cpu0) * 1e6 / 100 / requests // 100 ticks per second
	m.rssMB = rssMB(e.Pid())
	if v.params.Plugin && v.params.WasmPath != noopModule {
		pages, err := memoryGauge(e.AdminPort)
		if err != nil {
			return m, err
		}
		m.pages = float64(pages)
	}

	if *fixedRate == 0 { // the first variant is B0: half its maximum
		*fixedRate = m.rps / 2
	}
	if err := writeTargets(targets, url, v.mix.tokens); err != nil {
		return m, err
	}
	lat, err := vegeta(targets, *fixedRate, seconds)
	if err != nil {
		return m, err
	}
	m.p50, m.p99, m.p999 = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 0.999)
	return m, nil
}

// wrk runs a closed-loop load on core 1 and returns the number of requests.
func wrk(url, script string, seconds int) (float64, error) {
	out, err := exec.Command("taskset", "-c", "1", "wrk", "-t1", "-c16", "-d"+strconv.Itoa(seconds)+"s", "-s", script, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk saw non-2xx answers:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == "requests" {
			return strconv.ParseFloat(f[0], 64)
		}
	}
	return 0, fmt.Errorf("no request count in wrk's output:\n%s", out)
}

func writeTargets(path, url string, tokens []string) error {
	var b strings.Builder
	for _, t := range tokens {
		fmt.Fprintf(&b, "GET %s/bench\nAuthorization: Bearer %s\nx-api-key: %s\nOrigin: https://myapp.com\n\n", url, t, apiKey)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// vegeta sends a fixed rate (open loop) from core 1 and returns the
// latencies in milliseconds.
func vegeta(targets string, rate float64, seconds int) ([]float64, error) {
	cmd := fmt.Sprintf("taskset -c 1 vegeta attack -targets=%s -rate=%d -duration=%ds -max-workers=64 | vegeta encode --to csv", targets, int(rate), seconds)
	out, err := exec.Command("bash", "-o", "pipefail", "-c", cmd).Output()
	if err != nil {
		return nil, fmt.Errorf("vegeta: %v", err)
	}
	var lat []float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		if f[1] != "200" {
			return nil, fmt.Errorf("vegeta saw status %s", f[1])
		}
		ns, err := strconv.ParseFloat(f[2], 64)
		if err == nil {
			lat = append(lat, ns/1e6)
		}
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("vegeta returned no results")
	}
	sort.Float64s(lat)
	return lat, nil
}

func percentile(sorted []float64, q float64) float64 {
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime, nil
}

func rssMB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}
