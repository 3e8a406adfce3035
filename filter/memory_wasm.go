//go:build wasm

package main

// linearMemoryPages is the wasm memory.size instruction: the module's
// linear memory in 64 KiB pages, static data and Go heap alike. Go never
// shrinks it, so it is the VM's high-water mark.
func linearMemoryPages() int32

func memoryPages() int64 { return int64(linearMemoryPages()) }
