// Package policy is apimguard's engine: it reads APIM policy documents,
// resolves {{named values}}, compiles them once into an immutable Program and
// evaluates that program per request.
//
// The engine is pure. It never blocks, does no I/O and does not read the
// clock; everything it needs from the outside comes through the Request
// interface, and everything it wants done comes back as a Result. It must not
// import proxy-wasm, wazero or anything Envoy-specific: the filter package
// adapts it to the host.
//
// Each APIM element lives in a file named after it (check_header.go,
// set_variable.go, ...). Divergences from APIM are listed under "# Notes" in
// each element's doc comment.
package policy
