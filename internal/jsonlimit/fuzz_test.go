package jsonlimit

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// FuzzCheck: on valid JSON, Check refuses exactly the documents that nest
// deeper than MaxDepth, measured independently with encoding/json's token
// stream (which does not recurse).
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,{"b":"]]]"}]}`, `"\\"`, `["\"[[["]`, strings.Repeat("[", 64) + strings.Repeat("]", 64),
		strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), `[[[`, `]]]`, `"unterminated [[[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data, 0)
		if err != nil && err != ErrTooDeep {
			t.Fatalf("Check = %v", err)
		}
		if !json.Valid(data) {
			return
		}
		depth, deepest := 0, 0
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return // json.Valid and the decoder disagree on edge cases; not ours
			}
			switch tok {
			case json.Delim('['), json.Delim('{'):
				depth++
				deepest = max(deepest, depth)
			case json.Delim(']'), json.Delim('}'):
				depth--
			}
		}
		if (deepest > MaxDepth) != (err == ErrTooDeep) {
			t.Fatalf("depth %d, Check = %v", deepest, err)
		}
	})
}
