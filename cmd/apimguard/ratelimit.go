package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/jwt"
)

// ratelimitConfig is "apimguard ratelimit-config CONFIG": the configuration
// of Envoy's rate limit service (github.com/envoyproxy/ratelimit, YAML) for
// a plugin configuration with rateLimitService: one rule per budget of its
// rate-limit, rate-limit-by-key, quota and quota-by-key elements. The
// plugin asks the service with the descriptor ("apimguard", rule), ("key",
// counter key or subscription id).
func ratelimitConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: apimguard ratelimit-config plugin-configuration.json")
		return 2
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "apimguard ratelimit-config: %v\n", err)
		return 2
	}
	cfg, err := pluginconfig.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "apimguard ratelimit-config: %v\n", err)
		return 1
	}
	if cfg.RateLimitService == nil {
		fmt.Fprintln(stderr, "apimguard ratelimit-config: the configuration has no rateLimitService: its limits are counted by each Envoy")
		return 1
	}
	cfg.Cache, cfg.Counters = noCache{}, &policy.MemoryStore{}
	gw, err := cfg.Compile(noKeys{}, noTokens{}, time.Now, nil)
	if err != nil {
		fmt.Fprintf(stderr, "apimguard ratelimit-config: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, ratelimitYAML(cfg.RateLimitService.Domain, gw.GlobalRules()))
	return 0
}

// ratelimitYAML writes the service's configuration of rules.
func ratelimitYAML(domain string, rules []policy.GlobalRule) string {
	var b strings.Builder
	b.WriteString("# Envoy's rate limit service configuration for apimguard's policies,\n# written by apimguard ratelimit-config: one rule per budget.\n")
	b.WriteString("domain: " + strconv.Quote(domain) + "\ndescriptors:\n")
	if len(rules) == 0 {
		b.WriteString("  []\n")
	}
	for _, r := range rules {
		fmt.Fprintf(&b, "  # %s\n  - key: apimguard\n    value: %s\n    descriptors:\n      - key: key\n        rate_limit:\n          unit: %s\n          requests_per_unit: %d\n",
			r.Where, strconv.Quote(r.Name), r.Unit, r.Requests)
	}
	return b.String()
}

// The stores the compilation needs and the rules do not.
type (
	noCache  struct{}
	noKeys   struct{}
	noTokens struct{}
)

func (noCache) Lookup(string) ([]byte, bool)        { return nil, false }
func (noCache) Store(string, []byte, time.Duration) {}
func (noCache) Remove(string)                       {}
func (noKeys) KeySet(string) *jwt.KeySet            { return nil }
func (noTokens) Token(policy.TokenRequest) string   { return "" }
