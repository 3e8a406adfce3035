package expr

import (
	"strings"
	"testing"
)

func TestStatements(t *testing.T) {
	e := newEnv()
	for _, tc := range []struct {
		src  string
		want any
	}{
		{`@{ int n = 0; for (int i = 0; i < 5; i++) { n += i; } return n; }`, int64(10)},
		{`@{ var n = 10; while (n > 3) { n -= 2; } return n; }`, int64(2)},
		{`@{ var s = ""; foreach (var p in "a,b,c".Split(',')) { if (p == "b") { continue; } s += p; } return s; }`, "ac"},
		{`@{ var s = ""; foreach (string p in "a,b,c".Split(',')) { if (p == "b") { break; } s = s + p; } return s; }`, "a"},
		{`@{ foreach (var p in "x,y".Split(',')) { if (p == "y") { return "found " + p; } } return "none"; }`, "found y"},
		{`@{ string[] parts = "a-b".Split('-'); byte[] raw = Encoding.UTF8.GetBytes("hi"); int sum = 0; foreach (var b in raw) { sum += b; } return parts[1] + sum; }`, "b209"},
		{`@{ var n = 0; foreach (var v in ((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["sub"]["x"]) { n++; } return n; }`, int64(2)},
		{`@{ try { return int.Parse("x"); } catch (Exception e) { return e.Message; } }`, "The input string 'x' was not in a correct format."},
		{`@{ try { var n = int.Parse("5"); return n; } catch { return -1; } }`, int64(5)},
		{`@{ using (var k = Encoding.UTF8.GetBytes("key")) { return k.Length; } }`, int64(3)},
		{`@{ var i = 3; --i; i--; return i; }`, int64(1)},
	} {
		got, err := eval(t, tc.src, e)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
}

// Loops and strings are bounded: an expression that never ends or grows
// without bound fails within its budget, and catch cannot hold it.
func TestStatements_budget(t *testing.T) {
	e := newEnv()
	for _, tc := range []struct{ src, want string }{
		{`@{ while (true) { } return 1; }`, "The expression ran more than 10000 loop iterations (the plugin's expressions.maxIterations)."},
		{`@{ var n = 0; for (;;) { try { n++; } catch { } } return n; }`, "The expression ran more than 10000 loop iterations (the plugin's expressions.maxIterations)."},
		{`@{ while (true) { try { while (true) { } } catch (Exception e) { } } return 1; }`, "The expression ran more than 10000 loop iterations (the plugin's expressions.maxIterations)."},
		{`@{ var s = "x"; while (true) { s = s + s; } return s; }`, "The expression built a string longer than 1048576 bytes."},
		{`@{ var s = "xxxxxxxxxxxxxxxx"; while (true) { s = s.Replace("x", "xx"); } return s; }`, "The expression built a string longer than 1048576 bytes."},
		{`@{ var s = "abcdefgh"; for (int i = 0; i < 20; i++) { s = $"{s}{s}"; } return s; }`, "The expression built a string longer than 1048576 bytes."},
		{`@{ var s = "abcdefgh"; for (int i = 0; i < 20; i++) { s = string.Join(s, s, s); } return s; }`, "The expression built a string longer than 1048576 bytes."},
	} {
		TakeBudgetExceeded() // what other tests left
		_, err := eval(t, tc.src, e)
		if _, ok := err.(*BudgetError); !ok || err.Error() != tc.want {
			t.Errorf("%s: %T %v; want %s", tc.src, err, err, tc.want)
		}
		if n := TakeBudgetExceeded(); n != 1 {
			t.Errorf("%s: counted %d budget errors, want 1", tc.src, n)
		}
	}
	// The iteration budget is an option.
	p, err := CompileWith(`@{ var n = 0; while (n < 50) { n++; } return n; }`, Options{MaxIterations: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(e); err == nil || !strings.Contains(err.Error(), "more than 20 loop iterations") {
		t.Errorf("MaxIterations 20: %v", err)
	}
	TakeBudgetExceeded()
}

func TestStatements_refused(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`@{ break; return 1; }`, "break and continue must be inside a loop"},
		{`@{ foreach (var c in 5) { } return 1; }`, "foreach needs a string[], a byte[], a JArray or a query's sequence, got int"},
		{`@{ foreach (int c in "a".Split(',')) { } return 1; }`, "the elements are string, not int"},
		{`@{ try { } finally { } return 1; }`, "expected catch (try/finally is not supported)"},
		{`@{ try { } catch (FormatException e) { } return 1; }`, "only catch (Exception) is supported"},
	} {
		if _, err := Compile(tc.src); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
}

// switch as C# runs it: the first matching case label's section, else
// default; labels grouped; break leaves the switch, continue goes on to the
// loop around it; a switch whose sections all return (with a default)
// returns.
func TestSwitch(t *testing.T) {
	e := newEnv()
	for src, want := range map[string]any{
		`@{ switch (context.Request.Method) { case "GET": case "HEAD": return "read"; case "POST": return "write"; default: return "other"; } }`: "write",
		`@{ var s = ""; switch (context.Request.Method.Length) { case 3: s = "three"; break; case 4: s = "four"; break; } return s; }`:           "four",
		`@{ var s = ""; switch ("x") { case "y": s = "y"; break; } return s + "-"; }`:                                                            "-",
		`@{ var n = 0; foreach (var p in "a,b,c".Split(',')) { switch (p) { case "b": continue; default: n++; break; } n += 10; } return n; }`:   int64(22),
		`@{ var n = 0; while (true) { switch (n) { case 3: break; default: n++; continue; } break; } return n; }`:                                int64(3),
		`@{ switch (JObject.Parse("{\"k\":\"v\"}")["k"]) { case "v": return true; default: return false; } }`:                                    true,
		`@{ switch ((string)null) { case null: return "null"; default: return "x"; } }`:                                                          "null",
	} {
		if got, err := eval(t, src, e); err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	for src, want := range map[string]string{
		`@{ switch (1) { case "a": return 1; default: return 2; } }`:     "cannot compare int with string",
		`@{ var x = "a"; switch ("a") { case x: return 1; } return 2; }`: "a case label must be a constant",
		`@{ switch ("a") { case "a": continue; } return 1; }`:            "break and continue must be inside a loop",
		`@{ switch ("a") { case "a": return 1; } }`:                      "not all code paths return a value",
		`@{ switch (context.Request) { default: return 1; } }`:           "switch needs a string, int or bool, got IRequest",
		`@{ switch ("a") { return 1; } }`:                                "expected case or default in switch",
	} {
		if _, err := Compile(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
}

// Local functions as C# has them: declared anywhere in their block, the
// block's variables visible, expression-bodied or with a block; recursion
// keeps each call's parameters and locals, and is bounded.
func TestLocalFunctions(t *testing.T) {
	e := newEnv()
	for src, want := range map[string]any{
		`@{ return Twice(Trimmed(" ab ")); string Trimmed(string s) => s.Trim(); string Twice(string s) { return s + s; } }`:                     "abab",
		`@{ var prefix = "x-"; string Name(string s) => prefix + s.ToLower(); return Name("A") + Name("B"); }`:                                   "x-ax-b",
		`@{ int Fact(int n) { if (n <= 1) { return 1; } var rest = Fact(n - 1); return n * rest; } return Fact(10); }`:                           int64(3628800),
		`@{ int Sum(int n) { var before = n; var r = n > 0 ? n + Sum(n - 1) : 0; return before == n ? r : -1; } return Sum(5); }`:                int64(15),
		`@{ double Half(int n) => n / 2; return Half(7); }`:                                                                                      3.0,
		`@{ bool Allowed(string m) { switch (m) { case "GET": return true; default: return false; } } return Allowed(context.Request.Method); }`: false,
	} {
		if got, err := eval(t, src, e); err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	if _, err := eval(t, `@{ int Forever(int n) => Forever(n + 1); return Forever(0); }`, e); err == nil || !strings.Contains(err.Error(), "Local function calls nested deeper than 32") {
		t.Errorf("unbounded recursion: err = %v", err)
	}
	p, _ := CompileWith(`@{ int Count(int n) => n == 0 ? 0 : 1 + Count(n - 1); var total = 0; for (var i = 0; i < 100; i++) { total += Count(20); } return total; }`, Options{MaxIterations: 500})
	if _, err := p.Eval(e); err == nil || !strings.Contains(err.Error(), "more than 500 loop iterations") {
		t.Errorf("calls against the budget: err = %v", err)
	}
	for src, want := range map[string]string{
		`@{ void Log(string s) { } return 1; }`:                          "void local functions are not supported",
		`@{ int F(int a) => a; return F("x"); }`:                         "want int, got string",
		`@{ int F(int a) => a; return F(1, 2); }`:                        "F takes 1 arguments, got 2",
		`@{ int F(int a) => "s"; return F(1); }`:                         "F returns string, not int",
		`@{ int F(int a) { if (a > 0) { return 1; } } return F(1); }`:    "not all code paths of F return a value",
		`@{ int F(int a) => a; return F; }`:                              "F is a local function: call it",
		`@{ int F(int a) => a; int F(int b) => b; return 1; }`:           "F is already declared",
		`@{ while (true) { int F(int a) { break; } break; } return 1; }`: "break and continue must be inside a loop",
	} {
		if _, err := Compile(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
}
