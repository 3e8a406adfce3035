package managedidentity

import (
	"testing"
	"time"
)

// FuzzParse: any answer of a token source is read or refused; a token
// that is read is visible ASCII, bounded, and expires within a day.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"access_token":"a.b.c","expires_on":"1780276000","token_type":"Bearer"}`, `{"access_token":"x","expires_in":3600}`, `[`, `{"access_token":"\u0000","expires_in":1e300}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := Parse(body, t0)
		if err != nil {
			return
		}
		if tok.Value == "" || len(tok.Value) > MaxToken || !visible(tok.Value) {
			t.Fatalf("token %q", tok.Value)
		}
		if life := tok.Expires.Sub(t0); life < MinLifetime || life > MaxLifetime {
			t.Fatalf("lifetime %v", life)
		}
		_ = time.Now
	})
}
