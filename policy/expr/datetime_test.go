package expr

import "testing"

// TestDates pins DateTime to .NET's documented results in the invariant
// culture (learn.microsoft.com/dotnet/standard/base-types/
// standard-date-and-time-format-strings and custom-date-and-time-format-
// strings; DateTimeOffset.ToUnixTimeSeconds; HMACSHA256.ComputeHash with
// RFC 4231's test case 2). The test clock is 2026-12-02T19:15:40Z.
func TestDates(t *testing.T) {
	e := newEnv()
	for _, tc := range []struct {
		src  string
		want any
	}{
		{`@(DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"))`, "2026-12-02T19:15:40Z"},
		{`@(DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss"))`, "20261202T191540"},
		{`@(DateTime.UtcNow.ToString("R"))`, "Wed, 02 Dec 2026 19:15:40 GMT"},
		{`@(DateTime.UtcNow.ToString("r", CultureInfo.InvariantCulture))`, "Wed, 02 Dec 2026 19:15:40 GMT"},
		{`@(DateTime.UtcNow.ToString("d"))`, "12/02/2026"},
		{`@(DateTime.UtcNow.ToString("o"))`, "2026-12-02T19:15:40.0000000Z"},
		{`@(DateTime.UtcNow.ToString("dddd, MMMM d, h:mm tt"))`, "Wednesday, December 2, 7:15 PM"},
		{`@(DateTime.UtcNow.ToString("HH:mm:ss.fff"))`, "19:15:40.000"},
		{`@(DateTimeOffset.UtcNow.ToUnixTimeSeconds())`, int64(1796238940)},
		{`@(DateTimeOffset.FromUnixTimeSeconds(0).ToString("s"))`, "1970-01-01T00:00:00"},
		{`@((int)(DateTime.UtcNow - new DateTime(1970, 1, 1)).TotalSeconds + 3600)`, int64(1796242540)},
		{`@((DateTime.UtcNow - new DateTime(2026, 12, 1, 19, 0, 0)).TotalHours)`, 24.261111111111113},
		{`@((int)(DateTime.UtcNow - new DateTime(2026, 12, 1, 19, 0, 0)).TotalHours)`, int64(24)},
		{`@(DateTime.Parse("2026-12-01T10:00:00+02:00").ToString("u"))`, "2026-12-01 08:00:00Z"},
		{`@(DateTime.ParseExact("02/12/2026 07:05", "dd/MM/yyyy HH:mm", CultureInfo.InvariantCulture).ToString("o"))`, "2026-12-02T07:05:00.0000000Z"},
		{`@(DateTime.UtcNow.Year * 100 + DateTime.UtcNow.Month)`, int64(202612)},
		{`@(string.Format("{0:yyyy-MM-dd}", DateTime.UtcNow))`, "2026-12-02"},
		{`@(DateTime.UtcNow > new DateTime(2026, 1, 1))`, true},
		{`@{ int n; return int.TryParse("42", out n) ? n : -1; }`, int64(42)},
		{`@(int.TryParse("x42", out var n) ? n : -1)`, int64(-1)},
		{`@(Guid.TryParse("nope", out Guid g) ? "yes" : g.ToString("N"))`, "00000000000000000000000000000000"},
		{`@(bool.TryParse("False", out bool b) && !b)`, true},
		{`@(Convert.ToBase64String(new HMACSHA256(Encoding.UTF8.GetBytes("Jefe")).ComputeHash(Encoding.UTF8.GetBytes("what do ya want for nothing?"))))`, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="},
		{`@{ using (var hmac = new System.Security.Cryptography.HMACSHA256(Encoding.UTF8.GetBytes("Jefe"))) { return Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes("what do ya want for nothing?"))); } }`, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="},
		{`@(Convert.ToBase64String(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))))`, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},
		{`@(Convert.ToBase64String(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes(""))))`, "1B2M2Y8AsgTpgAmY7PhCfg=="},
	} {
		got, err := eval(t, tc.src, e)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`@(new DateTime(2026, 2, 30).ToString("s"))`, "Year, Month, and Day parameters describe an un-representable DateTime."},
		{`@(DateTime.Parse("yesterday").ToString("s"))`, "String 'yesterday' was not recognized as a valid DateTime."},
		{`@(DateTime.UtcNow.ToString("Q" + ""))`, "Input string was not in a correct format."},
		{`@(new HMACSHA256(null).ComputeHash(Encoding.UTF8.GetBytes("a")))`, "Value cannot be null. (Parameter 'key')"},
	} {
		if _, err := eval(t, tc.src, e); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`@(DateTime.UtcNow.ToString("yyyy-H"))`, `unsupported DateTime format "yyyy-H"`},
		{`@(new Stopwatch())`, "new Stopwatch is not supported"},
	} {
		if _, err := Compile(tc.src); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
}
