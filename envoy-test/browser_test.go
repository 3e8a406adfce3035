package envoytest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// chromiumPath is Debian's Chromium, installed by make browser.
func chromiumPath(t *testing.T) string {
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("chromium is not installed at %s: run make browser", p)
	}
	return p
}

// pageServer serves one page on ip that calls api with fetch() and writes
// the outcome into #out.
func pageServer(t *testing.T, ip, api, credentials string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf(`<!doctype html><html><body><div id="out">pending</div><script>
fetch(%q, {method: "POST", credentials: %q, headers: {"Content-Type": "application/json", "X-Client": "browser"}, body: "{}"})
  .then(r => r.json())
  .then(j => { document.getElementById("out").textContent = "OK " + j.upstream + " " + j.method; })
  .catch(e => { document.getElementById("out").textContent = "BLOCKED " + e.name; });
</script></body></html>`, api, credentials)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

var outDiv = regexp.MustCompile(`<div id="out">([^<]*)</div>`)

// browse loads url in headless Chromium and returns the text of #out once
// the page's fetch has settled.
func browse(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath(t), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=10000", "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	m := outDiv.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no #out in the page:\n%s", out)
	}
	return string(m[1])
}

// A real browser enforces what the plugin answers: an allowed origin reads
// the JSON (after a preflight forced by a custom header), a disallowed one
// is blocked, and credentials work with allow-credentials.
func TestCORS_realBrowser(t *testing.T) {
	port, err := envoyrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	api := "http://127.0.0.1:" + strconv.Itoa(port) + "/orders"
	allowedPage := pageServer(t, "127.0.0.1", api, "omit")
	credentialsPage := pageServer(t, "127.0.0.1", api, "include")
	otherPage := pageServer(t, "127.0.0.2", api, "omit")
	policy := fmt.Sprintf(`<policies><inbound>
<cors allow-credentials="true">
  <allowed-origins><origin>%s</origin><origin>%s</origin></allowed-origins>
  <allowed-methods><method>GET</method><method>POST</method></allowed-methods>
  <allowed-headers><header>content-type</header><header>x-client</header></allowed-headers>
</cors>
</inbound></policies>`, allowedPage, credentialsPage)
	s := startStackOn(t, port, envoyrun.Params{PluginConfig: policy})

	if got := browse(t, allowedPage); got != "OK ok POST" {
		t.Errorf("allowed origin: %q, want the upstream's JSON", got)
	}
	if got := browse(t, credentialsPage); got != "OK ok POST" {
		t.Errorf("allowed origin with credentials: %q", got)
	}
	before := len(s.upstream.Requests())
	if got := browse(t, otherPage); got != "BLOCKED TypeError" {
		t.Errorf("disallowed origin: %q, want the fetch blocked", got)
	}
	if len(s.upstream.Requests()) != before {
		t.Error("the disallowed origin's request reached the upstream")
	}
}
