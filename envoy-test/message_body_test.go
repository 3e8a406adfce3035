package envoytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// messageBodyPolicy reads the request's and the response's bodies in
// expressions: the key check runs first, then the body decides (a body that
// asks to be refused is answered 403 with the request held), counts its
// items into a header, and is rewritten; outbound counts the upstream's
// answer. A body that never ends is held at most expressions.bodyWaitSeconds.
const messageBodyPolicy = `<policies><inbound>
  <check-header name="x-api-key" failed-check-httpcode="401" failed-check-error-message="Missing or wrong key" ignore-case="false"><value>{{api-key}}</value></check-header>
  <choose>
    <when condition="@((string)context.Request.Body.As<JObject>(preserveContent: true)["action"] == "deny")">
      <return-response><set-status code="403" reason="Forbidden" /></return-response>
    </when>
  </choose>
  <set-header name="x-items" exists-action="override"><value>@(context.Request.Body.As<JObject>(preserveContent: true)["items"].Count().ToString())</value></set-header>
  <set-body>@{ var o = context.Request.Body.As<JObject>(); o["seen"] = new JArray(o["items"].Where(i => (int)i > 1)); return o.ToString(Formatting.None); }</set-body>
</inbound>
<outbound>
  <set-header name="x-answer-length" exists-action="override"><value>@(context.Response.Body.As<string>(preserveContent: true).Length.ToString())</value></set-header>
</outbound></policies>`

func messageBodyConfig() string {
	cfg, _ := json.Marshal(map[string]any{"policy": messageBodyPolicy, "namedValues": map[string]string{"api-key": apiKey}, "expressions": map[string]int{"bodyWaitSeconds": 2}})
	return string(cfg)
}

// messageBodyThroughEnvoy: policies read bodies with the headers held
// (allow_on_headers_stop_iteration): the backend gets the rewritten body
// and the header made from it, a request the body refuses never reaches the
// backend, the key check runs before any buffering (a 2 MiB body without a
// key gets 401, not 413), a body over 1 MiB gets 413, a body that stops
// coming gets 408 after bodyWaitSeconds, and the worker answers the next
// request.
func messageBodyThroughEnvoy(t *testing.T, s *stack) {
	key := map[string][]string{"x-api-key": {apiKey}, "content-type": {"application/json"}}
	const answer = `{"status":"accepted"}`
	s.upstream.AnswerBody(200, nil, answer)
	defer s.upstream.AnswerBody(0, nil, "")

	before := len(s.upstream.Requests())
	r := s.do(t, "POST", "/orders", key, `{"items":[1,2,3]}`)
	if r.status != 200 || r.header.Get("x-answer-length") != fmt.Sprint(len(answer)) || r.body != answer {
		t.Fatalf("a body: %d %q %v, want 200 with x-answer-length %d", r.status, r.body, r.header, len(answer))
	}
	got := s.upstream.Requests()[before:]
	if len(got) != 1 || got[0].Body != `{"items":[1,2,3],"seen":[2,3]}` || got[0].Header.Get("x-items") != "3" {
		t.Fatalf("the backend got %+v", got)
	}
	if cl := got[0].Header.Get("content-length"); cl != "" && cl != fmt.Sprint(len(got[0].Body)) {
		t.Errorf("content-length %s for a %d-byte body", cl, len(got[0].Body))
	}

	for name, tc := range map[string]struct {
		headers map[string][]string
		body    string
		status  int
	}{
		"refused by its body":     {key, `{"action":"deny","items":[]}`, 403},
		"over 1 MiB":              {key, `{"items":[` + strings.Repeat("1,", 600_000) + `1]}`, 413},
		"no key, 2 MiB of body":   {map[string][]string{"content-type": {"application/json"}}, strings.Repeat("x", 2<<20), 401},
		"not JSON":                {key, `{"items":`, 500},
		"a POST without any body": {key, ``, 500},
	} {
		before := len(s.upstream.Requests())
		if r := s.do(t, "POST", "/orders", tc.headers, tc.body); r.status != tc.status {
			t.Errorf("%s: status %d %.100q, want %d", name, r.status, r.body, tc.status)
		}
		if n := len(s.upstream.Requests()) - before; n != 0 {
			t.Errorf("%s: the backend was reached %d times", name, n)
		}
	}

	// A client that sends its headers and part of its body, then stalls.
	before = len(s.upstream.Requests())
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.envoy.URL(""), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: api.example.com\r\nx-api-key: %s\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"items\":", apiKey)
	start := time.Now()
	// Long enough for a slow machine; the answer is due after 2 s.
	conn.SetReadDeadline(time.Now().Add(90 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a stalled body: %v after %v", err, time.Since(start))
	}
	resp.Body.Close()
	// The wait is counted in the plugin's 200 ms ticks, the first of
	// which may come at once.
	if resp.StatusCode != 408 || time.Since(start) < 1500*time.Millisecond {
		t.Errorf("a stalled body: %d after %v, want 408 after about 2 s", resp.StatusCode, time.Since(start))
	}
	if n := len(s.upstream.Requests()) - before; n != 0 {
		t.Errorf("a stalled body: the backend was reached %d times", n)
	}

	if r := s.do(t, "POST", "/orders", key, `{"items":[5]}`); r.status != 200 {
		t.Fatalf("the next request: %d %q", r.status, r.body)
	}
}
