package policy

import "strings"

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
	return oneLine(b.String())
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
	Body  string
	scope string // global, api or operation
	path  string // where the element is in its section
}

func (f *Failure) Error() string { return f.Source + ": " + f.Reason + ": " + f.Message }
