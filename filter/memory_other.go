//go:build !wasm

package main

import "runtime/metrics"

// memoryPages, in the plugin compiled for the host (tests only), is the Go
// runtime's mapped memory in 64 KiB units: there is no linear memory.
func memoryPages() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() / 65536)
}
