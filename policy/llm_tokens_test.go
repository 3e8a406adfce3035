package policy

import (
	"strings"
	"testing"
	"time"
)

func TestLLMTokenLimit(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)}
	p := throttleProgram(t, doc(`<llm-token-limit counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-team&quot;, &quot;&quot;))" tokens-per-minute="100" estimate-prompt-tokens="false"
  remaining-tokens-header-name="x-remaining-tokens" tokens-consumed-variable-name="used" />
<azure-openai-token-limit counter-key="@(&quot;quota-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-team&quot;, &quot;&quot;))" token-quota="500" token-quota-period="Hourly" estimate-prompt-tokens="true"
  remaining-quota-tokens-header-name="x-quota-left" tokens-consumed-header-name="x-consumed" />
<llm-emit-token-metric namespace="llm"><dimension name="API ID" /><dimension name="team" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-team&quot;, &quot;&quot;))" /></llm-emit-token-metric>`, "", ""),
		&MemoryStore{}, clock)
	call := func(h map[string]string, prompt, completion int64) (int, map[string]string, *Exec) {
		st, out, x := throttleRun(p, h)
		if st != 0 {
			return st, out, x
		}
		r := x.Outbound(resp{":status": "200"})
		for _, e := range r.Edits {
			out[e.Name] = e.Values[0]
		}
		if !x.CountsTokens() {
			t.Fatal("the engine does not ask for the usage")
		}
		x.TokenUsage(prompt, completion, true)
		return 0, out, x
	}
	team := map[string]string{"x-team": "a", "content-length": "40"}
	st, h, x := call(team, 30, 50)
	if st != 0 || h["x-remaining-tokens"] != "100" || h["x-quota-left"] != "490" || h["x-consumed"] != "10" {
		t.Fatalf("first: %d %v", st, h)
	}
	if v, _ := x.Variable("used"); v != 80 {
		t.Errorf("tokens-consumed-variable-name in outbound: %v, want the reported 80", v)
	}
	metrics := x.Metrics()
	if len(metrics) != 3 || metrics[0].Name != "Total Tokens" || metrics[0].Value != 80 || metrics[1].Name != "Prompt Tokens" || metrics[1].Value != 30 ||
		metrics[2].Value != 50 || metrics[0].Namespace != "llm" || metrics[0].Dimensions[1] != [2]string{"team", "a"} {
		t.Errorf("metrics %+v", metrics)
	}
	if st, h, _ := call(team, 40, 40); st != 0 || h["x-remaining-tokens"] != "20" {
		t.Fatalf("second: %d %v", st, h)
	}
	// 160 of 100 a minute: later requests wait until the bucket has one
	// token again, 0.6 s a token.
	st, h, x = call(team, 0, 0)
	if st != 429 || h["retry-after"] != "37" || h["@body"] != `{"statusCode":429,"message":"Token limit is exceeded. Try again in 37 seconds."}` ||
		x.LastError().Reason != "TokenLimitExceeded" {
		t.Fatalf("third: %d %v", st, h)
	}
	if st, _, _ := call(map[string]string{"x-team": "b"}, 1, 1); st != 0 {
		t.Errorf("another team: %d", st)
	}
	// The quota: 160 used of 500 this hour; a large answer uses it up.
	clock.t = clock.t.Add(5 * time.Minute)
	call(team, 200, 200)
	clock.t = clock.t.Add(5 * time.Minute)
	st, h, x = call(team, 0, 0)
	if st != 403 || h["retry-after"] != "1200" || h["@body"] != `{"statusCode":403,"message":"Token quota is exceeded. Try again in 20 minutes."}` ||
		x.LastError().Reason != "TokenQuotaExceeded" {
		t.Fatalf("past the quota: %d %v", st, h)
	}

	// A prompt larger than the minute's budget is refused before it goes.
	st, h, _ = throttleRun(p, map[string]string{"x-team": "c", "content-length": "400"})
	if st != 0 {
		t.Fatalf("100 estimated tokens fit the quota: %d %v", st, h)
	}
	if st, h, _ = throttleRun(p, map[string]string{"x-team": "d", "content-length": "2400"}); st != 403 {
		t.Fatalf("600 estimated tokens do not: %d %v", st, h)
	}
	q := throttleProgram(t, inboundDoc(`<llm-token-limit counter-key="k" tokens-per-minute="50" estimate-prompt-tokens="true" />`), &MemoryStore{}, clock)
	if st, h, _ := throttleRun(q, map[string]string{"content-length": "400"}); st != 429 {
		t.Errorf("100 estimated tokens against 50 a minute: %d %v", st, h)
	}
}

func TestSpelledDuration(t *testing.T) {
	for secs, want := range map[int64]string{1: "1 second", 41: "41 seconds", 1293: "21 minutes and 33 seconds", 1200: "20 minutes", 90061: "1 day, 1 hour, 1 minute and 1 second"} {
		if got := spelledDuration(secs); got != want {
			t.Errorf("%d: %q, want %q", secs, got, want)
		}
	}
}

