package jsonlimit

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name     string
		in       string
		max      int
		expected error
	}{
		{"flat object", `{"a":1,"b":[1,2]}`, 0, nil},
		{"64 levels", deep(64), 0, nil},
		{"65 levels", deep(65), 0, ErrTooDeep},
		{"5000 levels", deep(5000), 0, ErrTooDeep},
		{"objects count too", strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), 0, ErrTooDeep},
		{"brackets inside strings do not count", `["` + strings.Repeat("[", 100) + `"]`, 0, nil},
		{"escaped quote keeps the string open", `["\"` + strings.Repeat("[", 100) + `"]`, 0, nil},
		{"escaped backslash closes the string", `["\\",` + deep(65) + `]`, 0, ErrTooDeep},
		{"siblings do not add up", strings.Repeat("[[]],", 1000) + "[]", 0, nil},
		{"size at the bound", `"abc"`, 5, nil},
		{"size over the bound", `"abcd"`, 5, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckString(tc.in, tc.max); err != tc.expected {
				t.Fatalf("CheckString = %v, want %v", err, tc.expected)
			}
			if err := Check([]byte(tc.in), tc.max); err != tc.expected {
				t.Fatalf("Check = %v, want %v", err, tc.expected)
			}
		})
	}
}

func TestValid(t *testing.T) {
	if !Valid([]byte(`{"keys":[{"kty":"RSA"}]}`), 0) {
		t.Fatal("a key set is not valid")
	}
	if Valid([]byte(`{"keys":`), 0) {
		t.Fatal("truncated JSON is valid")
	}
	if ValidString(strings.Repeat("[", 70)+strings.Repeat("]", 70), 0) {
		t.Fatal("70 levels are valid")
	}
}
