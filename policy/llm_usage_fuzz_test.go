package policy

import (
	"strings"
	"testing"
)

// FuzzUsage: whatever a backend answers, cut anywhere, the usage readers
// never panic, keep what they hold bounded, and read a whole answer the
// same way in one chunk as in many.
func FuzzUsage(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":3,"completion_tokens":4}}`), uint16(5))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"usage\":{\"input_tokens\":1}}\n\ndata: [DONE]\n\n"), uint16(3))
	f.Add([]byte(`{"a":"`+strings.Repeat("}", 100)+`","usage" : {"total_tokens":9}}`), uint16(1))
	f.Fuzz(func(t *testing.T, body []byte, size uint16) {
		n := int(size%4096) + 1
		var whole, parts BodyUsage
		var stream StreamUsage
		whole.Write(body)
		for i := 0; i < len(body); i += n {
			chunk := body[i:min(i+n, len(body))]
			parts.Write(chunk)
			stream.Write(chunk)
			if len(stream.line) > maxEventLine || len(parts.head) > bodyUsageHead || len(parts.tail) > 2*bodyUsageTail+n {
				t.Fatalf("kept %d, %d, %d bytes", len(stream.line), len(parts.head), len(parts.tail))
			}
		}
		p1, c1, ok1 := whole.Usage()
		p2, c2, ok2 := parts.Usage()
		if len(body) <= bodyUsageHead && (p1 != p2 || c1 != c2 || ok1 != ok2) {
			t.Fatalf("one chunk %d %d %v, chunks of %d %d %d %v", p1, c1, ok1, n, p2, c2, ok2)
		}
		stream.Usage()
	})
}
