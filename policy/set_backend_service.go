package policy

import (
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// setBackendService is APIM's set-backend-service policy: the request goes
// to another backend. The engine says so with three request header edits:
// :authority, :path (the new base path, then the operation's part and the
// query) and BackendHeader, the Envoy cluster, which the route reads with
// cluster_header; Result.ClearRouteCache asks the host to route again.
// Reference: https://learn.microsoft.com/azure/api-management/set-backend-service-policy
//
// # Notes
//
//   - base-url (a constant, named value or expression) or backend-id (a
//     backend of the configuration's "backends"), exactly one.
//   - The backend's host picks the cluster through "upstreams" (as
//     send-request's calls). A constant URL or a configured backend may
//     use Istio's naming for a host without a mapping; a URL made by an
//     expression must name a host of "upstreams" or "backends", else the
//     request fails (500): a client's input never picks an arbitrary
//     cluster. An unknown backend-id is a load-time error (from an
//     expression, a 500 that names nothing internal).
//   - The base URL's path replaces the API's path prefix; the operation's
//     part and the query stay (base-url="http://b/api/8.2/" sends
//     /orders/partners/15?v=1 of API /orders to /api/8.2/partners/15?v=1).
//   - The last one before forwarding wins; context.Request.Url reads the
//     backend URL afterwards.
//   - A client's own BackendHeader is removed when the request is admitted
//     (Gateway.Begin), whenever the configuration has a set-backend-service.
//   - Service Fabric (sf-*) is refused.
type setBackendService struct {
	stmtMeta
	baseURL   Value
	backendID Value
	// target is the backend of a constant base-url or backend-id.
	target *backendTarget
}

// BackendHeader is the request header that carries the backend's Envoy
// cluster to the route (cluster_header); the plugin removes a client's.
const BackendHeader = "x-apimguard-backend"

// Backend is a backend entity of the configuration (APIM's backends).
type Backend struct {
	URL string
}

// backendTarget is where set-backend-service sends a request.
type backendTarget struct {
	scheme, authority, base, cluster string
}

func compileSetBackendService(c *compiler, n *Node) (statement, error) {
	for _, a := range n.Attrs {
		if strings.HasPrefix(a.Name, "sf-") {
			return nil, c.errf(n, a.Pos, "attribute %q: Service Fabric backends are not supported", a.Name)
		}
	}
	if err := c.attrs(n, "base-url", "backend-id"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	base, hasBase := n.Attr("base-url")
	id, hasID := n.Attr("backend-id")
	if hasBase == hasID {
		return nil, c.errf(n, n.Pos, "needs exactly one of the attributes \"base-url\" and \"backend-id\"")
	}
	if c.opt.BackendCluster == nil {
		return nil, c.errf(n, n.Pos, "this host cannot send requests to another backend")
	}
	s := &setBackendService{stmtMeta: c.meta(n)}
	c.usesBackends = true
	var err error
	if hasBase {
		if s.baseURL, err = c.value(n, base.Value, base.ValuePos); err != nil {
			return nil, err
		}
		if s.baseURL.IsConst() {
			if s.target, err = c.opt.backendFor(s.baseURL.Const(), true); err != nil {
				return nil, c.errf(n, base.ValuePos, "attribute \"base-url\": %v", err)
			}
		}
		return s, nil
	}
	if s.backendID, err = c.value(n, id.Value, id.ValuePos); err != nil {
		return nil, err
	}
	if s.backendID.IsConst() {
		t, ok := c.backends.targets[strings.TrimSpace(s.backendID.Const())]
		if !ok {
			return nil, c.errf(n, id.ValuePos, "unknown backend %q (configured: %s)", s.backendID.Const(), keyList(c.backends.targets))
		}
		s.target = t
	}
	return s, nil
}

// backendFor reads a backend's base URL; trusted is false for one an
// expression made, which must name a host of upstreams or backends.
func (o *Options) backendFor(raw string, trusted bool) (*backendTarget, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("needs an absolute http or https URL, not " + strconv.Quote(abbreviate(raw)))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("a base URL holds no credentials, query or fragment")
	}
	base := strings.TrimRight(u.EscapedPath(), "/")
	if normal, ok := routePath(base + "/"); !ok || normal != base+"/" {
		return nil, errors.New("the base URL's path is not a normal path")
	}
	cluster, explicit := o.BackendCluster(u.Scheme, strings.ToLower(u.Host))
	if !trusted && !explicit {
		return nil, errors.New("the backend's host is not in upstreams or backends")
	}
	return &backendTarget{scheme: u.Scheme, authority: strings.ToLower(u.Host), base: base, cluster: cluster}, nil
}

func (s *setBackendService) run(x *Exec) error {
	t := s.target
	if t == nil {
		var err error
		if t, err = s.resolve(x); err != nil {
			return err
		}
	}
	u := *x.URL()
	op := strings.TrimPrefix(u.Path, x.basePath())
	if op != "" && !strings.HasPrefix(op, "/") {
		op = "/" + op
	}
	host, port := splitHostPort(t.authority)
	if port == 0 {
		port = map[string]int64{"http": 80, "https": 443}[t.scheme]
	}
	u.Scheme, u.Host, u.Port, u.Path = t.scheme, host, port, t.base+op
	if u.Path == "" {
		u.Path = "/"
	}
	if err := x.setURL(&u); err != nil {
		return err
	}
	x.extra().backend = backendState{base: t.base, set: true}
	x.routeChanged = true
	store := x.headers()
	store.set(":authority", []string{t.authority})
	store.set(BackendHeader, []string{t.cluster})
	return nil
}

// errUnknownBackend is a backend an expression named that the
// configuration does not have; the client sees only the 500.
var errUnknownBackend = errors.New("set-backend-service: the backend is not configured")

// resolve finds the backend an expression names.
func (s *setBackendService) resolve(x *Exec) (*backendTarget, error) {
	if s.baseURL.prog != nil || s.baseURL.parts != nil {
		raw, err := s.baseURL.Eval(x)
		if err != nil {
			return nil, err
		}
		t, err := x.prog.backends.opt.backendFor(raw, false)
		if err != nil {
			return nil, errUnknownBackend
		}
		return t, nil
	}
	id, err := s.backendID.Eval(x)
	if err != nil {
		return nil, err
	}
	t, ok := x.prog.backends.targets[strings.TrimSpace(id)]
	if !ok {
		return nil, errUnknownBackend
	}
	return t, nil
}

// backendSet is the configuration's backends, read at load, and what
// checks a URL an expression makes.
type backendSet struct {
	targets map[string]*backendTarget
	opt     *Options
}

// compileBackends reads the configuration's backends.
func compileBackends(cfg map[string]Backend, opt *Options) (*backendSet, error) {
	set := &backendSet{targets: map[string]*backendTarget{}, opt: opt}
	for id, b := range cfg {
		if strings.TrimSpace(id) == "" {
			return nil, &ConfigError{Doc: "backends", Pos: Pos{Line: 1, Col: 1}, Msg: "a backend id is empty"}
		}
		if opt.BackendCluster == nil {
			return nil, &ConfigError{Doc: "backends." + id, Pos: Pos{Line: 1, Col: 1}, Msg: "this host cannot send requests to another backend"}
		}
		t, err := opt.backendFor(b.URL, true)
		if err != nil {
			return nil, &ConfigError{Doc: "backends." + id, Pos: Pos{Line: 1, Col: 1}, Msg: "\"url\" " + err.Error()}
		}
		set.targets[id] = t
	}
	return set, nil
}

// backendState is where set-backend-service sent the request: its base
// path replaces the API's prefix for later rewrites.
type backendState struct {
	base string
	set  bool
}

// basePath is the backend's base path: the API's prefix until a
// set-backend-service names another.
func (x *Exec) basePath() string {
	if x.more != nil && x.more.backend.set {
		return x.more.backend.base
	}
	return x.prog.base
}

// keyList lists a map's keys for an error, sorted, "none" when empty.
func keyList[V any](m map[string]V) string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return "none"
	}
	sort.Strings(ids)
	if len(ids) > 10 {
		ids = append(ids[:10], "…")
	}
	return strings.Join(ids, ", ")
}
