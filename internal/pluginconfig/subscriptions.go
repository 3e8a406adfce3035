package pluginconfig

// Products and subscriptions ("products", "subscriptions"): their reader,
// and the rule that a subscription key is a digest or a reference to the
// VM's environment, never in clear.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/expr"
)

// parseProducts reads "products": [{id, name, apis, policy, state,
// subscriptionRequired}].
func parseProducts(v gjson.Result) ([]policy.Product, error) {
	if !v.IsArray() {
		return nil, fmt.Errorf("plugin configuration: \"products\" must be an array")
	}
	var out []policy.Product
	for i, e := range v.Array() {
		where := fmt.Sprintf("products[%d]", i)
		var p policy.Product
		err := object(where, e, map[string]gjson.Type{"id": gjson.String, "name": gjson.String, "apis": gjson.JSON, "policy": gjson.String, "state": gjson.String, "subscriptionRequired": gjson.True},
			func(key string, f gjson.Result) error {
				switch key {
				case "subscriptionRequired":
					p.Open = f.Type == gjson.False
				case "apis":
					var err error
					p.APIs, err = stringList(where+".apis", f)
					return err
				case "state":
					if f.Str != "published" && f.Str != "notPublished" {
						return fmt.Errorf("plugin configuration: %s.state must be \"published\" or \"notPublished\"", where)
					}
					p.NotPublished = f.Str == "notPublished"
				default:
					*map[string]*string{"id": &p.ID, "name": &p.Name, "policy": &p.Policy}[key] = f.Str
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parseSubscriptions reads "subscriptions": [{id, name, scope, state,
// startDate, endDate, primaryKey, secondaryKey, user}].
func parseSubscriptions(v gjson.Result) ([]policy.Subscription, error) {
	if !v.IsArray() {
		return nil, fmt.Errorf("plugin configuration: \"subscriptions\" must be an array")
	}
	var out []policy.Subscription
	for i, e := range v.Array() {
		where := fmt.Sprintf("subscriptions[%d]", i)
		var s policy.Subscription
		err := object(where, e, map[string]gjson.Type{"id": gjson.String, "name": gjson.String, "scope": gjson.String, "state": gjson.String,
			"startDate": gjson.String, "endDate": gjson.String, "primaryKey": gjson.String, "secondaryKey": gjson.String, "user": gjson.JSON},
			func(key string, f gjson.Result) error {
				switch key {
				case "startDate", "endDate":
					t, err := time.Parse(time.RFC3339, f.Str)
					if err != nil {
						return fmt.Errorf("plugin configuration: %s.%s must be an RFC 3339 time", where, key)
					}
					*map[string]*time.Time{"startDate": &s.StartDate, "endDate": &s.EndDate}[key] = t
				case "user":
					s.User = &expr.User{}
					return object(where+".user", f, map[string]gjson.Type{"id": gjson.String, "email": gjson.String, "firstName": gjson.String, "lastName": gjson.String},
						func(k string, u gjson.Result) error {
							*map[string]*string{"id": &s.User.ID, "email": &s.User.Email, "firstName": &s.User.FirstName, "lastName": &s.User.LastName}[k] = u.Str
							return nil
						})
				default:
					*map[string]*string{"id": &s.ID, "name": &s.Name, "scope": &s.Scope, "state": &s.State, "primaryKey": &s.PrimaryKey, "secondaryKey": &s.SecondaryKey}[key] = f.Str
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// subscriptionKeys turns the subscriptions' keys into digests. A key is
// given as "sha256:<hex digest>", or as exactly one reference "{{NAME}}" to
// a variable of the VM's environment (a secret the platform injects); never
// in clear in the configuration, and so never through namedValues, which
// is part of the configuration, nor with text around the reference.
func (c *Config) subscriptionKeys() ([]policy.Subscription, error) {
	out := make([]policy.Subscription, len(c.Subscriptions))
	for i, s := range c.Subscriptions {
		for _, k := range []struct {
			digest, clear *string
			name          string
		}{{&s.PrimaryKey, &s.PrimaryClear, "primaryKey"}, {&s.SecondaryKey, &s.SecondaryClear, "secondaryKey"}} {
			v := *k.digest
			bad := func(format string, args ...any) error {
				return fmt.Errorf("plugin configuration: subscriptions[%d].%s: "+format, append([]any{i, k.name}, args...)...)
			}
			switch {
			case v == "":
			case strings.HasPrefix(v, "sha256:"):
				d := strings.ToLower(strings.TrimPrefix(v, "sha256:"))
				if b, err := hex.DecodeString(d); err != nil || len(b) != sha256.Size {
					return nil, bad("a sha256: digest is 64 hex digits")
				}
				*k.digest = d
			case strings.Contains(v, "{{"):
				name, ok := envReference(v)
				if !ok {
					return nil, bad("a key reference is exactly \"{{NAME}}\", one variable of the VM's environment, with nothing around it")
				}
				if _, inConfig := c.NamedValues[name]; inConfig {
					return nil, bad("{{%s}} names a value of \"namedValues\", which is written in the configuration; a key comes from the VM's environment (a secret) or as \"sha256:<hex digest>\"", name)
				}
				key, ok := os.LookupEnv(name)
				if !ok {
					return nil, bad("{{%s}} is not a variable of the VM's environment", name)
				}
				if len(key) < 16 {
					return nil, bad("the key is shorter than 16 characters")
				}
				*k.digest, *k.clear = policy.KeyDigest(key), key
			default:
				return nil, bad("keys are secrets; give \"sha256:<hex digest of the key>\" or \"{{NAME}}\", a variable of the VM's environment, not the key")
			}
		}
		out[i] = s
	}
	return out, nil
}

// envReference reads "{{NAME}}" (spaces inside the braces allowed) where
// NAME is an environment variable's name: letters, digits and '_'.
func envReference(v string) (string, bool) {
	if !strings.HasPrefix(v, "{{") || !strings.HasSuffix(v, "}}") || len(v) < 5 {
		return "", false
	}
	name := strings.TrimSpace(v[2 : len(v)-2])
	if name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", false
		}
	}
	return name, true
}
