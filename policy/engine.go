package policy

import (
	"strconv"
	"strings"
)

// Request is the engine's view of the request being evaluated. The filter
// implements it over the proxy-wasm host; tests implement it with maps.
type Request interface {
	// Header returns every value of the named request header joined with
	// commas, as APIM's header accessor does. name is in lower case.
	Header(name string) (value string, ok bool)
}

// Action says what the host must do with a Result.
type Action uint8

const (
	// Continue lets the request go on to the next filter and the upstream.
	Continue Action = iota
	// Respond answers the client with Status, Headers and Body; the upstream
	// is not called.
	Respond
)

func (a Action) String() string {
	if a == Respond {
		return "Respond"
	}
	return "Continue"
}

// Result is what the engine asks the host to do after running a section.
type Result struct {
	Action  Action
	Status  int
	Headers [][2]string
	Body    string
}

// Program is a compiled policy document. It is immutable and safe to share
// between requests.
type Program struct {
	inbound, backend, outbound, onError []statement
}

// statement is one compiled policy element.
type statement interface {
	// run evaluates the statement. A *Failure (or any other error) sends
	// the request to on-error.
	run(x *Exec) error
}

// LastError is APIM's context.LastError.
type LastError struct {
	Source, Reason, Message, Section, PolicyID string
}

// Exec is the state of one request while the engine evaluates it. It is
// not safe for concurrent use; a request's callbacks run one at a time.
type Exec struct {
	prog    *Program
	req     Request
	vars    map[string]any
	section string
	frames  []frame
	lastErr *LastError
	// status is context.Response.StatusCode; access restrictions preset it
	// before on-error runs.
	status int
	failed *Failure
}

// frame is a statement list being executed and the index of the next one.
type frame struct {
	body []statement
	next int
}

// NewExec starts the evaluation of one request.
func (p *Program) NewExec(req Request) *Exec {
	return &Exec{prog: p, req: req}
}

// LastError returns context.LastError, or nil when no policy has failed.
func (x *Exec) LastError() *LastError { return x.lastErr }

// Variable returns context.Variables[name].
func (x *Exec) Variable(name string) (any, bool) {
	v, ok := x.vars[name]
	return v, ok
}

func (x *Exec) setVariable(name string, v any) {
	if x.vars == nil {
		x.vars = make(map[string]any, 4)
	}
	x.vars[name] = v
}

// Inbound runs the inbound section and, when a policy fails there, on-error.
func (x *Exec) Inbound() Result {
	x.section = "inbound"
	x.frames = append(x.frames[:0], frame{body: x.prog.inbound})
	return x.loop()
}

func (x *Exec) loop() Result {
	for len(x.frames) > 0 {
		f := &x.frames[len(x.frames)-1]
		if f.next == len(f.body) {
			x.frames = x.frames[:len(x.frames)-1]
			continue
		}
		s := f.body[f.next]
		f.next++
		if err := s.run(x); err != nil {
			if r, done := x.fail(err); done {
				return r
			}
		}
	}
	if x.failed != nil {
		// on-error finished without replacing the response.
		return errorResult(x.failed.Status, x.failed.Body)
	}
	return Result{Action: Continue}
}

// fail records err as context.LastError and switches to on-error. It returns
// done when the response is final: a failure inside on-error itself.
func (x *Exec) fail(err error) (Result, bool) {
	f, ok := err.(*Failure)
	if !ok {
		f = expressionFailure(err)
	}
	if x.section == "on-error" {
		return errorResult(500, internalErrorBody), true
	}
	x.lastErr = &LastError{Source: f.Source, Reason: f.Reason, Message: f.Message, Section: x.section, PolicyID: f.PolicyID}
	x.status = f.Status
	x.failed = f
	x.section = "on-error"
	x.frames = append(x.frames[:0], frame{body: x.prog.onError})
	return Result{}, false
}

const internalErrorBody = `{"statusCode":500,"message":"Internal server error"}`

// expressionFailure is APIM's ExpressionValueEvaluationFailure: a value that
// could not be computed at request time fails closed with 500.
func expressionFailure(err error) *Failure {
	return &Failure{
		Source:  "expression",
		Reason:  "ExpressionValueEvaluationFailure",
		Message: err.Error(),
		Status:  500,
		Body:    internalErrorBody,
	}
}

var jsonHeaders = [][2]string{{"content-type", "application/json"}}

func errorResult(status int, body string) Result {
	return Result{Action: Respond, Status: status, Headers: jsonHeaders, Body: body}
}

// errorBody is APIM's default rejection body {"statusCode":N,"message":"..."}.
func errorBody(status int, message string) string {
	var b strings.Builder
	b.WriteString(`{"statusCode":`)
	b.WriteString(strconv.Itoa(status))
	b.WriteString(`,"message":`)
	b.WriteString(jsonString(message))
	b.WriteByte('}')
	return b.String()
}

// jsonString quotes s as a JSON string. Markup characters are escaped so a
// body is safe to show in a browser.
func jsonString(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029:
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hex[(r>>shift)&0xf])
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// toString renders a variable as APIM renders it in a string context.
func toString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case nil:
		return ""
	}
	return ""
}
