package pretty

import (
	"encoding/json"
	"testing"
)

func TestPrettyOptions(t *testing.T) {
	twoSpaces := &Options{Indent: "  "}
	for _, tc := range []struct {
		name string
		in   string
		opts *Options
		want string
	}{
		// Newtonsoft.Json's Formatting.Indented: two spaces, `"key": value`,
		// empty containers on one line (JsonTextWriter, Indentation 2).
		{"object", `{"a":1,"b":[true,null,"x"],"c":{},"d":[]}`, twoSpaces,
			"{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null,\n    \"x\"\n  ],\n  \"c\": {},\n  \"d\": []\n}\n"},
		{"white space dropped, strings kept", " { \"a b\" : \"c \\\" d\" ,\n\"e\":[ 1 , 2 ] } ", twoSpaces,
			"{\n  \"a b\": \"c \\\" d\",\n  \"e\": [\n    1,\n    2\n  ]\n}\n"},
		{"scalar", `  "s" `, nil, "\"s\"\n"},
		{"two values", `1 [2]`, nil, "1\n[\n  2\n]\n"},
		{"prefix", `{"a":[1]}`, &Options{Prefix: "> ", Indent: "\t"}, "> {\n> \t\"a\": [\n> \t\t1\n> \t]\n> }\n"},
		{"sorted keys, decoded", `{"b":1,"\u0061":2,"a":3,"B":{"z":0,"y":1}}`, &Options{Indent: " ", SortKeys: true},
			"{\n \"B\": {\n  \"y\": 1,\n  \"z\": 0\n },\n \"\\u0061\": 2,\n \"a\": 3,\n \"b\": 1\n}\n"},
		{"not JSON: copied, no loop", `{"a" 1 ]]} x`, twoSpaces, "{\n  \"a\"1\n}\nx\n"},
		{"unclosed", `[{"a":"b`, twoSpaces, "[\n  {\n    \"a\": \"b\n  }\n]\n"},
		{"empty", ``, nil, ""},
	} {
		if got := string(PrettyOptions([]byte(tc.in), tc.opts)); got != tc.want {
			t.Errorf("%s: PrettyOptions(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestPretty_deep(t *testing.T) {
	in := make([]byte, 0, 2*(maxDepth+2))
	for range maxDepth + 2 {
		in = append(in, '[')
	}
	for range maxDepth + 2 {
		in = append(in, ']')
	}
	got := Pretty(in)
	if string(Ugly(got)) != string(in) {
		t.Fatalf("a deep array changed: %.80q", got)
	}
}

func TestUgly(t *testing.T) {
	for in, want := range map[string]string{
		" { \"a b\" : [ 1 ,\t2 ]\r\n} ": `{"a b":[1,2]}`,
		`"x \" y"  "z`:                  `"x \" y""z`,
		``:                              ``,
	} {
		if got := string(Ugly([]byte(in))); got != want {
			t.Errorf("Ugly(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPretty: any input ends and never panics; valid JSON stays valid and the
// same values (compared without white space, and decoded when sorted).
func FuzzPretty(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}],"c":"d"}`, `[]`, `"\ud83d\ude00"`, `{"\"":1,"\\":2}`, `[[[`, `{"a":}`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, sortKeys bool) {
		out := PrettyOptions(in, &Options{Indent: "  ", SortKeys: sortKeys})
		if !json.Valid(in) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("PrettyOptions(%q) = %q, not JSON", in, out)
		}
		if !sortKeys {
			if string(Ugly(out)) != string(Ugly(in)) {
				t.Fatalf("PrettyOptions(%q) = %q changed the values", in, out)
			}
			return
		}
		var a, b any
		if json.Unmarshal(in, &a) != nil || json.Unmarshal(out, &b) != nil {
			return
		}
		if x, y := mustMarshal(t, a), mustMarshal(t, b); x != y {
			t.Fatalf("sorted PrettyOptions(%q) = %q changed the values", in, out)
		}
	})
}

func mustMarshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
