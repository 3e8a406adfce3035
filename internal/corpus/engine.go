package corpus

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/managedidentity"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/jwt"
)

// RunEngine replays one case against the engine, natively and without a
// host: the configuration read as the plugin reads it, a request built from
// the case, calls and key fetches answered from the suite's callouts, and
// the effects carried out as the filter carries them out. Signatures are
// verified in Go (no Envoy to offload to).
func RunEngine(s *Suite, tc Case) (Outcome, error) {
	cfg, err := pluginconfig.Parse([]byte(s.Config))
	if err != nil {
		return Outcome{}, err
	}
	now := time.Now
	if s.Time != "" {
		at := s.Clock()
		now = func() time.Time { return at }
	}
	keys := &calloutKeys{s: s, tc: tc, upstreams: cfg.Upstreams, sets: map[string]*jwt.KeySet{}}
	source, err := cfg.TokenSource()
	if err != nil {
		return Outcome{}, err
	}
	tokens := &calloutTokens{keys: keys, source: source, now: now, tokens: map[policy.TokenRequest]string{}}
	cfg.Cache = &memCache{now: now, entries: map[string]memEntry{}}
	cfg.Counters = &policy.MemoryStore{}
	gw, err := cfg.Compile(keys, tokens, now, nil)
	if err != nil {
		return Outcome{}, err
	}
	r := tc.Request
	conn, err := r.Connection()
	if err != nil {
		return Outcome{}, err
	}
	req := &fakeRequest{pairs: append([][2]string{
		{":method", Or(r.Method, "GET")}, {":path", Or(r.Path, "/")}, {":authority", Or(r.Authority, "api.example.com")}, {":scheme", "https"},
	}, r.HeadersWith(conn)...), peer: conn.Peer, tls: conn.TLSVersion}
	req.ip = r.ClientIP
	if cfg.XFFTrustedHops > 0 {
		xff, _ := req.Header("x-forwarded-for")
		req.ip = policy.ClientFromXFF(xff, cfg.XFFTrustedHops)
	}
	x := new(policy.Exec)
	gw.Begin(x, req, now())
	res, err := settle(s, tc, cfg.Upstreams, x, x.Inbound(), false, []byte(r.Body))
	if err != nil {
		return Outcome{}, err
	}
	if res.Action == policy.Respond {
		return Outcome{Status: res.Status, Headers: res.Headers, Body: res.Body}, nil
	}
	o := Outcome{Reached: true, UpstreamHeaders: apply(req.pairs, res.Edits), UpstreamBody: r.Body}
	if res.BodyEdits != nil {
		if r.Body == "" && policy.SetsBody(res.BodyEdits) {
			return Outcome{Status: 500, Body: policy.InternalErrorBody}, nil
		}
		b, ok := policy.ApplyBodyEdits([]byte(r.Body), res.BodyEdits)
		if !ok {
			return Outcome{Status: 413}, nil
		}
		o.UpstreamBody = string(b)
	}
	resp := fakeRequest{pairs: append([][2]string{{":status", strconv.Itoa(Or(tc.Upstream.Status, 200))}}, Pairs(tc.Upstream.Headers)...)}
	if res, err = settle(s, tc, cfg.Upstreams, x, x.Outbound(&resp), true, []byte(tc.Upstream.Body)); err != nil {
		return Outcome{}, err
	}
	if res.Action == policy.Respond {
		o.Status, o.Headers, o.Body = res.Status, res.Headers, res.Body
		return o, nil
	}
	o.Headers = apply(resp.pairs, res.Edits)
	o.Body = tc.Upstream.Body
	if res.BodyEdits != nil {
		b, ok := policy.ApplyBodyEdits([]byte(o.Body), res.BodyEdits)
		if !ok {
			return Outcome{Reached: true, Status: 500, Body: policy.InternalErrorBody}, nil
		}
		o.Body = string(b)
	}
	o.Status, _ = strconv.Atoi(Value(o.Headers, ":status"))
	if res.Status != 0 {
		o.Status = res.Status
	}
	return o, nil
}

// settle answers the calls, key waits and body waits of r until the engine
// decides to continue or to respond. The calls of a wait are answered in
// the order of their delays, on a clock that only the delays move. body is
// the message of the section (the response's when response is set), whole,
// as the filter hands it over (over policy.MaxBody: the filter's answer).
func settle(s *Suite, tc Case, ups pluginconfig.Upstreams, x *policy.Exec, r policy.Result, response bool, body []byte) (policy.Result, error) {
	type inFlight struct {
		call *policy.OutgoingCall
		due  int
	}
	var waiting []inFlight
	clock := 0
	for round := 0; r.Action == policy.Call || r.Action == policy.Calls || r.Action == policy.WaitKeys || r.Action == policy.WaitToken || r.Action == policy.Sleep || r.Action == policy.WaitBody; round++ {
		if round == 200 {
			return r, fmt.Errorf("more than 200 calls: the evaluation does not settle")
		}
		switch r.Action {
		case policy.WaitBody:
			if len(body) > policy.MaxBody {
				if response {
					return policy.Result{Action: policy.Respond, Status: 500, Body: policy.InternalErrorBody}, nil
				}
				return policy.Result{Action: policy.Respond, Status: 413, Body: policy.TooLargeBody}, nil
			}
			x.SetBody(response, body)
			r = x.Resume(nil, nil)
			continue
		case policy.Call:
			resp, err := answerCall(s, tc, ups, r.Call)
			if err != nil {
				return r, err
			}
			r = x.Resume(resp.resp, resp.err)
			continue
		case policy.Calls:
		default:
			// The key and token stores fetch on demand; a retry's wait
			// takes no time here.
			r = x.Resume(nil, nil)
			continue
		}
		for _, c := range r.Calls {
			a, err := answerCall(s, tc, ups, c)
			if err != nil {
				return r, err
			}
			waiting = append(waiting, inFlight{c, clock + a.delay})
		}
		if len(waiting) == 0 {
			return r, fmt.Errorf("the engine waits for calls it never made")
		}
		first := 0
		for i, w := range waiting {
			if w.due < waiting[first].due {
				first = i
			}
		}
		next := waiting[first]
		waiting = append(waiting[:first], waiting[first+1:]...)
		clock = next.due
		a, _ := answerCall(s, tc, ups, next.call)
		r = x.ResumeCall(next.call, a.resp, a.err)
		if r.Action != policy.Calls {
			// The wait ended: the answers still to come are dropped.
			waiting = waiting[:0]
		}
	}
	return r, nil
}

