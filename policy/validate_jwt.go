package policy

import (
	"errors"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
	"github.com/apimguard/apimguard/policy/jwt"
)

// validateJWT is APIM's validate-jwt policy.
// Reference: https://learn.microsoft.com/azure/api-management/validate-jwt-policy
//
// # Notes
//
//   - Token sources follow APIM: on Authorization the scheme is stripped
//     (and required when require-scheme is set); a custom header or
//     token-value holds the bare token.
//   - openid-config URLs must be constants: their keys are fetched by the
//     host in the background (discovery, then jwks_uri) and refreshed every
//     hour. A token whose kid is unknown makes the request wait for one
//     refetch (at most one per source every 5 minutes); a request that
//     arrives before any keys were loaded waits for the first fetch. Neither
//     ever lets a token through unverified.
//   - The seed's <claim name="aud" match="my-api-audience"/> (match is not
//     all or any) is read as one required value.
//   - Tokens above 16 KiB, encrypted tokens (JWE) and decryption-keys are
//     refused. Verified tokens up to 4 KiB are cached (until exp) so a
//     repeated token skips signature verification, unless an audience or
//     issuer is an expression (those are checked on every request).
type validateJWT struct {
	stmtMeta
	header, query string // lower-case header name, or query parameter
	tokenValue    *Value
	requireScheme string
	requireSigned bool
	status        int
	message       *Value // nil: APIM's defaults
	output        string
	inline        []jwt.Key
	sources       []string
	checks        jwt.Checks
	audiences     []Value
	issuers       []Value
	// constAudiences and constIssuers are the lists when every entry is a
	// constant (nil otherwise): read, never written, by every request.
	constAudiences, constIssuers []string
	keys                         KeyStore
	offload                      jwt.Offload
	now                          func() time.Time
	cache                        *tokenCache
	// Hooks for elements built on this one (validate-azure-ad-token):
	// issuersOf turns a discovery document's issuer into the accepted
	// issuers (nil: just it); admit checks a verified token further and
	// returns false to refuse it as TokenClaimValueNotAllowed.
	issuersOf func(discovered string) []string
	admit     func(*expr.Jwt) bool
}

// token extracts the presented token, or "" when there is none. On
// Authorization the value must be one credential: "scheme token" or a bare
// token. A comma (two header lines joined, or one line with two values) or
// a scheme that is not an HTTP token is refused with errCredentials, so a
// forged value can never ride along with a valid token to the upstream.
func (v *validateJWT) token(x *Exec) (string, error) {
	switch {
	case v.tokenValue != nil:
		t, err := v.tokenValue.Eval(x)
		return strings.TrimSpace(t), err
	case v.query != "":
		t, _ := x.URL().Query(v.query)
		return strings.TrimSpace(t), nil
	}
	raw, ok := x.RequestHeader(v.header)
	if !ok {
		return "", nil
	}
	raw = strings.TrimSpace(raw)
	if v.header != "authorization" {
		return raw, nil
	}
	// One pass: a comma anywhere, or a space or tab inside the credential
	// after the scheme, makes it more than one credential.
	scheme, rest, hasScheme := strings.Cut(raw, " ")
	rest = strings.TrimSpace(rest)
	if strings.IndexByte(scheme, ',') >= 0 || (hasScheme && (!validHeaderName(scheme) || !oneCredential(rest))) || (!hasScheme && strings.IndexByte(raw, ',') >= 0) {
		return "", errCredentials
	}
	if v.requireScheme != "" && (!hasScheme || !strings.EqualFold(scheme, v.requireScheme)) {
		return "", nil
	}
	if hasScheme {
		return rest, nil
	}
	return raw, nil
}

// oneCredential reports whether s has no comma, space or tab.
func oneCredential(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == ' ' || c == '\t' {
			return false
		}
	}
	return true
}

// errCredentials is an Authorization header that is not one credential.
var errCredentials = errors.New("the Authorization header is not one credential")

