package expr

// The .NET library members APIM policies call most, table-driven: Guid,
// Uri and WebUtility, Convert and Encoding, int/long/bool parsing,
// string.Join/Concat/Format, Math. Behaviour follows .NET's documentation;
// each table test names its source.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Guid is a System.Guid: 16 bytes in the order its "D" form prints them.
type Guid [16]byte

// String is the "D" format: 8-4-4-4-12 lower-case hex digits.
func (g Guid) String() string { return g.format("D") }

func (g Guid) format(f string) string {
	h := hex.EncodeToString(g[:])
	d := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	switch f {
	case "N", "n":
		return h
	case "B", "b":
		return "{" + d + "}"
	case "P", "p":
		return "(" + d + ")"
	}
	return d
}

// parseGuid reads the N, D, B and P forms (any case), as Guid.Parse does.
func parseGuid(s string) (Guid, bool) {
	var g Guid
	s = strings.TrimSpace(s)
	if len(s) == 38 && (s[0] == '{' && s[37] == '}' || s[0] == '(' && s[37] == ')') {
		s = s[1:37]
	}
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return g, false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return g, false
	}
	if _, err := hex.Decode(g[:], []byte(s)); err != nil {
		return g, false
	}
	return g, true
}

// newGuid is a version 4 (random) Guid, as Guid.NewGuid makes.
func newGuid() Guid {
	var g Guid
	_, _ = rand.Read(g[:])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// escape percent-encodes every byte of s outside keep, in upper-case hex;
// space becomes '+' when plus is set.
func escape(s string, keep func(byte) bool, plus bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case keep(c):
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Uri.EscapeDataString keeps RFC 3986's unreserved characters;
// WebUtility.UrlEncode keeps -_.!*() and writes a space as '+'.
func uriUnreserved(c byte) bool { return alnum(c) || strings.IndexByte("-_.~", c) >= 0 }
func urlEncodeSafe(c byte) bool { return alnum(c) || strings.IndexByte("-_.!*()", c) >= 0 }

// unescapeData is Uri.UnescapeDataString: %XX sequences decoded, anything
// malformed left as it is, '+' kept.
func unescapeData(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// htmlDecode is WebUtility.HtmlDecode for the five XML entities and
// numeric references.
func htmlDecode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '&' {
			if end := strings.IndexByte(s[i:], ';'); end > 1 && end < 12 {
				ent := s[i+1 : i+end]
				r, ok := map[string]rune{"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\''}[ent]
				if num, isNum := strings.CutPrefix(ent, "#"); isNum {
					base := 10
					if hexNum, isHex := strings.CutPrefix(strings.ToLower(num), "x"); isHex {
						num, base = hexNum, 16
					}
					n, err := strconv.ParseUint(num, base, 32)
					r, ok = rune(n), err == nil && utf8.ValidRune(rune(n))
				}
				if ok {
					b.WriteRune(r)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseInt is int.Parse / long.Parse: optional sign, digits, surrounding
// white space, within the type's range.
func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "+")), 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, rtErr("Value was either too large or too small for an Int%d.", bits)
		}
		return 0, rtErr("The input string '%s' was not in a correct format.", abbreviate(s))
	}
	return n, nil
}

func abbreviate(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// parseBool is bool.Parse: "True"/"False" in any case, white space allowed.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// libOp names one library function; libCall runs them all, so that the
// table is data and the module carries one function, not one closure per
// member (BENCHMARKS.md: each closure costs code).
type libOp uint8

const (
	opNewGuid libOp = iota
	opParseGuid
	opEscapeData
	opUnescapeData
	opURLEncode
	opURLDecode
	opHTMLEncode
	opHTMLDecode
	opToBase64
	opFromBase64
	opToInt32
	opToInt64
	opToBoolean
	opToString
	opParseInt32
	opParseInt64
	opParseBool
	opMax
	opMin
	opAbs
	opUTF8Bytes
	opUTF8String
	opASCIIBytes
	opASCIIString
	opGuidString
)

// libSig is a library function's signature: result, required and optional
// parameters.
type libSig struct {
	op     libOp
	ret    Type
	min    int
	params []Type
}

// boolParse is bool.Parse's answer: the bool or .NET's FormatException.
func boolParse(s string) (any, error) {
	if b, ok := parseBool(s); ok {
		return b, nil
	}
	return nil, rtErr("String '%s' was not recognized as a valid Boolean.", abbreviate(s))
}

// libraryStatics are the static methods of the library classes, by
// "Class.Method"; libraryCustom those that take variable arguments.
var (
	libraryStatics = map[string]libSig{
		"Guid.NewGuid":             {opNewGuid, guidType, 0, nil},
		"Guid.Parse":               {opParseGuid, guidType, 1, []Type{String}},
		"Uri.EscapeDataString":     {opEscapeData, String, 1, []Type{String}},
		"Uri.UnescapeDataString":   {opUnescapeData, String, 1, []Type{String}},
		"WebUtility.UrlEncode":     {opURLEncode, String, 1, []Type{String}},
		"WebUtility.UrlDecode":     {opURLDecode, String, 1, []Type{String}},
		"WebUtility.HtmlEncode":    {opHTMLEncode, String, 1, []Type{String}},
		"WebUtility.HtmlDecode":    {opHTMLDecode, String, 1, []Type{String}},
		"Convert.ToBase64String":   {opToBase64, String, 1, []Type{bytesType}},
		"Convert.FromBase64String": {opFromBase64, bytesType, 1, []Type{String}},
		"Convert.ToInt32":          {opToInt32, Int, 1, []Type{Object}},
		"Convert.ToInt64":          {opToInt64, Int, 1, []Type{Object}},
		"Convert.ToBoolean":        {opToBoolean, Bool, 1, []Type{Object}},
		"Convert.ToString":         {opToString, String, 1, []Type{Object}},
		"int.Parse":                {opParseInt32, Int, 1, []Type{String}},
		"Int32.Parse":              {opParseInt32, Int, 1, []Type{String}},
		"long.Parse":               {opParseInt64, Int, 1, []Type{String}},
		"Int64.Parse":              {opParseInt64, Int, 1, []Type{String}},
		"bool.Parse":               {opParseBool, Bool, 1, []Type{String}},
		"Boolean.Parse":            {opParseBool, Bool, 1, []Type{String}},
		"Math.Max":                 {opMax, Int, 2, []Type{Int, Int}},
		"Math.Min":                 {opMin, Int, 2, []Type{Int, Int}},
		"Math.Abs":                 {opAbs, Int, 1, []Type{Int}},
		"Encoding.UTF8.GetBytes":   {opUTF8Bytes, bytesType, 1, []Type{String}},
		"Encoding.UTF8.GetString":  {opUTF8String, String, 1, []Type{bytesType}},
		"Encoding.ASCII.GetBytes":  {opASCIIBytes, bytesType, 1, []Type{String}},
		"Encoding.ASCII.GetString": {opASCIIString, String, 1, []Type{bytesType}},
	}
	libraryCustom map[string]method
	// newObjects are the classes new can make, by name.
	newObjects       = map[string]libSig{}
	newObjectsCustom = map[string]method{}
)

// nullParam names the parameter .NET refuses null for, per function.
var nullParam = map[libOp]string{
	opParseGuid: "input", opEscapeData: "stringToEscape", opUnescapeData: "stringToUnescape", opToBase64: "inArray",
	opFromBase64: "s", opParseInt32: "s", opParseInt64: "s", opParseBool: "value", opUTF8Bytes: "s", opUTF8String: "bytes",
	opASCIIBytes: "s", opASCIIString: "bytes", opDateParse: "s", opDateParseExact: "s",
}

// libMethod is the method of a library function.
func libMethod(sig libSig) method {
	return simple(sig.ret, sig.min, sig.params, func(_ *frame, r any, a []any) (any, error) { return libCall(sig.op, r, a) })
}

// libCall runs library function op on receiver r (for instance methods)
// and arguments a.
func libCall(op libOp, r any, a []any) (any, error) {
	var arg any
	if len(a) > 0 {
		arg = a[0]
		if name, refuses := nullParam[op]; refuses && arg == nil {
			return nil, rtErr("Value cannot be null. (Parameter '%s')", name)
		}
	}
	str, _ := arg.(string)
	bytes, _ := arg.([]byte)
	switch op {
	case opNewGuid:
		return newGuid(), nil
	case opParseGuid:
		if g, ok := parseGuid(str); ok {
			return g, nil
		}
		return nil, rtErr("Unrecognized Guid format.")
	case opGuidString:
		f := "D"
		if arg != nil {
			f = str
		}
		switch f {
		case "", "D", "d", "N", "n", "B", "b", "P", "p":
			return r.(Guid).format(f), nil
		}
		return nil, rtErr("Format string can be only \"D\", \"d\", \"N\", \"n\", \"P\", \"p\", \"B\", \"b\", \"X\" or \"x\".")
	case opEscapeData:
		return escape(str, uriUnreserved, false), nil
	case opUnescapeData:
		return unescapeData(str), nil
	case opURLEncode, opURLDecode, opHTMLEncode, opHTMLDecode:
		if arg == nil {
			return nil, nil
		}
		switch op {
		case opURLEncode:
			return escape(str, urlEncodeSafe, true), nil
		case opURLDecode:
			v, err := url.QueryUnescape(str)
			if err != nil {
				v = strings.ReplaceAll(str, "+", " ")
			}
			return v, nil
		case opHTMLEncode:
			return htmlEscaper.Replace(str), nil
		}
		return htmlDecode(str), nil
	case opToBase64:
		return base64.StdEncoding.EncodeToString(bytes), nil
	case opFromBase64:
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(str), ""))
		if err != nil {
			return nil, rtErr("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters.")
		}
		return b, nil
	case opToInt32, opToInt64, opToBoolean, opToString:
		return convertTo(op, arg)
	case opParseInt32:
		return parseInt(str, 32)
	case opParseInt64:
		return parseInt(str, 64)
	case opParseBool:
		return boolParse(str)
	case opMax:
		return max(a[0].(int64), a[1].(int64)), nil
	case opMin:
		return min(a[0].(int64), a[1].(int64)), nil
	case opAbs:
		return max(a[0].(int64), -a[0].(int64)), nil
	case opUTF8Bytes:
		return []byte(str), nil
	case opUTF8String:
		return strings.ToValidUTF8(string(bytes), "\uFFFD"), nil
	case opASCIIBytes, opASCIIString:
		out := []byte(str)
		if op == opASCIIString {
			out = append([]byte(nil), bytes...)
		} else {
			out = out[:0]
			for _, c := range str {
				out = append(out, byte(min(c, 128)))
			}
		}
		for i, c := range out {
			if c > 127 {
				out[i] = '?'
			}
		}
		if op == opASCIIString {
			return string(out), nil
		}
		return out, nil
	}
	if op >= opParseDouble {
		return doubleCall(op, a)
	}
	if op >= opNewJObject {
		return jsonCall(op, r, a)
	}
	return dateCall(op, r, a)
}

func libraryMembers() {
	libraryCustom = map[string]method{
		"string.Join": stringJoin, "String.Join": stringJoin,
		"string.Concat": stringConcat, "String.Concat": stringConcat,
		"string.Format": stringFormat, "String.Format": stringFormat,
	}
	methods[guidType] = map[string]method{
		"ToString": libMethod(libSig{opGuidString, String, 0, []Type{String}}),
	}
	props[bytesType] = map[string]prop{
		"Length": {typ: Int, get: func(_ *frame, r any) (any, error) { return int64(len(r.([]byte))), nil }},
	}
	dateMembers()
	hashMembers()
	tryParseMembers()
	jsonMembers()
	linqMembers()
	randomMembers()
	doubleMembers()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// convertTo is Convert.ToInt32/ToInt64/ToBoolean/ToString of a string, an
// int, a bool or null (0, false, "").
func convertTo(op libOp, v any) (any, error) {
	if t, ok := v.(JToken); ok {
		v = t.String()
	}
	switch x := v.(type) {
	case nil:
		return map[libOp]any{opToInt32: int64(0), opToInt64: int64(0), opToBoolean: false, opToString: ""}[op], nil
	case string:
		switch op {
		case opToInt32:
			return parseInt(x, 32)
		case opToInt64:
			return parseInt(x, 64)
		case opToBoolean:
			return boolParse(x)
		}
	case bool:
		if op != opToBoolean && op != opToString {
			return map[bool]int64{true: 1}[x], nil
		}
	case int64:
		switch {
		case op == opToBoolean:
			return x != 0, nil
		case op == opToInt32 && int64(int32(x)) != x:
			return nil, rtErr("Value was either too large or too small for an Int32.")
		case op != opToString:
			return x, nil
		}
	}
	if op == opToString {
		return ToString(v), nil
	}
	return nil, rtErr("Unable to cast %s to the type Convert needs.", kindOf(v))
}
