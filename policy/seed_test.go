package policy

import (
	"os"
	"regexp"
	"testing"
)

// seedBlock returns the first <element ...>...</element> block of the seed
// document (examples/seed/seed.txt, the one copy of shared/seed/), byte for
// byte. (internal/corpus.SeedBlock does the same for the other packages;
// this package's tests cannot import it.)
func seedBlock(element string) string {
	seed, err := os.ReadFile("../examples/seed/seed.txt")
	if err != nil {
		panic(err)
	}
	re := regexp.MustCompile(`(?s)<` + element + `[ >].*?</` + element + `>`)
	block := re.Find(seed)
	if block == nil {
		panic("no <" + element + "> block in the seed")
	}
	return string(block)
}

// seedCheckHeader is the seed's check-header block; the tests set allowedKey
// from a named value before it.
var seedCheckHeader = seedBlock("check-header")

// The seed's check-header example, taken verbatim from the seed file, loads
// and enforces once allowedKey is set from a named value.
func TestSeed_checkHeader(t *testing.T) {
	block := seedBlock("check-header")
	doc := inboundDoc(`<set-variable name="allowedKey" value="{{api-key}}" />` + "\n" + block)
	p := mustCompile(t, doc, map[string]string{"api-key": "k-1"})
	if r := p.NewExec(headers{"x-api-key": "k-1"}, nil).Inbound(); r.Action != Continue {
		t.Errorf("right key: %v %d %s", r.Action, r.Status, r.Body)
	}
	if r := p.NewExec(headers{"x-api-key": "k-2"}, nil).Inbound(); r.Status != 403 {
		t.Errorf("wrong key: %v %d %s", r.Action, r.Status, r.Body)
	}
}
