package expr

import (
	"strings"
	"testing"
)

// TestCompile_limits: sources shaped to exhaust the stack while they are
// read, type-checked or evaluated are refused with a message, and sources
// just inside the limits compile and run.
func TestCompile_limits(t *testing.T) {
	tests := []struct {
		name, src, expectedErr string
	}{
		{"brackets at the limit", "@(" + strings.Repeat("(", 60) + "1" + strings.Repeat(")", 60) + " == 1)", ""},
		{"brackets over the limit", "@(" + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000) + ")",
			"expression nested deeper than 64 levels before \"(\""},
		{"unary operators over the limit", "@(" + strings.Repeat("!", 5000) + "true)", "expression nested deeper than 64 levels before \"!\""},
		{"blocks over the limit", "@{" + strings.Repeat("if (true) {", 100) + "return 1;" + strings.Repeat("}", 100) + "}",
			"expression nested deeper than 64 levels before \"true\""},
		{"a chain of 200 operands", `@("a"` + strings.Repeat(` + "a"`, 199) + `)`, ""},
		{"a chain of 5000 operands", `@("a"` + strings.Repeat(` + "a"`, 4999) + `)`,
			"expression nested deeper than 256 levels (an operator chain counts one level per operand): split it with variables"},
		{"a member chain of 5000", `@(context.Request.Method` + strings.Repeat(`.Trim()`, 5000) + `)`,
			"expression nested deeper than 256 levels (an operator chain counts one level per operand): split it with variables"},
		{"interpolation at the limit", `@(` + strings.Repeat(`$"{`, 8) + `1` + strings.Repeat(`}"`, 8) + `)`, ""},
		{"interpolation over the limit", `@(` + strings.Repeat(`$"{`, 200) + `1` + strings.Repeat(`}"`, 200) + `)`,
			"interpolated strings nested deeper than 8 levels"},
		{"too long", `@("` + strings.Repeat("a", MaxLength) + `")`, "expression of 65541 bytes, longer than the 65536 allowed"},
		{"out argument at the end (fuzz crasher)", `@{Jwt A00;A0000000000000000000000000000000000000(A0000000000000000[""](out}`,
			"expected a variable after out at the end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.src)
			if tc.expectedErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if _, err := p.Eval(newEnv()); err != nil {
					t.Fatalf("eval: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.expectedErr {
				t.Fatalf("err = %v\nwant  %s", err, tc.expectedErr)
			}
		})
	}
}
