package policy

import (
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// LastError is APIM's context.LastError.
type LastError = expr.LastError

// jsonHeaders returns the headers of APIM's default error responses. The
// slice is shared: localResponse.set copies before it changes a list.
func jsonHeaders() [][2]string { return defaultErrorHeaders }

var defaultErrorHeaders = [][2]string{{"content-type", "application/json"}}

// InternalErrorBody is the body of every fixed 500 answer: an expression
// that failed, a call the plugin could not make, a panic it recovered.
const InternalErrorBody = `{"statusCode":500,"message":"Internal server error"}`

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
