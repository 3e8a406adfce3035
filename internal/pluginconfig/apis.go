package pluginconfig

// The "apis" array: each API's routing and its operations.

import (
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/policy"
)

func parseAPIs(v gjson.Result) ([]policy.API, error) {
	if !v.IsArray() {
		return nil, fmt.Errorf("plugin configuration: \"apis\" must be an array")
	}
	var apis []policy.API
	for i, a := range v.Array() {
		where := fmt.Sprintf("apis[%d]", i)
		var api policy.API
		err := object(where, a, map[string]gjson.Type{"name": gjson.String, "hosts": gjson.JSON, "pathPrefix": gjson.String, "policy": gjson.String, "operations": gjson.JSON,
			"subscriptionRequired": gjson.True, "subscriptionKeyParameterNames": gjson.JSON, "displayName": gjson.String, "version": gjson.String, "serviceUrl": gjson.String},
			func(key string, val gjson.Result) error {
				switch key {
				case "name":
					api.Name = val.String()
				case "displayName", "version", "serviceUrl":
					*map[string]*string{"displayName": &api.DisplayName, "version": &api.Version, "serviceUrl": &api.ServiceURL}[key] = val.Str
				case "pathPrefix":
					api.PathPrefix = val.String()
				case "policy":
					api.Policy = val.String()
				case "hosts":
					for _, h := range val.Array() {
						if h.Type != gjson.String {
							return fmt.Errorf("plugin configuration: %s.hosts must be an array of strings", where)
						}
						api.Hosts = append(api.Hosts, h.String())
					}
				case "operations":
					for j, o := range val.Array() {
						op, err := parseOperation(fmt.Sprintf("%s.operations[%d]", where, j), o)
						if err != nil {
							return err
						}
						api.Operations = append(api.Operations, op)
					}
				case "subscriptionRequired":
					b := val.Type == gjson.True
					api.SubscriptionRequired = &b
				case "subscriptionKeyParameterNames":
					return object(where+".subscriptionKeyParameterNames", val, map[string]gjson.Type{"header": gjson.String, "query": gjson.String}, func(k string, v gjson.Result) error {
						*map[string]*string{"header": &api.KeyNames.Header, "query": &api.KeyNames.Query}[k] = v.Str
						return nil
					})
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
		if api.PathPrefix == "" {
			return nil, fmt.Errorf("plugin configuration: %s: \"pathPrefix\" is required", where)
		}
		apis = append(apis, api)
	}
	return apis, nil
}

// parseOperation reads one of an API's operations.
func parseOperation(where string, o gjson.Result) (policy.Operation, error) {
	var op policy.Operation
	err := object(where, o, map[string]gjson.Type{"name": gjson.String, "displayName": gjson.String, "method": gjson.String, "urlTemplate": gjson.String, "policy": gjson.String},
		func(key string, val gjson.Result) error {
			*map[string]*string{"name": &op.Name, "displayName": &op.DisplayName, "method": &op.Method, "urlTemplate": &op.URLTemplate, "policy": &op.Policy}[key] = val.String()
			return nil
		})
	return op, err
}
