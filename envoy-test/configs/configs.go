// Package configs holds the Envoy configurations the tests, make run and
// make bench render: Go templates that double as copy-paste examples of how
// to load the module (apimguard.yaml).
package configs

import "embed"

// FS holds every configuration template.
//
//go:embed *.yaml
var FS embed.FS
