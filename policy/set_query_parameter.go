package policy

import (
	"net/url"
	"strings"
)

// setQueryParameter is APIM's set-query-parameter policy: it sets, appends
// to, keeps or deletes a query parameter of the request the backend gets.
// Reference: https://learn.microsoft.com/azure/api-management/set-query-parameter-policy
//
// # Notes
//
//   - exists-action: override (the default) leaves only the listed values,
//     skip keeps a parameter that is there (and adds an absent one),
//     append adds the values to those there, delete removes the parameter.
//     Several <value>s make the parameter appear once per value.
//   - The name and exists-action are constants or named values (APIM
//     allows expressions; fixed here as in set-header, so a request cannot
//     choose which parameter it changes); values may be expressions.
//   - Names compare exactly (case-sensitive), after unescaping; values
//     are written form-encoded (a space as '+').
//   - context.Request.Url reads the changed query afterwards; the route
//     was chosen with the client's URL.
type setQueryParameter struct {
	stmtMeta
	name   string
	action string // override, skip, append, delete
	values []Value
}

func compileSetQueryParameter(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "name", "exists-action"); err != nil {
		return nil, err
	}
	a, err := c.required(n, "name")
	if err != nil {
		return nil, err
	}
	s := &setQueryParameter{stmtMeta: c.meta(n)}
	if s.name, err = c.constant(n, a); err != nil {
		return nil, err
	}
	if s.name = strings.TrimSpace(s.name); s.name == "" {
		return nil, c.errf(n, a.Pos, "attribute \"name\" is empty")
	}
	if s.action, err = c.existsAction(n); err != nil {
		return nil, err
	}
	if s.values, err = c.actionValues(n, s.action); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *setQueryParameter) run(x *Exec) error {
	u := *x.URL()
	params := splitQuery(u.QueryString)
	exists := false
	kept := params[:0:0]
	for _, p := range params {
		if p.unescapedName() == s.name {
			exists = true
			if s.action == "override" || s.action == "delete" {
				continue
			}
		}
		kept = append(kept, p)
	}
	if exists && s.action == "skip" {
		return nil
	}
	escaped := url.QueryEscape(s.name)
	for i := range s.values {
		v, err := s.values[i].Eval(x)
		if err != nil {
			return err
		}
		kept = append(kept, queryParam{escaped, url.QueryEscape(v)})
	}
	u.QueryString = joinQuery(kept)
	return x.setURL(&u)
}
