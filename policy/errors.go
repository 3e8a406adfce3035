package policy

import (
	"strings"
	"unicode/utf8"
)

// ConfigError is a problem in a policy document found while compiling it.
// Its text names the document, the position and the element, for example
//
//	policy:12:5: check-header: unknown attribute "nam"
//
// and always fits on one line.
type ConfigError struct {
	Doc     string // which document, for example "policy"
	Pos     Pos
	Element string // the element the problem is in; empty for syntax errors
	Msg     string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.Doc)
	b.WriteByte(':')
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Element != "" {
		b.WriteString(e.Element)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return shortenLine(oneLine(b.String()))
}

// Bounds on a configuration error's text: a document can hold a value of a
// megabyte, and the error that quotes it is one log line.
const (
	maxQuoted    = 64   // bytes kept of a quoted value, with its quotes
	maxErrorLine = 1024 // bytes of the whole line
)

// shortenLine cuts every double-quoted value in s (as %q writes them)
// longer than maxQuoted to its start and "...", then the whole line to
// maxErrorLine.
func shortenLine(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '"' {
			b.WriteByte(s[i])
			i++
			continue
		}
		// A quoted value: find its end, skipping escapes.
		end := i + 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) {
			b.WriteString(s[i:])
			break
		}
		if end+1-i <= maxQuoted {
			b.WriteString(s[i : end+1])
		} else {
			cut := i + 1
			for cut-i < maxQuoted-5 {
				if s[cut] == '\\' {
					cut++
				}
				cut++
			}
			for cut > i+1 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			b.WriteString(s[i:cut])
			b.WriteString(`..."`)
		}
		i = end + 1
	}
	out := b.String()
	if len(out) > maxErrorLine {
		cut := maxErrorLine - 3
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "..."
	}
	return out
}

// oneLine keeps an error on one log line: documents can put newlines into
// names and values.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// Failure is a policy that did not pass at request time: an access
// restriction that denied the request or an expression that could not be
// evaluated. It becomes context.LastError and, unless on-error replaces it,
// the response the client gets.
type Failure struct {
	Source   string // the policy element, for example "check-header"
	Reason   string // APIM's machine code, for example "HeaderNotFound"
	Message  string // LastError.Message: never contains a presented secret
	PolicyID string // the element's id attribute
	Status   int    // the response status
	// Body is the client-facing JSON body {"statusCode":N,"message":"..."}.
	Body string
	// Headers are added to the answer's (Retry-After).
	Headers [][2]string
	scope   string // global, api or operation
	path    string // where the element is in its section
}

func (f *Failure) Error() string { return f.Source + ": " + f.Reason + ": " + f.Message }
