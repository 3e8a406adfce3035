package policy

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/jsonlimit"
	"github.com/tidwall/gjson"
)

// llm-token-limit and azure-openai-token-limit: the tokens an
// OpenAI-compatible backend reports in its answer's usage, per counter key,
// per minute and per quota period; llm-emit-token-metric and
// azure-openai-emit-token-metric: those tokens as metrics. References:
// https://learn.microsoft.com/azure/api-management/llm-token-limit-policy,
// .../azure-openai-token-limit-policy, .../llm-emit-token-metric-policy
//
// # Notes
//
//   - Before the request goes on, a budget already used up answers 429
//     (tokens-per-minute) or 403 (token-quota) with Retry-After. With
//     estimate-prompt-tokens="true" the prompt is estimated from the
//     request's Content-Length (4 bytes a token; the policies run before
//     the body arrives), counted at once, and a prompt larger than what is
//     left is refused before it reaches the backend.
//   - Once the answer is complete, the tokens its usage reports
//     (prompt_tokens + completion_tokens, or input_tokens + output_tokens)
//     are counted, less the estimate already counted; an answer over the
//     budget blocks later requests until the budget renews, as APIM
//     documents. A streamed answer (text/event-stream) is read as it passes
//     (never held): the usage of its last event, or, without one, its
//     content estimated at 4 characters a token. An answer without usage
//     counts only the estimate.
//   - The per-minute budget is a token bucket as rate-limit's; the quota
//     counts in fixed UTC windows: the hour, the day, the week from Monday,
//     the calendar month or year. Counters are per Envoy (APIM counts per
//     gateway) and shared by its workers, one per key value across the
//     elements that compute it.
//   - tokens-consumed-header-name carries the prompt estimate (0 without
//     one): the response's headers go to the client before its body says
//     what was used. The variable is the estimate in inbound and backend,
//     the reported total in outbound once known.
type llmTokenLimit struct {
	stmtMeta
	key             Value
	perMinute       int64 // 0: none
	quota           int64 // 0: none
	period          string
	estimate        bool
	names           throttleNames
	remainingQuotaH string
	remainingQuotaV string
	consumedH       string
	consumedV       string
}

// llmTokenMetric is llm-emit-token-metric: the dimensions are evaluated
// when it runs, the values once the usage is known.
type llmTokenMetric struct {
	stmtMeta
	namespace string
	dims      []metricDim
}

// tokenState is what a request keeps for its token counting.
type tokenState struct {
	limits  []tokenUse
	metrics []Metric // records waiting for the usage
	settled bool
}

// tokenUse is one token limit a request passed.
type tokenUse struct {
	s         *llmTokenLimit
	key       string
	estimated int64
}

const maxTokenBudget = 1 << 40

var tokenPeriods = map[string]bool{"Hourly": true, "Daily": true, "Weekly": true, "Monthly": true, "Yearly": true}

func compileLLMTokenLimit(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "counter-key", "tokens-per-minute", "token-quota", "token-quota-period", "estimate-prompt-tokens",
		"retry-after-header-name", "retry-after-variable-name", "remaining-tokens-header-name", "remaining-tokens-variable-name",
		"remaining-quota-tokens-header-name", "remaining-quota-tokens-variable-name", "tokens-consumed-header-name",
		"tokens-consumed-variable-name", "id"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	if err := c.needCounters(n); err != nil {
		return nil, err
	}
	s := &llmTokenLimit{stmtMeta: c.meta(n)}
	var err error
	if s.key, err = c.requiredValue(n, "counter-key"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		to   *int64
	}{{"tokens-per-minute", &s.perMinute}, {"token-quota", &s.quota}} {
		if a, ok := n.Attr(f.name); ok {
			v, err := c.constant(n, a)
			if err != nil {
				return nil, err
			}
			if *f.to, ok = throttleInt(v, 1, maxTokenBudget); !ok {
				return nil, c.errf(n, a.ValuePos, "attribute %q must be a whole number from 1 to %d, not %q", f.name, int64(maxTokenBudget), v)
			}
		}
	}
	if s.perMinute == 0 && s.quota == 0 {
		return nil, c.errf(n, n.Pos, "missing attribute \"tokens-per-minute\" or \"token-quota\" (at least one is required)")
	}
	a, hasPeriod := n.Attr("token-quota-period")
	if hasPeriod {
		if s.period, err = c.constant(n, a); err != nil {
			return nil, err
		}
		if !tokenPeriods[s.period] {
			return nil, c.errf(n, a.ValuePos, "attribute \"token-quota-period\" must be Hourly, Daily, Weekly, Monthly or Yearly, not %q", s.period)
		}
	}
	if (s.quota > 0) != hasPeriod {
		return nil, c.errf(n, n.Pos, "token-quota and token-quota-period go together")
	}
	if _, ok := n.Attr("estimate-prompt-tokens"); !ok {
		return nil, c.errf(n, n.Pos, "missing required attribute \"estimate-prompt-tokens\"")
	}
	if s.estimate, err = c.boolAttr(n, "estimate-prompt-tokens", false); err != nil {
		return nil, err
	}
	if s.names, err = c.throttleNames(n, "tokens"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		attr string
		to   *string
	}{{"remaining-quota-tokens-header-name", &s.remainingQuotaH}, {"remaining-quota-tokens-variable-name", &s.remainingQuotaV},
		{"tokens-consumed-header-name", &s.consumedH}, {"tokens-consumed-variable-name", &s.consumedV}} {
		if a, ok := n.Attr(f.attr); ok {
			if *f.to, err = c.constant(n, a); err != nil {
				return nil, err
			}
			if strings.HasSuffix(f.attr, "header-name") {
				if !validHeaderName(*f.to) {
					return nil, c.errf(n, a.Pos, "attribute %q must be a header name, not %q", f.attr, *f.to)
				}
				*f.to = strings.ToLower(*f.to)
			}
		}
	}
	return s, nil
}

