package policy

import (
	"errors"
	"strconv"
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

func compileValidateJWT(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
		"failed-validation-error-message", "require-expiration-time", "require-scheme", "require-signed-tokens",
		"clock-skew", "output-token-variable-name"); err != nil {
		return nil, err
	}
	v := &validateJWT{stmtMeta: c.meta(n), status: 401, keys: c.opt.Keys, offload: c.opt.Offload, now: c.opt.Now, cache: newTokenCache(c.opt.TokenCache)}
	if v.now == nil {
		v.now = time.Now
	}
	sources := 0
	if a, ok := n.Attr("header-name"); ok {
		h, err := c.constant(n, a)
		if err != nil {
			return nil, err
		}
		if !validHeaderName(strings.TrimSpace(h)) {
			return nil, c.errf(n, a.Pos, "attribute \"header-name\" is not a valid header name: %q", h)
		}
		v.header = strings.ToLower(strings.TrimSpace(h))
		sources++
	}
	if a, ok := n.Attr("query-parameter-name"); ok {
		q, err := c.constant(n, a)
		if err != nil {
			return nil, err
		}
		v.query = q
		sources++
	}
	if a, ok := n.Attr("token-value"); ok {
		tv, err := c.attrValue(n, a)
		if err != nil {
			return nil, err
		}
		v.tokenValue = &tv
		sources++
	}
	if sources != 1 {
		return nil, c.errf(n, n.Pos, "needs exactly one of header-name, query-parameter-name and token-value")
	}
	var err error
	if a, ok := n.Attr("failed-validation-httpcode"); ok {
		if v.status, err = c.statusAttr(n, a); err != nil {
			return nil, err
		}
	}
	if a, ok := n.Attr("failed-validation-error-message"); ok {
		m, err := c.attrValue(n, a)
		if err != nil {
			return nil, err
		}
		v.message = &m
	}
	if v.checks.RequireExpiration, err = c.boolAttr(n, "require-expiration-time", true); err != nil {
		return nil, err
	}
	if v.requireSigned, err = c.boolAttr(n, "require-signed-tokens", true); err != nil {
		return nil, err
	}
	if a, ok := n.Attr("require-scheme"); ok {
		if v.requireScheme, err = c.constant(n, a); err != nil {
			return nil, err
		}
		v.requireScheme = strings.TrimSpace(v.requireScheme)
	}
	if a, ok := n.Attr("clock-skew"); ok {
		s, err := c.constant(n, a)
		if err != nil {
			return nil, err
		}
		secs, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || secs < 0 || secs > 86400 {
			return nil, c.errf(n, a.Pos, "attribute \"clock-skew\" must be whole seconds from 0 to 86400, not %q", s)
		}
		v.checks.ClockSkew = time.Duration(secs) * time.Second
	}
	if a, ok := n.Attr("output-token-variable-name"); ok {
		if !validName(a.Value) {
			return nil, c.errf(n, a.Pos, "attribute \"output-token-variable-name\" must be a plain variable name, not %q", abbreviate(a.Value))
		}
		v.output = a.Value
	}
	if err := c.only(n, "openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims"); err != nil {
		return nil, err
	}
	for _, ch := range n.Children {
		var err error
		switch ch.Name {
		case "openid-config":
			err = c.openIDConfig(v, ch)
		case "issuer-signing-keys":
			err = c.signingKeys(v, ch)
		case "decryption-keys":
			err = c.errf(ch, ch.Pos, "encrypted tokens (JWE) are not supported")
		case "audiences":
			v.audiences, err = c.itemValues(ch, "audience")
		case "issuers":
			v.issuers, err = c.itemValues(ch, "issuer")
		case "required-claims":
			err = c.requiredClaims(v, ch)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(v.inline) == 0 && len(v.sources) == 0 && v.requireSigned {
		return nil, c.errf(n, n.Pos, "needs signing keys: <openid-config> or <issuer-signing-keys>")
	}
	// A cache hit skips the claims checks, so it is only right when they
	// are the same for every request: no audience or issuer from an
	// expression.
	for _, list := range [][]Value{v.audiences, v.issuers} {
		for i := range list {
			if !list[i].IsConst() {
				v.cache = newTokenCache(-1)
			}
		}
	}
	v.constAudiences, v.constIssuers = constList(v.audiences), constList(v.issuers)
	return v, nil
}

func (c *compiler) openIDConfig(v *validateJWT, n *Node) error {
	if err := c.attrs(n, "url"); err != nil {
		return err
	}
	a, err := c.required(n, "url")
	if err != nil {
		return err
	}
	u, err := c.constant(n, a)
	if err != nil {
		return err
	}
	if _, err := parseCallURL(u); err != nil {
		return c.errf(n, a.Pos, "attribute \"url\": %v", strings.TrimPrefix(err.Error(), "set-url "))
	}
	if c.opt.Keys == nil {
		return c.errf(n, n.Pos, "openid-config needs the host to fetch keys; none is configured")
	}
	v.sources = append(v.sources, strings.TrimSpace(u))
	c.keySources = appendUnique(c.keySources, strings.TrimSpace(u))
	return c.empty(n)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (c *compiler) signingKeys(v *validateJWT, n *Node) error {
	if err := c.attrs(n); err != nil {
		return err
	}
	if err := c.only(n, "key"); err != nil {
		return err
	}
	for _, k := range n.Children {
		if err := c.attrs(k, "id", "certificate-id", "n", "e"); err != nil {
			return err
		}
		id, _ := k.Attr("id")
		var material any
		certID, hasCert := k.Attr("certificate-id")
		nAttr, hasN := k.Attr("n")
		eAttr, hasE := k.Attr("e")
		switch {
		case hasCert:
			pemText, ok := c.opt.Certificates[certID.Value]
			if !ok {
				return c.errf(k, certID.Pos, "certificate %q is not defined (add it to \"certificates\")", certID.Value)
			}
			pub, err := jwt.CertificateKey(pemText)
			if err != nil {
				return c.errf(k, certID.Pos, "certificate %q: %v", certID.Value, err)
			}
			material = pub
		case hasN || hasE:
			if !hasN || !hasE {
				return c.errf(k, k.Pos, "an RSA key needs both n and e")
			}
			pub, err := jwt.RSAKey(nAttr.Value, eAttr.Value)
			if err != nil {
				return c.errf(k, k.Pos, "%v", err)
			}
			material = pub
		default:
			val, err := c.value(k, k.Text, k.TextPos)
			if err != nil {
				return err
			}
			if !val.IsConst() {
				return c.errf(k, k.Pos, "a symmetric key must be a constant or a named value")
			}
			secret, err := jwt.HMACSecret(val.Const())
			if err != nil {
				return c.errf(k, k.Pos, "%v", err)
			}
			material = secret
		}
		if (hasCert || hasN) && k.Text != "" {
			return c.errf(k, k.TextPos, "a key is either text (a symmetric secret) or attributes, not both")
		}
		key, err := jwt.NewKey(id.Value, material, "")
		if err != nil {
			return c.errf(k, k.Pos, "%v", err)
		}
		v.inline = append(v.inline, key)
	}
	return nil
}

func (c *compiler) requiredClaims(v *validateJWT, n *Node) error {
	if err := c.attrs(n); err != nil {
		return err
	}
	if err := c.only(n, "claim"); err != nil {
		return err
	}
	for _, cl := range n.Children {
		if err := c.attrs(cl, "name", "match", "separator"); err != nil {
			return err
		}
		name, err := c.required(cl, "name")
		if err != nil {
			return err
		}
		rc := jwt.RequiredClaim{Name: name.Value}
		if m, ok := cl.Attr("match"); ok {
			switch strings.ToLower(strings.TrimSpace(m.Value)) {
			case "all":
			case "any":
				rc.MatchAny = true
			default:
				// The seed writes the expected value into match.
				rc.Values = append(rc.Values, m.Value)
			}
		}
		if sep, ok := cl.Attr("separator"); ok {
			rc.Separator = sep.Value
		}
		if err := c.only(cl, "value"); err != nil {
			return err
		}
		for _, val := range cl.Children {
			if err := c.attrs(val); err != nil {
				return err
			}
			vv, err := c.value(val, val.Text, val.TextPos)
			if err != nil {
				return err
			}
			if !vv.IsConst() {
				return c.errf(val, val.Pos, "claim values must be constants or named values")
			}
			rc.Values = append(rc.Values, vv.Const())
		}
		v.checks.Required = append(v.checks.Required, rc)
	}
	return nil
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
			keys = append(keys[:len(keys):len(keys)], set.Keys...)
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

// constList is vals when every one is a constant, nil otherwise; capped
// at its length, so that an append copies it.
func constList(vals []Value) []string {
	var out []string
	for i := range vals {
		if !vals[i].IsConst() {
			return nil
		}
		out = append(out, vals[i].Const())
	}
	return out[:len(out):len(out)]
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