func (v *validateJWT) run(x *Exec) error {
	now := v.now()
	// A token from a header is cached under the header's whole value:
	// the same value always yields the same token, so a repeated one
	// is a hit before any of it is parsed (the checks of token() run on
	// a miss and keep a refused value out of the cache).
	var raw string
	fromHeader := v.tokenValue == nil && v.query == ""
	if fromHeader {
		raw, _ = x.RequestHeader(v.header)
		if j, ok := v.cache.get(raw, now); ok {
			v.store(x, j)
			return nil
		}
	}
	token, err := v.token(x)
	if err == errCredentials {
		return v.fail(x, "JwtInvalid", "Invalid JWT.")
	}
	if err != nil {
		return err
	}
	if token == "" {
		return v.fail(x, "TokenNotPresent", "JWT not present.")
	}
	key := token
	if fromHeader {
		key = raw
	} else if j, ok := v.cache.get(token, now); ok {
		v.store(x, j)
		return nil
	}
	// The header is parsed once, for the key wait and the verification.
	h, herr := jwt.ParseHeader(token)
	if wait := v.missingKeys(h, herr); len(wait) > 0 {
		x.result = Result{Action: WaitKeys, KeySources: wait}
		// The time is read again when the keys are there: the wait can
		// take seconds.
		x.resume = func(*expr.Response, error) error { return v.verify(x, key, token, h, herr, v.now()) }
		return errYield
	}
	return v.verify(x, key, token, h, herr, now)
}

// missingKeys lists the sources to wait for: those not loaded yet, or all
// of them when the token's kid is in none of the loaded sets.
func (v *validateJWT) missingKeys(h jwt.Header, herr error) []string {
	if len(v.sources) == 0 || herr != nil || h.Alg == "none" {
		return nil
	}
	var unloaded []string
	known := h.Kid == ""
	for _, k := range v.inline {
		known = known || k.ID == "" || k.ID == h.Kid
	}
	for _, s := range v.sources {
		set := v.keys.KeySet(s)
		if set == nil {
			unloaded = append(unloaded, s)
			continue
		}
		known = known || set.Has(h.Kid)
	}
	if unloaded != nil {
		return unloaded
	}
	if !known {
		return v.sources
	}
	return nil
}

// verify checks token, whose header ParseHeader returned as h, herr, and
// caches a token that passes under key.
func (v *validateJWT) verify(x *Exec, key, token string, h jwt.Header, herr error, now time.Time) error {
	keys := v.inline
	checks := v.checks
	for _, s := range v.sources {
		if set := v.keys.KeySet(s); set != nil {
			if len(keys) == 0 {
				keys = set.Keys // read only: no copy
			} else {
				keys = append(keys[:len(keys):len(keys)], set.Keys...)
			}
			if len(v.issuers) == 0 && set.Issuer != "" {
				if v.issuersOf != nil {
					checks.Issuers = append(checks.Issuers, v.issuersOf(set.Issuer)...)
				} else {
					checks.Issuers = append(checks.Issuers, set.Issuer)
				}
			}
		}
	}
	var err error
	if checks.Audiences = v.constAudiences; checks.Audiences == nil {
		if checks.Audiences, err = evalAll(x, v.audiences); err != nil {
			return err
		}
	}
	if len(v.issuers) > 0 {
		// Issuers in the policy replace the key sets' (above).
		if checks.Issuers = v.constIssuers; checks.Issuers == nil {
			if checks.Issuers, err = evalAll(x, v.issuers); err != nil {
				return err
			}
		}
	}
	if herr != nil {
		return v.failWith(x, herr)
	}
	payload, err := jwt.VerifyParsed(h, token, keys, v.requireSigned, v.offload)
	if err != nil {
		return v.failWith(x, err)
	}
	claims := jwt.ParseClaims(payload)
	if err := claims.Check(checks, now); err != nil {
		return v.failWith(x, err)
	}
	// The claims for expressions are built from the payload on first use;
	// a cached Jwt keeps only the payload for them.
	j := expr.NewJwt(func() map[string][]string { return jwt.ParseClaims(payload).All() })
	j.Algorithm, j.Type = h.Alg, h.Typ
	// Copies: a cached Jwt must not keep the parsed payload text alive
	// through slices of it.
	j.ID, j.Issuer, j.Subject = strings.Clone(claims.First("jti")), strings.Clone(claims.First("iss")), strings.Clone(claims.First("sub"))
	auds, _ := claims.Values("aud")
	for _, a := range auds {
		j.Audiences = append(j.Audiences, strings.Clone(a))
	}
	if v.admit != nil && !v.admit(j) {
		return v.fail(x, "TokenClaimValueNotAllowed", "Invalid JWT.")
	}
	if exp, ok := claims.Expiration(); ok && h.Alg != "none" {
		v.cache.put(key, j, exp.Add(checks.ClockSkew))
	}
	v.store(x, j)
	return nil
}

