package policy

import (
	"strings"
)

// Request shapes the router refuses or normalises before routing. A route
// decides which policies run, so anything that makes the plugin pick a
// different route than the upstream serves is a way around a policy. See
// RATIONALE.md, "Why does the router normalise paths and refuse some
// hosts?".

// badPathProgram answers a request whose path does not settle under
// routePath's normalisation.
var badPathProgram = &Program{inbound: []statement{&rejectRequest{
	stmtMeta: stmtMeta{element: "request", scope: "global"},
	reason:   "InvalidPath",
	message:  "The request's path does not normalise.",
}}}

// badHostProgram answers a request whose authority is not one host: two
// Host lines (which Envoy joins with a comma) or a value with characters
// no host name has. Matching it against API hosts would match none, and the
// request would fall through to a weaker scope.
var badHostProgram = &Program{inbound: []statement{&rejectRequest{
	stmtMeta: stmtMeta{element: "request", scope: "global"},
	reason:   "InvalidHost",
	message:  "The request's Host is not one host name.",
}}}

// validAuthority reports whether a :authority (Host) value is one host with
// an optional port: no comma, space, control byte or URL delimiter.
func validAuthority(a string) bool {
	for i := 0; i < len(a); i++ {
		if !authorityByte[a[i]] {
			return false
		}
	}
	return true
}

// authorityByte marks the bytes a host[:port] may hold: printable ASCII
// except a comma, a space and URL or quoting delimiters.
var authorityByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(",/?#@\\\"<>{}|^`", c)
	}
	return t
}()

// routePath is the path the router matches: the request path with each
// segment's path parameters (from ';', or its escape %3B, to the end of
// the segment) removed, escapes of unreserved characters decoded and dot
// segments resolved, as Envoy's normalize_path does. The request goes to
// the upstream unchanged; only the choice of policy uses this form. Paths
// without '%', ';', '\' or "/." are returned as they are, without
// allocating.
//
// The form is a fixed point: decoding can make a new escape ("%6%31" is
// "%61" after one pass, "a" after two) or a new dot segment, and an
// upstream or a proxy in front of it may decode again, so the steps repeat
// until nothing changes. ok is false, and the request is refused with 400,
// for a path whose segments the router cannot know the upstream's reading
// of: one with a backslash or an escaped slash or backslash (%2F, %5C) —
// one upstream takes "/a%2Fb" as one segment, another as two, and either
// choice lets a request run a weaker operation's policy than the upstream
// serves (Envoy's path_with_escaped_slashes_action: REJECT_REQUEST does
// the same) — and one still changing after maxNormalize passes, built to
// cost the router time (each pass is linear, and a crafted path could
// need one pass per three bytes).
func routePath(path string) (normal string, ok bool) {
	if plainPath(path) {
		return path, true
	}
	for i := 0; i < maxNormalize; i++ {
		if ambiguousSlash(path) {
			return "", false
		}
		next := normalizeOnce(path)
		if next == path {
			return path, true
		}
		path = next
	}
	return "", false
}

// ambiguousSlash reports whether path holds a backslash or an escaped
// slash or backslash.
func ambiguousSlash(path string) bool {
	return strings.IndexByte(path, '\\') >= 0 || indexFold(path, "%2f") >= 0 || indexFold(path, "%5c") >= 0
}

// maxNormalize is how many normalisation passes a path may need; real paths
// need one, or two for an escape of an escape.
const maxNormalize = 4

// plainPath reports whether path has nothing routePath would change: no
// '%', ';' or '\\', and no segment starting with a dot. One pass, no
// allocation: most paths take only this.
func plainPath(path string) bool {
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '%', ';', '\\':
			return false
		case '.':
			if i == 0 || path[i-1] == '/' {
				return false
			}
		}
	}
	return true
}

// normalizeOnce is one pass of routePath's steps.
func normalizeOnce(path string) string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if i := indexFold(seg, "%3b"); i >= 0 {
			seg = seg[:i]
		}
		seg = decodeUnreserved(seg)
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring case.
func indexFold(s, lower string) int {
	for i := 0; i+len(lower) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(lower)], lower) {
			return i
		}
	}
	return -1
}

// decodeUnreserved decodes the percent-escapes of RFC 3986's unreserved
// characters (letters, digits, - . _ ~) and leaves every other escape as
// it is.
func decodeUnreserved(seg string) string {
	if strings.IndexByte(seg, '%') < 0 {
		return seg
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		if seg[i] == '%' && i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]) {
			c := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			if isUnreserved(c) {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(seg[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isUnreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~'
}
