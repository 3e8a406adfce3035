// Package managedidentity speaks the token protocols of managed identities: it
// builds the request for a token and reads the answer, for Azure's
// instance metadata service (IMDS, also what AKS's pod-identity and
// workload-identity proxy endpoints speak), the App Service / Container
// Apps identity endpoint, and a plain OAuth 2.0 client-credentials token
// endpoint. The filter makes the calls and caches the tokens; the corpus
// replayer uses the same requests and readers. It must not import
// proxy-wasm.
package managedidentity

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
	"github.com/apimguard/apimguard/policy"
)

// Kinds of token source.
const (
	IMDS              = "imds"
	AppService        = "appService"
	ClientCredentials = "clientCredentials"
)

// DefaultIMDSEndpoint is the instance metadata service's token endpoint.
const DefaultIMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// Source is a configured token source. Secrets (IdentityHeader,
// ClientSecret) are never logged.
type Source struct {
	Kind     string
	Endpoint string // absolute http(s) URL
	// IdentityHeader is App Service's X-IDENTITY-HEADER secret.
	IdentityHeader string
	// ClientID and ClientSecret authenticate a client-credentials request;
	// ClientID is also the default identity of IMDS and App Service
	// requests (a policy's client-id overrides it).
	ClientID, ClientSecret string
	// Scope is the client-credentials scope, with {resource} replaced
	// (default "{resource}/.default", Entra's form).
	Scope string
}

// Check validates a source after named values were substituted.
func (s *Source) Check() error {
	switch s.Kind {
	case IMDS:
		if s.Endpoint == "" {
			s.Endpoint = DefaultIMDSEndpoint
		}
	case AppService:
		if s.IdentityHeader == "" {
			return errors.New("managedIdentity: source \"appService\" needs identityHeader (App Service sets IDENTITY_HEADER: \"{{IDENTITY_HEADER}}\")")
		}
	case ClientCredentials:
		if s.ClientID == "" || s.ClientSecret == "" {
			return errors.New("managedIdentity: source \"clientCredentials\" needs clientId and clientSecret (a named value: \"{{name}}\")")
		}
		if s.Scope == "" {
			s.Scope = "{resource}/.default"
		}
	default:
		return fmt.Errorf("managedIdentity: source must be %q, %q or %q, not %q", IMDS, AppService, ClientCredentials, s.Kind)
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("managedIdentity: endpoint must be an absolute http or https URL without credentials")
	}
	return nil
}

// Request is one token request.
type Request struct {
	Method, URL string
	Headers     [][2]string
	Body        []byte
}

// Request builds the token request for r.
func (s *Source) Request(r policy.TokenRequest) Request {
	clientID := r.ClientID
	if clientID == "" {
		clientID = s.ClientID
	}
	q := url.Values{}
	switch s.Kind {
	case ClientCredentials:
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {s.ClientSecret},
			"scope": {strings.ReplaceAll(s.Scope, "{resource}", strings.TrimSuffix(r.Resource, "/"))}}
		return Request{Method: "POST", URL: s.Endpoint, Body: []byte(form.Encode()),
			Headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}}}
	case AppService:
		q.Set("api-version", "2019-08-01")
	default:
		q.Set("api-version", "2018-02-01")
	}
	q.Set("resource", r.Resource)
	if clientID != "" {
		q.Set("client_id", clientID)
	}
	sep := "?"
	if strings.Contains(s.Endpoint, "?") {
		sep = "&"
	}
	req := Request{Method: "GET", URL: s.Endpoint + sep + q.Encode(), Headers: [][2]string{{"accept", "application/json"}}}
	if s.Kind == AppService {
		req.Headers = append(req.Headers, [2]string{"x-identity-header", s.IdentityHeader})
	} else {
		req.Headers = append(req.Headers, [2]string{"metadata", "true"})
	}
	return req
}

// Token is a fetched access token.
type Token struct {
	Value   string
	Expires time.Time
}

// Limits on a token source's answer.
const (
	MaxAnswer = 64 << 10
	MaxToken  = 16 << 10
	// MinLifetime and MaxLifetime bound the lifetime an answer may claim:
	// a token valid for less is useless, one claiming more is capped.
	MinLifetime = time.Minute
	MaxLifetime = 24 * time.Hour
)

// Parse reads a token answer: {"access_token": ..., "expires_on": unix
// seconds} (IMDS, App Service; string or number) or "expires_in"
// (seconds, OAuth 2.0). The token must be a bearer token of visible ASCII,
// so that it cannot inject anything into the header it goes in.
func Parse(body []byte, now time.Time) (Token, error) {
	if len(body) > MaxAnswer {
		return Token{}, errors.New("the answer is larger than 64 KiB")
	}
	if err := jsonlimit.Check(body, MaxAnswer); err != nil || !gjson.ValidBytes(body) {
		return Token{}, errors.New("the answer is not JSON")
	}
	doc := gjson.ParseBytes(body)
	if !doc.IsObject() {
		return Token{}, errors.New("the answer is not a JSON object")
	}
	tok := doc.Get("access_token")
	if tok.Type != gjson.String || tok.Str == "" || len(tok.Str) > MaxToken || !visible(tok.Str) {
		return Token{}, errors.New("access_token is missing or not a token")
	}
	if tt := doc.Get("token_type"); tt.Exists() && !strings.EqualFold(tt.String(), "Bearer") {
		return Token{}, errors.New("token_type is not Bearer")
	}
	var expires time.Time
	if on := seconds(doc.Get("expires_on")); on > 0 {
		expires = time.Unix(on, 0)
	} else if in := seconds(doc.Get("expires_in")); in > 0 {
		expires = now.Add(time.Duration(in) * time.Second)
	} else {
		return Token{}, errors.New("expires_on or expires_in is missing")
	}
	life := expires.Sub(now)
	if life < MinLifetime {
		return Token{}, errors.New("the token expires within a minute")
	}
	if life > MaxLifetime {
		expires = now.Add(MaxLifetime)
	}
	return Token{Value: tok.Str, Expires: expires}, nil
}

// seconds reads a whole number of seconds written as a number or a string;
// 0 when it is neither or out of range.
func seconds(v gjson.Result) int64 {
	var n int64
	switch v.Type {
	case gjson.Number:
		if v.Num != float64(int64(v.Num)) {
			return 0
		}
		n = int64(v.Num)
	case gjson.String:
		var err error
		if n, err = strconv.ParseInt(v.Str, 10, 64); err != nil {
			return 0
		}
	default:
		return 0
	}
	if n <= 0 || n > 1<<40 {
		return 0
	}
	return n
}

func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Refresh timing, as APIM: a token is used until Skew before it expires
// and refreshed ahead, RefreshAhead before that (or at half its lifetime
// when it is shorter).
const (
	Skew         = 30 * time.Second
	RefreshAhead = 5 * time.Minute
)

// RefreshAt is when a token fetched at fetched should be refreshed.
func (t Token) RefreshAt(fetched time.Time) time.Time {
	life := t.Expires.Sub(fetched)
	if life < 2*RefreshAhead {
		return fetched.Add(life / 2)
	}
	return t.Expires.Add(-RefreshAhead)
}

// Usable reports whether the token may still be sent at now.
func (t Token) Usable(now time.Time) bool {
	return t.Value != "" && now.Before(t.Expires.Add(-Skew))
}
