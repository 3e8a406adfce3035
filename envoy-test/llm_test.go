package envoytest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// llmPolicy: 100 tokens a minute per x-team, the tokens as metrics.
const llmPolicy = `<policies>
  <inbound>
    <llm-token-limit counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-team&quot;, &quot;&quot;))" tokens-per-minute="100" estimate-prompt-tokens="false" remaining-tokens-header-name="x-remaining-tokens" />
    <llm-emit-token-metric namespace="llm">
      <dimension name="team" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-team&quot;, &quot;&quot;))" />
    </llm-emit-token-metric>
  </inbound>
</policies>`

// TestLLMTokenLimit_throughEnvoy: a token limit against a stand-in for an
// OpenAI-compatible backend, answering whole and streamed: the tokens its
// usage reports are counted, the answers reach the client unchanged, and
// past the limit the next request gets 429 without reaching the backend.
func TestLLMTokenLimit_throughEnvoy(t *testing.T) {
	cfg, _ := json.Marshal(map[string]any{"policy": llmPolicy})
	st := startStackWith(t, 0, envoyrun.StartOptions{}, envoyrun.Params{PluginConfig: string(cfg)})
	prompt := `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`
	post := func(team string) (int, http.Header, string) {
		t.Helper()
		r := st.do(t, "POST", "/v1/chat/completions", map[string][]string{"x-team": {team}, "content-type": {"application/json"}}, prompt)
		return r.status, r.header, r.body
	}
	reached := func() int { return len(st.upstream.Requests()) }

	t.Run("whole answers", func(t *testing.T) {
		answer := `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"}}],"usage":{"prompt_tokens":30,"completion_tokens":50,"total_tokens":80}}`
		st.upstream.AnswerBody(200, map[string]string{"content-type": "application/json"}, answer)
		// The bucket gets a token back every 0.6 s: a slow machine sees a few
		// more than the exact count.
		for i, left := range [][2]int{{100, 100}, {20, 25}} {
			status, h, body := post("red")
			if status != 200 || body != answer || !within(h.Get("x-remaining-tokens"), left[0], left[1]) {
				t.Fatalf("call %d: %d, %q left, body %s", i+1, status, h.Get("x-remaining-tokens"), body)
			}
		}
		before := reached()
		status, h, body := post("red")
		// 160 of 100 a minute: 61 tokens to wait for, 0.6 s each.
		if status != 429 || !within(h.Get("Retry-After"), 30, 37) ||
			body != `{"statusCode":429,"message":"Token limit is exceeded. Try again in `+h.Get("Retry-After")+` seconds."}` {
			t.Errorf("past the limit: %d, Retry-After %q, %s", status, h.Get("Retry-After"), body)
		}
		if reached() != before {
			t.Error("a request past the limit reached the backend")
		}
		waitForStat(t, st, `apimguard_custom{metric="Total_Tokens",dimensions="team=red"} 160`)
		waitForStat(t, st, `apimguard_custom{metric="Completion_Tokens",dimensions="team=red"} 100`)
	})

	t.Run("streamed answers", func(t *testing.T) {
		chunks := []string{
			"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
			"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n",
			"\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":50}}\n\ndata: [DONE]\n\n",
		}
		st.upstream.AnswerStream(map[string]string{"content-type": "text/event-stream"}, 2*time.Second, chunks...)
		req, _ := http.NewRequest("POST", st.envoy.URL("/v1/chat/completions"), strings.NewReader(prompt))
		req.Header.Set("x-team", "blue")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, len(chunks[0]))
		if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != chunks[0] {
			t.Fatalf("the first event: %q %v", first, err)
		}
		// The backend sends the next event two seconds later: the first is
		// passed on at once, not held for the rest.
		if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
			t.Errorf("the first event came after %v: the stream was held", elapsed)
		}
		rest, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(first)+string(rest) != strings.Join(chunks, "") {
			t.Fatalf("the stream: %d %q", resp.StatusCode, string(first)+string(rest))
		}
		st.upstream.AnswerStream(map[string]string{"content-type": "text/event-stream"}, 10*time.Millisecond, chunks...)
		if status, h, _ := post("blue"); status != 200 || !within(h.Get("x-remaining-tokens"), 10, 15) {
			t.Fatalf("second: %d, %q left", status, h.Get("x-remaining-tokens"))
		}
		if status, _, _ := post("blue"); status != 429 {
			t.Errorf("past the limit: %d", status)
		}

		// Without usage: the content is estimated (4 characters a token)
		// and the prompt from the request's size.
		st.upstream.AnswerStream(map[string]string{"content-type": "text/event-stream"}, 10*time.Millisecond,
			"data: {\"choices\":[{\"delta\":{\"content\":\""+strings.Repeat("word ", 80)+"\"}}]}\n\n", "data: [DONE]\n\n")
		if status, _, _ := post("green"); status != 200 {
			t.Fatalf("green: %d", status)
		}
		if status, _, _ := post("green"); status != 429 {
			t.Errorf("100 estimated completion tokens and a 17-token prompt: %d, want 429", status)
		}
	})

	t.Run("a backend that lies does not break the plugin", func(t *testing.T) {
		for i, answer := range []string{
			`{"usage":{"prompt_tokens":-5,"completion_tokens":"many"}}`,
			`{"usage":{"prompt_tokens":1e300}}`,
			`{"usage":` + strings.Repeat("[", 5000) + `}`,
			"{\"usage\":{\"prompt_tokens\":" + strings.Repeat("[", 15000) + strings.Repeat("]", 15000) + "}}",
			strings.Repeat("x", 2<<20),
		} {
			st.upstream.AnswerBody(200, map[string]string{"content-type": "application/json"}, answer)
			status, _, body := post("violet-" + strconv.Itoa(i))
			if status != 200 || len(body) != len(answer) {
				t.Errorf("answer of %d bytes: %d, %d bytes reached the client", len(answer), status, len(body))
			}
		}
		deep := "data: {\"usage\":" + strings.Repeat("[", 15000) + strings.Repeat("]", 15000) + "}\n\n"
		st.upstream.AnswerStream(map[string]string{"content-type": "text/event-stream"}, 0, deep, "data: [DONE]\n\n")
		if status, _, body := post("violet-deep"); status != 200 || len(body) != len(deep)+len("data: [DONE]\n\n") {
			t.Errorf("a deeply nested event: %d, %d bytes", status, len(body))
		}
		// A usage of 1e300 tokens used the budget up (counted as 2^40).
		if status, _, _ := post("violet-1"); status != 429 {
			t.Errorf("after a usage of 1e300: %d", status)
		}
		st.upstream.AnswerBody(0, nil, "")
		if status, _, _ := post("white"); status != 200 {
			t.Errorf("the next request: %d", status)
		}
		if strings.Contains(st.envoy.Log(), "panic") {
			t.Error("a panic in Envoy's log")
		}
	})
}

// within reports whether a header holds a whole number from lo to hi.
func within(v string, lo, hi int) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= lo && n <= hi
}
