package policy

import (
	"strings"
)

// setHeader is APIM's set-header policy: it sets, appends to, keeps or
// deletes a header of the request (inbound, backend), of the response
// (outbound), of the error response (on-error) or of the response that
// return-response builds.
// Reference: https://learn.microsoft.com/azure/api-management/set-header-policy
//
// # Notes
//
//   - The name must be a constant (or named value).
//   - Several values are comma-joined into one header, except for the
//     headers that may hold commas or dates (repeatedHeaders), which get one
//     line per value, as in APIM.
//   - Connection, Content-Length, Keep-Alive and Transfer-Encoding cannot be
//     set, and Server cannot be deleted (APIM's rules); Host is refused too:
//     rewrite it on the Envoy route.
type setHeader struct {
	stmtMeta
	name     string // lower case
	action   string // override, skip, append, delete
	values   []Value
	repeated bool
}

// repeatedHeaders get one header line per value.
var repeatedHeaders = map[string]bool{
	"user-agent": true, "www-authenticate": true, "proxy-authenticate": true, "cookie": true, "set-cookie": true,
	"warning": true, "date": true, "expires": true, "if-modified-since": true, "if-unmodified-since": true,
	"last-modified": true, "retry-after": true,
}

func compileSetHeader(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "name", "exists-action"); err != nil {
		return nil, err
	}
	name, nameAttr, err := c.headerNameAttr(n)
	if err != nil {
		return nil, err
	}
	name = strings.ToLower(name)
	h := &setHeader{stmtMeta: c.meta(n), name: name, repeated: repeatedHeaders[name]}
	if h.action, err = c.existsAction(n); err != nil {
		return nil, err
	}
	switch name {
	case "connection", "content-length", "keep-alive", "transfer-encoding":
		return nil, c.errf(n, nameAttr.Pos, "header %q cannot be modified", name)
	case "host":
		return nil, c.errf(n, nameAttr.Pos, "header \"host\" cannot be modified: rewrite the host on the Envoy route")
	case "server":
		if h.action == "delete" {
			return nil, c.errf(n, nameAttr.Pos, "header \"server\" cannot be deleted")
		}
	}
	if h.values, err = c.actionValues(n, h.action); err != nil {
		return nil, err
	}
	return h, nil
}

// existsAction reads set-header's and set-query-parameter's exists-action
// (a constant; default override).
func (c *compiler) existsAction(n *Node) (string, error) {
	a, ok := n.Attr("exists-action")
	if !ok {
		return "override", nil
	}
	action, err := c.constant(n, a)
	if err != nil {
		return "", err
	}
	switch action = strings.ToLower(strings.TrimSpace(action)); action {
	case "override", "skip", "append", "delete":
		return action, nil
	}
	return "", c.errf(n, a.Pos, "attribute \"exists-action\" must be override, skip, append or delete, not %q", action)
}

// actionValues reads the <value> children that go with exists-action:
// none for delete, at least one otherwise.
func (c *compiler) actionValues(n *Node, action string) ([]Value, error) {
	if err := c.only(n, "value"); err != nil {
		return nil, err
	}
	var values []Value
	for _, v := range n.Children {
		val, err := c.leafValue(v)
		if err != nil {
			return nil, err
		}
		values = append(values, val)
	}
	if action == "delete" && len(values) > 0 {
		return nil, c.errf(n, n.Children[0].Pos, "exists-action=\"delete\" takes no <value>")
	}
	if action != "delete" && len(values) == 0 {
		return nil, c.errf(n, n.Pos, "needs at least one <value> (or exists-action=\"delete\")")
	}
	return values, nil
}

func (h *setHeader) run(x *Exec) error { return h.apply(x, x.headers()) }

func (h *setHeader) apply(x *Exec, store headerStore) error {
	if h.action == "delete" {
		store.set(h.name, nil)
		return nil
	}
	existing, exists := store.get(h.name)
	if exists && h.action == "skip" {
		return nil
	}
	vals := make([]string, 0, len(h.values)+1)
	if exists && h.action == "append" {
		vals = append(vals, existing)
	}
	for i := range h.values {
		v, err := h.values[i].Eval(x)
		if err != nil {
			return err
		}
		vals = append(vals, v)
	}
	if !h.repeated && len(vals) > 1 {
		vals = []string{strings.Join(vals, ",")}
	}
	store.set(h.name, vals)
	return nil
}
