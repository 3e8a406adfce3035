package policy

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// Program is the compiled, effective policy of one route: the four sections
// after <base/> splicing. It is built once at plugin start and shared by
// every request of the route. It keeps no per-request state; the only
// thing in it that changes is the verified-token cache of its validate-jwt
// statements, so it is not safe for concurrent use (a proxy-wasm VM runs
// one callback at a time).
type Program struct {
	inbound, backend, outbound, onError []statement
	// first is the first statement directly in inbound that may answer a
	// request before any policy runs (cors, for preflights).
	first firstResponder
	// API and Operation name the route ("" for the global scope); base is
	// its API's path prefix without a final '/', what rewrite-uri keeps.
	API, Operation string
	base           string
	// certs is where client certificates come from (nil: the default);
	// now is the gateway's clock.
	certs *clientCerts
	now   func() time.Time
	// sub is the API's subscription rule (nil: none); products are this
	// route's programs for requests whose subscription is scoped to a
	// product, by product id.
	sub      *apiSubscription
	products map[string]*Program
	// refusals are this route's answers to a missing and an invalid key.
	refusals [2]*Program
	// backends are the configuration's backends (set_backend_service.go);
	// cache is the host's value cache (cache_value.go).
	backends *backendSet
	cache    ValueCache
	// counters are the throttling elements' counters (throttle.go);
	// service is the rate limit service of global mode, its URL's host
	// and path (throttle_service.go).
	counters                 *counterTable
	service                  *RateLimitService
	serviceHost, servicePath string
	// route is context.Api, context.Operation and context.Deployment.
	route *expr.Route
	// bodies are the bodies its sections may wait for (message_body.go).
	bodies uint8
}

// statement is one compiled policy element.
type statement interface {
	// run evaluates the statement. A *Failure, or any other error (an
	// expression that failed), sends the request to on-error; errRespond
	// and errYield stop the section (see Exec).
	run(x *Exec) error
	meta() *stmtMeta
}

// firstResponder is a statement that may answer a request before any
// other policy of its route runs; the first one directly in a route's
// inbound gets the chance (cors answers preflights, so authentication
// never blocks them).
type firstResponder interface {
	statement
	respondFirst(x *Exec) (Result, bool)
}

// onceFlag marks an element of which only the first in a request applies;
// each such element declares its own bit next to its code.
type onceFlag uint8

// stmtMeta is what every statement knows about its element.
type stmtMeta struct {
	element string // "check-header"
	id      string // the id attribute
	scope   string // global, api or operation
	path    string // choose[1]/when[2]/check-header[1]
	// body has the expr readsRequestBody/readsResponseBody bits of the
	// expressions in the element and its children: the loop waits for
	// that body before running it (message_body.go).
	body uint8
}

func (m *stmtMeta) meta() *stmtMeta { return m }

var (
	// errRespond ends the evaluation with x.result (return-response).
	errRespond = errors.New("respond")
	// errYield pauses the evaluation until Resume (an outgoing call).
	errYield = errors.New("yield")
)

type phase uint8

const (
	phaseInbound phase = iota
	phaseBackend
	phaseOutbound
	phaseOnError
)

var phaseNames = [...]string{"inbound", "backend", "outbound", "on-error"}

// Exec is the state of one request while the engine evaluates it. It is not
// safe for concurrent use; a request's callbacks run one at a time.
type Exec struct {
	prog   *Program
	req    Request
	resp   Response
	params map[string]string
	vars   map[string]any

	phase    phase
	frames   []frame
	frameBuf [4]frame // frames' first backing array: no allocation for shallow nesting
	lastErr  *LastError
	failed   *Failure

	reqEdits, respEdits editSet
	// status is the new response status set in outbound (0: unchanged).
	status int
	// local is the response being built in on-error.
	local  *localResponse
	result Result
	url    *expr.URL

	// resume continues the statement that yielded, with the call's outcome.
	resume func(resp *expr.Response, err error) error

	// once holds the onceFlags of the elements that applied.
	once onceFlag

	// cors is what cors keeps of the request: preflight or not, and the
	// grant every response carries once one matched (cors.go).
	cors corsState
	// certificate is the request's client certificate, read at its first
	// use (certificate_source.go).
	certificate requestCertificate

	// routeChanged: the host must route the request again
	// (set_backend_service.go).
	routeChanged bool
	// more is what the less common elements keep of a request, allocated
	// at the first one: most requests never need it, and every byte of
	// Exec is cleared per request.
	more *execMore

	// sub is the subscription whose key the request presented: request
	// context like req, set by Gateway.Begin (subscription.go), read by
	// expressions as context.Subscription.
	sub *expr.Subscription
}

