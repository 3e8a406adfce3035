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
		`@{ var s = ""; for (int i = 0; i < 3; i++) { foreach (var p in "a,b".Split(',')) { if (p == "b") { continue; } s += p; } } try { return int.Parse(s); } catch (Exception e) { return e.Message.Length; } }`,
		`@(string.Format("{0,-5:D3}|{1:yyyy-MM-dd}", 7, DateTime.UtcNow) + Guid.NewGuid().ToString("N") + Uri.EscapeDataString("a b") + WebUtility.HtmlDecode("&#x41;"))`,
		`@{ using (var h = new HMACSHA256(Convert.FromBase64String("a2V5"))) { return Convert.ToBase64String(h.ComputeHash(Encoding.UTF8.GetBytes("x"))); } }`,
		`@(DateTime.ParseExact("02/12/2026", "dd/MM/yyyy", CultureInfo.InvariantCulture) - new DateTime(2026, 1, 1)).TotalDays`,
		`@{ var o = JObject.Parse("{\"a\":{\"b\":[1]}}"); o["a"]["b"][0] = new { x = 1, y = new JArray("z") }; o.Add("c", true); o.Remove("a"); return JsonConvert.SerializeObject(o, Formatting.Indented); }`,
		`@{ var o = context.Request.Body.As<JObject>(preserveContent: true); var l = o["lines"].Where(x => (int)x["q"] > 0).OrderByDescending(x => x["s"]).ToList(); o["n"] = l.Sum(x => (int)x["q"]); return new JObject(o.Properties().Where(p => p.Name != "d")).ToString(Formatting.Indented); }`,
		`@(string.Join(",", context.Response.Body.As<JArray>().Children().Select(x => x.ToString()).Distinct().Skip(1).Take(new Random().Next(0, 3))))`,
		`@{ double Tax(double x) => Math.Round(x * 1.2, 2); switch (context.Request.Method) { case "GET": case "HEAD": return Tax(1.5e1).ToString("F2"); default: var t = context.Request.Body.AsFormUrlEncodedContent(true); return (t.GetValueOrDefault("a", "0") as string) ?? (-0.5 / 0).ToString(); } }`,
		`@{ int F(int n) { var k = n; return n <= 0 ? 0 : k + F(n - 1); } return (int)(F(5) / 2.0) + (int)-1.5 + (double)JObject.Parse("{\"p\":1.25}")["p"]; }`,
	} {
		f.Add(s)
	}
	req, resp := `{"lines":[{"q":2,"s":"b"},{"q":0,"s":"a"}],"d":1}`, `[1,"x",{"a":[]},1]`
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		e := newEnv()
		e.bodies = [2]*string{&req, &resp}
		_, _ = p.Eval(e)
	})
}
