package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/apimguard/apimguard/policy"
	"github.com/tidwall/gjson"
)

// config is the plugin configuration: either a bare <policies> document or
// a JSON object with the keys documented in README.md.
type config struct {
	policy      string
	namedValues map[string]string
}

// parseConfig reads the plugin configuration. Unknown keys and wrong types
// are errors: a gateway must never run half-configured.
func parseConfig(data []byte) (*config, error) {
	s := strings.TrimSpace(strings.TrimPrefix(string(data), "\ufeff"))
	switch {
	case s == "":
		return nil, fmt.Errorf("plugin configuration: empty; give a <policies> document or a JSON object with \"policy\"")
	case s[0] == '<':
		return &config{policy: s}, nil
	case s[0] != '{':
		return nil, fmt.Errorf("plugin configuration: want a <policies> document or a JSON object, got %q", firstWord(s))
	}
	if !gjson.Valid(s) {
		return nil, fmt.Errorf("plugin configuration: not valid JSON")
	}
	c := &config{}
	var err error
	seen := map[string]bool{}
	gjson.Parse(s).ForEach(func(k, v gjson.Result) bool {
		key := k.String()
		if seen[key] {
			err = fmt.Errorf("plugin configuration: duplicate key %q", key)
			return false
		}
		seen[key] = true
		switch key {
		case "policy":
			if v.Type != gjson.String {
				err = fmt.Errorf("plugin configuration: \"policy\" must be a string holding a <policies> document")
				return false
			}
			c.policy = v.String()
		case "namedValues":
			c.namedValues, err = stringMap("namedValues", v)
		default:
			err = fmt.Errorf("plugin configuration: unknown key %q (known: policy, namedValues)", key)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.policy) == "" {
		return nil, fmt.Errorf("plugin configuration: \"policy\" is missing or empty")
	}
	return c, nil
}

func stringMap(key string, v gjson.Result) (map[string]string, error) {
	if !v.IsObject() {
		return nil, fmt.Errorf("plugin configuration: %q must be an object of strings", key)
	}
	m := map[string]string{}
	var err error
	v.ForEach(func(k, val gjson.Result) bool {
		if val.Type != gjson.String {
			err = fmt.Errorf("plugin configuration: %s[%q] must be a string", key, k.String())
			return false
		}
		m[k.String()] = val.String()
		return true
	})
	return m, err
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// compile turns the configuration into a program. Named values come from the
// configuration first, then from the VM's environment variables (Envoy's
// vm_config.environment_variables), so secrets can stay out of the config.
func (c *config) compile() (*policy.Program, error) {
	return policy.Compile(c.policy, policy.Options{
		Doc: "policy",
		NamedValue: func(name string) (string, bool) {
			if v, ok := c.namedValues[name]; ok {
				return v, true
			}
			return os.LookupEnv(name)
		},
	})
}
