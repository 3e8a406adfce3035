package policy

// The table of policy elements: which element compiles how, in which
// sections it may stand.

type element struct {
	sections section
	// compile returns nil for an element with nothing to do at run time.
	compile func(c *compiler, n *Node) (statement, error)
	// firstOnly: only the first of these in a section applies (a load-time
	// warning names the others).
	firstOnly bool
}

// elements is the table of supported policy elements and their sections.
func elements(name string) (element, bool) {
	switch name {
	case "base":
		return element{sections: anySection, compile: compileBase}, true
	case "authentication-managed-identity":
		return element{sections: inbound, compile: compileManagedIdentity}, true
	case "cache-lookup-value":
		return element{sections: anySection, compile: compileCacheLookupValue}, true
	case "cache-store-value":
		return element{sections: anySection, compile: compileCacheStoreValue}, true
	case "cache-remove-value":
		return element{sections: anySection, compile: compileCacheRemoveValue}, true
	case "check-header":
		return element{sections: inbound, compile: compileCheckHeader}, true
	case "check-ip":
		return element{sections: inbound, compile: compileCheckIP}, true
	case "ip-filter":
		return element{sections: inbound, compile: compileIPFilter}, true
	case "cors":
		return element{sections: inbound | outbound, compile: compileCORS, firstOnly: true}, true
	case "choose":
		return element{sections: anySection, compile: compileChoose}, true
	case "emit-metric":
		return element{sections: anySection, compile: compileEmitMetric}, true
	case "find-and-replace":
		return element{sections: anySection, compile: compileFindAndReplace}, true
	case "forward-request":
		return element{sections: backend, compile: compileForwardRequest}, true
	case "llm-token-limit", "azure-openai-token-limit":
		return element{sections: inbound, compile: compileLLMTokenLimit}, true
	case "llm-emit-token-metric", "azure-openai-emit-token-metric":
		return element{sections: inbound, compile: compileLLMTokenMetric}, true
	case "limit-concurrency":
		return element{sections: anySection, compile: compileLimitConcurrency}, true
	case "log-to-eventhub":
		return element{sections: anySection, compile: compileLogToEventHub}, true
	case "mock-response":
		return element{sections: inbound | outbound | onError, compile: compileMockResponse}, true
	case "quota":
		return element{sections: inbound, compile: compileQuota}, true
	case "quota-by-key":
		return element{sections: inbound, compile: compileQuotaByKey}, true
	case "rate-limit":
		return element{sections: inbound, compile: compileRateLimit}, true
	case "rate-limit-by-key":
		return element{sections: inbound, compile: compileRateLimitByKey}, true
	case "retry":
		return element{sections: anySection, compile: compileRetry}, true
	case "return-response":
		return element{sections: anySection, compile: compileReturnResponse}, true
	case "rewrite-uri":
		return element{sections: inbound, compile: compileRewriteURI}, true
	case "send-one-way-request":
		return element{sections: anySection, compile: compileSendOneWayRequest}, true
	case "send-request":
		return element{sections: anySection, compile: compileSendRequest}, true
	case "set-backend-service":
		return element{sections: inbound | backend, compile: compileSetBackendService}, true
	case "set-body":
		return element{sections: anySection, compile: compileSetBody}, true
	case "set-header":
		return element{sections: anySection, compile: compileSetHeader}, true
	case "set-method":
		return element{sections: inbound | backend, compile: compileSetMethod}, true
	case "set-query-parameter":
		return element{sections: inbound | backend, compile: compileSetQueryParameter}, true
	case "set-status":
		return element{sections: outbound | onError, compile: compileSetStatus}, true
	case "set-variable":
		return element{sections: anySection, compile: compileSetVariable}, true
	case "trace":
		return element{sections: inbound | backend | outbound, compile: compileTrace}, true
	case "wait":
		return element{sections: inbound | backend | outbound, compile: compileWait}, true
	case "validate-jwt":
		return element{sections: inbound, compile: compileValidateJWT}, true
	case "validate-azure-ad-token":
		return element{sections: inbound, compile: compileValidateAzureADToken}, true
	case "validate-client-certificate":
		return element{sections: inbound, compile: compileValidateClientCertificate}, true
	}
	return element{}, false
}

// refusedElements are APIM elements apimguard knows and refuses, with the
// reason and what to use instead.
var refusedElements = map[string]string{
	"cache-lookup": "whole responses are not cached by the plugin; Envoy's cache filter (envoy.filters.http.cache) caches responses, and cache-lookup-value / cache-store-value cache values",
	"cache-store":  "whole responses are not cached by the plugin; Envoy's cache filter (envoy.filters.http.cache) caches responses, and cache-lookup-value / cache-store-value cache values",
}

// meta is what a statement records about its element.
func (c *compiler) meta(n *Node) stmtMeta {
	scope := n.Scope
	if scope == "" {
		scope = "global"
	}
	return stmtMeta{element: n.Name, id: policyID(n), scope: scope, path: n.Path}
}

// compileBase handles a <base/> left after splicing: at global scope it has
// no parent.
func compileBase(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n); err != nil {
		return nil, err
	}
	return nil, c.empty(n)
}

// ElementSupport reports whether name is a policy element apimguard runs;
// for an element it knows and refuses, refusal says why. Tools that read
// policies without compiling them (the APIOps importer's report) ask it;
// the module does not.
func ElementSupport(name string) (supported bool, refusal string) {
	if _, ok := elements(name); ok || name == "include-fragment" {
		return true, "" // include-fragment is spliced in before compiling
	}
	return false, refusedElements[name]
}