func TestTokenWindow(t *testing.T) {
	now := time.Date(2026, 6, 3, 15, 4, 5, 0, time.UTC) // a Wednesday
	for period, want := range map[string][2]string{
		"Hourly":  {"2026-06-03T15:00:00Z", "2026-06-03T16:00:00Z"},
		"Daily":   {"2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z"},
		"Weekly":  {"2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"},
		"Monthly": {"2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"},
		"Yearly":  {"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
	} {
		s, e := tokenWindow(period, now)
		if got := [2]string{time.Unix(s, 0).UTC().Format(time.RFC3339), time.Unix(e, 0).UTC().Format(time.RFC3339)}; got != want {
			t.Errorf("%s: %v, want %v", period, got, want)
		}
	}
}

func TestResponseUsage(t *testing.T) {
	for body, want := range map[string][3]int64{
		`{"id":"c","usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}`: {12, 30, 1},
		`{"usage":{"input_tokens":5,"output_tokens":7}}`:                                   {5, 7, 1},
		`{"usage":{"total_tokens":9}}`:                                                     {9, 0, 1},
		`{"choices":[]}`:                                                                   {0, 0, 0},
		`not json`:                                                                         {0, 0, 0},
	} {
		p, c, ok := ResponseUsage([]byte(body))
		got := [3]int64{p, c, 0}
		if ok {
			got[2] = 1
		}
		if got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}

func TestStreamUsage(t *testing.T) {
	stream := "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\" world, again\"}}]}\r\n\r\n" +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"
	// Every way of cutting it into two chunks reads the same.
	for cut := 0; cut <= len(stream); cut++ {
		var s StreamUsage
		s.Write([]byte(stream[:cut]))
		s.Write([]byte(stream[cut:]))
		if p, c, ok := s.Usage(); p != 11 || c != 4 || !ok {
			t.Fatalf("cut at %d: %d %d %v", cut, p, c, ok)
		}
	}
	var s StreamUsage
	s.Write([]byte(strings.Split(stream, "data: {\"choices\":[],")[0]))
	if p, c, ok := s.Usage(); p != 0 || c != 5 || ok {
		t.Errorf("without usage: %d %d %v, want 18 characters estimated as 5 tokens", p, c, ok)
	}
	// A line longer than the bound is dropped, not kept.
	var long StreamUsage
	long.Write([]byte("data: " + strings.Repeat("x", maxEventLine)))
	long.Write([]byte(strings.Repeat("y", maxEventLine) + "\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n"))
	if p, c, ok := long.Usage(); p != 1 || c != 2 || !ok || cap(long.line) > 2*maxEventLine {
		t.Errorf("after an overlong line: %d %d %v (kept %d bytes)", p, c, ok, cap(long.line))
	}
}

func TestLLMTokenLimit_loadErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`<llm-token-limit counter-key="k" estimate-prompt-tokens="false" />`, `missing attribute "tokens-per-minute" or "token-quota"`},
		{`<llm-token-limit counter-key="k" tokens-per-minute="10" />`, `missing required attribute "estimate-prompt-tokens"`},
		{`<llm-token-limit counter-key="k" token-quota="10" estimate-prompt-tokens="false" />`, "token-quota and token-quota-period go together"},
		{`<llm-token-limit counter-key="k" token-quota="10" token-quota-period="Minutely" estimate-prompt-tokens="false" />`, `"token-quota-period" must be Hourly, Daily, Weekly, Monthly or Yearly, not "Minutely"`},
		{`<llm-emit-token-metric />`, "needs 1 to 5 <dimension>s"},
	} {
		_, err := Compile(inboundDoc(c.doc), Options{Counters: &MemoryStore{}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.doc, err)
		}
	}
}

func TestBodyUsage(t *testing.T) {
	small := `{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}`
	big := `{"choices":[{"message":{"content":"` + strings.Repeat("a}\"{", 50000) + `"}}],"usage" : {"prompt_tokens":7,"completion_tokens":9,"details":{"note":"}{\"x"}},"x":1}`
	for _, c := range []struct {
		body    string
		p, comp int64
		ok      bool
	}{
		{small, 3, 4, true},
		{big, 7, 9, true},
		{strings.Repeat("z", 200000), 0, 0, false},
		{`{"choices":[],"usage":"none"}`, 0, 0, false},
	} {
		for _, size := range []int{1, 7, 4096, 1 << 20} {
			var b BodyUsage
			for i := 0; i < len(c.body); i += size {
				b.Write([]byte(c.body[i:min(i+size, len(c.body))]))
			}
			p, comp, ok := b.Usage()
			if p != c.p || comp != c.comp || ok != c.ok {
				t.Errorf("%d-byte body in %d-byte chunks: %d %d %v, want %d %d %v", len(c.body), size, p, comp, ok, c.p, c.comp, c.ok)
			}
			if cap(b.tail)+cap(b.head) > 2*bodyUsageHead+2*size {
				t.Errorf("kept %d + %d bytes", cap(b.head), cap(b.tail))
			}
		}
	}
}

// A request refused after the token limit passed it, or whose answer never
// came, counts nothing more than its estimate.
func TestLLMTokenLimit_end(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)}
	p := throttleProgram(t, doc(`<llm-token-limit counter-key="k" tokens-per-minute="10" estimate-prompt-tokens="false" />
<check-header name="x-pass" failed-check-httpcode="401" />`, "", ""), &MemoryStore{}, clock)
	for i := 0; i < 3; i++ {
		// 40 bytes: 10 tokens, were the prompt counted.
		st, _, x := throttleRun(p, map[string]string{"content-length": "40"})
		if st != 401 {
			t.Fatalf("refused request %d: %d", i+1, st)
		}
		x.End(0)
	}
	if st, _, x := throttleRun(p, map[string]string{"x-pass": "1", "content-length": "40"}); st != 0 {
		t.Fatalf("the budget was used by requests that never reached the backend: %d", st)
	} else {
		x.Outbound(resp{":status": "200"})
		x.End(0) // the answer was cut short: its prompt counts
	}
	if st, _, _ := throttleRun(p, map[string]string{"x-pass": "1"}); st != 429 {
		t.Errorf("after an answer cut short: %d, want 429", st)
	}
}
