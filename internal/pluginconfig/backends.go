package pluginconfig

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/policy"
)

// parseBackends reads "backends": {"id": {"url": "https://host/base"}},
// APIM's backend entities that set-backend-service's backend-id names.
// Their hosts reach Envoy clusters through "upstreams".
func parseBackends(v gjson.Result) (map[string]policy.Backend, error) {
	if !v.IsObject() {
		return nil, fmt.Errorf("plugin configuration: \"backends\" must be an object of backends by id")
	}
	out := map[string]policy.Backend{}
	var err error
	v.ForEach(func(k, b gjson.Result) bool {
		id := k.String()
		where := fmt.Sprintf("backends[%q]", id)
		var be policy.Backend
		err = object(where, b, map[string]gjson.Type{"url": gjson.String}, func(key string, v gjson.Result) error {
			be.URL = v.String()
			return nil
		})
		if err == nil && be.URL == "" {
			err = fmt.Errorf("plugin configuration: %s needs \"url\"", where)
		}
		out[id] = be
		return err == nil
	})
	return out, err
}

// backendCluster is policy.Options.BackendCluster: the cluster of a
// backend's host through upstreams; explicit when upstreams maps the host
// or a configured backend has it (else Istio's naming, made up).
func (c *Config) backendCluster(scheme, authority string) (string, bool) {
	cluster := c.Upstreams.Cluster(authority, scheme)
	host := authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host = authority[:i]
	}
	if _, ok := c.Upstreams[authority]; ok {
		return cluster, true
	}
	if _, ok := c.Upstreams[host]; ok {
		return cluster, true
	}
	for _, b := range c.Backends {
		if u, err := url.Parse(strings.TrimSpace(b.URL)); err == nil && strings.EqualFold(u.Host, authority) {
			return cluster, true
		}
	}
	return cluster, false
}
