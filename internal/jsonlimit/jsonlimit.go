// Package jsonlimit is the one guard every JSON reader in the module passes
// its input through before parsing it: a linear scan that bounds nesting
// depth and size. JSON comes from clients (tokens, AsJwt), identity
// providers (discovery, JWKS), called services (send-request answers),
// shared data and the plugin configuration; the parsers behind it (gjson's
// validator, encoding/json, go-jose) recurse once per nesting level, and
// under V8 a few thousand levels overflow the VM's stack, which no Go
// recover can catch. See RATIONALE.md, "Why a JSON depth guard?".
//
// It must not import anything outside the standard library and gjson.
package jsonlimit

import (
	"errors"
	"strconv"

	"github.com/tidwall/gjson"
)

// MaxDepth is the deepest nesting of arrays and objects accepted anywhere.
// Tokens, key sets and discovery documents nest three or four levels;
// 64 leaves room for any real service answer.
const MaxDepth = 64

// ErrTooDeep and ErrTooLarge are the two refusals of Check.
var (
	ErrTooDeep  = errors.New("JSON nested deeper than " + strconv.Itoa(MaxDepth) + " levels")
	ErrTooLarge = errors.New("JSON larger than allowed")
)

// Check reports whether data nests at most MaxDepth levels and is at most
// maxSize bytes (no size bound when maxSize <= 0). It does not validate the
// JSON: it counts brackets outside strings in one pass, so whatever parses
// data afterwards never recurses deeper than MaxDepth.
func Check(data []byte, maxSize int) error { return check(data, maxSize) }

// CheckString is Check for a string.
func CheckString(data string, maxSize int) error { return check(data, maxSize) }

func check[T string | []byte](data T, maxSize int) error {
	if maxSize > 0 && len(data) > maxSize {
		return ErrTooLarge
	}
	depth, inString := 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > MaxDepth {
				return ErrTooDeep
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// Valid is Check followed by gjson's validation: the test every gjson reader
// in the module uses instead of gjson.ValidBytes alone.
func Valid(data []byte, maxSize int) bool {
	return Check(data, maxSize) == nil && gjson.ValidBytes(data)
}

// ValidString is Valid for a string.
func ValidString(data string, maxSize int) bool {
	return check(data, maxSize) == nil && gjson.Valid(data)
}
