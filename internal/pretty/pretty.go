// Package pretty is apimguard's stand-in for github.com/tidwall/pretty, written
// for apimguard (no code of the original is in it), with the part of its API
// that gjson and apimguard call: Pretty, PrettyOptions, Ugly, Options and
// DefaultOptions.
//
// Why it exists: gjson registers its path modifiers (@pretty, @ugly, ...) in a
// package variable, so every modifier is linked into a program that imports
// gjson, and the original's key sorting decodes keys with encoding/json. That
// pulled encoding/json, its reflection and its sort instantiations into the
// proxy-wasm module: 476 KB of the module, about 0.7 s of V8 compilation at
// every Envoy start (BENCHMARKS.md). This package imports only slices and the
// unicode encodings.
//
// Behaviour: PrettyOptions writes one object member or array element per
// line, indented by Options.Indent per level after Options.Prefix, with
// `"key": value` members, `{}` and `[]` for empty containers and a final
// newline: Newtonsoft.Json's Formatting.Indented when Indent is two spaces.
// Options.Width is accepted and not used (lines are never joined to fit a
// width). SortKeys orders an object's members by their decoded keys (byte
// order, stable). Text that is not JSON is copied through without white space
// and never makes the functions fail or loop. Containers nested deeper than
// maxDepth are written without white space.
package pretty

