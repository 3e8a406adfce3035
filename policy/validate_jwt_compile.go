package policy

// The load-time half of validate-jwt (validate_jwt.go): reading the
// element, its keys, claims and lists, once, when the plugin starts.

import (
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/jwt"
)

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
		secs, err := c.secondsAttr(n, a, 0, 86400)
		if err != nil {
			return nil, err
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
