package expr

// Route is what expressions read of the route and the gateway that run
// them: context.Api, context.Operation and context.Deployment. The policy
// engine builds one per route at load time.
type Route struct {
	API        *API       // nil: the request matched no API (global scope only)
	Operation  *Operation // nil: no operation of the API matched
	Deployment *Deployment
}

// API is context.Api: ID is the API's name in the configuration, Name its
// display name (the ID when none), Path its URL suffix (the path prefix
// without its leading '/'), ServiceURL its backend's URL (nil when the
// configuration gives none).
type API struct {
	ID, Name, Path, Version string
	ServiceURL              *URL
}

// Operation is context.Operation.
type Operation struct{ ID, Name, Method, URLTemplate string }

// Deployment is context.Deployment, from the plugin configuration; a
// self-hosted gateway is never managed.
type Deployment struct{ Region, ServiceName, ServiceID, GatewayID string }

func routeMembers() {
	route := func(f *frame) *Route {
		if r := f.env.Route(); r != nil {
			return r
		}
		return &Route{}
	}
	props[contextType]["Api"] = prop{typ: apiType, get: func(f *frame, _ any) (any, error) {
		if a := route(f).API; a != nil {
			return a, nil
		}
		return nil, nil
	}}
	props[contextType]["Operation"] = prop{typ: operationType, get: func(f *frame, _ any) (any, error) {
		if o := route(f).Operation; o != nil {
			return o, nil
		}
		return nil, nil
	}}
	props[contextType]["Deployment"] = prop{typ: deploymentType, get: func(f *frame, _ any) (any, error) {
		if d := route(f).Deployment; d != nil {
			return d, nil
		}
		return &Deployment{}, nil
	}}
	props[apiType] = map[string]prop{
		"Id":      str(func(_ *frame, r any) string { return r.(*API).ID }),
		"Name":    str(func(_ *frame, r any) string { return r.(*API).Name }),
		"Path":    str(func(_ *frame, r any) string { return r.(*API).Path }),
		"Version": str(func(_ *frame, r any) string { return r.(*API).Version }),
		"ServiceUrl": {typ: urlType, get: func(_ *frame, r any) (any, error) {
			if u := r.(*API).ServiceURL; u != nil {
				return u, nil
			}
			return nil, nil
		}},
	}
	props[operationType] = map[string]prop{
		"Id":          str(func(_ *frame, r any) string { return r.(*Operation).ID }),
		"Name":        str(func(_ *frame, r any) string { return r.(*Operation).Name }),
		"Method":      str(func(_ *frame, r any) string { return r.(*Operation).Method }),
		"UrlTemplate": str(func(_ *frame, r any) string { return r.(*Operation).URLTemplate }),
	}
	gatewayID := str(func(_ *frame, r any) string { return r.(*Deployment).GatewayID })
	props[deploymentType] = map[string]prop{
		"Region":      str(func(_ *frame, r any) string { return r.(*Deployment).Region }),
		"ServiceName": str(func(_ *frame, r any) string { return r.(*Deployment).ServiceName }),
		"ServiceId":   str(func(_ *frame, r any) string { return r.(*Deployment).ServiceID }),
		"GatewayId":   gatewayID,
		"Gateway":     {typ: gatewayType, get: func(_ *frame, r any) (any, error) { return r, nil }},
	}
	props[gatewayType] = map[string]prop{
		"Id":         gatewayID,
		"InstanceId": gatewayID,
		"IsManaged":  {typ: Bool, get: func(*frame, any) (any, error) { return false, nil }},
	}
}
