package pluginconfig

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, in   string
		wantPolicy string
		wantNV     map[string]string
		wantErr    string
	}{
		{name: "bare document", in: "  <policies/>\n", wantPolicy: "<policies/>"},
		{name: "json", in: `{"policy":"<policies/>","namedValues":{"a":"1"}}`, wantPolicy: "<policies/>", wantNV: map[string]string{"a": "1"}},
		{name: "policy not a string", in: `{"policy": 3}`, wantErr: `plugin configuration: "policy" must be a string holding a <policies> document`},
		{name: "named value not a string", in: `{"policy":"<policies/>","namedValues":{"a":1}}`, wantErr: `plugin configuration: namedValues["a"] must be a string`},
		{name: "no policy", in: `{"namedValues":{}}`, wantErr: `plugin configuration: "policy" is missing or empty`},
		{name: "duplicate key", in: `{"policy":"<policies/>","policy":"<policies/>"}`, wantErr: `plugin configuration: duplicate key "policy"`},
		{name: "broken json", in: `{"policy":`, wantErr: `plugin configuration: not valid JSON`},
		{name: "clientIp hops zero", in: `{"policy":"<policies/>","clientIp":{"xffTrustedHops":0}}`, wantErr: `plugin configuration: clientIp.xffTrustedHops must be a whole number from 1 to 16, got 0`},
		{name: "clientIp hops fraction", in: `{"policy":"<policies/>","clientIp":{"xffTrustedHops":1.5}}`, wantErr: `plugin configuration: clientIp.xffTrustedHops must be a whole number from 1 to 16, got 1.5`},
		{name: "clientIp hops string", in: `{"policy":"<policies/>","clientIp":{"xffTrustedHops":"1"}}`, wantErr: `plugin configuration: clientIp.xffTrustedHops has the wrong type`},
		{name: "clientIp unknown key", in: `{"policy":"<policies/>","clientIp":{"header":"x-real-ip"}}`, wantErr: `plugin configuration: clientIp: unknown key "header"`},
		{name: "tls floor", in: `{"policy":"<policies/>","tls":{"minVersion":"1.2","allowPlainText":false}}`, wantPolicy: "<policies/>"},
		{name: "tls version", in: `{"policy":"<policies/>","tls":{"minVersion":"1.1"}}`, wantErr: `plugin configuration: tls.minVersion must be "1.2" or "1.3", got "1.1"`},
		{name: "tls without a version", in: `{"policy":"<policies/>","tls":{"allowPlainText":true}}`, wantErr: `plugin configuration: tls.minVersion is required ("1.2" or "1.3")`},
		{name: "tls plain text not a bool", in: `{"policy":"<policies/>","tls":{"minVersion":"1.2","allowPlainText":"no"}}`, wantErr: `plugin configuration: tls.allowPlainText has the wrong type`},
		{name: "client certificates", in: `{"policy":"<policies/>","clientCertificates":{"source":"proxy","trust":[],"crls":[],"trustedProxies":["ab"]}}`, wantPolicy: "<policies/>"},
		{name: "client certificates trust not strings", in: `{"policy":"<policies/>","clientCertificates":{"trust":[1]}}`, wantErr: `plugin configuration: clientCertificates.trust must be an array of strings`},
		{name: "client certificates source not a string", in: `{"policy":"<policies/>","clientCertificates":{"source":true}}`, wantErr: `plugin configuration: clientCertificates.source has the wrong type`},
		{name: "client certificates unknown key", in: `{"policy":"<policies/>","clientCertificates":{"ca":"x"}}`, wantErr: `plugin configuration: clientCertificates: unknown key "ca"`},
		{name: "managed identity", in: `{"policy":"<policies/>","managedIdentity":{"source":"imds","endpoint":"http://169.254.169.254/x","clientId":"c"}}`, wantPolicy: "<policies/>"},
		{name: "managed identity unknown key", in: `{"policy":"<policies/>","managedIdentity":{"source":"imds","secret":"x"}}`, wantErr: `plugin configuration: managedIdentity: unknown key "secret"`},
		{name: "managed identity wrong type", in: `{"policy":"<policies/>","managedIdentity":{"source":1}}`, wantErr: `plugin configuration: managedIdentity.source has the wrong type`},
		{name: "tls unknown key", in: `{"policy":"<policies/>","tls":{"minVersion":"1.2","require":true}}`, wantErr: `plugin configuration: tls: unknown key "require"`},
		{name: "yaml", in: `policy: x`, wantErr: `plugin configuration: want a <policies> document or a JSON object, got "policy:"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Policy != tc.wantPolicy {
				t.Errorf("policy = %q, want %q", c.Policy, tc.wantPolicy)
			}
			if len(c.NamedValues) != len(tc.wantNV) || (len(tc.wantNV) > 0 && c.NamedValues["a"] != tc.wantNV["a"]) {
				t.Errorf("namedValues = %v, want %v", c.NamedValues, tc.wantNV)
			}
		})
	}
}

// The token source's {{name}} references resolve like named values, and an
// App Service source takes its endpoint from IDENTITY_ENDPOINT.
func TestTokenSource(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token")
	t.Setenv("IDENTITY_HEADER", "hdr-secret")
	c, err := Parse([]byte(`{"policy":"<policies/>","managedIdentity":{"source":"appService","identityHeader":"{{IDENTITY_HEADER}}"}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.TokenSource()
	if err != nil || s.Endpoint != "http://localhost:42356/msi/token" || s.IdentityHeader != "hdr-secret" {
		t.Fatalf("%+v %v", s, err)
	}
	c, _ = Parse([]byte(`{"policy":"<policies/>","namedValues":{"cs":"v"},"managedIdentity":{"source":"clientCredentials","endpoint":"https://idp/token","clientId":"app","clientSecret":"{{cs}}"}}`))
	if s, err := c.TokenSource(); err != nil || s.ClientSecret != "v" || s.Scope != "{resource}/.default" {
		t.Fatalf("%+v %v", s, err)
	}
	for in, want := range map[string]string{
		`{"policy":"<policies/>","managedIdentity":{"source":"clientCredentials","endpoint":"https://idp/token","clientId":"app","clientSecret":"{{missing}}"}}`: `named value "missing" is not defined`,
		`{"policy":"<policies/>","managedIdentity":{"source":"clientCredentials","endpoint":"https://idp/token","clientId":"app"}}`:                              `needs clientId and clientSecret`,
		`{"policy":"<policies/>","managedIdentity":{"source":"msi"}}`:                                                                                            `source must be "imds", "appService" or "clientCredentials", not "msi"`,
		`{"policy":"<policies/>","managedIdentity":{"source":"imds","endpoint":"{{x"}}`:                                                                          `unclosed {{`,
	} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.TokenSource(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

// Subscription keys are digests or named values, never clear text.
func TestSubscriptionKeys(t *testing.T) {
	t.Setenv("ACME_KEY", "acme-key-from-env-123")
	base := `{"apis":[{"name":"orders","pathPrefix":"/orders","subscriptionKeyParameterNames":{"header":"x-key"}}],"subscriptions":[{"id":"s","scope":"all","primaryKey":%s}]}`
	for _, tc := range []struct{ key, err string }{
		{`"sha256:` + strings.Repeat("ab", 32) + `"`, ""},
		{`"{{ACME_KEY}}"`, ""},
		{`"{{ ACME_KEY }}"`, ""},
		{`"acme-key-in-clear-123"`, `subscriptions[0].primaryKey: keys are secrets; give "sha256:<hex digest of the key>" or "{{NAME}}"`},
		{`"sha256:abc"`, `subscriptions[0].primaryKey: a sha256: digest is 64 hex digits`},
		{`"{{SHORT}}"`, `subscriptions[0].primaryKey: {{SHORT}} is not a variable of the VM's environment`},
		// A key in clear through a named value of the configuration, or
		// around an empty reference (issue #26).
		{`"{{K}}"`, `subscriptions[0].primaryKey: {{K}} names a value of "namedValues", which is written in the configuration`},
		{`"{{E}}acme-key-in-clear-123{{E}}"`, `subscriptions[0].primaryKey: a key reference is exactly "{{NAME}}"`},
		{`"acme-key-{{ACME_KEY}}"`, `subscriptions[0].primaryKey: a key reference is exactly "{{NAME}}"`},
		{`"{{ACME_KEY}}{{ACME_KEY}}"`, `subscriptions[0].primaryKey: a key reference is exactly "{{NAME}}"`},
		{`"{{}}"`, `subscriptions[0].primaryKey: a key reference is exactly "{{NAME}}"`},
	} {
		in := strings.Replace(base, "%s", tc.key, 1)
		in = strings.Replace(in, `{"apis"`, `{"namedValues":{"K":"acme-key-in-clear-123","E":""},"apis"`, 1)
		c, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		_, err = c.Compile(nil, nil, nil, nil)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.key, err, tc.err)
		}
	}
	for in, want := range map[string]string{
		`{"apis":[{"name":"a","pathPrefix":"/a","subscriptionRequired":"yes"}]}`:                      `apis[0].subscriptionRequired has the wrong type`,
		`{"apis":[{"name":"a","pathPrefix":"/a"}],"products":[{"id":"p","state":"draft"}]}`:           `products[0].state must be "published" or "notPublished"`,
		`{"apis":[{"name":"a","pathPrefix":"/a"}],"subscriptions":[{"id":"s","endDate":"tomorrow"}]}`: `subscriptions[0].endDate must be an RFC 3339 time`,
		`{"apis":[{"name":"a","pathPrefix":"/a"}],"subscriptions":[{"id":"s","user":{"phone":"1"}}]}`: `subscriptions[0].user: unknown key "phone"`,
		`{"apis":[{"name":"a","pathPrefix":"/a","subscriptionKeyParameterNames":{"cookie":"k"}}]}`:    `apis[0].subscriptionKeyParameterNames: unknown key "cookie"`,
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestParse_routeContext(t *testing.T) {
	c, err := Parse([]byte(`{"deployment":{"region":"West Europe","serviceName":"contoso","serviceId":"sid","gatewayId":"edge-1"},
		"apis":[{"name":"orders","displayName":"Orders API","version":"v2","serviceUrl":"https://orders.internal/api","pathPrefix":"/orders",
		"operations":[{"name":"get","displayName":"Get an order","method":"GET","urlTemplate":"/{id}"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a, d := c.APIs[0], c.Deployment
	if d.Region != "West Europe" || d.ServiceName != "contoso" || d.ServiceID != "sid" || d.GatewayID != "edge-1" ||
		a.DisplayName != "Orders API" || a.Version != "v2" || a.ServiceURL != "https://orders.internal/api" || a.Operations[0].DisplayName != "Get an order" {
		t.Errorf("deployment %+v, api %+v", d, a)
	}
	if _, err := Parse([]byte(`{"policy":"<policies/>","deployment":{"zone":"1"}}`)); err == nil || err.Error() != `plugin configuration: deployment: unknown key "zone"` {
		t.Errorf("err %v", err)
	}
}

func TestParse_expressions(t *testing.T) {
	c, err := Parse([]byte(`{"policy":"<policies/>","expressions":{"maxIterations":500,"bodyWaitSeconds":5}}`))
	if err != nil || c.MaxIterations != 500 || c.BodyWaitSeconds != 5 {
		t.Fatalf("%v %+v", err, c)
	}
	for _, bad := range []string{`0`, `301`, `2.5`} {
		_, err := Parse([]byte(`{"policy":"<policies/>","expressions":{"bodyWaitSeconds":` + bad + `}}`))
		if err == nil || err.Error() != "plugin configuration: expressions.bodyWaitSeconds must be a whole number from 1 to 300, got "+bad {
			t.Errorf("%s: %v", bad, err)
		}
	}
	for _, bad := range []string{`0`, `1000001`, `1.5`} {
		_, err := Parse([]byte(`{"policy":"<policies/>","expressions":{"maxIterations":` + bad + `}}`))
		if err == nil || err.Error() != "plugin configuration: expressions.maxIterations must be a whole number from 1 to 1000000, got "+bad {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestParse_rateLimitService(t *testing.T) {
	c, err := Parse([]byte(`{"policy":"<policies/>","rateLimitService":{"cluster":"rl"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.RateLimitService; s.URL != "http://rl/json" || s.Domain != "apimguard" || s.TimeoutMS != 1000 || s.AllowRateLimitsWhenDown || c.Upstreams["rl"] != "rl" {
		t.Errorf("defaults: %+v, upstreams %v", s, c.Upstreams)
	}
	c, err = Parse([]byte(`{"policy":"<policies/>","upstreams":{"login.example":"idp"},"rateLimitService":{"cluster":"rl","url":"https://Limits.internal:8443/json","domain":"edge","timeoutMs":250,"rateLimitsWhenDown":"allow"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.RateLimitService; s.URL != "https://Limits.internal:8443/json" || s.Domain != "edge" || s.TimeoutMS != 250 || !s.AllowRateLimitsWhenDown ||
		c.Upstreams["limits.internal:8443"] != "rl" || c.Upstreams["login.example"] != "idp" {
		t.Errorf("%+v, upstreams %v", s, c.Upstreams)
	}
	for cfg, want := range map[string]string{
		`{}`:                                 `plugin configuration: rateLimitService.cluster is missing: name the Envoy cluster of the rate limit service`,
		`{"cluster":"rl","url":"ftp://x/y"}`: `plugin configuration: rateLimitService.url must be an http or https URL, got "ftp://x/y"`,
		`{"cluster":"rl","timeoutMs":0}`:     `plugin configuration: rateLimitService.timeoutMs must be a whole number from 1 to 60000, got 0`,
		`{"cluster":"rl","rateLimitsWhenDown":"open"}`: `plugin configuration: rateLimitService.rateLimitsWhenDown must be "deny" or "allow", got "open"`,
		`{"cluster":"rl","domain":""}`:                 `plugin configuration: rateLimitService.domain must be 1 to 256 bytes`,
		`{"cluster":"rl","port":1}`:                    `plugin configuration: rateLimitService: unknown key "port"`,
	} {
		_, err := Parse([]byte(`{"policy":"<policies/>","rateLimitService":` + cfg + `}`))
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", cfg, err, want)
		}
	}
	_, err = Parse([]byte(`{"policy":"<policies/>","upstreams":{"rl":"other"},"rateLimitService":{"cluster":"rl"}}`))
	if err == nil || err.Error() != `plugin configuration: rateLimitService.url's host rl is mapped to cluster "other" in upstreams, not "rl"` {
		t.Errorf("a host mapped elsewhere: %v", err)
	}
}

func TestParse_accessLog(t *testing.T) {
	if c, err := Parse([]byte(`{"policy":"<policies/>","accessLog":true}`)); err != nil || !c.AccessLog {
		t.Fatalf("%v %+v", err, c)
	}
	if c, err := Parse([]byte(`{"policy":"<policies/>"}`)); err != nil || c.AccessLog {
		t.Fatalf("default: %v %+v", err, c)
	}
	if _, err := Parse([]byte(`{"policy":"<policies/>","accessLog":"yes"}`)); err == nil || err.Error() != "plugin configuration: accessLog must be true or false" {
		t.Errorf("err %v", err)
	}
}

// "events" and "loggers": the URLs the exporter posts to, the defaults, and
// one error line for each mistake.
func TestParse_exports(t *testing.T) {
	c, err := Parse([]byte(`{"policy":"<policies/>","managedIdentity":{"source":"imds"},
	  "events":{"azureMonitor":{"endpoint":"https://dce-1.eastus-1.ingest.monitor.azure.com/","ruleId":"dcr-00aa","stream":"Custom-ApimGuard_CL","clientId":"uami-1"}},
	  "loggers":{"audit":{"endpointAddress":"contoso.servicebus.windows.net","name":"apim logs","identityClientId":"SystemAssigned"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Exports
	if got := e.AzureMonitor.URL(); got != "https://dce-1.eastus-1.ingest.monitor.azure.com/dataCollectionRules/dcr-00aa/streams/Custom-ApimGuard_CL?api-version=2023-01-01" {
		t.Errorf("monitor URL %s", got)
	}
	if e.AzureMonitor.ClientID != "uami-1" || e.BatchEvents != DefaultBatchEvents || e.FlushSeconds != DefaultFlushSeconds || e.BufferEvents != DefaultBufferEvents {
		t.Errorf("exports %+v", e)
	}
	l := e.Loggers["audit"]
	if l.ClientID != "" || l.URL("") != "https://contoso.servicebus.windows.net/apim%20logs/messages?timeout=60&api-version=2014-01" ||
		l.URL("3") != "https://contoso.servicebus.windows.net/apim%20logs/partitions/3/messages?timeout=60&api-version=2014-01" {
		t.Errorf("logger %+v %s", l, l.URL("3"))
	}
	for _, tc := range []struct{ cfg, want string }{
		{`"events":{"azureMonitor":{"endpoint":"https://d.ingest.monitor.azure.com","ruleId":"dcr-1"}}`, `plugin configuration: events.azureMonitor needs "ruleId" (the rule's immutable id, dcr-…) and "stream" (Custom-…)`},
		{`"events":{"azureMonitor":{"endpoint":"https://d.ingest.monitor.azure.com/x","ruleId":"dcr-1","stream":"s"}}`, `plugin configuration: events.azureMonitor.endpoint must be the https URL of a data collection endpoint (https://<name>.<region>.ingest.monitor.azure.com), got "https://d.ingest.mon"`},
		{`"events":{"batchEvents":0}`, `plugin configuration: events.batchEvents must be a whole number from 1 to 10000, got 0`},
		{`"events":{"flushSeconds":1.5}`, `plugin configuration: events.flushSeconds must be a whole number from 1 to 300, got 1.5`},
		{`"events":{"sink":1}`, `plugin configuration: events: unknown key "sink"`},
		{`"loggers":{"a":{"endpointAddress":"https://ns.servicebus.windows.net","name":"h"}}`, `plugin configuration: loggers["a"] needs "endpointAddress" (the namespace's host, <namespace>.servicebus.windows.net) and "name" (the event hub)`},
		{`"loggers":[]`, `plugin configuration: "loggers" must be an object of loggers by id`},
	} {
		_, err := Parse([]byte(`{"policy":"<policies/>","managedIdentity":{"source":"imds"},` + tc.cfg + `}`))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := Parse([]byte(`{"policy":"<policies/>","telemetry":false,"managedIdentity":{"source":"imds"},"events":{"azureMonitor":{"endpoint":"https://d.ingest.monitor.azure.com","ruleId":"dcr-1","stream":"s"}}}`)); err == nil ||
		err.Error() != `plugin configuration: events.azureMonitor sends security events, which "telemetry": false turns off` {
		t.Errorf("telemetry off: %v", err)
	}
}