// execMore is the request state of set-backend-service, trace, retry,
// send-one-way-request, emit-metric, wait and the body edits.
type execMore struct {
	// backend is where set-backend-service sent the request.
	backend backendState
	// traces, oneWay and metrics are records and calls the host has not
	// taken yet; retries the running retries' attempts.
	traces  []Trace
	retries map[*retry]*retryState
	oneWay  []*OutgoingCall
	metrics []Metric
	// eventHub are log-to-eventhub's messages the host has not taken,
	// eventHubDropped those over the per-request bound since it last took
	// them, eventHubMade all the request made (log_to_eventhub.go).
	eventHub                      []EventHubMessage
	eventHubDropped, eventHubMade int
	// reqBody and respBody are the body edits of the request and the
	// response (body.go).
	reqBody, respBody []BodyEdit
	// wait is the running wait (wait.go).
	wait *waitState
	// deferred are the throttling counts to make at the end of outbound,
	// respAdd the headers they add to the response the client gets, held
	// the concurrency slots the request holds (rate_limit.go,
	// limit_concurrency.go).
	deferred []statement
	respAdd  [][2]string
	held     []*heldSlot
	// bandwidth are the bandwidth quotas the request passed, quotaKeys
	// the quota counters it added to (quota.go).
	bandwidth []bandwidthUse
	quotaKeys []string
	// tokens is the token counting of the LLM elements (llm_tokens.go).
	tokens *tokenState
	// bodies are the request's and the response's bodies once the host
	// handed them over (message_body.go).
	bodies [2]heldBody
}

// extra returns x.more, allocating it at the first use.
func (x *Exec) extra() *execMore {
	if x.more == nil {
		x.more = new(execMore)
	}
	return x.more
}

// frame is a statement list being executed and the index of the next one.
type frame struct {
	body []statement
	next int
}

// NewExec starts the evaluation of one request on the program of its route.
// params are the matched template parameters of the operation.
func (p *Program) NewExec(req Request, params map[string]string) *Exec {
	x := new(Exec)
	p.InitExec(x, req, params)
	return x
}

// InitExec is NewExec into x, so that a host can keep the Exec inside its
// own per-request state: one allocation per request instead of two. x must
// not be copied afterwards.
func (p *Program) InitExec(x *Exec, req Request, params map[string]string) {
	*x = Exec{prog: p, req: req, params: params}
	x.frames = x.frameBuf[:0]
}

// LastError returns context.LastError, or nil when no policy has failed.
func (x *Exec) LastError() *LastError { return x.lastErr }

// Variable returns context.Variables[name].
func (x *Exec) Variable(name string) (any, bool) {
	v, ok := x.vars[name]
	return v, ok
}

func (x *Exec) setVariable(name string, v any) {
	if x.vars == nil {
		x.vars = make(map[string]any, 4)
	}
	x.vars[name] = v
}

// Inbound runs the inbound section, then backend; on a failure, on-error.
// The route's first responder (a CORS preflight's cors) may answer first.
func (x *Exec) Inbound() Result {
	if x.prog.first != nil {
		if r, ok := x.prog.first.respondFirst(x); ok {
			return r
		}
	}
	x.start(phaseInbound, x.prog.inbound)
	return x.finish(x.loop())
}

// Outbound runs the outbound section on the upstream response; on a
// failure, on-error. Variables set inbound are still there.
func (x *Exec) Outbound(resp Response) Result {
	x.resp = resp
	x.releaseHeld()
	if x.more != nil {
		for _, h := range x.more.respAdd {
			x.respEdits.set(h[0], []string{h[1]})
		}
	}
	x.start(phaseOutbound, x.prog.outbound)
	return x.finish(x.loop())
}

