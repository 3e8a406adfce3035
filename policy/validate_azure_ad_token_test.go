package policy

import "testing"

func TestValidateAzureADToken(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	const src = "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
	set := idpSet(t, "k1", idpKey)
	set.Issuer = "https://login.microsoftonline.com/" + tid + "/v2.0"
	p := compileJWT(t, `<validate-azure-ad-token id="entra" tenant-id="contoso.onmicrosoft.com" output-token-variable-name="jwt">
  <client-application-ids><application-id>11111111-1111-1111-1111-111111111111</application-id></client-application-ids>
  <backend-application-ids><application-id>22222222-2222-2222-2222-222222222222</application-id></backend-application-ids>
</validate-azure-ad-token>`, keyStore{src: set}, 0)
	claims := func(iss, appClaim, app, aud string) map[string]any {
		return map[string]any{"iss": iss, appClaim: app, "aud": aud, "tid": tid, "exp": jwtNow.Unix() + 300}
	}
	const client, backend = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	tests := []struct {
		name       string
		claims     map[string]any
		wantReason string
	}{
		{"v2 token", claims(set.Issuer, "azp", client, backend), ""},
		{"v1 token", claims("https://sts.windows.net/"+tid+"/", "appid", client, "api://"+backend), ""},
		{"other calling app", claims(set.Issuer, "azp", "33333333-3333-3333-3333-333333333333", backend), "TokenClaimValueNotAllowed"},
		{"other tenant", claims("https://sts.windows.net/00000000-0000-0000-0000-000000000000/", "appid", client, backend), "TokenIssuerNotAllowed"},
		{"other audience", claims(set.Issuer, "azp", client, "api://someone-else"), "TokenAudienceNotAllowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := p.NewExec(get(map[string]string{"authorization": "Bearer " + signRS256(t, idpKey, "k1", tc.claims)}), nil)
			r := x.Inbound()
			if tc.wantReason == "" {
				if r.Action != Continue {
					t.Fatalf("got %+v %+v", r, x.LastError())
				}
				return
			}
			le := x.LastError()
			if r.Status != 401 || le.Reason != tc.wantReason || le.Source != "validate-azure-ad-token" || le.PolicyID != "entra" || le.Path != "validate-azure-ad-token[1]" {
				t.Fatalf("got %d %+v", r.Status, le)
			}
		})
	}
	r := p.NewExec(get(nil), nil).Inbound()
	if r.Status != 401 || r.Body != `{"statusCode":401,"message":"JWT not present."}` {
		t.Fatalf("missing token: %+v", r)
	}
	for doc, want := range map[string]string{
		`<validate-azure-ad-token/>`: `policy:3:1: validate-azure-ad-token: missing required attribute "tenant-id"`,
		// Errors found by the validate-jwt underneath name this element.
		`<validate-azure-ad-token tenant-id="contoso" failed-validation-httpcode="999"/>`:                    `policy:3:46: validate-azure-ad-token: attribute "failed-validation-httpcode" must be an HTTP status code from 100 to 599, not "999"`,
		`<validate-azure-ad-token tenant-id="contoso"><audiences><x/></audiences></validate-azure-ad-token>`: `policy:3:57: audiences: unexpected element <x> (want <audience>)`,
	} {
		if _, err := Compile(inboundDoc(doc), Options{Keys: keyStore{}}); err == nil || err.Error() != want {
			t.Errorf("%s: err = %v\nwant %s", doc, err, want)
		}
	}
}
