package policy

import (
	"os"
	"regexp"
	"testing"
)

// seedBlock returns the first <element ...>...</element> block of the seed
// document (testdata/seed.txt, a copy of shared/seed/), byte for byte.
func seedBlock(t *testing.T, element string) string {
	t.Helper()
	seed, err := os.ReadFile("testdata/seed.txt")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)<` + element + `[ >].*?</` + element + `>`)
	block := re.Find(seed)
	if block == nil {
		t.Fatalf("no <%s> block in the seed", element)
	}
	return string(block)
}

// The seed's check-header example, taken verbatim from the seed file, loads
// and enforces once allowedKey is set from a named value.
func TestSeed_checkHeader(t *testing.T) {
	block := seedBlock(t, "check-header")
	if block != seedCheckHeader {
		t.Fatalf("the test constant drifted from the seed:\n%s\nwant\n%s", seedCheckHeader, block)
	}
	doc := inboundDoc(`<set-variable name="allowedKey" value="{{api-key}}" />` + "\n" + block)
	p := mustCompile(t, doc, map[string]string{"api-key": "k-1"})
	if r := p.NewExec(headers{"x-api-key": "k-1"}, nil).Inbound(); r.Action != Continue {
		t.Errorf("right key: %v %d %s", r.Action, r.Status, r.Body)
	}
	if r := p.NewExec(headers{"x-api-key": "k-2"}, nil).Inbound(); r.Status != 403 {
		t.Errorf("wrong key: %v %d %s", r.Action, r.Status, r.Body)
	}
}