// Resume continues after a Call or WaitKeys result with the call's
// response, or with err when the call failed or timed out.
func (x *Exec) Resume(resp *expr.Response, err error) Result {
	next := x.resume
	x.resume = nil
	if next == nil {
		return x.finish(x.respondInternalError())
	}
	if err := next(resp, err); err != nil {
		if err == errYield {
			// The statement needs another round (a token, then its call).
			return x.result
		}
		if r, done := x.handle(err); done {
			return x.finish(r)
		}
	}
	return x.finish(x.loop())
}

// firstTime reports whether no element of flag f applied yet in this
// request, and records that one did.
func (x *Exec) firstTime(f onceFlag) bool {
	if x.once&f != 0 {
		return false
	}
	x.once |= f
	return true
}

func (x *Exec) start(p phase, body []statement) {
	x.phase = p
	x.frames = append(x.frames[:0], frame{body: body})
}

func (x *Exec) push(body []statement) {
	x.frames = append(x.frames, frame{body: body})
}

// next returns the next statement to run, dropping the frames that are
// done, or nil when none is left.
func (x *Exec) next() statement {
	for len(x.frames) > 0 {
		f := &x.frames[len(x.frames)-1]
		if f.next < len(f.body) {
			f.next++
			return f.body[f.next-1]
		}
		x.frames = x.frames[:len(x.frames)-1]
	}
	return nil
}

func (x *Exec) loop() Result {
	for {
		for s := x.next(); s != nil; s = x.next() {
			if m := s.meta(); m.body != 0 && x.waitBody(m.body) {
				return x.result
			}
			if err := s.run(x); err != nil {
				if err == errYield {
					return x.result
				}
				if r, done := x.handle(x.wrap(s, err)); done {
					return r
				}
			}
		}
		switch x.phase {
		case phaseInbound:
			x.start(phaseBackend, x.prog.backend)
			continue
		case phaseBackend:
			r := Result{Action: Continue, Edits: x.reqEdits.list(), ClearRouteCache: x.routeChanged}
			if x.more != nil {
				r.BodyEdits = x.more.reqBody
			}
			return r
		case phaseOutbound:
			if x.more != nil && x.more.deferred != nil {
				// The deferred increments of the throttling elements.
				x.push(x.more.deferred)
				x.more.deferred = nil
				continue
			}
			r := Result{Action: Continue, Status: x.status, Edits: x.respEdits.list()}
			if x.more != nil {
				r.BodyEdits = x.more.respBody
			}
			return r
		}
		return x.local.result()
	}
}

// wrap turns a statement's error into a Failure: expression errors become
// ExpressionValueEvaluationFailure (500), as in APIM.
func (x *Exec) wrap(s statement, err error) error {
	if err == errRespond {
		return err
	}
	m := s.meta()
	var f *Failure
	if errors.As(err, &f) {
		if f.path == "" && m.path != "" {
			g := *f
			g.path = m.path
			return &g
		}
		return f
	}
	return &Failure{
		Source: m.element, Reason: "ExpressionValueEvaluationFailure", PolicyID: m.id, scope: m.scope, path: m.path,
		Message: "Expression evaluation failed. " + err.Error(),
		Status:  500, Body: InternalErrorBody,
	}
}

// handle reacts to a statement's error. It returns done when the response
// is final.
func (x *Exec) handle(err error) (Result, bool) {
	if err == errRespond {
		return x.result, true
	}
	f, ok := err.(*Failure)
	if !ok {
		return x.respondInternalError(), true
	}
	if x.phase == phaseOnError {
		// A failure inside on-error itself: APIM answers 500.
		return x.respondInternalError(), true
	}
	x.lastErr = &LastError{Source: f.Source, Reason: f.Reason, Message: f.Message, Section: phaseNames[x.phase], Scope: f.scope, PolicyID: f.PolicyID, Path: f.path}
	x.failed = f
	x.local = &localResponse{status: f.Status, reason: reasonPhrase(f.Status), headers: jsonHeaders(), body: f.Body}
	if f.Headers != nil {
		x.local.headers = append(x.local.headers[:len(x.local.headers):len(x.local.headers)], f.Headers...)
	}
	x.releaseHeld()
	x.start(phaseOnError, x.prog.onError)
	return Result{}, false
}

