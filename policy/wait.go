package policy

import (
	"strconv"

	"github.com/apimguard/apimguard/policy/expr"
)

// wait is APIM's wait policy: its immediate children run in parallel, and
// the wait ends when all of them (for="all", the default) or the first of
// them (for="any") have completed.
// Reference: https://learn.microsoft.com/azure/api-management/wait-policy
//
// # Notes
//
//   - Children: send-request, cache-lookup-value and choose, as in APIM.
//     Each child is a branch: it runs until its send-request yields, and
//     the engine hands the host every branch's call at once (Result Calls);
//     each answer resumes its own branch (Exec.ResumeCall). The branches
//     share the request's variables, and they run one at a time in the VM:
//     what runs in parallel is the calls.
//   - for="any": the wait ends with the first branch that completes; the
//     other branches stop where they are, and their calls' answers are
//     dropped. A branch that completes without a call (a cache hit) ends
//     the wait before any call is sent.
//   - A failure in a branch (a send-request without ignore-error) ends the
//     wait and goes to on-error; the other branches stop.
//   - for may be an expression, evaluated when the wait starts.
//   - Inside a branch, elements that pause the request for something other
//     than a call are refused at load (validate-jwt and
//     validate-azure-ad-token wait for keys, authentication-managed-identity
//     for a token, retry between attempts), and so are wait and the
//     elements APIM does not allow there.
type wait struct {
	stmtMeta
	mode     Value         // "all" or "any"
	branches [][]statement // one per immediate child
}

// waitState is a running wait: the section's frames, put back when it
// ends, and its branches.
type waitState struct {
	any      bool
	main     []frame
	branches []branchRun
	left     int // branches not completed
}

// branchRun is one branch of a running wait: its own frames and, while it
// waits for an answer, its call and what continues it.
type branchRun struct {
	frames []frame
	call   *OutgoingCall
	resume func(*expr.Response, error) error
}

// maxWaitBranches bounds the immediate children of a wait.
const maxWaitBranches = 16

func compileWait(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "for"); err != nil {
		return nil, err
	}
	w := &wait{stmtMeta: c.meta(n), mode: Value{constant: "all"}}
	if a, ok := n.Attr("for"); ok {
		v, err := c.attrValue(n, a)
		if err != nil {
			return nil, err
		}
		if v.IsConst() && v.Const() != "all" && v.Const() != "any" {
			return nil, c.errf(n, a.ValuePos, "attribute \"for\" must be all or any, not %q", abbreviate(v.Const()))
		}
		w.mode = v
	}
	if n.Text != "" {
		return nil, c.noText(n)
	}
	if len(n.Children) == 0 {
		return nil, c.errf(n, n.Pos, "needs at least one child (send-request, cache-lookup-value or choose)")
	}
	if len(n.Children) > maxWaitBranches {
		return nil, c.errf(n, n.Children[maxWaitBranches].Pos, "more than %d children", maxWaitBranches)
	}
	for _, ch := range n.Children {
		switch ch.Name {
		case "send-request", "cache-lookup-value", "choose":
		default:
			return nil, c.errf(ch, ch.Pos, "not allowed in <wait>: its children may be send-request, cache-lookup-value and choose")
		}
		if err := c.noPauseIn(ch.Children); err != nil {
			return nil, err
		}
		body, err := c.statements([]*Node{ch})
		if err != nil {
			return nil, err
		}
		w.branches = append(w.branches, body)
	}
	return w, nil
}

// noPauseIn refuses, at any depth, what would pause a wait's branch for
// something other than a call.
func (c *compiler) noPauseIn(nodes []*Node) error {
	for _, n := range nodes {
		switch n.Name {
		case "validate-jwt", "validate-azure-ad-token":
			return c.errf(n, n.Pos, "not allowed inside <wait>: it may pause the request for signing keys; validate before the wait")
		case "authentication-managed-identity":
			return c.errf(n, n.Pos, "not allowed inside <wait>: it may pause the request for a token; fetch it before the wait with output-token-variable-name")
		case "retry":
			return c.errf(n, n.Pos, "not allowed inside <wait>: it pauses the request between attempts")
		case "wait":
			return c.errf(n, n.Pos, "a wait cannot hold another wait")
		}
		if err := c.noPauseIn(n.Children); err != nil {
			return err
		}
	}
	return nil
}

