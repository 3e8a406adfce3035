package envoytest

import (
	"bufio"
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// TestDemo is make run as a user sees it: the demo command (what make run
// starts) brings up Envoy with every seed example, and each curl line it
// prints, pasted into a shell after the token lines it prints, gets the
// status (and CORS header) its comment states.
func TestDemo(t *testing.T) {
	if _, _, err := envoyrun.Paths(); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the demo's lines are curl commands, and curl is not installed: apt-get install curl")
	}
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, "./envoy-test/cmd/demo")
	build.Dir = envoyrun.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./envoy-test/cmd/demo: %v\n%s", err, out)
	}
	var ports [3]int
	for i := range ports {
		p, err := envoyrun.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	demo := exec.Command(bin, "-port", itoa(ports[0]), "-admin-port", itoa(ports[1]), "-upstream-port", itoa(ports[2]))
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	demo.Stderr = &stderr
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		// Ctrl-C, as a user stops it; it stops Envoy and its servers.
		demo.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			syscall.Kill(-demo.Process.Pid, syscall.SIGKILL)
			t.Error("the demo did not stop within 15 s of Ctrl-C")
		}
	})

	// Read what it prints up to its last line.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- demo.Wait()
	}()
	var printed []string
	deadline := time.After(2 * time.Minute)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the demo exited before it was ready:\n%s\n%s", strings.Join(printed, "\n"), stderr.String())
			}
			printed = append(printed, l)
			if strings.HasPrefix(l, "Ctrl-C stops") {
				break read
			}
		case <-deadline:
			t.Fatalf("the demo printed no curl lines within 2 minutes:\n%s\n%s", strings.Join(printed, "\n"), stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()

	assign := regexp.MustCompile(`^\s+[A-Z_]+=\S+$`)
	expect := regexp.MustCompile(`#\s+expect (\d{3})(?: with ([A-Za-z-]+): (\S+)| without ([A-Za-z-]+))?\s*$`)
	var preamble strings.Builder
	var curls []string
	for _, l := range printed {
		switch {
		case assign.MatchString(l):
			preamble.WriteString(strings.TrimSpace(l) + "\n")
		case strings.HasPrefix(strings.TrimSpace(l), "curl "):
			curls = append(curls, strings.TrimSpace(l))
		}
	}
	if len(curls) < 10 || !strings.Contains(preamble.String(), "TOKEN=ey") {
		t.Fatalf("want the token lines and at least 10 curl lines, got %d:\n%s", len(curls), strings.Join(printed, "\n"))
	}
	seen := map[string]bool{}
	for _, line := range curls {
		m := expect.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s\n  states no status (# expect NNN)", line)
			continue
		}
		seen[m[1]] = true
		out, err := exec.Command("bash", "-c", preamble.String()+line).Output()
		if err != nil {
			t.Errorf("%s\n  %v", line, err)
			continue
		}
		status, header := readResponse(t, out)
		switch {
		case strconv.Itoa(status) != m[1]:
			t.Errorf("%s\n  got %d, want %s:\n%s", line, status, m[1], out)
		case m[2] != "" && header.Get(m[2]) != m[3]:
			t.Errorf("%s\n  %s: %q, want %q", line, m[2], header.Get(m[2]), m[3])
		case m[4] != "" && header.Get(m[4]) != "":
			t.Errorf("%s\n  has %s: %q, want none", line, m[4], header.Get(m[4]))
		}
	}
	for _, s := range []string{"200", "401", "403"} {
		if !seen[s] {
			t.Errorf("no line shows a %s", s)
		}
	}
}

// readResponse reads the status and headers curl -si printed.
func readResponse(t *testing.T, out []byte) (int, http.Header) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("curl printed no HTTP response: %v\n%s", err, out)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}