// answer is a case's answer to one call.
type answer struct {
	resp  *policy.CallResponse
	err   error
	delay int
}

// answerCall finds the case's answer to call.
func answerCall(s *Suite, tc Case, ups pluginconfig.Upstreams, c *policy.OutgoingCall) (answer, error) {
	scheme := "http"
	if strings.HasPrefix(strings.ToLower(c.URL), "https://") {
		scheme = "https"
	}
	cluster := ups.Cluster(c.Authority, scheme)
	a, ok := s.Callout(tc, cluster, c.Path)
	if !ok {
		return answer{}, fmt.Errorf("unanswered call to cluster %q path %q: add it to callouts", cluster, c.Path)
	}
	if a.Fail {
		return answer{err: policy.ErrCallFailed, delay: a.DelayMS}, nil
	}
	return answer{resp: &policy.CallResponse{StatusCode: Or(a.Status, 200), Headers: Pairs(a.Headers), Body: []byte(a.Body)}, delay: a.DelayMS}, nil
}

// apply carries out header edits on a header list, as the filter does on
// Envoy's header map.
func apply(pairs [][2]string, edits []policy.HeaderEdit) [][2]string {
	out := append([][2]string(nil), pairs...)
	for _, e := range edits {
		if e.Values == nil || !e.Append {
			kept := out[:0]
			for _, kv := range out {
				if kv[0] != e.Name {
					kept = append(kept, kv)
				}
			}
			out = kept
		}
		for _, v := range e.Values {
			out = append(out, [2]string{e.Name, v})
		}
	}
	return out
}

// fakeRequest is a request (or the upstream's response) as a header list.
type fakeRequest struct {
	pairs [][2]string
	ip    string
	peer  policy.Peer
	tls   string
}

func (r *fakeRequest) Header(name string) (string, bool) { return policy.JoinHeader(r.pairs, name) }
func (r *fakeRequest) ClientIP() string                  { return r.ip }
func (r *fakeRequest) Headers() [][2]string              { return r.pairs }
func (r *fakeRequest) Peer(bool) policy.Peer             { return r.peer }
func (r *fakeRequest) TLSVersion() string                { return r.tls }

// calloutKeys is a KeyStore that fetches discovery documents and key sets
// from the suite's callouts the first time a source is asked for.
type calloutKeys struct {
	s         *Suite
	tc        Case
	upstreams pluginconfig.Upstreams
	sets      map[string]*jwt.KeySet
}

func (k *calloutKeys) KeySet(source string) *jwt.KeySet {
	if set, ok := k.sets[source]; ok {
		return set
	}
	var set *jwt.KeySet
	if doc, ok := k.get(source); ok {
		if issuer, jwksURI, err := jwt.ParseDiscovery(doc); err == nil {
			if body, ok := k.get(jwksURI); ok {
				if keys, err := jwt.ParseJWKS(body); err == nil {
					set = &jwt.KeySet{Issuer: issuer, Keys: keys}
				}
			}
		}
	}
	k.sets[source] = set
	return set
}

// calloutTokens is a TokenStore that fetches managed-identity tokens from
// the suite's callouts, as the plugin's token source reaches them.
type calloutTokens struct {
	keys   *calloutKeys
	source *managedidentity.Source
	now    func() time.Time
	tokens map[policy.TokenRequest]string
}

func (t *calloutTokens) Token(r policy.TokenRequest) string {
	if tok, ok := t.tokens[r]; ok || t.source == nil {
		return tok
	}
	tok := ""
	if body, ok := t.keys.get(t.source.Request(r).URL); ok {
		if parsed, err := managedidentity.Parse(body, t.now()); err == nil {
			tok = parsed.Value
		}
	}
	t.tokens[r] = tok
	return tok
}

// get answers a GET of rawURL (or a POST to it) from the callouts, as the
// plugin's key and token fetches reach them: through the cluster upstreams
// names.
func (k *calloutKeys) get(rawURL string) ([]byte, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, false
	}
	path := u.EscapedPath()
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	a, ok := k.s.Callout(k.tc, k.upstreams.Cluster(u.Host, u.Scheme), path)
	if !ok || a.Fail || Or(a.Status, 200) != 200 {
		return nil, false
	}
	return []byte(a.Body), true
}

// memCache is the engine's value cache for one case: a map with expiry
// (the plugin's is Envoy's shared data, which lasts across requests).
type memCache struct {
	now     func() time.Time
	entries map[string]memEntry
}

type memEntry struct {
	value   []byte
	expires time.Time
}

func (c *memCache) Lookup(key string) ([]byte, bool) {
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.value, true
}

func (c *memCache) Store(key string, value []byte, ttl time.Duration) {
	c.entries[key] = memEntry{value: value, expires: c.now().Add(ttl)}
}

func (c *memCache) Remove(key string) { delete(c.entries, key) }
