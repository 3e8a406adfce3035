package policy

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// rewriteURI is APIM's rewrite-uri policy: the backend gets another path
// (and query) than the client asked for.
// Reference: https://learn.microsoft.com/azure/api-management/rewrite-uri-policy
//
// # Notes
//
//   - template replaces the operation's part of the path, which comes
//     after the API's path prefix: with pathPrefix /orders, the client's
//     /orders/42 and template /v2/{id} give the backend /orders/v2/42 (the
//     API's prefix stands for APIM's backend base path; at global scope
//     the template is the whole path).
//   - {name} takes the operation's matched URL-template parameter,
//     path-escaped; a name the operation did not match fails the request
//     (on-error, 500) rather than send it somewhere unintended.
//   - copy-unmatched-params (default true) appends the request's query
//     parameters (as changed by earlier set-query-parameters) after the
//     template's; apimguard's operation templates match no query
//     parameters, so all of them are copied.
//   - template may be an expression, then the whole value. What it makes
//     must start with '/' and be a normal path (no "." or ".." segment, no
//     "//", no escaped slash), and is bounded like every rewritten URL.
//   - Inbound only, as in APIM.
type rewriteURI struct {
	stmtMeta
	template      Value
	copyUnmatched bool
}

func compileRewriteURI(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "template", "copy-unmatched-params"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	a, err := c.required(n, "template")
	if err != nil {
		return nil, err
	}
	r := &rewriteURI{stmtMeta: c.meta(n)}
	if r.template, err = c.value(n, a.Value, a.ValuePos); err != nil {
		return nil, err
	}
	if r.template.IsConst() {
		if _, err := fillTemplate(r.template.Const(), nil, false); err != nil {
			return nil, c.errf(n, a.ValuePos, "attribute \"template\": %v", err)
		}
	}
	if r.copyUnmatched, err = c.boolAttr(n, "copy-unmatched-params", true); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rewriteURI) run(x *Exec) error {
	tmpl, err := r.template.Eval(x)
	if err != nil {
		return err
	}
	target, err := fillTemplate(tmpl, x.params, true)
	if err != nil {
		return errors.New("rewrite-uri: " + err.Error())
	}
	path, query, _ := strings.Cut(target, "?")
	path = x.basePath() + path
	if normal, ok := routePath(path); !ok || normal != path {
		return errors.New("rewrite-uri: the rewritten path is not a normal path")
	}
	u := *x.URL()
	params := splitQuery(query)
	if r.copyUnmatched {
		params = append(params, splitQuery(u.QueryString)...)
	}
	u.Path, u.QueryString = path, joinQuery(params)
	return x.setURL(&u)
}

// fillTemplate checks a rewrite-uri template and, with fill, replaces its
// {name}s by params[name] (path-escaped in the path, query-escaped in the
// query).
func fillTemplate(tmpl string, params map[string]string, fill bool) (string, error) {
	tmpl = strings.TrimSpace(tmpl)
	if !strings.HasPrefix(tmpl, "/") {
		return "", errors.New("must start with '/', got " + strconv.Quote(abbreviate(tmpl)))
	}
	if strings.ContainsAny(tmpl, "#\\") {
		return "", errors.New("must not hold '#' or '\\'")
	}
	var b strings.Builder
	inQuery := false
	for rest := tmpl; rest != ""; {
		i := strings.IndexAny(rest, "{}?")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		switch rest[i] {
		case '?':
			inQuery = true
			b.WriteByte('?')
			rest = rest[i+1:]
			continue
		case '}':
			return "", errors.New("has a '}' without its '{'")
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return "", errors.New("has a '{' without its '}'")
		}
		name := rest[i+1 : i+end]
		if name == "" || strings.ContainsAny(name, "{/?&=") {
			return "", errors.New("has a bad parameter {" + abbreviate(name) + "}")
		}
		rest = rest[i+end+1:]
		if !fill {
			continue
		}
		v, ok := params[name]
		if !ok {
			return "", errors.New("the operation matched no parameter {" + abbreviate(name) + "}")
		}
		// Parameters are matched on the path as the client escaped it.
		if raw, err := url.PathUnescape(v); err == nil {
			v = raw
		}
		if inQuery {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
	}
	return b.String(), nil
}
