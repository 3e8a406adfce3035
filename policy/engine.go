package policy

import (
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// Request is the engine's view of the request being evaluated. The filter
// implements it over the proxy-wasm host; tests implement it with maps.
type Request interface {
	// Header returns every value of the named request header joined with
	// commas, as APIM's header accessor does. name is in lower case;
	// Envoy's pseudo-headers (:method, :path, :authority, :scheme) are
	// headers too.
	Header(name string) (value string, ok bool)
	// ClientIP is the caller's address without port, or "" when unknown.
	ClientIP() string
}

// Response is the upstream response in the outbound section. Its status is
// the :status pseudo-header.
type Response interface {
	Header(name string) (value string, ok bool)
}

// Action says what the host must do with a Result.
type Action uint8

const (
	// Continue lets the request (or response) go on, after applying the
	// header edits of the Result.
	Continue Action = iota
	// Respond answers the client with Status, Headers and Body instead.
	Respond
	// Call asks the host to make Result.Call and to resume the evaluation
	// with Exec.Resume when the answer (or a failure) arrives.
	Call
	// WaitKeys asks the host to (re)fetch the key sets of KeySources if it
	// may, and to call Exec.Resume(nil, nil) once that is done or when it
	// may not fetch now.
	WaitKeys
)

func (a Action) String() string {
	switch a {
	case Respond:
		return "Respond"
	case Call:
		return "Call"
	case WaitKeys:
		return "WaitKeys"
	}
	return "Continue"
}

// HeaderEdit replaces every instance of a header with Values (one header
// line per value), or removes it when Values is nil.
type HeaderEdit struct {
	Name   string
	Values []string
	// Append adds Values as header lines after the existing ones instead
	// of replacing them.
	Append bool
}

// Result is what the engine asks the host to do after running a section.
type Result struct {
	Action Action
	// Respond: the local response.
	Status  int
	Headers [][2]string
	Body    string
	// Continue: edits to the request (inbound) or response (outbound)
	// headers, in order. Outbound may also change the status (Status != 0).
	Edits []HeaderEdit
	// Call: the outgoing call to make.
	Call *OutgoingCall
	// WaitKeys: the openid-config URLs whose keys are needed.
	KeySources []string
	// Preflight marks the answer to a CORS preflight.
	Preflight bool
}

// OutgoingCall is an HTTP call the engine needs made before it can go on.
type OutgoingCall struct {
	URL       string // absolute URL
	Authority string // host[:port] from the URL
	Method    string
	Path      string // path and query
	Headers   [][2]string
	Body      []byte
	TimeoutMS uint32
}

// LastError is APIM's context.LastError.
type LastError = expr.LastError

// jsonHeaders returns the headers of APIM's default error responses. The
// slice is shared: localResponse.set copies before it changes a list.
func jsonHeaders() [][2]string { return defaultErrorHeaders }

var defaultErrorHeaders = [][2]string{{"content-type", "application/json"}}

const internalErrorBody = `{"statusCode":500,"message":"Internal server error"}`

// errorBody is APIM's default rejection body {"statusCode":N,"message":"..."}.
func errorBody(status int, message string) string {
	var b strings.Builder
	b.WriteString(`{"statusCode":`)
	b.WriteString(strconv.Itoa(status))
	b.WriteString(`,"message":`)
	b.WriteString(JSONString(message))
	b.WriteByte('}')
	return b.String()
}

// JSONString quotes s as a JSON string. Markup characters are escaped so a
// body is safe to show in a browser.
func JSONString(s string) string {
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

// reasonPhrase is the standard reason phrase of common status codes.
func reasonPhrase(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 409:
		return "Conflict"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	}
	return ""
}
