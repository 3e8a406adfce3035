package corpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A case whose expectation is wrong fails with one line per difference, in
// the order of Check, and a YAML mapping as config is read as the JSON
// configuration object.
func TestRunEngine_wrongExpectation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cases.yaml")
	err := os.WriteFile(file, []byte(`config:
  policy: |
    <policies><inbound>
      <check-header name="x-api-key" failed-check-httpcode="403"><value>k1</value></check-header>
      <set-header name="x-checked" exists-action="override"><value>yes</value></set-header>
    </inbound></policies>
cases:
  - name: right key
    request: {headers: {x-api-key: k1}}
    expect: {status: 200, reachesUpstream: true, upstreamHeaders: {x-checked: "yes"}}
  - name: wrong expectation
    request: {headers: {x-api-key: k1}}
    expect: {status: 403, reachesUpstream: false, upstreamHeaders: {x-checked: "no"}, headers: {x-extra: "1"}, bodyContains: denied}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"policy":"<policies><inbound>\n  <check-header name=\"x-api-key\" failed-check-httpcode=\"403\"><value>k1</value></check-header>\n  <set-header name=\"x-checked\" exists-action=\"override\"><value>yes</value></set-header>\n</inbound></policies>\n"}`; s.Config != want {
		t.Fatalf("config = %s\nwant %s", s.Config, want)
	}
	var got [][]string
	for _, tc := range s.Cases {
		o, err := RunEngine(s, tc)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tc.Check(o))
	}
	want := [][]string{nil, {
		`status: got 200, want 403 (body "")`,
		`header x-extra: got "", want "1"`,
		`upstream header x-checked: got "yes", want "no"`,
		`body: got "", want it to contain "denied"`,
		`reaches upstream: got true, want false`,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems = %q\nwant %q", got, want)
	}
}

// Every seed suite holds its seed example verbatim: the corpus and the seed
// cannot drift apart.
func TestSeedSuites_holdTheSeedVerbatim(t *testing.T) {
	for file, element := range map[string]string{"check-header.yaml": "check-header", "check-ip.yaml": "check-ip", "cors.yaml": "cors", "validate-jwt.yaml": "validate-jwt"} {
		block, err := SeedBlock("../..", element)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Load(filepath.Join("../../examples/seed", file))
		if err != nil {
			t.Fatal(err)
		}
		config := s.Config
		if strings.HasPrefix(strings.TrimSpace(config), "{") {
			var c struct{ Policy string }
			if err := json.Unmarshal([]byte(config), &c); err != nil {
				t.Fatal(err)
			}
			config = c.Policy
		}
		if !strings.Contains(config, block) {
			t.Errorf("%s does not hold the seed's <%s> verbatim:\n%s", file, element, block)
		}
	}
}
