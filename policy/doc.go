// Package policy is apimguard's engine: it reads APIM policy documents,
// resolves {{named values}}, compiles them once into a Program per route and
// evaluates that program per request.
//
// The engine never blocks and does no I/O. What it needs from the outside
// comes through the host contract (host.go): the Request, the KeyStore of
// fetched key sets, and the clock of token checks (Options.Now, time.Now
// when the host gives none); everything it wants done comes back as a
// Result, and the host resumes it after a call. It must not import
// proxy-wasm, wazero or anything Envoy-specific: the filter package adapts
// it to the host. docs/architecture.md describes the design.
//
// Each APIM element lives in a file named after it (check_header.go,
// set_variable.go, ...). Divergences from APIM are listed under "# Notes" in
// each element's doc comment.
package policy
