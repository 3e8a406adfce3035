package managedidentity

import (
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func TestRequest(t *testing.T) {
	r := policy.TokenRequest{Resource: "https://vault.azure.net", ClientID: "uami-1"}
	imds := &Source{Kind: IMDS}
	if err := imds.Check(); err != nil {
		t.Fatal(err)
	}
	got := imds.Request(r)
	if got.Method != "GET" || got.URL != DefaultIMDSEndpoint+"?api-version=2018-02-01&client_id=uami-1&resource=https%3A%2F%2Fvault.azure.net" || got.Headers[1] != [2]string{"metadata", "true"} {
		t.Errorf("imds: %+v", got)
	}
	app := &Source{Kind: AppService, Endpoint: "http://localhost:42356/msi/token", IdentityHeader: "secret-header"}
	if err := app.Check(); err != nil {
		t.Fatal(err)
	}
	got = app.Request(policy.TokenRequest{Resource: "api://orders"})
	if got.URL != "http://localhost:42356/msi/token?api-version=2019-08-01&resource=api%3A%2F%2Forders" || got.Headers[1] != [2]string{"x-identity-header", "secret-header"} {
		t.Errorf("app service: %+v", got)
	}
	cc := &Source{Kind: ClientCredentials, Endpoint: "https://login.example/token", ClientID: "app", ClientSecret: "s3cret"}
	if err := cc.Check(); err != nil {
		t.Fatal(err)
	}
	got = cc.Request(policy.TokenRequest{Resource: "api://orders/"})
	if got.Method != "POST" || string(got.Body) != "client_id=app&client_secret=s3cret&grant_type=client_credentials&scope=api%3A%2F%2Forders%2F.default" {
		t.Errorf("client credentials: %+v %s", got, got.Body)
	}
	for _, bad := range []Source{{Kind: "msi"}, {Kind: AppService, Endpoint: "http://x"}, {Kind: ClientCredentials, Endpoint: "https://x"}, {Kind: IMDS, Endpoint: "ftp://x"}, {Kind: IMDS, Endpoint: "http://u:p@x/"}} {
		b := bad
		if err := b.Check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		body    string
		expires time.Time
		err     string
	}{
		{`{"access_token":"a.b.c","expires_on":"1780276000","token_type":"Bearer"}`, time.Unix(1780276000, 0), ""},
		{`{"access_token":"a.b.c","expires_on":1780276000}`, time.Unix(1780276000, 0), ""},
		{`{"access_token":"a.b.c","expires_in":3599,"token_type":"bearer"}`, t0.Add(3599 * time.Second), ""},
		{`{"access_token":"a.b.c","expires_in":"604800"}`, t0.Add(MaxLifetime), ""},
		{`{"access_token":"a.b.c","expires_in":30}`, time.Time{}, "expires within a minute"},
		{`{"access_token":"a.b.c"}`, time.Time{}, "expires_on or expires_in is missing"},
		{`{"access_token":"a b","expires_in":3600}`, time.Time{}, "not a token"},
		{`{"access_token":"a\r\nx","expires_in":3600}`, time.Time{}, "not a token"},
		{`{"access_token":7,"expires_in":3600}`, time.Time{}, "not a token"},
		{`{"access_token":"a","expires_in":3600,"token_type":"pop"}`, time.Time{}, "not Bearer"},
		{`[1]`, time.Time{}, "not a JSON object"},
		{`<html>`, time.Time{}, "not JSON"},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), time.Time{}, "not JSON"},
		{`{"access_token":"` + strings.Repeat("a", MaxAnswer) + `"}`, time.Time{}, "larger than 64 KiB"},
	} {
		got, err := Parse([]byte(tc.body), t0)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.60s: err %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil || got.Value != "a.b.c" || !got.Expires.Equal(tc.expires) {
			t.Errorf("%.60s: %+v %v", tc.body, got, err)
		}
	}
}

func TestTiming(t *testing.T) {
	tok := Token{Value: "t", Expires: t0.Add(time.Hour)}
	if got := tok.RefreshAt(t0); !got.Equal(t0.Add(55 * time.Minute)) {
		t.Errorf("refresh at %v", got)
	}
	short := Token{Value: "t", Expires: t0.Add(4 * time.Minute)}
	if got := short.RefreshAt(t0); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("short: refresh at %v", got)
	}
	if !tok.Usable(t0.Add(59*time.Minute)) || tok.Usable(t0.Add(59*time.Minute+31*time.Second)) {
		t.Error("usable window")
	}
}
