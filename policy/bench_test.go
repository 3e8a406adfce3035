package policy

import "testing"

// BenchmarkCheckHeader evaluates the seed's check-header pipeline
// (set-variable from a named value, then check-header) for one request.
func BenchmarkCheckHeader(b *testing.B) {
	p := mustCompile(b, inboundDoc(`<set-variable name="allowedKey" value="{{api-key}}" />`+seedCheckHeader), map[string]string{"api-key": "s3cr3t-key"})
	for _, tc := range []struct {
		name string
		req  headers
		want Action
	}{
		{"allow", headers{"x-api-key": "s3cr3t-key"}, Continue},
		{"deny", headers{"x-api-key": "s3cr3t-kez"}, Respond},
		{"missing", headers{}, Respond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if r := p.NewExec(tc.req, nil).Inbound(); r.Action != tc.want {
					b.Fatalf("got %v", r.Action)
				}
			}
		})
	}
}