import (
	"cmp"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// Options are PrettyOptions' settings.
type Options struct {
	// Width is accepted for compatibility and not used.
	Width int
	// Prefix starts every line.
	Prefix string
	// Indent is repeated once per nesting level.
	Indent string
	// SortKeys orders every object's members by key.
	SortKeys bool
}

// DefaultOptions are Pretty's settings.
var DefaultOptions = &Options{Width: 80, Prefix: "", Indent: "  ", SortKeys: false}

// maxDepth bounds the recursion of PrettyOptions.
const maxDepth = 512

// Pretty is PrettyOptions with DefaultOptions.
func Pretty(json []byte) []byte { return PrettyOptions(json, nil) }

// PrettyOptions returns json indented as opts say (DefaultOptions when nil).
// Several top-level values are written one after the other, each ending in a
// newline.
func PrettyOptions(json []byte, opts *Options) []byte {
	if opts == nil {
		opts = DefaultOptions
	}
	f := formatter{src: json, opts: opts, out: make([]byte, 0, len(json)+len(json)/2)}
	for f.skipSpace(); f.i < len(f.src); f.skipSpace() {
		f.out = append(f.out, f.opts.Prefix...)
		f.value(0)
		f.out = append(f.out, '\n')
	}
	return f.out
}

// Ugly returns json without the white space between its tokens.
func Ugly(json []byte) []byte {
	out := make([]byte, 0, len(json))
	for i := 0; i < len(json); {
		switch c := json[i]; {
		case c == '"':
			end := stringEnd(json, i)
			out = append(out, json[i:end]...)
			i = end
		case isSpace(c):
			i++
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

type formatter struct {
	src  []byte
	i    int
	opts *Options
	out  []byte
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (f *formatter) skipSpace() {
	for f.i < len(f.src) && isSpace(f.src[f.i]) {
		f.i++
	}
}

// stringEnd is the index after the string that starts at src[i] (a quote):
// past its closing quote, or len(src) when it is not closed.
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

// value writes the value at f.i, at nesting level depth.
func (f *formatter) value(depth int) {
	switch c := f.src[f.i]; c {
	case '{', '[':
		if depth >= maxDepth {
			// Too deep to indent: the rest of the container as it is,
			// without white space.
			end := skipValue(f.src, f.i)
			f.out = append(f.out, Ugly(f.src[f.i:end])...)
			f.i = end
			return
		}
		f.container(depth)
	default:
		// A string, a number, a literal, or text that is not JSON: copied
		// up to the next token (at least one byte: every call progresses).
		end := skipValue(f.src, f.i)
		f.out = append(f.out, f.src[f.i:end]...)
		f.i = end
	}
}

// skipValue is the index after the value that starts at src[i]: a
// string, a container up to its matching bracket (or the end), or anything
// else up to the next token; always past i.
func skipValue(src []byte, i int) int {
	switch src[i] {
	case '"':
		return stringEnd(src, i)
	case '{', '[':
		level := 0
		for i < len(src) {
			c := src[i]
			if c == '"' {
				i = stringEnd(src, i)
				continue
			}
			i++
			if c == '{' || c == '[' {
				level++
			} else if c == '}' || c == ']' {
				if level--; level == 0 {
					return i
				}
			}
		}
		return i
	}
	for i++; i < len(src); i++ {
		if c := src[i]; isSpace(c) || c == ',' || c == ':' || c == '"' || c == '{' || c == '}' || c == '[' || c == ']' {
			break
		}
	}
	return i
}

// member is an object's member found before it is written (sorted keys):
// its decoded key and where it starts in the source.
type member struct {
	key string
	at  int
}

// container writes the object or array at f.i, one member per line. The
// members are written as they come; an object whose keys are sorted is
// read first (members), then written in order from the source, so every
// byte of output is written once however deep the nesting.
func (f *formatter) container(depth int) {
	open := f.src[f.i]
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	f.i++
	f.out = append(f.out, open)
	var order []member
	end, sorted := 0, open == '{' && f.opts.SortKeys
	if sorted {
		order, end = f.members(closer)
		slices.SortStableFunc(order, func(a, b member) int { return cmp.Compare(a.key, b.key) })
	}
	count := 0
	for k := 0; ; k++ {
		if sorted {
			if k == len(order) {
				break
			}
			f.i = order[k].at
		} else {
			f.skipSpace()
			if f.i >= len(f.src) {
				break
			}
			if c := f.src[f.i]; c == closer {
				f.i++
				break
			} else if c == ',' || c == '}' || c == ']' || c == ':' {
				f.i++ // a separator, or a stray bracket of text that is not JSON
				continue
			}
		}
		if count > 0 {
			f.out = append(f.out, ',')
		}
		count++
		f.out = append(f.out, '\n')
		f.out = append(f.out, f.opts.Prefix...)
		for range depth + 1 {
			f.out = append(f.out, f.opts.Indent...)
		}
		if open == '{' && f.src[f.i] == '"' {
			keyEnd := stringEnd(f.src, f.i)
			f.out = append(f.out, f.src[f.i:keyEnd]...)
			f.i = keyEnd
			f.skipSpace()
			if f.i < len(f.src) && f.src[f.i] == ':' {
				f.i++
				f.out = append(f.out, ':', ' ')
				f.skipSpace()
			}
		}
		if f.i < len(f.src) && f.src[f.i] != closer {
			f.value(depth + 1)
		}
	}
	if sorted {
		f.i = end
	}
	if count == 0 {
		f.out = append(f.out, closer)
		return
	}
	// The closing line.
	f.out = append(f.out, '\n')
	f.out = append(f.out, f.opts.Prefix...)
	for range depth {
		f.out = append(f.out, f.opts.Indent...)
	}
	f.out = append(f.out, closer)
}

// members reads the members of the object at f.i (after its '{') without
// writing them; end is the index after its closing brace.
func (f *formatter) members(closer byte) (out []member, end int) {
	src, i := f.src, f.i
	skip := func() {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
	}
	for {
		skip()
		if i >= len(src) {
			return out, i
		}
		c := src[i]
		if c == closer {
			return out, i + 1
		}
		if c == ',' || c == '}' || c == ']' || c == ':' {
			i++
			continue
		}
		m := member{at: i}
		if c == '"' {
			keyEnd := stringEnd(src, i)
			m.key = decodeKey(src[i:keyEnd])
			i = keyEnd
			skip()
			if i < len(src) && src[i] == ':' {
				i++
				skip()
			}
		}
		if i < len(src) && src[i] != closer {
			i = skipValue(src, i)
		}
		out = append(out, m)
	}
}

// decodeKey is a JSON string's value (the quotes included in s), for sorting;
// a bad escape is kept as written.
func decodeKey(s []byte) string {
	if len(s) >= 2 && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	} else if len(s) >= 1 {
		s = s[1:]
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			out = append(out, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := hexRune(s[i+1:])
			if n == 0 {
				out = append(out, '\\', 'u')
				continue
			}
			i += n
			if utf16.IsSurrogate(r) {
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if r2, n2 := hexRune(s[i+3:]); n2 > 0 {
						r = utf16.DecodeRune(r, r2)
						i += 2 + n2
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default: // \" \\ \/ and anything else: the character itself
			out = append(out, s[i])
		}
	}
	return string(out)
}

// hexRune reads four hexadecimal digits; n is 4, or 0 when they are not there.
func hexRune(s []byte) (r rune, n int) {
	if len(s) < 4 {
		return 0, 0
	}
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}
