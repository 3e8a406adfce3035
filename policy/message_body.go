package policy

// Bodies read by policy expressions (context.Request.Body,
// context.Response.Body). The engine runs when a message's headers arrive;
// an element whose expressions read that message's body (stmtMeta.body,
// from expr.Program.ReadsBody) makes the loop stop before it with WaitBody.
// The host holds the message, buffers its body (at most MaxBody), hands it
// over with SetBody and resumes: the element runs then, and so does
// everything after it, with the headers still held, so its header edits and
// answers apply as if the body had come with the headers. Elements before
// it (authentication, IP and header checks) ran without the body: a request
// they refuse is never buffered.
//
// Reads see the body as the policies left it so far (their set-body and
// find-and-replace edits applied). A read without preserveContent: true
// consumes the body, as in APIM: it is recorded as an edit that empties the
// body, so later reads get null and the message goes on without a body
// unless a later set-body gives it one.

import "github.com/apimguard/apimguard/policy/expr"

// heldBody is a message's body as the host handed it over.
type heldBody struct {
	data []byte
	have bool
}

// SetBody hands the engine the complete body of the request (response
// false) or the upstream's response, after a WaitBody result.
func (x *Exec) SetBody(response bool, body []byte) {
	b := &x.extra().bodies[bodyIndex(response)]
	b.data, b.have = body, true
}

func bodyIndex(response bool) int {
	if response {
		return 1
	}
	return 0
}

// waitBody reports whether the statement about to run, whose expressions
// read the bodies of bits, must wait for the body of this section's
// message; it then prepares the WaitBody result and makes the statement the
// next one to run again. In on-error, and for the other message (the
// request in outbound), nothing is waited for: the expressions see a body
// the engine already holds, or null.
func (x *Exec) waitBody(bits uint8) bool {
	var want uint8
	var response bool
	switch x.phase {
	case phaseInbound, phaseBackend:
		want = readsRequestBody
	case phaseOutbound:
		want, response = readsResponseBody, true
	}
	if bits&want == 0 || (x.more != nil && x.more.bodies[bodyIndex(response)].have) {
		return false
	}
	x.frames[len(x.frames)-1].next--
	x.result = Result{Action: WaitBody}
	x.resume = func(*expr.Response, error) error { return nil }
	return true
}

// ReadsBody reports whether a policy of the request's program may still
// wait for the body of the request (response false) or of the response:
// a host that receives that body while the engine waits for something else
// (a call) keeps it for the WaitBody that may follow.
func (x *Exec) ReadsBody(response bool) bool {
	bit := readsRequestBody
	if response {
		bit = readsResponseBody
	}
	return x.prog.bodies&bit != 0 && (x.more == nil || !x.more.bodies[bodyIndex(response)].have)
}

// The bits of stmtMeta.body.
const (
	readsRequestBody uint8 = 1 << iota
	readsResponseBody
)

// noteBodyReads records the bodies prog reads for the statement being
// compiled (compiler.statements).
func (c *compiler) noteBodyReads(prog *expr.Program) {
	request, response := prog.ReadsBody()
	c.readsBodies = c.readsBodies || request || response
	if request {
		c.bodyReads |= readsRequestBody
	}
	if response {
		c.bodyReads |= readsResponseBody
	}
}

// MessageBody implements expr.Env: the body as the edits so far left it.
func (x *Exec) MessageBody(response bool) ([]byte, bool) {
	if x.more == nil || !x.more.bodies[bodyIndex(response)].have {
		return nil, false
	}
	body := x.more.bodies[bodyIndex(response)].data
	if edits := x.bodyEdits(response); len(edits) > 0 {
		var ok bool
		if body, ok = ApplyBodyEdits(body, edits); !ok {
			return nil, false
		}
	}
	return body, len(body) > 0
}

// ConsumeBody implements expr.Env: the body is gone for later reads and for
// the message, until a policy sets a new one.
func (x *Exec) ConsumeBody(response bool) {
	if (response && x.phase == phaseOutbound) || (!response && (x.phase == phaseInbound || x.phase == phaseBackend)) {
		x.addBodyEdit(BodyEdit{Set: true})
		return
	}
	// The other message has gone on already: only later reads lose it.
	x.extra().bodies[bodyIndex(response)] = heldBody{have: true}
}

// bodyEdits are the edits recorded for the request's or the response's body.
func (x *Exec) bodyEdits(response bool) []BodyEdit {
	if response {
		return x.more.respBody
	}
	return x.more.reqBody
}
