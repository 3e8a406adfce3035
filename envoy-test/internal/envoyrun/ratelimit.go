package envoyrun

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// RateLimitService is Envoy's rate limit service (github.com/envoyproxy/ratelimit,
// which make ratelimit builds into .tools/bin) with a Redis of its own
// (Debian's redis-server), both on free loopback ports: the real parts of
// the plugin's global throttling, for the tests and make bench.
type RateLimitService struct {
	// HTTPPort is the service's HTTP port (its /json endpoint).
	HTTPPort int
	bin, dir string
	env      []string
	cmd      *exec.Cmd
	redis    *exec.Cmd
	// Log is the service's output file.
	Log string
}

// RateLimitGenerate runs apimguard ratelimit-config on a plugin
// configuration: the service's rules.
func RateLimitGenerate(pluginConfig string) (string, error) {
	f, err := os.CreateTemp("", "apimguard-plugin-*.json")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(pluginConfig); err != nil {
		return "", err
	}
	f.Close()
	gen := exec.Command("go", "run", "./cmd/apimguard", "ratelimit-config", f.Name())
	gen.Dir = Root()
	out, err := gen.Output()
	if err != nil {
		return "", fmt.Errorf("apimguard ratelimit-config: %v", err)
	}
	return string(out), nil
}

// StartRateLimitService starts Redis, then the service with rulesYAML as its
// configuration, and waits (up to a minute each) until both answer. Close
// stops both.
func StartRateLimitService(rulesYAML string) (*RateLimitService, error) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed: run make ratelimit (Debian's redis-server)")
	}
	dir, err := os.MkdirTemp("", "apimguard-ratelimit-")
	if err != nil {
		return nil, err
	}
	s := &RateLimitService{bin: filepath.Join(Root(), ".tools", "bin", "ratelimit"), dir: dir}
	if _, err := os.Stat(s.bin); err != nil {
		return nil, fmt.Errorf("%s is missing: run make ratelimit (it builds Envoy's rate limit service)", s.bin)
	}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	s.HTTPPort = ports[1]
	s.redis = exec.Command(redisBin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := s.redis.Start(); err != nil {
		return nil, err
	}
	if err := waitUntil("redis", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ports[0]))
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		s.Close()
		return nil, err
	}
	config := filepath.Join(dir, "runtime", "ratelimit", "config")
	if err := os.MkdirAll(config, 0o755); err != nil {
		s.Close()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(config, "apimguard.yaml"), []byte(rulesYAML), 0o644); err != nil {
		s.Close()
		return nil, err
	}
	s.env = append(os.Environ(), "USE_STATSD=false", "LOG_LEVEL=warn", "REDIS_SOCKET_TYPE=tcp", "REDIS_URL=127.0.0.1:"+strconv.Itoa(ports[0]),
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(s.HTTPPort), "GRPC_HOST=127.0.0.1", "GRPC_PORT="+strconv.Itoa(ports[2]),
		"DEBUG_HOST=127.0.0.1", "DEBUG_PORT="+strconv.Itoa(ports[3]),
		"RUNTIME_ROOT="+filepath.Join(dir, "runtime"), "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true")
	s.Log = filepath.Join(dir, "ratelimit.log")
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Start starts the service (again, after Stop) and waits until it answers.
func (s *RateLimitService) Start() error {
	log, err := os.OpenFile(s.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	s.cmd = exec.Command(s.bin)
	s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = s.env, log, log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	return waitUntil("the rate limit service", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(s.HTTPPort) + "/healthcheck")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

// Stop stops the service (Redis keeps its counts).
func (s *RateLimitService) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Close stops the service and Redis and removes their files.
func (s *RateLimitService) Close() {
	s.Stop()
	if s.redis != nil && s.redis.Process != nil {
		s.redis.Process.Kill()
		s.redis.Wait()
	}
	os.RemoveAll(s.dir)
}

// waitUntil polls ready for up to a minute (a busy machine starts
// processes slowly).
func waitUntil(what string, ready func() bool) error {
	for deadline := time.Now().Add(time.Minute); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not start within a minute", what)
		}
	}
	return nil
}