func (w *wait) run(x *Exec) error {
	mode, err := w.mode.Eval(x)
	if err != nil {
		return err
	}
	if mode != "all" && mode != "any" {
		return &expr.RuntimeError{Msg: "wait: for must be all or any, not " + strconv.Quote(abbreviate(mode))}
	}
	st := &waitState{any: mode == "any", main: x.frames, branches: make([]branchRun, len(w.branches)), left: len(w.branches)}
	var calls []*OutgoingCall
	for i := range w.branches {
		b := &st.branches[i]
		b.frames = append(make([]frame, 0, 4), frame{body: w.branches[i]})
		done, err := x.runBranch(st, b)
		if err != nil {
			return err
		}
		if done {
			st.left--
			if st.any {
				// Calls of earlier branches were never sent.
				return nil
			}
			continue
		}
		calls = append(calls, b.call)
	}
	if st.left == 0 {
		return nil
	}
	x.extra().wait = st
	x.result = Result{Action: Calls, Calls: calls}
	return errYield
}

// runBranch runs branch b until it completes (done), yields a call, or
// fails; the section's frames are back in place when it returns.
func (x *Exec) runBranch(st *waitState, b *branchRun) (done bool, err error) {
	x.frames = b.frames
	defer func() { b.frames, x.frames = x.frames, st.main }()
	for s := x.next(); s != nil; s = x.next() {
		err := s.run(x)
		switch {
		case err == errYield && x.result.Action == Call:
			b.call, b.resume, x.resume = x.result.Call, x.resume, nil
			return false, nil
		case err == errYield:
			// Refused at load; a host must never see it.
			x.resume = nil
			return false, &expr.RuntimeError{Msg: "wait: <" + s.meta().element + "> cannot pause inside a wait"}
		case err != nil:
			return false, x.wrap(s, err)
		}
	}
	return true, nil
}

// ResumeCall continues after one of the calls of a Calls result answered
// (or failed: err). It returns a Calls result while the wait goes on (with
// the branch's next call, or none), else the section's next result. An
// answer to a call the engine no longer waits for (the wait ended) changes
// nothing and returns a Calls result without calls.
func (x *Exec) ResumeCall(c *OutgoingCall, resp *expr.Response, err error) Result {
	st, b := x.branchOf(c)
	if b == nil {
		return Result{Action: Calls}
	}
	next := b.resume
	b.call, b.resume = nil, nil
	x.frames = b.frames
	err = next(resp, err)
	b.frames, x.frames = x.frames, st.main
	done := false
	if err == errYield {
		err = &expr.RuntimeError{Msg: "wait: a call cannot pause again inside a wait"}
	}
	if err == nil {
		done, err = x.runBranch(st, b)
	}
	if err == nil && !done {
		return Result{Action: Calls, Calls: []*OutgoingCall{b.call}}
	}
	if err == nil {
		st.left--
		if st.left > 0 && !st.any {
			return Result{Action: Calls}
		}
	}
	x.more.wait = nil
	if err != nil {
		if r, done := x.handle(err); done {
			return x.finish(r)
		}
	}
	return x.finish(x.loop())
}

// Awaits reports whether the engine waits for c's answer: a host drops
// the answers of a wait's calls once it has ended.
func (x *Exec) Awaits(c *OutgoingCall) bool {
	_, b := x.branchOf(c)
	return b != nil
}

// branchOf finds the running wait's branch that waits for c.
func (x *Exec) branchOf(c *OutgoingCall) (*waitState, *branchRun) {
	if x.more == nil || x.more.wait == nil {
		return nil, nil
	}
	st := x.more.wait
	for i := range st.branches {
		if st.branches[i].call == c {
			return st, &st.branches[i]
		}
	}
	return nil, nil
}
