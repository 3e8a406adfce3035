package policy

import (
	"strings"
	"unicode/utf8"
)

// checkHeader is APIM's check-header policy: the request must carry a header,
// and when values are listed, its value must equal one of them.
// Reference: https://learn.microsoft.com/azure/api-management/check-header-policy
//
// # Notes
//
//   - failed-check-error-message and ignore-case are optional (the seed omits
//     them): the defaults are defaultCheckHeaderMessage and ignore-case="false".
//   - Several instances of the header are compared as their comma-joined
//     value, as APIM's header accessor returns it, so a duplicated key header
//     never passes by accident.
//   - LastError.Message never contains the presented value (APIM's does).
//   - Values are compared in constant time; ignore-case folds ASCII letters
//     only (non-ASCII values fall back to Unicode case folding).
//   - A <value> that is empty at load time is an error, and one that is empty
//     at request time matches nothing: an unset key must not admit an empty
//     header.
type checkHeader struct {
	stmtMeta
	name       string // as written, for messages
	key        string // lower case, for the lookup
	status     int
	notFound   *Failure
	notAllowed *Failure
	ignoreCase bool
	values     []Value
}

const defaultCheckHeaderMessage = "Access denied."

func compileCheckHeader(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case"); err != nil {
		return nil, err
	}
	name, _, err := c.headerNameAttr(n)
	if err != nil {
		return nil, err
	}
	codeAttr, err := c.required(n, "failed-check-httpcode")
	if err != nil {
		return nil, err
	}
	status, err := c.statusAttr(n, codeAttr)
	if err != nil {
		return nil, err
	}
	message := defaultCheckHeaderMessage
	if a, ok := n.Attr("failed-check-error-message"); ok {
		if message, err = c.constant(n, a); err != nil {
			return nil, err
		}
	}
	ignoreCase, err := c.boolAttr(n, "ignore-case", false)
	if err != nil {
		return nil, err
	}
	if err := c.noText(n); err != nil {
		return nil, err
	}
	ch := &checkHeader{stmtMeta: c.meta(n), name: name, key: strings.ToLower(name), status: status, ignoreCase: ignoreCase}
	for _, v := range n.Children {
		if v.Name != "value" {
			return nil, c.errf(n, v.Pos, "unexpected element <%s> (want <value>)", v.Name)
		}
		val, err := c.leafValue(v)
		if err != nil {
			return nil, err
		}
		if val.IsConst() && val.Const() == "" {
			return nil, c.errf(v, v.Pos, "empty <value> would admit an empty header; list the accepted values or remove <value> for a presence check")
		}
		ch.values = append(ch.values, val)
	}
	body := errorBody(status, message)
	ch.notFound = &Failure{Source: "check-header", Reason: "HeaderNotFound", PolicyID: ch.id, Status: status, Body: body, scope: ch.scope,
		Message: "Header " + name + " was not found in the request. Access denied."}
	ch.notAllowed = &Failure{Source: "check-header", Reason: "HeaderValueNotAllowed", PolicyID: ch.id, Status: status, Body: body, scope: ch.scope,
		Message: "Header " + name + " value is not allowed. Access denied."}
	return ch, nil
}

func (ch *checkHeader) run(x *Exec) error {
	got, ok := x.RequestHeader(ch.key)
	if !ok {
		return ch.notFound
	}
	if len(ch.values) == 0 {
		return nil
	}
	for i := range ch.values {
		want, err := ch.values[i].Eval(x)
		if err != nil {
			return err
		}
		if want != "" && secretEqual(got, want, ch.ignoreCase) {
			return nil
		}
	}
	return ch.notAllowed
}

// secretEqual compares a presented secret with an expected one without
// leaking through timing where the two differ (their lengths may leak).
func secretEqual(got, want string, fold bool) bool {
	if len(got) != len(want) {
		return false
	}
	if fold && (!isASCII(got) || !isASCII(want)) {
		return strings.EqualFold(got, want)
	}
	var diff byte
	for i := 0; i < len(got); i++ {
		a, b := got[i], want[i]
		if fold {
			a, b = lowerASCII(a), lowerASCII(b)
		}
		diff |= a ^ b
	}
	return diff == 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases c without a data-dependent branch.
func lowerASCII(c byte) byte {
	outside := uint32((int32(c)-'A')|('Z'-int32(c))) >> 31 // 0 for 'A'..'Z'
	return c | byte(outside^1)<<5
}

// headerNameAttr reads the constant header name in n's "name" attribute.
func (c *compiler) headerNameAttr(n *Node) (string, Attr, error) {
	a, err := c.required(n, "name")
	if err != nil {
		return "", a, err
	}
	name, err := c.constant(n, a)
	if err != nil {
		return "", a, err
	}
	name = strings.TrimSpace(name)
	if !validHeaderName(name) {
		return "", a, c.errf(n, a.Pos, "attribute \"name\" is not a valid header name: %q", name)
	}
	return name, a, nil
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
