package policy

import "testing"

func TestClientFromXFF(t *testing.T) {
	tests := []struct {
		xff  string
		hops int
		want string
	}{
		{"203.0.113.7", 1, "203.0.113.7"},
		{"198.51.100.1, 203.0.113.7", 1, "203.0.113.7"},
		{"198.51.100.1, 203.0.113.7", 2, "198.51.100.1"},
		{"198.51.100.1,203.0.113.7,10.0.0.1", 2, "203.0.113.7"},
		{"203.0.113.7", 2, ""},
		{"", 1, ""},
		{"not-an-ip", 1, ""},
		{"[2001:db8::1]:443", 1, "2001:db8::1"},
		{"2001:db8::1", 1, "2001:db8::1"},
		{"203.0.113.7:5555", 1, "203.0.113.7"},
		{"::ffff:203.0.113.7", 1, "203.0.113.7"},
	}
	for _, tc := range tests {
		if got := ClientFromXFF(tc.xff, tc.hops); got != tc.want {
			t.Errorf("ClientFromXFF(%q, %d) = %q, want %q", tc.xff, tc.hops, got, tc.want)
		}
	}
}
