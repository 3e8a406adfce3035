package expr

// DateTime beyond certificate dates: .NET's standard and custom format
// strings (formatting and ParseExact), DateTimeOffset's Unix times,
// TimeSpan, new DateTime(...), CultureInfo.InvariantCulture. The gateway
// runs in UTC and the invariant culture.

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
	"time"
)

// netLayouts are .NET's standard date formats in the invariant culture, as
// custom patterns (learn.microsoft.com/dotnet/standard/base-types/
// standard-date-and-time-format-strings).
var netLayouts = map[string]string{
	"d": "MM/dd/yyyy", "D": "dddd, dd MMMM yyyy", "f": "dddd, dd MMMM yyyy HH:mm", "F": "dddd, dd MMMM yyyy HH:mm:ss",
	"g": "MM/dd/yyyy HH:mm", "G": "MM/dd/yyyy HH:mm:ss", "M": "MMMM dd", "m": "MMMM dd", "t": "HH:mm", "T": "HH:mm:ss",
	"y": "yyyy MMMM", "Y": "yyyy MMMM", "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	"s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss", "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'", "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	"O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
}

// netTokens map .NET's custom format specifiers to Go layout elements,
// longest first.
var netTokens = []struct{ net, goLayout string }{
	{"yyyy", "2006"}, {"yy", "06"}, {"MMMM", "January"}, {"MMM", "Jan"}, {"MM", "01"}, {"M", "1"},
	{"dddd", "Monday"}, {"ddd", "Mon"}, {"dd", "02"}, {"d", "2"}, {"HH", "15"}, {"hh", "03"}, {"h", "3"},
	{"mm", "04"}, {"m", "4"}, {"ss", "05"}, {"s", "5"}, {"fffffff", "0000000"}, {"ffffff", "000000"},
	{"fffff", "00000"}, {"ffff", "0000"}, {"fff", "000"}, {"ff", "00"}, {"f", "0"}, {"tt", "PM"},
	{"zzz", "-07:00"}, {"K", "Z07:00"},
}

// goLayout translates a .NET date format (standard or custom) to a Go
// layout; ok is false for a specifier Go cannot render (H, a lone f after
// something other than '.', digits as literals).
func goLayout(format string) (string, bool) {
	if std, isStd := netLayouts[format]; isStd {
		format = std
	} else if len(format) == 1 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(format[i+1:], c)
			if end < 0 {
				return "", false
			}
			lit := format[i+1 : i+1+end]
			if strings.ContainsAny(lit, "0123456789") || strings.Contains(lit, "Jan") || strings.Contains(lit, "Mon") || strings.Contains(lit, "PM") || strings.Contains(lit, "MST") {
				return "", false
			}
			b.WriteString(lit)
			i += end + 2
			continue
		case c == '\\' && i+1 < len(format):
			b.WriteByte(format[i+1])
			i += 2
			continue
		case strings.IndexByte("yMdHhmsftzK", c) < 0:
			if c >= '0' && c <= '9' {
				return "", false
			}
			b.WriteByte(c)
			i++
			continue
		}
		matched := false
		for _, tk := range netTokens {
			if strings.HasPrefix(format[i:], tk.net) {
				if tk.net[0] == 'f' && (b.Len() == 0 || !strings.HasSuffix(b.String(), ".")) {
					return "", false
				}
				b.WriteString(tk.goLayout)
				i += len(tk.net)
				matched = true
				break
			}
		}
		if !matched {
			return "", false
		}
	}
	return b.String(), true
}

var errDateFormat = rtErr("Input string was not in a correct format.")

// netFormatTime is DateTime.ToString(format).
func netFormatTime(t time.Time, format string) (string, error) {
	if format == "" {
		return formatTime(t, ""), nil
	}
	layout, ok := goLayout(format)
	if !ok {
		return "", errDateFormat
	}
	return t.UTC().Format(layout), nil
}

// netParseTime is DateTime.ParseExact(s, format, culture) in UTC.
func netParseTime(s, format string) (time.Time, error) {
	layout, ok := goLayout(format)
	if !ok {
		return time.Time{}, errDateFormat
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, rtErr("String '%s' was not recognized as a valid DateTime.", abbreviate(s))
	}
	return t.UTC(), nil
}

// parseTime is DateTime.Parse: ISO 8601 (with or without an offset or
// fraction), RFC 1123, and the invariant culture's general forms.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", time.RFC1123, "01/02/2006 15:04:05", "01/02/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, rtErr("String '%s' was not recognized as a valid DateTime.", abbreviate(s))
}

