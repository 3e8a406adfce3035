package expr

import (
	"strings"
	"testing"
)

// TestLibrary pins the .NET library members to .NET's documented results.
// Sources: learn.microsoft.com/dotnet/api — System.Guid.ToString(String)
// (N, D, B, P), Guid.Parse (the four forms, any case); Uri.EscapeDataString
// (RFC 3986 unreserved characters kept, upper-case hex);
// WebUtility.UrlEncode (space as '+', -_.!*() kept) and HtmlEncode
// (&, <, >, ", ' as &#39;); Convert.ToBase64String/FromBase64String
// (white space ignored); Encoding.ASCII ('?' for non-ASCII); Int32.Parse
// (sign, surrounding white space, OverflowException); Boolean.Parse (any
// case); String.Format (composite formatting, "Standard numeric format
// strings": D, X, N, F with precision); String.Join, String.Concat.
func TestLibrary(t *testing.T) {
	e := newEnv()
	for _, tc := range []struct {
		src  string
		want any
	}{
		{`@(Guid.Parse("{0F8FAD5B-D9CB-469F-A165-70867728950E}").ToString())`, "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{`@(Guid.Parse("0f8fad5bd9cb469fa16570867728950e").ToString("B"))`, "{0f8fad5b-d9cb-469f-a165-70867728950e}"},
		{`@(Guid.Parse("(0f8fad5b-d9cb-469f-a165-70867728950e)").ToString("N"))`, "0f8fad5bd9cb469fa16570867728950e"},
		{`@(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e").ToString("P"))`, "(0f8fad5b-d9cb-469f-a165-70867728950e)"},
		{`@(Guid.Empty.ToString())`, "00000000-0000-0000-0000-000000000000"},
		{`@("id-" + Guid.Empty)`, "id-00000000-0000-0000-0000-000000000000"},
		{`@(Guid.NewGuid().ToString().Length)`, int64(36)},
		{`@(Guid.NewGuid().ToString("N").Length)`, int64(32)},
		{`@(Uri.EscapeDataString("a b&c=d/é~"))`, "a%20b%26c%3Dd%2F%C3%A9~"},
		{`@(System.Uri.UnescapeDataString("a%20b%2Bc+d%zz"))`, "a b+c+d%zz"},
		{`@(WebUtility.UrlEncode("a b&c=d/é~*"))`, "a+b%26c%3Dd%2F%C3%A9%7E*"},
		{`@(System.Net.WebUtility.UrlDecode("a+b%26c"))`, "a b&c"},
		{`@(WebUtility.HtmlEncode("<a href=\"x\">Tom's</a> & co"))`, "&lt;a href=&quot;x&quot;&gt;Tom&#39;s&lt;/a&gt; &amp; co"},
		{`@(WebUtility.HtmlDecode("&lt;b&gt; &amp;amp; &#65;&#x42; &nbsp;"))`, "<b> &amp; AB &nbsp;"},
		{`@(Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pässword")))`, "dXNlcjpww6Rzc3dvcmQ="},
		{`@(Encoding.UTF8.GetString(Convert.FromBase64String("aGVs bG8=")))`, "hello"},
		{`@(System.Text.Encoding.ASCII.GetString(System.Text.Encoding.ASCII.GetBytes("häh")))`, "h?h"},
		{`@(Encoding.UTF8.GetBytes("héllo").Length)`, int64(6)},
		{`@(int.Parse(" -42 ") + 1)`, int64(-41)},
		{`@(long.Parse("9000000000"))`, int64(9000000000)},
		{`@(bool.Parse("TRUE"))`, true},
		{`@(Convert.ToInt32("17") + Convert.ToInt32(true))`, int64(18)},
		{`@(Convert.ToBoolean("False"))`, false},
		{`@(Convert.ToString(42))`, "42"},
		{`@(Math.Max(3, Math.Min(10, 7)) + Math.Abs(-2))`, int64(9)},
		{`@(string.Join(",", "a", "b", 3))`, "a,b,3"},
		// log-to-eventhub's example joins DateTime.UtcNow: ToString() as
		// DateTime.ToString() writes it (formatTime: en-US, as APIM).
		{`@(string.Join(",", new DateTime(2026, 12, 6, 9, 5, 3), "x"))`, "12/6/2026 9:05:03 AM,x"},
		{`@(string.Concat(new DateTime(2026, 1, 2), "|"))`, "1/2/2026 12:00:00 AM|"},
		{`@(String.Join("|", context.Request.Headers["x-tier"]))`, "Gold"},
		{`@(string.Concat("a", 1, true))`, "a1True"},
		{`@(string.Format("{0}-{1:D4}-{2:X}-{2:x4}-{3:N0}-{3:N}-{4:F1}", "a", 42, 255, 1234567, 3))`, "a-0042-FF-00ff-1,234,567-1,234,567.00-3.0"},
		{`@(string.Format("{{{0,5}|{0,-5}}}", "ab"))`, "{   ab|ab   }"},
		{`@(string.Format("{0}", Guid.Empty))`, "00000000-0000-0000-0000-000000000000"},
	} {
		got, err := eval(t, tc.src, e)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
	// A new Guid is version 4, variant 1 (RFC 4122), and not the last one.
	a, _ := eval(t, `@(Guid.NewGuid().ToString())`, e)
	b, _ := eval(t, `@(Guid.NewGuid().ToString())`, e)
	if g := a.(string); g[14] != '4' || !strings.ContainsRune("89ab", rune(g[19])) || a == b {
		t.Errorf("new guids %v %v", a, b)
	}
}

func TestLibrary_errors(t *testing.T) {
	e := newEnv()
	for _, tc := range []struct{ src, want string }{
		{`@(Guid.Parse("nope").ToString())`, "Unrecognized Guid format."},
		{`@(Guid.Empty.ToString("Q"))`, `Format string can be only "D", "d", "N", "n", "P", "p", "B", "b", "X" or "x".`},
		{`@(int.Parse("4x"))`, "The input string '4x' was not in a correct format."},
		{`@(int.Parse("3000000000"))`, "Value was either too large or too small for an Int32."},
		{`@(bool.Parse("yes"))`, "String 'yes' was not recognized as a valid Boolean."},
		{`@(Convert.FromBase64String("***"))`, "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters."},
		{`@(Uri.EscapeDataString(null))`, "Value cannot be null. (Parameter 'stringToEscape')"},
		{`@(string.Format("{1}", "a"))`, "Index (zero based) must be greater than or equal to zero and less than the size of the argument list."},
		{`@(string.Format("{0", "a"))`, "Input string was not in a correct format."},
		{`@(string.Format("{0:Q}", 1))`, "Format specifier was invalid."},
	} {
		_, err := eval(t, tc.src, e)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`@(Guid.Create())`, "unsupported method Guid.Create"},
		{`@(Encoding.Unicode.GetBytes("a"))`, "unsupported member Encoding.Unicode"},
		{`@(Convert.ToBase64String("a"))`, "want byte[], got string"},
	} {
		if _, err := Compile(tc.src); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
}