func evalAll(x *Exec, vals []Value) ([]string, error) {
	var out []string
	for i := range vals {
		s, err := vals[i].Eval(x)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (v *validateJWT) store(x *Exec, j *expr.Jwt) {
	if v.output != "" {
		x.setVariable(v.output, j)
	}
}

// reasons maps verification failures to APIM's LastError reasons.
var reasons = []struct {
	err    error
	reason string
}{
	{jwt.ErrExpired, "TokenExpired"},
	{jwt.ErrNotYetValid, "TokenNotYetValid"},
	{jwt.ErrNoExpiration, "TokenExpirationTimeMissing"},
	{jwt.ErrAudience, "TokenAudienceNotAllowed"},
	{jwt.ErrIssuer, "TokenIssuerNotAllowed"},
	{jwt.ErrKeyNotFound, "TokenSignatureKeyNotFound"},
	{jwt.ErrSignature, "TokenSignatureInvalid"},
	{jwt.ErrUnsigned, "TokenSignatureInvalid"},
	{jwt.ErrClaimMissing, "TokenClaimNotFound"},
	{jwt.ErrClaimNotAllowed, "TokenClaimValueNotAllowed"},
}

func (v *validateJWT) failWith(x *Exec, err error) error {
	reason := "JwtInvalid"
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			reason = r.reason
			break
		}
	}
	return v.fail(x, reason, "Invalid JWT.")
}

func (v *validateJWT) fail(x *Exec, reason, defaultMessage string) error {
	message := defaultMessage
	if v.message != nil {
		m, err := v.message.Eval(x)
		if err != nil {
			return err
		}
		message = m
	}
	return &Failure{Source: v.element, Reason: reason, PolicyID: v.id, scope: v.scope, Status: v.status,
		Body: errorBody(v.status, message), Message: lastErrorMessage(reason)}
}

// lastErrorMessage is LastError.Message: fixed texts, never the token.
func lastErrorMessage(reason string) string {
	switch reason {
	case "TokenNotPresent":
		return "JWT not present."
	case "TokenExpired":
		return "Lifetime validation failed. The token is expired."
	case "TokenNotYetValid":
		return "Lifetime validation failed. The token is not yet valid."
	case "TokenSignatureKeyNotFound":
		return "Signature validation failed. No key matches the token's kid."
	case "TokenSignatureInvalid":
		return "Signature validation failed."
	case "TokenAudienceNotAllowed":
		return "Audience validation failed."
	case "TokenIssuerNotAllowed":
		return "Issuer validation failed."
	case "TokenClaimNotFound":
		return "JWT is missing a required claim."
	case "TokenClaimValueNotAllowed":
		return "A claim value is not allowed."
	case "TokenExpirationTimeMissing":
		return "Lifetime validation failed. The token has no expiration time."
	}
	return "Invalid JWT."
}