// dateToString is DateTime.ToString([format[, culture]]); a constant
// format is checked at load time.
func dateToString(c *compiler, n *callNode, recv value, args []node) (value, error) {
	if len(args) >= 1 {
		if lit, ok := args[0].(*strLit); ok {
			if _, ok := goLayout(lit.v); !ok {
				return value{}, errAt(args[0], "unsupported DateTime format %q", lit.v)
			}
		}
	}
	return simple(String, 0, []Type{String, cultureType}, func(_ *frame, r any, a []any) (any, error) {
		format := ""
		if len(a) > 0 {
			format, _ = a[0].(string)
		}
		return netFormatTime(r.(time.Time), format)
	})(c, n, recv, args)
}

// The DateTime, DateTimeOffset and TimeSpan functions of libCall.
const (
	opNewDate libOp = iota + 100
	opFromUnix
	opDateParse
	opDateParseExact
	opUnixSeconds
	opUnixMillis
	opSpanSeconds
	opSpanMinutes
	opSpanHours
	opSpanDays
)

func dateCall(op libOp, r any, a []any) (any, error) {
	n := func(i int) int64 { v, _ := a[i].(int64); return v }
	switch op {
	case opNewDate:
		y, mo, d := n(0), n(1), n(2)
		var h, mi, sec int64
		if len(a) == 6 {
			h, mi, sec = n(3), n(4), n(5)
		}
		t := time.Date(int(y), time.Month(mo), int(d), int(h), int(mi), int(sec), 0, time.UTC)
		if y < 1 || y > 9999 || t.Month() != time.Month(mo) || t.Day() != int(d) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
			return nil, rtErr("Year, Month, and Day parameters describe an un-representable DateTime.")
		}
		return t, nil
	case opFromUnix:
		if v := n(0); v >= -62135596800 && v <= 253402300799 {
			return time.Unix(v, 0).UTC(), nil
		}
		return nil, rtErr("Valid values are between -62135596800 and 253402300799, inclusive. (Parameter 'seconds')")
	case opDateParse:
		return parseTime(s(a[0]))
	case opDateParseExact:
		return netParseTime(s(a[0]), s(a[1]))
	case opUnixSeconds:
		return r.(time.Time).Unix(), nil
	case opUnixMillis:
		return r.(time.Time).UnixMilli(), nil
	}
	d := r.(time.Duration)
	unit := map[libOp]time.Duration{opSpanSeconds: time.Second, opSpanMinutes: time.Minute, opSpanHours: time.Hour, opSpanDays: 24 * time.Hour}[op]
	return float64(d) / float64(unit), nil
}

func dateMembers() {
	for name, sig := range map[string]libSig{
		"DateTimeOffset.FromUnixTimeSeconds": {opFromUnix, DateTimeType, 1, []Type{Int}},
		"DateTime.Parse":                     {opDateParse, DateTimeType, 1, []Type{String, cultureType}},
		"DateTime.ParseExact":                {opDateParseExact, DateTimeType, 2, []Type{String, String, cultureType}},
	} {
		libraryStatics[name] = sig
	}
	methods[DateTimeType]["ToString"] = dateToString
	methods[DateTimeType]["ToUnixTimeSeconds"] = libMethod(libSig{opUnixSeconds, Int, 0, nil})
	methods[DateTimeType]["ToUnixTimeMilliseconds"] = libMethod(libSig{opUnixMillis, Int, 0, nil})
	part := func(get func(time.Time) int) prop {
		return prop{typ: Int, get: func(_ *frame, r any) (any, error) { return int64(get(r.(time.Time))), nil }}
	}
	props[DateTimeType] = map[string]prop{
		"Year": part(time.Time.Year), "Month": part(func(t time.Time) int { return int(t.Month()) }), "Day": part(time.Time.Day),
		"Hour": part(time.Time.Hour), "Minute": part(time.Time.Minute), "Second": part(time.Time.Second),
		"UtcDateTime": {typ: DateTimeType, get: func(_ *frame, r any) (any, error) { return r, nil }},
	}
	props[timeSpanType] = map[string]prop{}
	for name, op := range map[string]libOp{"TotalSeconds": opSpanSeconds, "TotalMinutes": opSpanMinutes, "TotalHours": opSpanHours, "TotalDays": opSpanDays} {
		props[timeSpanType][name] = prop{typ: Double, get: func(_ *frame, r any) (any, error) { return dateCall(op, r, nil) }}
	}
	newObjects["DateTime"] = libSig{opNewDate, DateTimeType, 3, []Type{Int, Int, Int, Int, Int, Int}}
}

// hasher is an HMACSHA256 / HMACSHA1 / HMACSHA512 (with its key) or a
// SHA256 / SHA1 / SHA512 / MD5 from Create().
type hasher struct {
	alg string
	key []byte // nil: a plain hash
}

const (
	opNewHMAC libOp = iota + 120
	opNewHash
	opComputeHash
)

