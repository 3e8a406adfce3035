// Package expr compiles and evaluates the subset of APIM policy expressions
// (@(...) and @{...}, C# syntax) that a gateway needs. Expressions are
// parsed and type-checked once at load time; anything outside the subset is
// a load-time error naming the construct. Evaluation never blocks and reads
// the request only through Env.
//
// It must not import proxy-wasm, wazero, or the policy package.
package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/policy/clientcert"

	"github.com/apimguard/apimguard/internal/jsonlimit"
)

var sprintf = fmt.Sprintf

// Env is the request as expressions see it. The policy engine implements it.
type Env interface {
	RequestHeader(name string) (string, bool) // lower-case name; values comma-joined
	ResponseHeader(name string) (string, bool)
	Method() string
	URL() *URL
	OriginalURL() *URL
	ClientIP() string
	MatchedParameter(name string) (string, bool)
	Variable(name string) (any, bool)
	ResponseStatus() (code int, reason string)
	LastError() *LastError // nil when no policy has failed
	RequestID() string
	// Now is the gateway's clock (DateTime.UtcNow).
	Now() time.Time
	// ClientCertificate is context.Request.Certificate: nil without one.
	ClientCertificate() *clientcert.Certificate
	// VerifyClientCertificate is Certificate.Verify() (revocation true)
	// and VerifyNoRevocation(): the chain to the configured trust, the
	// validity dates and, with revocation, the configured CRLs.
	VerifyClientCertificate(revocation bool) bool
	// Subscription is context.Subscription: nil without a valid key.
	Subscription() *Subscription
	// Route is context.Api, context.Operation and context.Deployment.
	Route() *Route
	// MessageBody is the request's (response false) or the upstream
	// response's body as the policies left it so far; ok is false when the
	// message has none, an earlier read consumed it, or the host does not
	// hold it (a program that reads it tells the host: Program.ReadsBody).
	MessageBody(response bool) (body []byte, ok bool)
	// ConsumeBody is a read without preserveContent: later reads get none,
	// and the message goes on without a body unless a policy sets one.
	ConsumeBody(response bool)
}

// LastError is context.LastError.
type LastError struct {
	Source, Reason, Message, Scope, Section, Path, PolicyID string
}

// URL is context.Request.Url / OriginalUrl.
type URL struct {
	Scheme, Host string
	Port         int64
	Path         string
	// QueryString is the raw query with its leading '?', or "".
	QueryString string
}

// Query returns the values of query parameter name joined with commas.
func (u *URL) Query(name string) (string, bool) {
	q := strings.TrimPrefix(u.QueryString, "?")
	var vals []string
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if unescape(k) == name {
			vals = append(vals, unescape(v))
		}
	}
	if vals == nil {
		return "", false
	}
	return strings.Join(vals, ","), true
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s):
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (u *URL) String() string {
	port := ""
	if !(u.Scheme == "https" && u.Port == 443) && !(u.Scheme == "http" && u.Port == 80) && u.Port != 0 {
		port = ":" + strconv.FormatInt(u.Port, 10)
	}
	return u.Scheme + "://" + u.Host + port + u.Path + u.QueryString
}

// Response is an IResponse: the answer to a send-request, or a stored
// response for return-response.
type Response struct {
	StatusCode   int
	StatusReason string
	Headers      [][2]string // lower-case names
	Body         []byte
}

func (r *Response) header(name string) (string, bool) {
	var vals []string
	for _, kv := range r.Headers {
		if kv[0] == name {
			vals = append(vals, kv[1])
		}
	}
	if vals == nil {
		return "", false
	}
	return strings.Join(vals, ","), true
}

// Jwt is APIM's Jwt: a parsed token. Parsing alone (AsJwt, TryParseJwt)
// proves nothing about the token; validate-jwt produces verified ones.
type Jwt struct {
	Algorithm, Type, ID, Issuer, Subject string
	Audiences                            []string
	claims                               map[string][]string
	// build makes claims on first use; nil once it has.
	build func() map[string][]string
}

