package policy

// The request URL as policies change it: set-query-parameter and
// rewrite-uri edit the path and query the request goes to the backend
// with (the :path header); context.Request.Url reads the changed URL,
// context.Request.OriginalUrl the client's.

import (
	"errors"
	"net/url"
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// maxRequestTarget bounds the path and query a policy makes: values from
// expressions can come from the client, and Envoy refuses requests whose
// headers exceed its limit (60 KiB by default) only after the plugin.
const maxRequestTarget = 8 << 10

// errTargetTooLong is a rewritten URL over maxRequestTarget.
var errTargetTooLong = errors.New("the rewritten request URL is longer than 8192 bytes")

// setURL makes u the request's URL: the :path the backend gets, and
// context.Request.Url.
func (x *Exec) setURL(u *expr.URL) error {
	target := u.Path + u.QueryString
	if len(target) > maxRequestTarget {
		return errTargetTooLong
	}
	x.url = u
	x.headers().set(":path", []string{target})
	return nil
}

// queryParam is one name=value of a query, as written (escaped).
type queryParam struct{ name, value string }

// splitQuery reads a raw query ("?a=1&b", or "") into its parameters, in
// order; empty pieces ("a=1&&b") are dropped.
func splitQuery(raw string) []queryParam {
	raw = strings.TrimPrefix(raw, "?")
	var out []queryParam
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, queryParam{k, v})
	}
	return out
}

// joinQuery writes parameters back as a raw query with its '?', "" when
// there are none.
func joinQuery(params []queryParam) string {
	if len(params) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range params {
		b.WriteByte("?&"[min(i, 1)])
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// unescapedName is a parameter's name as a client means it.
func (p queryParam) unescapedName() string {
	if n, err := url.QueryUnescape(p.name); err == nil {
		return n
	}
	return p.name
}