// hashCall makes hashers and computes hashes.
func hashCall(op libOp, r any, a []any, alg string) (any, error) {
	switch op {
	case opNewHMAC:
		key, ok := a[0].([]byte)
		if !ok {
			return nil, rtErr("Value cannot be null. (Parameter 'key')")
		}
		return &hasher{alg: alg, key: key}, nil
	case opNewHash:
		return &hasher{alg: alg}, nil
	}
	h := r.(*hasher)
	data, ok := a[0].([]byte)
	if !ok {
		return nil, rtErr("Value cannot be null. (Parameter 'buffer')")
	}
	var fn func() hash.Hash
	switch h.alg {
	case "SHA1":
		fn = sha1.New
	case "SHA512":
		fn = sha512.New
	case "MD5":
		fn = md5.New
	default:
		fn = sha256.New
	}
	var m hash.Hash
	if h.key != nil {
		m = hmac.New(fn, h.key)
	} else {
		m = fn()
	}
	m.Write(data)
	return m.Sum(nil), nil
}

func hashMembers() {
	for _, alg := range []string{"SHA256", "SHA1", "SHA512", "MD5"} {
		alg := alg
		sig := libSig{opNewHash, hashType, 0, nil}
		libraryCustom[alg+".Create"] = func(c *compiler, n *callNode, recv value, args []node) (value, error) {
			return simple(sig.ret, 0, nil, func(_ *frame, r any, a []any) (any, error) { return hashCall(opNewHash, r, a, alg) })(c, n, recv, args)
		}
		staticClasses[alg] = true
		if alg != "MD5" {
			staticClasses["HMAC"+alg] = true
			newObjectsCustom["HMAC"+alg] = func(c *compiler, n *callNode, recv value, args []node) (value, error) {
				return simple(hashType, 1, []Type{bytesType}, func(_ *frame, r any, a []any) (any, error) { return hashCall(opNewHMAC, r, a, alg) })(c, n, recv, args)
			}
		}
	}
	methods[hashType] = map[string]method{
		"ComputeHash": simple(bytesType, 1, []Type{bytesType}, func(_ *frame, r any, a []any) (any, error) { return hashCall(opComputeHash, r, a, "") }),
	}
}

// tryParse is T.TryParse(s, out var x): true and x set when s parses, false
// and x the type's default otherwise.
func tryParse(t Type, parse func(string) (any, bool)) method {
	return func(c *compiler, n *callNode, _ value, args []node) (value, error) {
		if len(args) != 2 {
			return value{}, errAt(n, "TryParse takes a string and an out variable")
		}
		src, err := c.typed(args[0], String)
		if err != nil {
			return value{}, err
		}
		out, ok := args[1].(*outArg)
		if !ok {
			return value{}, errAt(args[1], "TryParse needs an out argument")
		}
		var l local
		if out.declType != "" {
			if out.declType != "var" && castTypes[out.declType] != t {
				return value{}, errAt(out, "the out variable must be a %s", t)
			}
			l = c.declare(out.name, t)
		} else if l, ok = c.lookup(out.name); !ok || l.typ != t {
			return value{}, errAt(out, "%s is not a declared %s variable", out.name, t)
		}
		slot := l.slot
		zero := map[Type]any{Int: int64(0), Bool: false, guidType: Guid{}, DateTimeType: time.Time{}}[t]
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			v, err := src.eval(f)
			if err != nil {
				return nil, err
			}
			str, isStr := v.(string)
			x, ok := parse(str)
			if !isStr || !ok {
				f.locals[slot] = zero
				return false, nil
			}
			f.locals[slot] = x
			return true, nil
		}}, nil
	}
}

func tryParseMembers() {
	ints := func(bits int) method {
		return tryParse(Int, func(s string) (any, bool) { n, err := parseInt(s, bits); return n, err == nil })
	}
	for name, m := range map[string]method{
		"int.TryParse": ints(32), "Int32.TryParse": ints(32), "long.TryParse": ints(64), "Int64.TryParse": ints(64),
		"bool.TryParse": tryParse(Bool, func(s string) (any, bool) { return parseBool(s) }),
		"Guid.TryParse": tryParse(guidType, func(s string) (any, bool) { return parseGuid(s) }),
		"double.TryParse": tryParse(Double, func(s string) (any, bool) {
			f, ok := parseDouble(s)
			return f, ok
		}),
		"DateTime.TryParse": tryParse(DateTimeType, func(s string) (any, bool) {
			t, err := parseTime(s)
			return t, err == nil
		}),
	} {
		libraryCustom[name] = m
	}
	libraryCustom["Boolean.TryParse"] = libraryCustom["bool.TryParse"]
	libraryCustom["Double.TryParse"] = libraryCustom["double.TryParse"]
}
