package expr

import "testing"

// FuzzCompile: compiling never panics, and whatever compiles evaluates
// without panicking against a full request.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`@(context.Request.Headers.GetValueOrDefault("Authorization","scheme param").Split(' ').Last())`,
		`@((bool)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["active"] == false)`,
		`@{ var jwt = (Jwt)context.Variables["valid-jwt"]; return Array.Exists(jwt.Claims["permissions"], e => e == "sendEmail"); }`,
		`@($"a{1 + 2}b{{c}}" + @"x""y" + 'c')`,
		`@(new [] {"POST","PUT"}.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase) ? 1 : -2 ?? 3)`,
		`@{ Jwt jwt; ExpressionSyntaxExtensions.TryParseJwt((string)context.Variables["name"], out jwt); if (jwt == null) return ""; else { return jwt.Subject; } }`,
		`@(context.Request.Headers.GetValueOrDefault("x-token").AsJwt()?.Claims.GetValueOrDefault("tid", ""))`,
		`@("abc".Substring(1, 1).Trim('a').Replace("b", "c").IndexOf("c") % 2 / 1)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		e := newEnv()
		_, _ = p.Eval(e)
	})
}