// NewJwt returns a Jwt whose claims (Jwt.Claims in expressions) claims
// builds on first use: most requests never read them.
func NewJwt(claims func() map[string][]string) *Jwt { return &Jwt{build: claims} }

// Claim returns a claim's values; ok is false when the token has no such
// claim.
func (j *Jwt) Claim(name string) (values []string, ok bool) {
	if j.build != nil {
		j.claims, j.build = j.build(), nil
	}
	values, ok = j.claims[name]
	return values, ok
}

// MaxJwtSize bounds what AsJwt and TryParseJwt look at, as validate-jwt's
// token size limit: a longer string is not a JWT.
const MaxJwtSize = 16 * 1024

// ParseJwt decodes a compact JWS without verifying it. It returns nil when
// s is not a JWT, as APIM's AsJwt does.
func ParseJwt(s string) *Jwt {
	if len(s) > MaxJwtSize {
		return nil
	}
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 {
		return nil
	}
	header, err1 := b64url(parts[0])
	payload, err2 := b64url(parts[1])
	if err1 != nil || err2 != nil || !jsonlimit.Valid(header, 0) || !jsonlimit.Valid(payload, 0) {
		return nil
	}
	h, p := gjson.ParseBytes(header), gjson.ParseBytes(payload)
	if !h.IsObject() || !p.IsObject() {
		return nil
	}
	j := &Jwt{Algorithm: h.Get("alg").String(), Type: h.Get("typ").String(), claims: map[string][]string{}}
	p.ForEach(func(k, v gjson.Result) bool {
		var vals []string
		if v.IsArray() {
			for _, e := range v.Array() {
				vals = append(vals, e.String())
			}
		} else {
			vals = []string{v.String()}
		}
		j.claims[k.String()] = vals
		return true
	})
	j.ID = p.Get("jti").String()
	j.Issuer = p.Get("iss").String()
	j.Subject = p.Get("sub").String()
	j.Audiences = j.claims["aud"]
	return j
}

// Basic is the result of AsBasic: the credentials of a Basic header.
type Basic struct {
	UserID, Password string
}

// JToken is a JSON value from Body.As<JObject>() and its indexers.
type JToken struct {
	r gjson.Result
}

func (j JToken) String() string {
	if j.r.Type == gjson.String {
		return j.r.Str
	}
	return j.r.Raw
}

// RuntimeError is an expression that failed while a request was evaluated.
// APIM reports these as ExpressionValueEvaluationFailure.
type RuntimeError struct {
	Msg string
}

func (e *RuntimeError) Error() string { return e.Msg }

func rtErr(format string, args ...any) error { return &RuntimeError{Msg: fmt.Sprintf(format, args...)} }

var errNull = &RuntimeError{Msg: "Object reference not set to an instance of an object."}

// ToString renders v as APIM does in a string context.
func ToString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return formatDouble(t)
	case int:
		return strconv.Itoa(t)
	case nil:
		return ""
	case JToken:
		return t.String()
	case *URL:
		return t.String()
	case []string:
		return "System.String[]"
	case []byte:
		return "System.Byte[]"
	case Guid:
		return t.String()
	case *Jwt:
		return "Jwt"
	case time.Time:
		return formatTime(t, "")
	case *clientcert.Certificate:
		return "[Subject]\r\n  " + t.Subject + "\r\n\r\n[Issuer]\r\n  " + t.Issuer + "\r\n\r\n[Serial Number]\r\n  " + t.SerialNumber + "\r\n\r\n[Thumbprint]\r\n  " + t.Thumbprint + "\r\n"
	}
	return fmt.Sprint(v)
}

// JTokenOf reads JSON text as a JToken (a cached JObject read back); ok is
// false when raw is not JSON.
func JTokenOf(raw string) (JToken, bool) {
	if !gjson.Valid(raw) {
		return JToken{}, false
	}
	return JToken{r: gjson.Parse(raw)}, true
}

// JSON is the token's JSON text (a string token is quoted).
func (j JToken) JSON() string { return j.r.Raw }
