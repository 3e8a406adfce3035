package policy

import (
	"fmt"
	"sort"
	"strings"
)

// router picks the API and operation of a request. It is built once at
// plugin start: API path prefixes form a trie on path segments, and each
// API keeps its operations sorted from the most to the least specific, so
// matching does no regexp work and allocates only the parameters it returns.
//
// # Notes
//
// Path segments and literal template segments compare case-insensitively,
// and empty segments are ignored (// is /): an operation's policy must not
// be skipped by changing the case of a path. The path is matched in the
// form routePath gives it (path parameters removed, dot segments and
// escapes of unreserved characters resolved); Envoy's normalize_path,
// merge_slashes and path_with_escaped_slashes_action must still be set, so
// the upstream sees what the router matched.
type router struct {
	root *prefixNode
}

type prefixNode struct {
	children map[string]*prefixNode
	apis     []*apiRoute // APIs whose prefix ends here; host-specific ones first
}

type apiRoute struct {
	name  string
	hosts []string // lower case; "*.example.com" matches any subdomain
	prog  *Program
	ops   []*opRoute
}

type opRoute struct {
	name   string
	method string // upper case; "" for any
	segs   []tmplSeg
	prog   *Program
}

type tmplSeg struct {
	lit   string // lower case; "" for a parameter
	param string
}

func newRouter() *router { return &router{root: &prefixNode{}} }

func (r *router) addAPI(where string, api API, prog *Program) (*apiRoute, error) {
	prefix := strings.TrimSpace(api.PathPrefix)
	if !strings.HasPrefix(prefix, "/") {
		return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("\"pathPrefix\" must start with '/', got %q", api.PathPrefix)}
	}
	if strings.ContainsAny(prefix, "?#{}") {
		return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("\"pathPrefix\" must be a plain path, got %q", api.PathPrefix)}
	}
	ar := &apiRoute{name: api.Name, prog: prog}
	for _, h := range api.Hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.ContainsAny(h, "/:?# ") || strings.Contains(h[1:], "*") || (strings.HasPrefix(h, "*") && !strings.HasPrefix(h, "*.")) {
			return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("bad host %q: want a host name or *.domain", h)}
		}
		ar.hosts = append(ar.hosts, h)
	}
	n := r.root
	for _, seg := range segments(prefix) {
		seg = strings.ToLower(seg)
		if n.children == nil {
			n.children = map[string]*prefixNode{}
		}
		next := n.children[seg]
		if next == nil {
			next = &prefixNode{}
			n.children[seg] = next
		}
		n = next
	}
	for _, other := range n.apis {
		if overlaps(other.hosts, ar.hosts) {
			return nil, &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("API %q has the same path prefix and hosts as API %q", api.Name, other.name)}
		}
	}
	n.apis = append(n.apis, ar)
	sort.SliceStable(n.apis, func(i, j int) bool { return len(n.apis[i].hosts) > 0 && len(n.apis[j].hosts) == 0 })
	return ar, nil
}

// overlaps reports whether two host lists can match the same request.
func overlaps(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func (ar *apiRoute) addOperation(where string, op Operation, prog *Program) error {
	errf := func(format string, args ...any) error {
		return &ConfigError{Doc: where, Pos: Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf(format, args...)}
	}
	method := strings.ToUpper(strings.TrimSpace(op.Method))
	switch {
	case method == "*" || method == "":
		method = ""
	case !validHeaderName(method):
		return errf("bad method %q", op.Method)
	}
	tmpl := strings.TrimSpace(op.URLTemplate)
	if !strings.HasPrefix(tmpl, "/") {
		return errf("\"urlTemplate\" must start with '/', got %q", op.URLTemplate)
	}
	if strings.ContainsAny(tmpl, "?#") {
		return errf("query parameters in \"urlTemplate\" are not supported: %q", op.URLTemplate)
	}
	o := &opRoute{name: op.Name, method: method, prog: prog}
	params := map[string]bool{}
	for _, seg := range segments(tmpl) {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name := seg[1 : len(seg)-1]
			if !validName(name) {
				return errf("bad template parameter %q in %q", seg, op.URLTemplate)
			}
			if params[name] {
				return errf("template parameter {%s} appears twice in %q", name, op.URLTemplate)
			}
			params[name] = true
			o.segs = append(o.segs, tmplSeg{param: name})
			continue
		}
		if strings.ContainsAny(seg, "{}") {
			return errf("a template parameter must be a whole segment: %q", op.URLTemplate)
		}
		o.segs = append(o.segs, tmplSeg{lit: strings.ToLower(seg)})
	}
	for _, other := range ar.ops {
		if other.method == o.method && sameShape(other.segs, o.segs) {
			return errf("operation %q matches the same requests as operation %q", op.Name, other.name)
		}
	}
	ar.ops = append(ar.ops, o)
	sort.SliceStable(ar.ops, func(i, j int) bool { return moreSpecific(ar.ops[i], ar.ops[j]) })
	return nil
}

