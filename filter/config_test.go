//go:build !wasip1

package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// A bad configuration never serves traffic: the start fails and one critical
// log line names the document, line, element and attribute.
func TestPluginStart_refusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name, config, wantLog string
	}{
		{
			name:    "unknown attribute",
			config:  "<policies>\n  <inbound>\n    <check-header nam=\"x-api-key\" failed-check-httpcode=\"403\" />\n  </inbound>\n</policies>",
			wantLog: `apimguard: refusing to start: policy:3:19: check-header: unknown attribute "nam"`,
		},
		{
			name:    "unknown element",
			config:  "<policies><inbound>\n<check-headers name=\"a\"/></inbound></policies>",
			wantLog: `apimguard: refusing to start: policy:2:1: check-headers: unsupported policy element`,
		},
		{
			name:    "missing named value",
			config:  `{"policy": "<policies><inbound><set-variable name=\"k\" value=\"{{api-key}}\"/></inbound></policies>"}`,
			wantLog: `apimguard: refusing to start: policy:1:50: set-variable: named value "api-key" is not defined (set it in namedValues or as a VM environment variable)`,
		},
		{
			name:    "unsupported expression member",
			config:  "<policies><inbound>\n  <set-variable name=\"b\" value=\"@(context.Request.Body.As<XElement>())\" />\n</inbound></policies>",
			wantLog: `apimguard: refusing to start: policy:2:56: set-variable: unsupported body type XElement: use string, JObject, JArray or JToken in expression @(context.Request.Body.As<XElement>())`,
		},
		{
			name:    "error in an API scope",
			config:  `{"apis": [{"name": "orders", "pathPrefix": "/orders", "policy": "<policies><inbound><json-to-xml apply=\"always\"/></inbound></policies>"}]}`,
			wantLog: `apimguard: refusing to start: apis[orders].policy:1:20: json-to-xml: unsupported policy element`,
		},
		{
			name:    "unknown key in an API",
			config:  `{"apis": [{"name": "orders", "prefix": "/orders"}]}`,
			wantLog: `apimguard: refusing to start: plugin configuration: apis[0]: unknown key "prefix"`,
		},
		{
			name:    "unknown JSON key",
			config:  `{"policy": "<policies/>", "polcy": "x"}`,
			wantLog: `apimguard: refusing to start: plugin configuration: unknown key "polcy" (known: policy, apis, namedValues, fragments, backends, upstreams, certificates, clientCertificates, managedIdentity, products, subscriptions, clientIp, deployment, expressions, tokenCache, telemetry, accessLog, events, eventsPerSecond, loggers, nativeCrypto, tls, rateLimitService)`,
		},
		{
			name:    "not XML",
			config:  "<policies><inbound></policies>",
			wantLog: `apimguard: refusing to start: policy:1:22: inbound: end tag </policies> does not match <inbound> opened at 1:11`,
		},
		{
			name:    "choose nested 5000 deep",
			config:  "<policies><inbound>" + strings.Repeat(`<choose><when condition="true">`, 5000) + strings.Repeat("</when></choose>", 5000) + "</inbound></policies>",
			wantLog: `apimguard: refusing to start: policy:1:485: choose: elements nested deeper than 32 levels`,
		},
		{
			name:    "XML nested 50000 deep",
			config:  "<policies>" + strings.Repeat("<a>", 50000) + strings.Repeat("</a>", 50000) + "</policies>",
			wantLog: `apimguard: refusing to start: policy:1:104: a: elements nested deeper than 32 levels`,
		},
		{
			name:    "configuration JSON nested 5000 deep",
			config:  `{"policy":"<policies/>","apis":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
			wantLog: `apimguard: refusing to start: plugin configuration: JSON nested deeper than 64 levels`,
		},
		{
			name:    "expression nested 5000 deep",
			config:  `<policies><inbound><set-variable name="a" value="@(` + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000) + `)"/></inbound></policies>`,
			wantLog: `apimguard: refusing to start: policy:1:116: set-variable: expression nested deeper than 64 levels before "(" in expression @(` + strings.Repeat("(", 55) + "...",
		},
		{
			name:    "empty",
			config:  "",
			wantLog: `apimguard: refusing to start: plugin configuration: empty; give a <policies> document or a JSON object with "policy"`,
		},
	}
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p, st := startPlugin(t, vm, tc.config)
				if st != types.OnPluginStartStatusFailed {
					t.Fatalf("plugin started with a bad configuration")
				}
				logs := p.host.GetCriticalLogs()
				if len(logs) != 1 || logs[0] != tc.wantLog {
					t.Fatalf("critical logs = %q\nwant one line %q", logs, tc.wantLog)
				}
			})
		}
	})
}

// The VM configuration's gcPercent tunes the collector; anything but a
// whole number from 10 to 1000 stops the VM with one critical line.
func TestVMConfiguration_gcPercent(t *testing.T) {
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		for _, tc := range []struct {
			config  string
			want    types.OnVMStartStatus
			wantLog string
		}{
			{`{"gcPercent": 100}`, types.OnVMStartStatusOK, ""},
			{`{"gcPercent": 5}`, types.OnVMStartStatusFailed, "apimguard: VM configuration: gcPercent must be a whole number from 10 to 1000, got 5"},
			{`{"gcPercent": "80"}`, types.OnVMStartStatusFailed, `apimguard: VM configuration: gcPercent must be a whole number from 10 to 1000, got "80"`},
			{`{"gcPercent": 80.5}`, types.OnVMStartStatusFailed, "apimguard: VM configuration: gcPercent must be a whole number from 10 to 1000, got 80.5"},
		} {
			t.Run(tc.config, func(t *testing.T) {
				opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithVMConfiguration([]byte(tc.config))
				host, reset := proxytest.NewHostEmulator(opt)
				defer reset()
				if got := host.StartVM(); got != tc.want {
					t.Fatalf("StartVM = %v, want %v", got, tc.want)
				}
				var logs []string
				logs = append(logs, host.GetCriticalLogs()...)
				if tc.wantLog == "" && len(logs) != 0 || tc.wantLog != "" && (len(logs) != 1 || logs[0] != tc.wantLog) {
					t.Errorf("critical logs = %q, want %q", logs, tc.wantLog)
				}
			})
		}
	})
	debug.SetGCPercent(100) // the native runs set this test process's
}
