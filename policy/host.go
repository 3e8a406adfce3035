package policy

// The host contract: everything the engine asks of the program that runs
// it (the proxy-wasm filter, apimguard test, or a test's fake). The engine
// reads the request and the upstream's response through Request and
// Response, and never performs I/O itself: each section returns a Result,
// an effect for the host to carry out (Continue with header edits, Respond,
// make a Call, WaitKeys), and after Call or WaitKeys the host resumes the
// evaluation with Exec.Resume. Key sets for openid-config come from the
// host's KeyStore; the clock of token checks is Options.Now, and signatures
// may be verified outside Go through Options.Offload. docs/architecture.md
// walks through one request.

import (
	"errors"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
	"github.com/apimguard/apimguard/policy/jwt"
)

// Request is the engine's view of the request being evaluated. The filter
// implements it over the proxy-wasm host; tests implement it with maps.
type Request interface {
	// Header returns every value of the named request header joined with
	// commas, as APIM's header accessor does. name is in lower case;
	// Envoy's pseudo-headers (:method, :path, :authority, :scheme) are
	// headers too.
	Header(name string) (value string, ok bool)
	// ClientIP is the caller's address without port, or "" when unknown.
	ClientIP() string
}

// Response is the upstream response in the outbound section. Its status is
// the :status pseudo-header.
type Response interface {
	Header(name string) (value string, ok bool)
}

// HeaderLister is implemented by a Request that can list all its headers;
// send-request's mode="copy" needs it.
type HeaderLister interface {
	Headers() [][2]string
}

// Peer is what the connection itself reports about the client's
// certificate (Envoy's connection.* attributes).
type Peer struct {
	SHA256  string // connection.sha256_peer_certificate_digest; "" without a client certificate
	Subject string // connection.subject_peer_certificate (RFC 2253)
	URISAN  string // connection.uri_san_peer_certificate (the first)
	DNSSAN  string // connection.dns_san_peer_certificate (the first)
	// Validated: the TLS handshake validated the certificate against the
	// listener's trust (connection.peer_certificate_valid, Envoy 1.40).
	// A listener that accepts untrusted certificates reports false for
	// them; a host that cannot tell reports false.
	Validated bool
}

// PeerReporter is implemented by a Request whose host can report the
// connection's client certificate. Without it a request has none. names:
// the subject, SANs and Validated are needed too (a mesh); else the digest
// is enough.
type PeerReporter interface {
	Peer(names bool) Peer
}

// TokenRequest names a managed-identity token: the resource (audience)
// and the user-assigned identity's client id ("" for the system-assigned
// one).
type TokenRequest struct {
	Resource, ClientID string
}

// TokenStore serves the managed-identity tokens the host fetched.
type TokenStore interface {
	// Token returns the current token for r, or "" while the host has
	// none that is still valid.
	Token(r TokenRequest) string
}

// KeyStore holds the key sets the host fetched for openid-config sources.
type KeyStore interface {
	// KeySet returns the current keys of an openid-config URL, or nil while
	// none have been loaded.
	KeySet(source string) *jwt.KeySet
}

// Offload verifies RS* and ES* signatures outside Go (Envoy's
// verify_signature); see jwt.Offload.
type Offload = jwt.Offload

// Action says what the host must do with a Result.
type Action uint8

const (
	// Continue lets the request (or response) go on, after applying the
	// header edits of the Result.
	Continue Action = iota
	// Respond answers the client with Status, Headers and Body instead.
	Respond
	// Call asks the host to make Result.Call and to resume the evaluation
	// with Exec.Resume when the answer (or a failure) arrives.
	Call
	// WaitKeys asks the host to (re)fetch the key sets of KeySources if it
	// may, and to call Exec.Resume(nil, nil) once that is done or when it
	// may not fetch now.
	WaitKeys
	// WaitToken asks the host for the managed-identity token of Token and
	// to call Exec.Resume(nil, nil) once it has one or has given up.
	WaitToken
	// Sleep asks the host to call Exec.Resume(nil, nil) after Delay (retry's
	// wait between attempts).
	Sleep
	// Calls asks the host to make every call of Result.Calls at once (wait)
	// and to hand each answer, as it arrives, to Exec.ResumeCall. While the
	// wait goes on, that returns Calls again, with more calls to make or
	// none; once it returns anything else, answers still to come belong to
	// no one and are dropped.
	Calls
	// WaitBody asks the host for the whole body of the message the section
	// is about (the request in inbound and backend, the upstream's response
	// in outbound): a policy expression reads it. The host holds the
	// message, hands the complete body (at most MaxBody bytes; nil for a
	// message without one) to Exec.SetBody and calls Exec.Resume(nil, nil).
	WaitBody
)

func (a Action) String() string {
	switch a {
	case Respond:
		return "Respond"
	case Call:
		return "Call"
	case WaitKeys:
		return "WaitKeys"
	case WaitToken:
		return "WaitToken"
	case Sleep:
		return "Sleep"
	case Calls:
		return "Calls"
	case WaitBody:
		return "WaitBody"
	}
	return "Continue"
}

// HeaderEdit replaces every instance of a header with Values (one header
// line per value), or removes it when Values is nil.
type HeaderEdit struct {
	Name   string
	Values []string
	// Append adds Values as header lines after the existing ones instead
	// of replacing them.
	Append bool
}

// Result is what the engine asks the host to do after running a section.
type Result struct {
	Action Action
	// Respond: the local response.
	Status  int
	Headers [][2]string
	Body    string
	// Continue: edits to the request (inbound) or response (outbound)
	// headers, in order. Outbound may also change the status (Status != 0).
	Edits []HeaderEdit
	// Call: the outgoing call to make.
	Call *OutgoingCall
	// Calls: the outgoing calls to make at once.
	Calls []*OutgoingCall
	// WaitKeys: the openid-config URLs whose keys are needed.
	KeySources []string
	// WaitToken: the token needed.
	Token *TokenRequest
	// Sleep: how long to wait before resuming.
	Delay time.Duration
	// Preflight marks the answer to a CORS preflight.
	Preflight bool
	// ClearRouteCache (with Continue on the request): the edits changed
	// what routes the request (set-backend-service's BackendHeader, or a
	// client's removed), so the host must route it again.
	ClearRouteCache bool
	// BodyEdits (with Continue) change the request's or the response's
	// body, in order, once it is complete (ApplyBodyEdits).
	BodyEdits []BodyEdit
}

// OutgoingCall is an HTTP call the engine needs made before it can go on.
type OutgoingCall struct {
	URL       string // absolute URL
	Authority string // host[:port] from the URL
	Method    string
	Path      string // path and query
	Headers   [][2]string
	Body      []byte
	TimeoutMS uint32
}

// CallResponse is the answer to a Call the host hands to Exec.Resume; it is
// also the IResponse of expressions.
type CallResponse = expr.Response

// Errors the host reports to Resume when a call gets no answer.
var (
	// ErrCallTimeout: no answer within the call's timeout.
	ErrCallTimeout = errors.New("the call timed out")
	// ErrCallFailed: the call could not be made or was reset.
	ErrCallFailed = errors.New("the call failed")
)