func sameShape(a, b []tmplSeg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].lit != b[i].lit || (a[i].lit == "") != (b[i].lit == "") {
			return false
		}
	}
	return true
}

// moreSpecific orders operations: at the first segment where they differ a
// literal beats a parameter; then a named method beats any method.
func moreSpecific(a, b *opRoute) bool {
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		al, bl := a.segs[i].lit != "", b.segs[i].lit != ""
		if al != bl {
			return al
		}
	}
	if len(a.segs) != len(b.segs) {
		return len(a.segs) > len(b.segs)
	}
	return a.method != "" && b.method == ""
}

// segments splits a path into its non-empty segments.
func segments(path string) []string {
	var out []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// nextSegment returns the segment of path starting at or after i and the
// index after it; ok is false at the end.
func nextSegment(path string, i int) (seg string, next int, ok bool) {
	for i < len(path) && path[i] == '/' {
		i++
	}
	if i >= len(path) {
		return "", i, false
	}
	end := strings.IndexByte(path[i:], '/')
	if end < 0 {
		return path[i:], len(path), true
	}
	return path[i : i+end], i + end, true
}

// level is a trie node reached while matching and where its prefix ends in
// the path.
type level struct {
	n   *prefixNode
	end int
}

func (r *router) match(authority, method, path string) (*Program, map[string]string) {
	if q := strings.IndexAny(path, "?#"); q >= 0 {
		path = path[:q]
	}
	path, ok := routePath(path)
	if !ok {
		return badPathProgram, nil
	}
	host, _ := splitHostPort(authority)
	// Walk the prefix trie as far as the path goes, remembering where each
	// level ends, then try the deepest APIs first.
	var stack [16]level
	levels := stack[:0]
	n, i := r.root, 0
	levels = append(levels, level{n, 0})
	for {
		seg, next, ok := nextSegment(path, i)
		if !ok || n.children == nil {
			break
		}
		child := n.children[strings.ToLower(seg)]
		if child == nil {
			break
		}
		n, i = child, next
		levels = append(levels, level{n, i})
	}
	for l := len(levels) - 1; l >= 0; l-- {
		for _, api := range levels[l].n.apis {
			if !api.hostMatches(host) {
				continue
			}
			if op, params := api.matchOperation(method, path, levels[l].end); op != nil {
				return op.prog, params
			}
			return api.prog, nil
		}
	}
	return nil, nil
}

func (ar *apiRoute) hostMatches(host string) bool {
	if len(ar.hosts) == 0 {
		return true
	}
	for _, h := range ar.hosts {
		if h == host || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) && len(host) > len(h)-1) {
			return true
		}
	}
	return false
}

func (ar *apiRoute) matchOperation(method, path string, from int) (*opRoute, map[string]string) {
	for _, op := range ar.ops {
		if op.method != "" && !strings.EqualFold(op.method, method) {
			continue
		}
		if params, ok := op.match(path, from); ok {
			return op, params
		}
	}
	return nil, nil
}

func (o *opRoute) match(path string, i int) (map[string]string, bool) {
	var params map[string]string
	for _, t := range o.segs {
		seg, next, ok := nextSegment(path, i)
		if !ok {
			return nil, false
		}
		if t.lit != "" {
			if !strings.EqualFold(t.lit, seg) {
				return nil, false
			}
		} else {
			if params == nil {
				params = make(map[string]string, 2)
			}
			params[t.param] = seg
		}
		i = next
	}
	if _, _, more := nextSegment(path, i); more {
		return nil, false
	}
	return params, true
}
