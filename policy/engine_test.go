package policy

import (
	"testing"
)

func TestJoinHeader(t *testing.T) {
	hs := [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"a", ""}}
	if v, ok := JoinHeader(hs, "a"); !ok || v != "1,3," {
		t.Errorf(`JoinHeader(a) = %q, %v; want "1,3,", true`, v, ok)
	}
	if v, ok := JoinHeader(hs, "b"); !ok || v != "2" {
		t.Errorf(`JoinHeader(b) = %q, %v; want "2", true`, v, ok)
	}
	if v, ok := JoinHeader(hs, "c"); ok || v != "" {
		t.Errorf(`JoinHeader(c) = %q, %v; want "", false`, v, ok)
	}
}
