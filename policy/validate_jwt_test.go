package policy

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"

	"github.com/apimguard/apimguard/policy/jwt"
)

var (
	jwtNow    = time.Unix(1_800_000_000, 0)
	idpKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	newKey, _ = rsa.GenerateKey(rand.Reader, 2048)
)

const seedOpenID = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"

// keyStore is a KeyStore backed by a map.
type keyStore map[string]*jwt.KeySet

func (k keyStore) KeySet(s string) *jwt.KeySet { return k[s] }

func idpSet(t testing.TB, kid string, k *rsa.PrivateKey) *jwt.KeySet {
	key, err := jwt.NewKey(kid, &k.PublicKey, "RS256")
	if err != nil {
		t.Fatal(err)
	}
	return &jwt.KeySet{Issuer: "https://idp.example/", Keys: []jwt.Key{key}}
}

func signRS256(t testing.TB, k *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	return testjwt.Sign(t, jose.RS256, k, testjwt.KID(kid), claims)
}

func goodClaims() map[string]any {
	return map[string]any{"iss": "https://idp.example/", "aud": "my-api-audience", "sub": "alice", "exp": jwtNow.Unix() + 300,
		"groups": []string{"finance", "ops"}, "tid": "t-1"}
}

func compileJWT(t testing.TB, policy string, keys keyStore, cache int) *Program {
	t.Helper()
	p, err := Compile(inboundDoc(policy), Options{Keys: keys, Now: func() time.Time { return jwtNow }, TokenCache: cache,
		NamedValue: namedValues(map[string]string{"hmac": base64.StdEncoding.EncodeToString([]byte("a-very-secret-key-of-32-bytes!!!"))})})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The seed's validate-jwt block, verbatim from the seed file.
func TestValidateJWT_seed(t *testing.T) {
	block := seedBlock("validate-jwt")
	keys := keyStore{seedOpenID: idpSet(t, "k1", idpKey)}
	p := compileJWT(t, block, keys, 0)
	tests := []struct {
		name, auth string
		wantStatus int
		wantBody   string
	}{
		{"valid", "Bearer " + signRS256(t, idpKey, "k1", goodClaims()), 0, ""},
		{"other audience", "Bearer " + signRS256(t, idpKey, "k1", with(goodClaims(), "aud", "other")), 401, `{"statusCode":401,"message":"Unauthorized"}`},
		{"other issuer than discovery's", "Bearer " + signRS256(t, idpKey, "k1", with(goodClaims(), "iss", "https://evil/")), 401, `{"statusCode":401,"message":"Unauthorized"}`},
		{"missing", "", 401, `{"statusCode":401,"message":"Unauthorized"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := get(nil)
			if tc.auth != "" {
				h["authorization"] = tc.auth
			}
			r := p.NewExec(h, nil).Inbound()
			if tc.wantStatus == 0 {
				if r.Action != Continue {
					t.Fatalf("got %+v", r)
				}
				return
			}
			if r.Status != tc.wantStatus || r.Body != tc.wantBody {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func TestValidateJWT_sourcesAndMessages(t *testing.T) {
	tok := signRS256(t, idpKey, "k1", goodClaims())
	keys := keyStore{"https://idp.example/.well-known/openid-configuration": idpSet(t, "k1", idpKey)}
	cfg := `<openid-config url="https://idp.example/.well-known/openid-configuration"/>`
	tests := []struct {
		name, attrs string
		headers     map[string]string
		path        string
		wantStatus  int
		wantBody    string
		wantReason  string
	}{
		{"Authorization with Bearer", `header-name="Authorization"`, map[string]string{"authorization": "Bearer " + tok}, "", 0, "", ""},
		{"Authorization without scheme", `header-name="Authorization"`, map[string]string{"authorization": tok}, "", 0, "", ""},
		{"require-scheme matches", `header-name="Authorization" require-scheme="Bearer"`, map[string]string{"authorization": "bearer " + tok}, "", 0, "", ""},
		{"require-scheme missing", `header-name="Authorization" require-scheme="Bearer"`, map[string]string{"authorization": tok}, "", 401, `{"statusCode":401,"message":"JWT not present."}`, "TokenNotPresent"},
		{"a forged value comma-joined before the token", `header-name="Authorization"`, map[string]string{"authorization": "forged,Bearer " + tok}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"two lines joined by the host", `header-name="Authorization"`, map[string]string{"authorization": "Bearer " + tok + ",Basic Zm9vOmJhcg=="}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"a comma in a bare token", `header-name="Authorization"`, map[string]string{"authorization": "x," + tok}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"two credentials after the scheme", `header-name="Authorization"`, map[string]string{"authorization": "Bearer " + tok + " " + tok}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"a scheme that is not a token", `header-name="Authorization"`, map[string]string{"authorization": "Bea\"rer " + tok}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"a comma with require-scheme", `header-name="Authorization" require-scheme="Bearer"`, map[string]string{"authorization": "forged,Bearer " + tok}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"custom header, bare token", `header-name="X-Token"`, map[string]string{"x-token": tok}, "", 0, "", ""},
		{"custom header with a scheme fails", `header-name="X-Token"`, map[string]string{"x-token": "Bearer " + tok}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "JwtInvalid"},
		{"query parameter", `query-parameter-name="access_token"`, nil, "/x?access_token=" + tok, 0, "", ""},
		{"token-value", `token-value="@(context.Request.Headers.GetValueOrDefault(&quot;x-t&quot;, &quot;&quot;))"`, map[string]string{"x-t": tok}, "", 0, "", ""},
		{"missing: APIM's default message", `header-name="Authorization"`, nil, "", 401, `{"statusCode":401,"message":"JWT not present."}`, "TokenNotPresent"},
		{"custom status and message", `header-name="Authorization" failed-validation-httpcode="403" failed-validation-error-message="Nope"`, map[string]string{"authorization": "Bearer junk"}, "", 403, `{"statusCode":403,"message":"Nope"}`, "JwtInvalid"},
		{"expired", `header-name="Authorization"`, map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k1", with(goodClaims(), "exp", jwtNow.Unix()-1))}, "", 401, `{"statusCode":401,"message":"Invalid JWT."}`, "TokenExpired"},
		{"clock skew", `header-name="Authorization" clock-skew="30"`, map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k1", with(goodClaims(), "exp", jwtNow.Unix()-10))}, "", 0, "", ""},
		{"expiration not required", `header-name="Authorization" require-expiration-time="false"`, map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k1", map[string]any{"iss": "https://idp.example/"})}, "", 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compileJWT(t, `<validate-jwt `+tc.attrs+`>`+cfg+`</validate-jwt>`, keys, 0)
			h := get(tc.headers)
			if tc.path != "" {
				h[":path"] = tc.path
			}
			x := p.NewExec(h, nil)
			r := x.Inbound()
			if tc.wantStatus == 0 {
				if r.Action != Continue {
					t.Fatalf("got %+v (%+v)", r, x.LastError())
				}
				return
			}
			if r.Status != tc.wantStatus || r.Body != tc.wantBody || x.LastError().Reason != tc.wantReason {
				t.Fatalf("got %d %s %+v", r.Status, r.Body, x.LastError())
			}
			if strings.Contains(r.Body+x.LastError().Message, tok[:20]) {
				t.Error("the token leaks into the body or LastError")
			}
		})
	}
}

// Claims are forwarded with set-header from the output variable, and a
// choose decides on a claim.
func TestValidateJWT_outputVariable(t *testing.T) {
	keys := keyStore{"https://idp.example/oidc": idpSet(t, "k1", idpKey)}
	p := compileJWT(t, `<validate-jwt header-name="Authorization" output-token-variable-name="jwt">
  <openid-config url="https://idp.example/oidc"/>
  <audiences><audience>my-api-audience</audience></audiences>
  <required-claims><claim name="groups" match="any"><value>finance</value><value>hr</value></claim></required-claims>
</validate-jwt>
<set-header name="x-user" exists-action="override"><value>@(((Jwt)context.Variables["jwt"]).Subject)</value></set-header>
<set-header name="x-tenant" exists-action="override"><value>@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("tid", ""))</value></set-header>
<choose>
  <when condition="@(context.Request.Method == "POST" && !((Jwt)context.Variables["jwt"]).Claims["groups"].Contains("ops"))">
    <return-response><set-status code="403"/></return-response>
  </when>
</choose>`, keys, 0)
	r := p.NewExec(get(map[string]string{":method": "POST", "authorization": "Bearer " + signRS256(t, idpKey, "k1", goodClaims())}), nil).Inbound()
	want := []HeaderEdit{{Name: "x-user", Values: []string{"alice"}}, {Name: "x-tenant", Values: []string{"t-1"}}}
	if r.Action != Continue || !reflect.DeepEqual(r.Edits, want) {
		t.Fatalf("got %+v", r)
	}
	r = p.NewExec(get(map[string]string{":method": "POST", "authorization": "Bearer " + signRS256(t, idpKey, "k1", with(goodClaims(), "groups", []string{"finance"}))}), nil).Inbound()
	if r.Status != 403 {
		t.Fatalf("claim-based choose: got %+v", r)
	}
}

// Keys not loaded yet, and an unknown kid, make the request wait for a
// fetch; it never passes unverified.
func TestValidateJWT_waitsForKeys(t *testing.T) {
	const src = "https://idp.example/oidc"
	keys := keyStore{}
	p := compileJWT(t, `<validate-jwt header-name="Authorization"><openid-config url="`+src+`"/></validate-jwt>`, keys, 0)
	req := get(map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k1", goodClaims())})

	x := p.NewExec(req, nil)
	r := x.Inbound()
	if r.Action != WaitKeys || !reflect.DeepEqual(r.KeySources, []string{src}) {
		t.Fatalf("cold: got %+v", r)
	}
	keys[src] = idpSet(t, "k1", idpKey)
	if r := x.Resume(nil, nil); r.Action != Continue {
		t.Fatalf("after the fetch: %+v", r)
	}

	x = p.NewExec(get(map[string]string{"authorization": "Bearer " + signRS256(t, newKey, "k2", goodClaims())}), nil)
	if r := x.Inbound(); r.Action != WaitKeys {
		t.Fatalf("unknown kid: got %+v", r)
	}
	if r := x.Resume(nil, nil); r.Status != 401 || x.LastError().Reason != "TokenSignatureKeyNotFound" {
		t.Fatalf("still unknown after the refetch: %+v %+v", r, x.LastError())
	}

	keys[src] = idpSet(t, "k2", newKey) // the provider rotated
	x = p.NewExec(get(map[string]string{"authorization": "Bearer " + signRS256(t, newKey, "k2", goodClaims())}), nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("rotated key: got %+v", r)
	}
}

// A verified token is remembered until it expires, so a repeated token
// skips verification; with the cache off it is verified every time.
func TestValidateJWT_tokenCache(t *testing.T) {
	const src = "https://idp.example/oidc"
	for _, tc := range []struct {
		cache      int
		wantSecond Action
	}{{0, Continue}, {-1, Respond}} {
		keys := keyStore{src: idpSet(t, "k1", idpKey)}
		p := compileJWT(t, `<validate-jwt header-name="Authorization"><openid-config url="`+src+`"/></validate-jwt>`, keys, tc.cache)
		req := get(map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k1", goodClaims())})
		if r := p.NewExec(req, nil).Inbound(); r.Action != Continue {
			t.Fatalf("first: %+v", r)
		}
		// The key set no longer verifies the token: only a cache hit passes.
		keys[src] = idpSet(t, "k1", newKey)
		x := p.NewExec(req, nil)
		r := x.Inbound()
		if r.Action == WaitKeys {
			r = x.Resume(nil, nil)
		}
		if r.Action != tc.wantSecond {
			t.Errorf("cache %d: second request %v, want %v", tc.cache, r.Action, tc.wantSecond)
		}
		// The cache is keyed by the header's whole value: the same token
		// in another form, or next to a second credential, is read and
		// checked again (and fails: the keys no longer verify it).
		tok := req["authorization"][len("Bearer "):]
		for _, value := range []string{"bearer " + tok, tok, "Bearer " + tok + ", Bearer " + tok} {
			x := p.NewExec(get(map[string]string{"authorization": value}), nil)
			r := x.Inbound()
			if r.Action == WaitKeys {
				r = x.Resume(nil, nil)
			}
			if r.Action != Respond || r.Status != 401 {
				t.Errorf("cache %d: %.20q… passed: %+v", tc.cache, value, r)
			}
		}
	}
}

// An audience or issuer computed from the request is checked on every
// request: a token verified for one request's audience must not pass, from
// the cache, on a request that asks for another. The cache stays on for the
// constant lists (TestValidateJWT_tokenCache).
func TestValidateJWT_cacheWithRequestDependentAudience(t *testing.T) {
	const src = "https://idp.example/oidc"
	for _, list := range []string{
		`<audiences><audience>@(context.Request.Headers.GetValueOrDefault("x-aud", ""))</audience></audiences>`,
		`<issuers><issuer>@(context.Request.Headers.GetValueOrDefault("x-iss", ""))</issuer></issuers>`,
	} {
		p := compileJWT(t, `<validate-jwt header-name="Authorization"><openid-config url="`+src+`"/>`+list+`</validate-jwt>`,
			keyStore{src: idpSet(t, "k1", idpKey)}, 0)
		tok := "Bearer " + signRS256(t, idpKey, "k1", goodClaims())
		for i, tc := range []struct {
			aud, iss string
			want     Action
		}{
			{"my-api-audience", "https://idp.example/", Continue},
			{"other-api", "https://other.example/", Respond},
			{"my-api-audience", "https://idp.example/", Continue},
		} {
			x := p.NewExec(get(map[string]string{"authorization": tok, "x-aud": tc.aud, "x-iss": tc.iss}), nil)
			if r := x.Inbound(); r.Action != tc.want {
				t.Errorf("%s, request %d: %+v, want %v", list, i+1, r, tc.want)
			}
		}
	}
}

func TestValidateJWT_inlineKeys(t *testing.T) {
	n := base64.RawURLEncoding.EncodeToString(idpKey.N.Bytes())
	tests := []struct {
		name, keys, token string
	}{
		{"n and e", `<key n="` + n + `" e="AQAB"/>`, signRS256(t, idpKey, "any", goodClaims())},
		{"HMAC from a named value", `<key>{{hmac}}</key>`, signHS256(t, []byte("a-very-secret-key-of-32-bytes!!!"), goodClaims())},
		{"id must match kid", `<key id="k9" n="` + n + `" e="AQAB"/>`, signRS256(t, idpKey, "k9", goodClaims())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compileJWT(t, `<validate-jwt header-name="Authorization"><issuer-signing-keys>`+tc.keys+`</issuer-signing-keys></validate-jwt>`, keyStore{}, 0)
			x := p.NewExec(get(map[string]string{"authorization": "Bearer " + tc.token}), nil)
			if r := x.Inbound(); r.Action != Continue {
				t.Fatalf("got %+v %+v", r, x.LastError())
			}
		})
	}
	p := compileJWT(t, `<validate-jwt header-name="Authorization"><issuer-signing-keys><key id="k9" n="`+n+`" e="AQAB"/></issuer-signing-keys></validate-jwt>`, keyStore{}, 0)
	x := p.NewExec(get(map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k8", goodClaims())}), nil)
	if r := x.Inbound(); r.Status != 401 || x.LastError().Reason != "TokenSignatureKeyNotFound" {
		t.Fatalf("kid mismatch: %+v %+v", r, x.LastError())
	}
}

func signHS256(t *testing.T, secret []byte, claims map[string]any) string {
	return testjwt.Sign(t, jose.HS256, secret, nil, claims)
}

func TestValidateJWT_errors(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"no source", `<validate-jwt><issuer-signing-keys><key>{{hmac}}</key></issuer-signing-keys></validate-jwt>`, `policy:3:1: validate-jwt: needs exactly one of header-name, query-parameter-name and token-value`},
		{"two sources", `<validate-jwt header-name="a" query-parameter-name="b"><issuer-signing-keys><key>{{hmac}}</key></issuer-signing-keys></validate-jwt>`, `policy:3:1: validate-jwt: needs exactly one of header-name, query-parameter-name and token-value`},
		{"no keys", `<validate-jwt header-name="Authorization"/>`, `policy:3:1: validate-jwt: needs signing keys: <openid-config> or <issuer-signing-keys>`},
		{"short secret", `<validate-jwt header-name="Authorization"><issuer-signing-keys><key>c2hvcnQ=</key></issuer-signing-keys></validate-jwt>`, `policy:3:64: key: a symmetric key must be base64 of at least 16 bytes`},
		{"n without e", `<validate-jwt header-name="Authorization"><issuer-signing-keys><key n="AQAB"/></issuer-signing-keys></validate-jwt>`, `policy:3:64: key: an RSA key needs both n and e`},
		{"unknown certificate", `<validate-jwt header-name="Authorization"><issuer-signing-keys><key certificate-id="idp"/></issuer-signing-keys></validate-jwt>`, `policy:3:69: key: certificate "idp" is not defined (add it to "certificates")`},
		{"decryption keys", `<validate-jwt header-name="Authorization"><decryption-keys><key>x</key></decryption-keys></validate-jwt>`, `policy:3:43: decryption-keys: encrypted tokens (JWE) are not supported`},
		{"bad skew", `<validate-jwt header-name="Authorization" clock-skew="5m"><issuer-signing-keys><key>{{hmac}}</key></issuer-signing-keys></validate-jwt>`, `policy:3:43: validate-jwt: attribute "clock-skew" must be whole seconds from 0 to 86400, not "5m"`},
		{"relative openid-config", `<validate-jwt header-name="Authorization"><openid-config url="/oidc"/></validate-jwt>`, `policy:3:58: openid-config: attribute "url": needs an absolute http or https URL, not "/oidc"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(inboundDoc(tc.policy), Options{Keys: keyStore{}, NamedValue: namedValues(map[string]string{"hmac": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

// BenchmarkValidateJWT_offloaded is make bench's P-nc inside the engine:
// every request verifies an RS256 token whose signature the host checks
// (a stand-in that says "valid"), with the verified-token cache off. What
// is left is the module's own work: reading the JWS, the claims and the
// checks. Profile it (-cpuprofile) to see where that goes.
func BenchmarkValidateJWT_offloaded(b *testing.B) {
	n := base64.RawURLEncoding.EncodeToString(idpKey.N.Bytes())
	p, err := Compile(inboundDoc(`<validate-jwt header-name="Authorization"><issuer-signing-keys><key id="k1" n="`+n+`" e="AQAB"/></issuer-signing-keys>`+
		`<audiences><audience>my-api-audience</audience></audiences><issuers><issuer>https://idp.example/</issuer></issuers></validate-jwt>`),
		Options{Now: func() time.Time { return jwtNow }, TokenCache: -1,
			Offload: func(hash string, keyDER, sig []byte, text string) (bool, bool) {
				return len(sig) == 256 && len(text) > 0, true
			}})
	if err != nil {
		b.Fatal(err)
	}
	req := get(map[string]string{"authorization": "Bearer " + signRS256(b, idpKey, "k1", goodClaims())})
	b.ReportAllocs()
	for b.Loop() {
		if r := p.NewExec(req, nil).Inbound(); r.Action != Continue {
			b.Fatalf("denied: %+v", r)
		}
	}
}
