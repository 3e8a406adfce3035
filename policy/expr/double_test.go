package expr

import (
	"math"
	"strings"
	"testing"
)

// TestDouble pins double to .NET's documented behaviour
// (learn.microsoft.com/dotnet: "Double.ToString" and "Standard numeric
// format strings" — the shortest round-trippable text since .NET Core 3.0,
// scientific notation when the exponent is 15 or more or below -5, the
// exponent with at least two digits; F and N round half away from zero;
// "Math.Round" rounds to even by default; "Double.Parse" in the invariant
// culture; C#'s explicit conversion to an integer truncates; division by
// zero gives Infinity or NaN) and Newtonsoft.Json's writing of doubles
// (a whole number keeps ".0").
func TestDouble(t *testing.T) {
	e := newEnv()
	e.vars = map[string]any{"price": 2.5, "n": int64(4)}
	for src, want := range map[string]any{
		`@(1.5 + 2)`:                         3.5,
		`@(7 / 2)`:                           int64(3),
		`@(7 / 2.0)`:                         3.5,
		`@(7d / 2)`:                          3.5,
		`@(1e3 + 1.5e-1)`:                    1000.15,
		`@(-0.5 * 4)`:                        -2.0,
		`@(5.5 % 2)`:                         1.5,
		`@(2 < 2.5 && 3.0 >= 3 && 1.0 == 1)`: true,
		`@((int)9.99 + (int)-9.99)`:          int64(0),
		`@((double)7 / 2)`:                   3.5,
		`@(0.1 + 0.2)`:                       0.30000000000000004,
		`@((0.1 + 0.2).ToString())`:          "0.30000000000000004",
		`@((1.0).ToString())`:                "1",
		`@(1e15.ToString() + " " + 1e14.ToString())`:      "1E+15 100000000000000",
		`@(0.0001.ToString() + " " + 0.00001.ToString())`: "0.0001 1E-05",
		`@((-1.5e-7).ToString())`:                         "-1.5E-07",
		`@(123456789.125.ToString("F2") + "|" + 1234567.5.ToString("N1") + "|" + 2.5.ToString("F0") + "|" + (-0.004).ToString("F2"))`: "123456789.13|1,234,567.5|3|0.00",
		`@(string.Format("{0:F3}|{1:N2}", 3.14159, 1234.5))`:                                                                          "3.142|1,234.50",
		`@($"{1.5} {2.0}")`: "1.5 2",
		`@(double.Parse(" 1,234.5 ") + Double.Parse("-1e2"))`:                                                         1134.5,
		`@(Convert.ToDouble("2.25") + Convert.ToDouble(1) + Convert.ToDouble(true))`:                                  4.25,
		`@(Math.Round(2.5) + Math.Round(3.5) + Math.Round(-2.5))`:                                                     4.0,
		`@(Math.Round(2.125, 2))`:                                                                                     2.12,
		`@(Math.Floor(-1.5) + Math.Ceiling(1.2) + Math.Pow(2, 10) + Math.Sqrt(16))`:                                   1028.0,
		`@(Math.Max(1, 2.5) + Math.Min(3, 4) + Math.Abs(-1.25))`:                                                      6.75,
		`@(Math.Max(1, 2) + Math.Abs(-3))`:                                                                            int64(5),
		`@((double)context.Variables["price"] * (int)context.Variables["n"])`:                                         10.0,
		`@((double)JObject.Parse("{\"p\":19.99}")["p"] * 2)`:                                                          39.98,
		`@((int)JObject.Parse("{\"p\":19.99,\"q\":2.5}")["p"] + (int)JObject.Parse("{\"q\":2.5}")["q"])`:              int64(22),
		`@(JObject.Parse("{\"p\":19.99}")["p"] == 19.99)`:                                                             true,
		`@(JsonConvert.SerializeObject(new { a = 1.0, b = 0.25, c = 1e21, d = 3 }))`:                                  `{"a":1.0,"b":0.25,"c":1E+21,"d":3}`,
		`@(JArray.Parse("[1.5,2.5]").Sum(x => (double)x))`:                                                            4.0,
		`@{ double d; if (double.TryParse("x", out d)) { return d; } return -1.0; }`:                                  -1.0,
		`@{ double total = 0; foreach (var p in "1.5,2.25".Split(',')) { total += double.Parse(p); } return total; }`: 3.75,
		`@((1 / 0.0).ToString() + (-1 / 0.0).ToString() + (0 / 0.0).ToString())`:                                      "Infinity-InfinityNaN",
		`@((new DateTime(2026, 1, 1, 0, 0, 30) - new DateTime(2026, 1, 1)).TotalMinutes)`:                             0.5,
	} {
		got, err := eval(t, src, e)
		if err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	for src, want := range map[string]string{
		`@(double.Parse("1.5.5"))`: "The input string '1.5.5' was not in a correct format.",
		`@(double.Parse("0x10"))`:  "was not in a correct format",
		`@((int)(0 / 0.0))`:        "Value was either too large or too small for an Int64.",
		`@(Math.Round(1.5, 16))`:   "Rounding digits must be between 0 and 15",
		`@(1.5.ToString("X"))`:     "Format specifier was invalid.",
	} {
		if _, err := eval(t, src, e); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
	if got, _ := eval(t, `@(double.Parse("NaN"))`, e); !math.IsNaN(got.(float64)) {
		t.Errorf("double.Parse(NaN) = %v", got)
	}
	for src, want := range map[string]string{
		`@(1.5m)`:       "decimal numbers (the m suffix) are not supported",
		`@("a" * 1.5)`:  "want a number, got string",
		`@(1.5 == "a")`: "cannot compare double with string",
	} {
		if _, err := Compile(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
}