func compileLLMTokenMetric(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "namespace", "value", "id"); err != nil {
		return nil, err
	}
	m := &llmTokenMetric{stmtMeta: c.meta(n), namespace: "API Management"}
	if a, ok := n.Attr("namespace"); ok {
		var err error
		if m.namespace, err = c.constant(n, a); err != nil {
			return nil, err
		}
	}
	dims, err := c.metricDims(n)
	m.dims = dims
	return m, err
}

// promptEstimate is the request's prompt in tokens, from its
// Content-Length: 4 bytes a token.
func (x *Exec) promptEstimate() int64 {
	v, _ := x.req.Header("content-length")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return (min(n, maxTokenBudget) + 3) / 4
}

// tokenWindow is the quota window of period at now: its start (a counter's
// index) and end, unix seconds.
func tokenWindow(period string, now time.Time) (start, end int64) {
	now = now.UTC()
	y, m, d := now.Date()
	var from, to time.Time
	switch period {
	case "Hourly":
		from = now.Truncate(time.Hour)
		to = from.Add(time.Hour)
	case "Daily":
		from = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		to = from.AddDate(0, 0, 1)
	case "Weekly":
		from = time.Date(y, m, d-(int(now.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
		to = from.AddDate(0, 0, 7)
	case "Monthly":
		from = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		to = from.AddDate(0, 1, 0)
	default:
		from = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		to = from.AddDate(1, 0, 0)
	}
	return from.Unix(), to.Unix()
}

func (s *llmTokenLimit) run(x *Exec) error {
	key, err := s.key.Eval(x)
	if err != nil || key == "" {
		return err
	}
	key = "llm-token-limit\x00" + key
	est := int64(0)
	if s.estimate {
		est = x.promptEstimate()
	}
	now := x.Now()
	if s.perMinute > 0 {
		var allowed bool
		var left, retryUS int64
		err := x.prog.counters.update(key+"\x00minute", now.UnixMilli(), func(e *counterEntry, fresh bool) bool {
			allowed, left, retryUS = cellRate(e, fresh, now, s.perMinute, time.Minute, est, false)
			return est > 0 && allowed
		})
		if err != nil {
			return err
		}
		s.setNumber(x, s.names.remainingHeader, s.names.remainingVar, left)
		if !allowed {
			secs := max((retryUS+999_999)/1_000_000, 1)
			return throttleDenial(x, &s.stmtMeta, &s.names, secs, "TokenLimitExceeded", "Token limit is exceeded", 429,
				"Token limit is exceeded. Try again in "+strconv.FormatInt(secs, 10)+" seconds.")
		}
	}
	if s.quota > 0 {
		start, end := tokenWindow(s.period, now)
		allowed := false
		var used int64
		err := x.prog.counters.update(key+"\x00quota:"+s.period, now.UnixMilli(), func(e *counterEntry, fresh bool) bool {
			if fresh || e.val != start {
				e.val, e.aux = start, 0
			}
			allowed = e.aux+max(est, 1) <= s.quota
			if allowed {
				e.aux += est
			}
			used = e.aux
			e.expires = end * 1000
			return allowed && est > 0
		})
		if err != nil {
			return err
		}
		s.setNumber(x, s.remainingQuotaH, s.remainingQuotaV, max(s.quota-used, 0))
		if !allowed {
			secs := max(end-now.Unix(), 1)
			return throttleDenial(x, &s.stmtMeta, &s.names, secs, "TokenQuotaExceeded", "Token quota is exceeded", 403,
				"Token quota is exceeded. Try again in "+spelledDuration(secs)+".")
		}
	}
	s.setNumber(x, s.consumedH, s.consumedV, est)
	t := x.tokens()
	t.limits = append(t.limits, tokenUse{s: s, key: key, estimated: est})
	return nil
}

// setNumber sets a header of the response and a variable to n, when named.
func (s *llmTokenLimit) setNumber(x *Exec, header, variable string, n int64) {
	if variable != "" {
		x.setVariable(variable, int(n))
	}
	if header != "" {
		x.addToResponse(header, strconv.FormatInt(n, 10))
	}
}

func (m *llmTokenMetric) run(x *Exec) error {
	rec := Metric{Namespace: m.namespace}
	for _, d := range m.dims {
		v := x.defaultDimension(d.name)
		if d.value != nil {
			var err error
			if v, err = d.value.Eval(x); err != nil {
				return err
			}
		}
		rec.Dimensions = append(rec.Dimensions, [2]string{d.name, cut(v, 64)})
	}
	if t := x.tokens(); len(t.metrics) < maxMetrics {
		t.metrics = append(t.metrics, rec)
	}
	return nil
}

func (x *Exec) tokens() *tokenState {
	m := x.extra()
	if m.tokens == nil {
		m.tokens = &tokenState{}
	}
	return m.tokens
}

// CountsTokens reports whether the host must read the response's body for
// the tokens it used (TokenUsage).
func (x *Exec) CountsTokens() bool {
	return x.more != nil && x.more.tokens != nil && !x.more.tokens.settled
}

// TokenUsage hands the engine the tokens the response used: reported by
// its usage, or not (then completion is the host's estimate of a streamed
// answer, 0 for another, and the prompt is estimated from the request).
// They are counted against the token limits the request passed, less what
// was counted before it went on, and the token metrics get their values
// (Metrics). Only the first call counts.
func (x *Exec) TokenUsage(prompt, completion int64, reported bool) {
	if !x.CountsTokens() {
		return
	}
	t := x.more.tokens
	t.settled = true
	if !reported {
		prompt = x.promptEstimate()
	}
	prompt, completion = min(max(prompt, 0), maxTokenBudget), min(max(completion, 0), maxTokenBudget)
	total := prompt + completion
	now := x.Now()
	for _, u := range t.limits {
		if u.s.consumedV != "" && x.phase == phaseOutbound {
			x.setVariable(u.s.consumedV, int(total))
		}
		extra := total - u.estimated
		if extra <= 0 {
			continue
		}
		if u.s.perMinute > 0 {
			_ = x.prog.counters.update(u.key+"\x00minute", now.UnixMilli(), func(e *counterEntry, fresh bool) bool {
				cellRate(e, fresh, now, u.s.perMinute, time.Minute, extra, true)
				return true
			})
		}
		if u.s.quota > 0 {
			start, end := tokenWindow(u.s.period, now)
			_ = x.prog.counters.update(u.key+"\x00quota:"+u.s.period, now.UnixMilli(), func(e *counterEntry, fresh bool) bool {
				if fresh || e.val != start {
					e.val, e.aux = start, 0
				}
				e.aux += extra
				e.expires = end * 1000
				return true
			})
		}
	}
	if reported || completion > 0 {
		for _, rec := range t.metrics {
			for _, v := range [...]struct {
				name string
				n    int64
			}{{"Total Tokens", prompt + completion}, {"Prompt Tokens", prompt}, {"Completion Tokens", completion}} {
				r := rec
				r.Name, r.Value = v.name, uint64(v.n)
				x.more.metrics = append(x.more.metrics, r)
			}
		}
	}
}

// spelledDuration writes seconds as "M minutes and S seconds" (with hours
// and days when there are).
func spelledDuration(secs int64) string {
	var parts []string
	for _, u := range [...]struct {
		n    int64
		name string
	}{{secs / 86400, "day"}, {secs / 3600 % 24, "hour"}, {secs / 60 % 60, "minute"}, {secs % 60, "second"}} {
		if u.n == 0 {
			continue
		}
		p := strconv.FormatInt(u.n, 10) + " " + u.name
		if u.n != 1 {
			p += "s"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// ResponseUsage reads the tokens an OpenAI-compatible answer reports:
// usage.prompt_tokens and usage.completion_tokens (Chat Completions), or
// usage.input_tokens and usage.output_tokens (Responses, Anthropic).
// The answer passes the JSON depth guard first, as every JSON the module
// reads.
func ResponseUsage(body []byte) (prompt, completion int64, ok bool) {
	if !jsonlimit.Valid(body, 0) {
		return 0, 0, false
	}
	return usageOf(gjson.GetBytes(body, "usage"))
}

func usageOf(u gjson.Result) (prompt, completion int64, ok bool) {
	if !u.IsObject() {
		return 0, 0, false
	}
	p, c := u.Get("prompt_tokens"), u.Get("completion_tokens")
	if !p.Exists() && !c.Exists() {
		p, c = u.Get("input_tokens"), u.Get("output_tokens")
	}
	if !p.Exists() && !c.Exists() {
		if t := u.Get("total_tokens"); t.Exists() {
			return t.Int(), 0, true
		}
		return 0, 0, false
	}
	return p.Int(), c.Int(), true
}

// StreamUsage reads the usage of a streamed answer (server-sent events)
// chunk by chunk, keeping no more than one event line.
type StreamUsage struct {
	line           []byte
	prompt, compl  int64
	found          bool
	chars          int64
	overlongEvents bool
}

// maxEventLine bounds the line StreamUsage keeps between chunks.
const maxEventLine = 64 << 10

// Write reads one chunk of the stream.
func (s *StreamUsage) Write(chunk []byte) {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if len(s.line)+len(chunk) <= maxEventLine {
				s.line = append(s.line, chunk...)
			} else {
				s.line, s.overlongEvents = s.line[:0], true
			}
			return
		}
		if len(s.line)+i <= maxEventLine && !s.overlongEvents {
			s.line = append(s.line, chunk[:i]...)
			s.event(s.line)
		}
		s.line, s.overlongEvents = s.line[:0], false
		chunk = chunk[i+1:]
	}
}

// event reads one line of the stream: a data line's JSON may carry usage,
// and its content is counted for an estimate.
func (s *StreamUsage) event(line []byte) {
	data, ok := strings.CutPrefix(strings.TrimRight(string(line), "\r"), "data:")
	if !ok {
		return
	}
	data = strings.TrimSpace(data)
	if data == "" || data == "[DONE]" || !jsonlimit.ValidString(data, 0) {
		return
	}
	if p, c, ok := usageOf(gjson.Get(data, "usage")); ok {
		s.prompt, s.compl, s.found = p, c, true
	}
	gjson.Get(data, "choices.#.delta.content").ForEach(func(_, v gjson.Result) bool {
		s.chars += int64(len(v.String()))
		return true
	})
}

// Usage returns what the stream reported, or its content estimated (4
// characters a token) as completion tokens when it reported no usage.
func (s *StreamUsage) Usage() (prompt, completion int64, reported bool) {
	if s.found {
		return s.prompt, s.compl, true
	}
	return 0, (s.chars + 3) / 4, false
}

// BodyUsage reads the usage of a whole (not streamed) answer chunk by
// chunk, as it passes: it keeps the first bodyUsageHead bytes and, past
// them, the last bodyUsageTail, where OpenAI-compatible backends write
// usage.
type BodyUsage struct {
	head, tail []byte
	cut        bool
}

const (
	bodyUsageHead = 64 << 10
	bodyUsageTail = 16 << 10
)

// Write reads one chunk of the answer.
func (b *BodyUsage) Write(chunk []byte) {
	if !b.cut && len(b.head)+len(chunk) <= bodyUsageHead {
		b.head = append(b.head, chunk...)
		return
	}
	if !b.cut {
		b.cut, b.tail, b.head = true, b.head, nil
	}
	b.tail = append(b.tail, chunk...)
	if n := len(b.tail); n > 2*bodyUsageTail {
		b.tail = append(b.tail[:0], b.tail[n-bodyUsageTail:]...)
	}
}

// Usage returns the answer's usage.
func (b *BodyUsage) Usage() (prompt, completion int64, reported bool) {
	if !b.cut {
		return ResponseUsage(b.head)
	}
	t := b.tail
	i := strings.LastIndex(string(t), `"usage"`)
	if i < 0 {
		return 0, 0, false
	}
	rest := strings.TrimLeft(string(t[i+len(`"usage"`):]), " \t\r\n")
	rest, ok := strings.CutPrefix(rest, ":")
	rest = strings.TrimLeft(rest, " \t\r\n")
	if !ok || !strings.HasPrefix(rest, "{") {
		return 0, 0, false
	}
	// The object: to its matching brace, outside strings.
	depth, inString := 0, false
	for j := 0; j < len(rest); j++ {
		switch c := rest[j]; {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case !inString && c == '{':
			depth++
		case !inString && c == '}':
			if depth--; depth == 0 {
				if obj := rest[:j+1]; jsonlimit.ValidString(obj, 0) {
					return usageOf(gjson.Parse(obj))
				}
				return 0, 0, false
			}
		}
	}
	return 0, 0, false
}
