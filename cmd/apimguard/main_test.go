package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apimguard/apimguard/internal/corpus"
)

const wasm = "../../build/apimguard.wasm"

func requireWasm(t *testing.T) {
	if _, err := os.Stat(wasm); err != nil {
		t.Fatalf("%s is missing: run make build", wasm)
	}
}

// The corpus (examples/*/*.yaml) under wazero: the same files the engine
// and the Envoy tier replay.
func TestRun_corpus(t *testing.T) {
	requireWasm(t)
	files, _ := corpus.Files("../..")
	if len(files) == 0 {
		t.Fatal("no case files under examples/")
	}
	var out, errOut bytes.Buffer
	code := run(append([]string{"test", "-wasm", wasm}, files...), &out, &errOut)
	// Every case passes (how many there are is the files' business, not
	// this test's): "N passed, 0 failed" with N > 0.
	if m := regexp.MustCompile(`(?m)^([0-9]+) passed, 0 failed\n\z`).FindStringSubmatch(out.String()); code != 0 || m == nil || m[1] == "0" {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// A wrong expectation fails with a readable diff and a non-zero exit.
func TestRun_wrongExpectation(t *testing.T) {
	requireWasm(t)
	dir := t.TempDir()
	cases := `config: |
  <policies><inbound>
    <check-header name="x-api-key" failed-check-httpcode="403"><value>k1</value></check-header>
    <set-header name="x-checked" exists-action="override"><value>yes</value></set-header>
  </inbound></policies>
cases:
  - name: right key
    request: {headers: {x-api-key: k1}}
    expect: {status: 200, upstreamHeaders: {x-checked: "yes"}}
  - name: wrong expectation
    request: {headers: {x-api-key: k1}}
    expect: {status: 403, upstreamHeaders: {x-checked: "no"}, headers: {x-extra: "1"}}
`
	file := filepath.Join(dir, "cases.yaml")
	if err := os.WriteFile(file, []byte(cases), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"test", "-v", "-wasm", wasm, file}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"--- PASS: right key",
		"--- FAIL: wrong expectation",
		`    upstream header x-checked: got "yes", want "no"`,
		`    status: got 200, want 403 (body "")`,
		`    header x-extra: got "", want "1"`,
		"1 passed, 1 failed\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRun_errors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"lint"}, &out, &errOut); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	if code := run([]string{"test", "-wasm", "/nope.wasm", "x.yaml"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "build it with make build") {
		t.Errorf("missing module: exit %d, %q", code, errOut.String())
	}
}

func TestRatelimitConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, cfg string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	global := write("global.json", `{"policy": "<policies><inbound>\n<rate-limit-by-key calls=\"10\" renewal-period=\"60\" counter-key=\"@(context.Request.IpAddress)\" />\n<rate-limit-by-key calls=\"10\" renewal-period=\"60\" counter-key=\"@(context.Request.IpAddress)\" />\n</inbound></policies>",
  "apis": [{"name": "orders", "pathPrefix": "/orders"}],
  "products": [{"id": "gold", "apis": ["orders"], "policy": "<policies><inbound><quota calls=\"1000\" renewal-period=\"86400\" /><base /></inbound></policies>"}],
  "rateLimitService": {"cluster": "ratelimit", "domain": "edge"}}`)
	var out, errs strings.Builder
	if code := run([]string{"ratelimit-config", global}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	want := `# Envoy's rate limit service configuration for apimguard's policies,
# written by apimguard ratelimit-config: one rule per budget.
domain: "edge"
descriptors:
  # policy:2:1
  - key: apimguard
    value: "rate-limit-by-key/10/minute"
    descriptors:
      - key: key
        rate_limit:
          unit: minute
          requests_per_unit: 10
  # products[0].policy:1:20
  - key: apimguard
    value: "quota@products[0].policy:quota[1]/1000/day"
    descriptors:
      - key: key
        rate_limit:
          unit: day
          requests_per_unit: 1000
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	local := write("local.json", `{"policy": "<policies/>"}`)
	errs.Reset()
	if code := run([]string{"ratelimit-config", local}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "the configuration has no rateLimitService") {
		t.Errorf("without rateLimitService: exit %d, %s", code, errs.String())
	}
}

// TestImport_casesUnderWazero imports internal/apiops/testdata/contoso with
// apimguard import and runs the cases written against it
// (contoso.cases.yaml) on the built module under wazero, with the secrets
// the VM's environment would hold put into the configuration.
func TestImport_casesUnderWazero(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "-o", out, "../../internal/apiops/testdata/contoso"}, &stdout, &stderr); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "apimguard import: 9 of 9 policy documents load") {
		t.Errorf("import printed:\n%s", stdout.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, "plugin-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	nv := cfg["namedValues"].(map[string]any)
	nv["orders-api-key"], nv["payments-function-key"] = "orders-key-7f3a", "fn-key-from-vault-91c2"
	sum := sha256.Sum256([]byte("gold-key-55e1-4b7d-a0c3"))
	sub := cfg["subscriptions"].([]any)[0].(map[string]any)
	if sub["primaryKey"] != "{{APIM_SUBSCRIPTION_KEY_GOLD_TEAM}}" {
		t.Fatalf("primaryKey %v", sub["primaryKey"])
	}
	sub["primaryKey"] = "sha256:" + hex.EncodeToString(sum[:])
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(out, "contoso.test-config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cases, err := os.ReadFile("../../internal/apiops/testdata/contoso.cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "contoso.cases.yaml"), cases, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"test", "-wasm", wasm, filepath.Join(out, "contoso.cases.yaml")}, &stdout, &stderr); code != 0 {
		t.Fatalf("apimguard test: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "7 passed, 0 failed") {
		t.Errorf("apimguard test printed:\n%s", stdout.String())
	}
}
