package envoytest

import (
	"encoding/json"
	"testing"
)

// Real source addresses: Envoy's downstream address is the caller.
const ipFilterPolicy = `<policies>
  <inbound>
    <ip-filter action="allow">
      <address>127.0.0.2</address>
      <address-range from="127.0.0.10" to="127.0.0.20" />
    </ip-filter>
  </inbound>
</policies>`

func ipFilterSourceAddress(t *testing.T, s *stack) {
	tests := []struct {
		from       string
		wantStatus int
	}{
		{"127.0.0.2", 200},
		{"127.0.0.3", 403},
		{"127.0.0.15", 200},
		{"127.0.0.20", 200},
		{"127.0.0.21", 403},
	}
	for _, tc := range tests {
		t.Run(tc.from, func(t *testing.T) {
			// A forged X-Forwarded-For does not matter by default.
			r := s.doWith(t, clientFrom(tc.from), "GET", "/", map[string][]string{"x-forwarded-for": {"127.0.0.2"}}, "")
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", r.status, tc.wantStatus, r.body)
			}
			if tc.wantStatus == 403 && r.body != `{"statusCode":403,"message":"Forbidden"}` {
				t.Errorf("body = %q", r.body)
			}
		})
	}
}

// The seed's check-ip, verbatim, with the client taken from the trusted
// X-Forwarded-For entry.
// Its listener runs with BehindProxy (use_remote_address: false).
func checkIPSeedXFFConfig() string {
	seed := "<policies>\n<inbound>\n<check-ip addresses=\"203.0.113.0/24, 198.51.100.23\">\n<action>allow</action>\n</check-ip>\n</inbound>\n</policies>"
	cfg, err := json.Marshal(map[string]any{"policy": seed, "clientIp": map[string]int{"xffTrustedHops": 1}})
	if err != nil {
		panic(err)
	}
	return string(cfg)
}

func checkIPSeedXFF(t *testing.T, s *stack) {
	tests := []struct {
		name, xff  string
		wantStatus int
	}{
		{"allowed block", "203.0.113.50", 200},
		{"allowed address", "198.51.100.23", 200},
		{"spoofed left-most entry", "203.0.113.7, 192.0.2.1", 403},
		{"client behind the trusted proxy", "192.0.2.1, 203.0.113.7", 200},
		{"no header", "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h map[string][]string
			if tc.xff != "" {
				h = map[string][]string{"x-forwarded-for": {tc.xff}}
			}
			if r := s.do(t, "GET", "/", h, ""); r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", r.status, tc.wantStatus, r.body)
			}
		})
	}
}
