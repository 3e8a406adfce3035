// Package apiops reads an Azure API Management instance as APIOps
// artifacts (the layout Microsoft's APIOps extractor writes) and turns it
// into apimguard's plugin configuration, an Envoy bootstrap, Istio
// manifests and a readiness report (apimguard import). It runs outside the
// module: its size and dependencies cost Envoy nothing. It never contacts
// Azure, and the same tree always gives the same bytes.
package apiops