func (x *Exec) respondInternalError() Result {
	return Result{Action: Respond, Status: 500, Headers: jsonHeaders(), Body: InternalErrorBody}
}

// localResponse is a response the plugin sends itself: the error response
// of on-error, or the one return-response builds.
type localResponse struct {
	status  int
	reason  string
	headers [][2]string
	body    string
}

func (l *localResponse) result() Result {
	return Result{Action: Respond, Status: l.status, Headers: l.headers, Body: l.body}
}

func (l *localResponse) get(name string) (string, bool) { return JoinHeader(l.headers, name) }

func (l *localResponse) set(name string, values []string) {
	kept := l.headers[:0:0]
	for _, kv := range l.headers {
		if kv[0] != name {
			kept = append(kept, kv)
		}
	}
	for _, v := range values {
		kept = append(kept, [2]string{name, v})
	}
	l.headers = kept
}

// JoinHeader returns every value of the lower-case header name in headers
// joined with commas, as Request.Header must (Envoy hands header names over
// in lower case). One value is returned without allocating.
func JoinHeader(headers [][2]string, name string) (string, bool) {
	var first string
	var b *strings.Builder
	found := false
	for _, kv := range headers {
		if kv[0] != name {
			continue
		}
		switch {
		case !found:
			first, found = kv[1], true
		case b == nil:
			b = &strings.Builder{}
			b.WriteString(first)
			fallthrough
		default:
			b.WriteByte(',')
			b.WriteString(kv[1])
		}
	}
	if b != nil {
		return b.String(), true
	}
	return first, found
}

// headerStore is a set of headers that set-header edits: the request,
// the response, or a local response.
type headerStore interface {
	get(name string) (string, bool)
	set(name string, values []string) // nil values delete
}

// editSet records header edits over a base (the request or the response),
// so that later policies read what earlier ones wrote.
type editSet struct {
	edits []HeaderEdit
	// shared: edits is a precomputed list other requests use too; set
	// copies it before changing it (append always copies: its capacity
	// is its length).
	shared bool
}

func (e *editSet) lookup(name string) (HeaderEdit, bool) {
	for i := len(e.edits) - 1; i >= 0; i-- {
		if e.edits[i].Name == name {
			return e.edits[i], true
		}
	}
	return HeaderEdit{}, false
}

func (e *editSet) set(name string, values []string) {
	for i := range e.edits {
		if e.edits[i].Name == name {
			if e.shared {
				e.edits, e.shared = slices.Clone(e.edits), false
			}
			e.edits[i].Values, e.edits[i].Append = values, false
			return
		}
	}
	e.edits = append(e.edits, HeaderEdit{Name: name, Values: values})
}

func (e *editSet) list() []HeaderEdit { return e.edits }

// overlay is an editSet over a base header source.
type overlay struct {
	edits *editSet
	base  func(string) (string, bool)
}

func (o overlay) get(name string) (string, bool) {
	e, ok := o.edits.lookup(name)
	switch {
	case !ok:
		return o.base(name)
	case e.Values == nil:
		return "", false
	case e.Append:
		if b, ok := o.base(name); ok && b != "" {
			return b + "," + strings.Join(e.Values, ","), true
		}
	}
	return strings.Join(e.Values, ","), true
}

func (o overlay) set(name string, values []string) { o.edits.set(name, values) }

// headers returns the store that set-header edits in the current phase.
func (x *Exec) headers() headerStore {
	switch x.phase {
	case phaseInbound, phaseBackend:
		return overlay{edits: &x.reqEdits, base: x.req.Header}
	case phaseOutbound:
		return overlay{edits: &x.respEdits, base: x.resp.Header}
	}
	return x.local
}
