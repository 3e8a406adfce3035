package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestCompile_limits: documents shaped to exhaust the stack, the memory or
// the time of the plugin start are refused with one line naming the
// document, position and element, and the line never carries a long value.
func TestCompile_limits(t *testing.T) {
	nestedChoose := func(n int) string {
		return "<policies><inbound>" + strings.Repeat(`<choose><when condition="true">`, n) +
			strings.Repeat("</when></choose>", n) + "</inbound></policies>"
	}
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name, doc, expected string
	}{
		{"choose nested 5000 deep", nestedChoose(5000), `policy:1:485: choose: elements nested deeper than 32 levels`},
		{"XML nested 50000 deep", "<policies>" + strings.Repeat("<a>", 50000) + strings.Repeat("</a>", 50000) + "</policies>",
			`policy:1:104: a: elements nested deeper than 32 levels`},
		{"a document over 1 MiB", "<policies><inbound/><!--" + long + "--></policies>", `policy:1:1: the document has 1048614 bytes, more than the 1048576 allowed`},
		{"a long value is shortened in the message", inboundDoc(`<check-header name="` + long[:100000] + ` x" failed-check-httpcode="403"/>`),
			`policy:3:15: check-header: attribute "name" is not a valid header name: "` + strings.Repeat("x", 58) + `..."`},
		{"a long element name is shortened", inboundDoc(`<` + long[:100000] + `/>`),
			`policy:3:1: ` + long[:100000] + `: unsupported policy element`},
		{"a long expression", inboundDoc(`<set-variable name="a" value="@(&quot;` + long[:70000] + `&quot;)"/>`),
			`policy:3:31: set-variable: expression of 70005 bytes, longer than the 65536 allowed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileGateway(Config{Policy: tc.doc}, Options{})
			if err == nil {
				t.Fatal("compiled")
			}
			want := tc.expected
			if len(want) > maxErrorLine {
				want = want[:maxErrorLine-3] + "..."
			}
			if err.Error() != want {
				t.Fatalf("err = %.300s\nwant  %.300s", err, want)
			}
		})
	}
	// At the depth limit, a document still compiles.
	if _, err := CompileGateway(Config{Policy: nestedChoose(14)}, Options{}); err != nil {
		t.Fatalf("14 nested choose: %v", err)
	}
}

// oneLinePolicy is a document of about size bytes on one line: set-variable
// elements, each with an attribute, so the reader computes a position for
// every element and attribute far into the line.
func oneLinePolicy(size int) string {
	var b strings.Builder
	b.WriteString("<policies><inbound>")
	for i := 0; b.Len() < size-len("</inbound></policies>"); i++ {
		fmt.Fprintf(&b, `<set-variable name="v%d" value="x" />`, i)
	}
	b.WriteString("</inbound></policies>")
	return b.String()
}

// BenchmarkParseDocument_oneLine reads one-line documents of 0.25, 0.5 and
// 1 MB: the ns/MB metric stays flat when reading is linear in the size.
func BenchmarkParseDocument_oneLine(b *testing.B) {
	for _, size := range []int{256 << 10, 512 << 10, 1000 << 10} {
		doc := oneLinePolicy(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for i := 0; i < b.N; i++ {
				if _, err := ParseDocument(doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(len(doc))/1e6), "ns/MB")
		})
	}
}

// BenchmarkCompile_oneLine is BenchmarkParseDocument_oneLine through the
// whole plugin start: reading and compiling.
func BenchmarkCompile_oneLine(b *testing.B) {
	for _, size := range []int{256 << 10, 512 << 10, 1000 << 10} {
		doc := oneLinePolicy(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := CompileGateway(Config{Policy: doc}, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(len(doc))/1e6), "ns/MB")
		})
	}
}
