package main

import (
	"fmt"

	"github.com/apimguard/apimguard/policy"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// vmContext implements types.VMContext.
type vmContext struct {
	types.DefaultVMContext
}

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{}
}

// pluginContext holds the compiled policy shared by every request of one
// plugin configuration.
type pluginContext struct {
	types.DefaultPluginContext
	gw             *policy.Gateway
	xffTrustedHops int
	upstreams      upstreams
}

// OnPluginStart implements types.PluginContext. Any configuration problem
// fails the start, so Envoy refuses the configuration instead of serving
// traffic half-configured.
func (p *pluginContext) OnPluginStart(int) (status types.OnPluginStartStatus) {
	defer func() {
		if r := recover(); r != nil {
			proxywasm.LogCriticalf("apimguard: refusing to start: internal error: %v", r)
			status = types.OnPluginStartStatusFailed
		}
	}()
	cfg, gw, err := load()
	if err != nil {
		proxywasm.LogCriticalf("apimguard: refusing to start: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.gw, p.xffTrustedHops, p.upstreams = gw, cfg.xffTrustedHops, cfg.upstreams
	proxywasm.LogInfo("apimguard: policy loaded")
	return types.OnPluginStartStatusOK
}

func load() (*config, *policy.Gateway, error) {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		return nil, nil, fmt.Errorf("plugin configuration: cannot read it from the host: %v", err)
	}
	cfg, err := parseConfig(data)
	if err != nil {
		return nil, nil, err
	}
	gw, err := cfg.compile()
	return cfg, gw, err
}

// NewHttpContext implements types.PluginContext.
func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{gw: p.gw, xffTrustedHops: p.xffTrustedHops, upstreams: p.upstreams}
}
