package expr

import (
	"strings"
	"testing"
)

// TestLinq pins the LINQ methods to System.Linq.Enumerable's documented
// results (learn.microsoft.com/dotnet/api/system.linq.enumerable: Where,
// Select, Any, All, Count, First[OrDefault], Last[OrDefault] with and
// without a predicate, OrderBy/OrderByDescending (a stable sort), Sum, Max,
// Min, Distinct (first occurrence kept), Skip/Take (counts past the end
// clamp), ToArray, ToList) and Newtonsoft.Json's JToken.Children() and
// JObject.Properties() (JProperty.Name, Value).
func TestLinq(t *testing.T) {
	const order = `JObject.Parse("{\"id\":\"o-1\",\"lines\":[{\"sku\":\"b\",\"qty\":2,\"price\":5},{\"sku\":\"a\",\"qty\":1,\"price\":20},{\"sku\":\"c\",\"qty\":0,\"price\":7}]}")`
	e := newEnv()
	for _, tc := range []struct {
		src  string
		want any
	}{
		{`@(string.Join(",", "c,a,b,a".Split(',').Where(s => s != "b").OrderBy(s => s)))`, "a,a,c"},
		{`@(string.Join(",", "c,a,b,a".Split(',').Distinct().OrderByDescending(s => s).ToArray()))`, "c,b,a"},
		{`@(string.Join("|", "a, b ,c".Split(',').Select(s => s.Trim().ToUpper())))`, "A|B|C"},
		{`@("x,yy,zzz".Split(',').Sum(s => s.Length))`, int64(6)},
		{`@("x,yy,zzz".Split(',').Max(s => s.Length) * 10 + "x,yy,zzz".Split(',').Min(s => s.Length))`, int64(31)},
		{`@("a,b".Split(',').Count(s => s == "b") + "a,b".Split(',').Count())`, int64(3)},
		{`@("a,b".Split(',').All(s => s.Length == 1) && !"a,b".Split(',').Any(s => s == "c") && "a,b".Split(',').Any())`, true},
		{`@("a,b,c".Split(',').First(s => s != "a") + "a,b,c".Split(',').Last() + ("a,b,c".Split(',').LastOrDefault(s => s == "z") ?? "-"))`, "bc-"},
		{`@(string.Join(",", "a,b,c,d".Split(',').Skip(1).Take(2)) + string.Join(",", "a".Split(',').Skip(5)))`, "b,c"},
		{`@(` + order + `["lines"].Sum(l => (int)l["qty"] * (int)l["price"]))`, int64(30)},
		{`@(string.Join(",", ` + order + `["lines"].Where(l => (int)l["qty"] > 0).OrderBy(l => (string)l["sku"]).Select(l => (string)l["sku"])))`, "a,b"},
		{`@(` + order + `["lines"].OrderByDescending(l => l["price"]).First()["sku"].ToString())`, "a"},
		{`@(new JArray(` + order + `["lines"].Where(l => (int)l["qty"] == 0)).ToString(Formatting.None))`, `[{"sku":"c","qty":0,"price":7}]`},
		{`@(JsonConvert.SerializeObject(` + order + `["lines"].Select(l => new { sku = l["sku"], total = (int)l["qty"] * (int)l["price"] })))`, `[{"sku":"b","total":10},{"sku":"a","total":20},{"sku":"c","total":0}]`},
		{`@(` + order + `["lines"].Children().Count() + ` + order + `["lines"].Select(l => l["qty"]).Sum())`, int64(6)},
		{`@(string.Join(",", ` + order + `.Properties().Select(p => p.Name)))`, "id,lines"},
		{`@(new JObject(` + order + `.Properties().Where(p => p.Name != "lines")).ToString(Formatting.None))`, `{"id":"o-1"}`},
		{`@((string)` + order + `.Properties().First().Value)`, "o-1"},
		{`@{ var n = 0; foreach (var l in ` + order + `["lines"].Where(x => (int)x["qty"] > 0).ToList()) { n += (int)l["price"]; } return n; }`, int64(25)},
		{`@{ var skus = new JArray(); foreach (var p in JObject.Parse("{\"a\":1,\"b\":2}").Properties()) { skus.Add(p.Name + p.Value); } return skus.ToString(Formatting.None); }`, `["a1","b2"]`},
		{`@(JArray.Parse("[3,1,2]").Count)`, int64(3)},
		{`@(string.Join(",", JArray.Parse("[3,1,2]").OrderBy(x => x).Select(x => x.ToString())))`, "1,2,3"},
		{`@(JArray.Parse("[]").FirstOrDefault() == null)`, true},
	} {
		got, err := eval(t, tc.src, e)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
	// Run-time failures, with .NET's messages.
	for _, tc := range []struct{ src, want string }{
		{`@("".Split(',').Skip(1).First())`, "Sequence contains no elements"},
		{`@("a".Split(',').First(s => s == "b"))`, "Sequence contains no matching element"},
		{`@(JArray.Parse("[]").Max(x => (int)x))`, "Sequence contains no elements"},
		{`@(JObject.Parse("{}").Children().Count())`, "Children() of a Object: use Properties() for a JObject's members."},
		{`@(JObject.Parse("{\"a\":1}").Where(x => true).Count())`, "A JObject's members are its properties: use Properties()."},
		{`@(JArray.Parse("[\"x\"]").Sum(x => (int)x))`, "Specified cast is not valid"},
	} {
		_, err := eval(t, tc.src, e)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// A query visits every element once per lambda, and each visit counts
// against the iteration budget like a loop's.
func TestLinq_budget(t *testing.T) {
	p, err := CompileWith(`@("`+strings.Repeat("a,", 50)+`a".Split(',').Where(s => s == "a").Count(s => true))`, Options{MaxIterations: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(newEnv()); err == nil || !strings.Contains(err.Error(), "more than 100 loop iterations") {
		t.Fatalf("err = %v, want the budget (51 + 51 visits)", err)
	}
	p, _ = CompileWith(`@("a,a".Split(',').Where(s => s == "a").Count(s => true))`, Options{MaxIterations: 4})
	if got, err := p.Eval(newEnv()); err != nil || got != int64(2) {
		t.Fatalf("= %v, %v; want 2 within 4 visits", got, err)
	}
}

func TestLinq_refused(t *testing.T) {
	for src, want := range map[string]string{
		`@("a".Split(',').Where(s => s.Length))`:                 "the predicate of Where must be a bool, got int",
		`@("a".Split(',').OrderBy(s => s == "a"))`:               "OrderBy needs a string, number or JToken key, got bool",
		`@("a".Split(',').Select())`:                             "Select takes a lambda",
		`@("a".Split(',').Sum())`:                                "Sum of string[] needs a lambda that makes an int",
		`@("a".Split(',').ToList(1))`:                            "ToList takes no argument",
		`@("a".Split(',').Select(s => context.Request))`:         "Select cannot make a sequence of IRequest",
		`@("a".Split(',').Where(s => s.Foo()))`:                  "unsupported method Foo of s",
		`@(JObject.Parse("{}").Properties().Select(p => p.Age))`: `unsupported member "Age" of p`,
	} {
		_, err := Compile(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
}

// Random.Next's ranges as .NET documents them ([0, max), [min, max), an
// empty range its lower bound); new Random(seed) is refused.
func TestRandom(t *testing.T) {
	e := newEnv()
	seen := map[int64]bool{}
	for range 400 {
		got, err := eval(t, `@(new Random().Next(3, 7))`, e)
		if err != nil {
			t.Fatal(err)
		}
		n := got.(int64)
		if n < 3 || n >= 7 {
			t.Fatalf("Next(3, 7) = %d", n)
		}
		seen[n] = true
	}
	if len(seen) != 4 {
		t.Errorf("400 draws of Next(3, 7) gave %v, want each of 3..6", seen)
	}
	for src, want := range map[string]any{
		`@{ var r = new Random(); return r.Next(1) + r.Next(5, 5); }`: int64(5),
		`@(new Random().Next() >= 0)`:                                 true,
	} {
		if got, err := eval(t, src, e); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
	for src, want := range map[string]string{
		`@(new Random().Next(-1))`:   "'maxValue' must be a non-negative value.",
		`@(new Random().Next(2, 1))`: "'minValue' cannot be greater than maxValue.",
	} {
		if _, err := eval(t, src, e); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
	if _, err := Compile(`@(new Random(42).Next())`); err == nil || !strings.Contains(err.Error(), "new Random(seed) is not supported") {
		t.Errorf("seeded: err = %v", err)
	}
}

// x as T: the value when it is a T (for JObject and JArray: that kind of
// token), null otherwise, as C#'s as operator does.
func TestAs(t *testing.T) {
	e := newEnv()
	e.vars = map[string]any{"s": "text", "n": int64(3)}
	for src, want := range map[string]any{
		`@((JObject.Parse("{\"a\":[1,2]}")["a"] as JArray).Count)`:               int64(2),
		`@(JObject.Parse("{\"a\":{}}")["a"] as JArray == null)`:                  true,
		`@((JObject.Parse("{\"a\":{}}")["a"] as JObject) != null)`:               true,
		`@(context.Variables["s"] as string ?? "none")`:                          "text",
		`@(context.Variables["n"] as string ?? "none")`:                          "none",
		`@((context.Variables["n"] as string)?.Length ?? -1)`:                    int64(-1),
		`@{ var a = JArray.Parse("[1]") as JArray; return a != null && 1 < 2; }`: true,
	} {
		if got, err := eval(t, src, e); err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	for src, want := range map[string]string{
		`@(context.Variables["n"] as int)`: "as needs a type that can be null, not int",
		`@("a" as JObject)`:                "string can never be JObject",
		`@("a" as)`:                        "expected a type after as",
	} {
		if _, err := Compile(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
}
