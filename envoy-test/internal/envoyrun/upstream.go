package envoyrun

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Received is one request as the upstream saw it.
type Received struct {
	Method, Path string
	Host         string // :authority
	Header       http.Header
	Body         string
}

// Upstream is a local HTTP server standing in for the protected API. It
// records every request and answers 200 with a small JSON echo.
type Upstream struct {
	srv  *http.Server
	ln   net.Listener
	mu   sync.Mutex
	reqs []Received
	// status, headers and body, when set, replace the default answer.
	status  int
	headers map[string]string
	body    string
	// failNext requests answer failStatus before the usual answer; delay
	// holds every answer.
	failNext, failStatus int
	delay                time.Duration
	// chunks, when set, are the body, sent one at a time gap apart (a
	// streamed answer).
	chunks []string
	gap    time.Duration
}

// FailNext makes the next n requests answer status (with an empty body).
func (u *Upstream) FailNext(n, status int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failNext, u.failStatus = n, status
}

// Delay holds every answer for d from now on (0: none).
func (u *Upstream) Delay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
}

// Answer makes the upstream answer with status and headers (and its JSON
// echo as the body) from now on; status 0 restores the default 200.
func (u *Upstream) Answer(status int, headers map[string]string) {
	u.AnswerBody(status, headers, "")
}

// AnswerBody is Answer with a body instead of the default JSON ("": the
// default).
func (u *Upstream) AnswerBody(status int, headers map[string]string, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.headers, u.body, u.chunks = status, headers, body, nil
}

// AnswerStream makes the upstream answer 200 with headers and a body sent
// in chunks, each flushed, gap apart, from now on.
func (u *Upstream) AnswerStream(headers map[string]string, gap time.Duration, chunks ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.headers, u.body, u.chunks, u.gap = 200, headers, "", chunks, gap
}

// StartUpstream listens on addr ("127.0.0.1:0" for any free port).
func StartUpstream(addr string) (*Upstream, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	u := &Upstream{ln: ln}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(ln)
	return u, nil
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, Received{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Header: r.Header.Clone(), Body: string(body)})
	status, headers, answer, delay, chunks, gap := u.status, u.headers, u.body, u.delay, u.chunks, u.gap
	fail := u.failNext > 0
	if fail {
		u.failNext--
		status = u.failStatus
	}
	u.mu.Unlock()
	time.Sleep(delay)
	if fail {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("content-type", "application/json")
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	if chunks != nil {
		for i, c := range chunks {
			if i > 0 {
				time.Sleep(gap)
			}
			io.WriteString(w, c)
			w.(http.Flusher).Flush()
		}
		return
	}
	if answer != "" {
		io.WriteString(w, answer)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"upstream": "ok", "method": r.Method, "path": r.URL.RequestURI()})
}

// Port is the port the upstream listens on.
func (u *Upstream) Port() int { return u.ln.Addr().(*net.TCPAddr).Port }

// Requests returns what the upstream received so far.
func (u *Upstream) Requests() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.reqs...)
}

// Close stops the upstream.
func (u *Upstream) Close() error { return u.srv.Close() }
