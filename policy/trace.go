package policy

import "strings"

// traceStmt is APIM's trace policy: a record of the request's processing for
// the operator. The engine keeps a request's records on its Exec; the host
// takes them (Exec.Traces) after each step and writes them to its log
// (the plugin: one JSON line each, rate-limited like security events).
// Reference: https://learn.microsoft.com/azure/api-management/trace-policy
//
// # Notes
//
//   - source and severity (verbose, information, error; default verbose)
//     are constants; <message> and <metadata name value> may be
//     expressions.
//   - No request header switches tracing on or off (APIM's Ocp-Apim-Trace
//     is gone; the configuration decides).
//   - Bounded: a message is cut to maxTraceMessage bytes, a metadata value
//     to maxTraceValue, at most maxTraces records per request (the rest
//     are dropped).
type traceStmt struct {
	stmtMeta
	source, severity string
	message          Value
	metadata         []traceMeta
}

type traceMeta struct {
	name  string
	value Value
}

// Trace is one record of the trace policy.
type Trace struct {
	Source, Severity, Message string
	Metadata                  [][2]string
}

// Bounds on trace records.
const (
	maxTraces       = 16
	maxTraceMessage = 1024
	maxTraceValue   = 256
	maxTraceMeta    = 16
)

func compileTrace(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "source", "severity"); err != nil {
		return nil, err
	}
	if err := c.noText(n); err != nil {
		return nil, err
	}
	a, err := c.required(n, "source")
	if err != nil {
		return nil, err
	}
	t := &traceStmt{stmtMeta: c.meta(n), severity: "verbose"}
	if t.source, err = c.constant(n, a); err != nil {
		return nil, err
	}
	if s, ok := n.Attr("severity"); ok {
		if t.severity, err = c.constant(n, s); err != nil {
			return nil, err
		}
		switch t.severity = strings.ToLower(strings.TrimSpace(t.severity)); t.severity {
		case "verbose", "information", "error":
		default:
			return nil, c.errf(n, s.Pos, "attribute \"severity\" must be verbose, information or error, not %q", t.severity)
		}
	}
	hasMessage := false
	for _, ch := range n.Children {
		switch ch.Name {
		case "message":
			if hasMessage {
				return nil, c.errf(ch, ch.Pos, "only one <message>")
			}
			hasMessage = true
			if t.message, err = c.leafValue(ch); err != nil {
				return nil, err
			}
		case "metadata":
			if err := c.attrs(ch, "name", "value"); err != nil {
				return nil, err
			}
			if len(t.metadata) == maxTraceMeta {
				return nil, c.errf(ch, ch.Pos, "more than %d <metadata>", maxTraceMeta)
			}
			name, err := c.required(ch, "name")
			if err != nil {
				return nil, err
			}
			value, err := c.required(ch, "value")
			if err != nil {
				return nil, err
			}
			m := traceMeta{}
			if m.name, err = c.constant(ch, name); err != nil {
				return nil, err
			}
			if m.value, err = c.value(ch, value.Value, value.ValuePos); err != nil {
				return nil, err
			}
			t.metadata = append(t.metadata, m)
		default:
			return nil, c.errf(ch, ch.Pos, "unexpected element <%s> (want <message> or <metadata>)", ch.Name)
		}
	}
	if !hasMessage {
		return nil, c.errf(n, n.Pos, "needs a <message>")
	}
	return t, nil
}

func (t *traceStmt) run(x *Exec) error {
	if m := x.extra(); len(m.traces) >= maxTraces {
		return nil
	}
	msg, err := t.message.Eval(x)
	if err != nil {
		return err
	}
	rec := Trace{Source: t.source, Severity: t.severity, Message: cut(msg, maxTraceMessage)}
	for i := range t.metadata {
		v, err := t.metadata[i].value.Eval(x)
		if err != nil {
			return err
		}
		rec.Metadata = append(rec.Metadata, [2]string{t.metadata[i].name, cut(v, maxTraceValue)})
	}
	x.more.traces = append(x.more.traces, rec)
	return nil
}

// Traces returns the trace records made since the last call, and forgets
// them.
func (x *Exec) Traces() []Trace {
	if x.more == nil {
		return nil
	}
	t := x.more.traces
	x.more.traces = nil
	return t
}

// cut shortens s to at most n bytes on a UTF-8 boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - 3
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}
