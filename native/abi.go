package main

// The part of Envoy's dynamic-module ABI this host uses, declared here from
// the ABI's documentation and header (source/extensions/dynamic_modules/abi
// in Envoy's tree) for exactly Envoy 1.40.0, whose ABI version string is
// "v0.2.0". The declarations are ours: only the functions the host calls,
// with the handles as uintptr_t so that no Go pointer is ever kept by Envoy.
// Envoy resolves the callbacks when it loads the library (they are symbols
// of the Envoy binary); the event hooks are the //export functions of
// hooks.go. A different Envoy version may change any of this: the library
// is built for one Envoy version and says so in its ABI version.

/*
#include "abi.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// abiVersion is what envoy_dynamic_module_on_program_init returns: Envoy
// 1.40.0's dynamic-module ABI version. Envoy logs "Dynamic module ABI
// version v0.2.0 matched." for it, and a deprecation warning for any other.
const abiVersion = "v0.2.0"

// Header kinds.
const (
	requestHeaders  = 0
	responseHeaders = 2
)

// attributeSourceAddress is source.address, the downstream peer (after
// Envoy's own X-Forwarded-For handling), with its port.
const attributeSourceAddress = 24

// Log levels.
const (
	levelInfo     = 2
	levelWarn     = 3
	levelError    = 4
	levelCritical = 5
)

// buffer views s for one call: Envoy copies what it keeps, and s's bytes
// hold no Go pointer.
func buffer(s string) C.apimguard_buffer {
	return C.apimguard_buffer{ptr: (*C.char)(unsafe.Pointer(unsafe.StringData(s))), length: C.size_t(len(s))}
}

// str copies an Envoy buffer into Go memory: Envoy's is valid only during
// the callback.
func str(b C.apimguard_buffer) string {
	if b.ptr == nil || b.length == 0 {
		return ""
	}
	return C.GoStringN(b.ptr, C.int(b.length))
}

// getHeader returns every value of the named header joined with commas.
func getHeader(filter uintptr, kind int, name string) (string, bool) {
	var v C.apimguard_buffer
	var n C.size_t
	ok := C.envoy_dynamic_module_callback_http_get_header(C.uintptr_t(filter), C.int(kind), buffer(name), &v, 0, &n)
	runtime.KeepAlive(name)
	if !bool(ok) || n == 0 {
		return "", false
	}
	joined := str(v)
	for i := C.size_t(1); i < n; i++ {
		if C.envoy_dynamic_module_callback_http_get_header(C.uintptr_t(filter), C.int(kind), buffer(name), &v, i, nil) {
			joined += "," + str(v)
		}
	}
	return joined, true
}

// getHeaders returns the whole header map.
func getHeaders(filter uintptr, kind int) [][2]string {
	n := C.envoy_dynamic_module_callback_http_get_headers_size(C.uintptr_t(filter), C.int(kind))
	if n == 0 {
		return nil
	}
	raw := make([]C.apimguard_header, n)
	if !C.envoy_dynamic_module_callback_http_get_headers(C.uintptr_t(filter), C.int(kind), &raw[0]) {
		return nil
	}
	out := make([][2]string, n)
	for i, h := range raw {
		out[i] = [2]string{
			str(C.apimguard_buffer{ptr: h.key_ptr, length: h.key_length}),
			str(C.apimguard_buffer{ptr: h.value_ptr, length: h.value_length}),
		}
	}
	return out
}

// setHeader replaces every value of name with value.
func setHeader(filter uintptr, kind int, name, value string) bool {
	ok := C.envoy_dynamic_module_callback_http_set_header(C.uintptr_t(filter), C.int(kind), buffer(name), buffer(value))
	runtime.KeepAlive(name)
	runtime.KeepAlive(value)
	return bool(ok)
}

// addHeader adds one more value of name.
func addHeader(filter uintptr, kind int, name, value string) bool {
	ok := C.envoy_dynamic_module_callback_http_add_header(C.uintptr_t(filter), C.int(kind), buffer(name), buffer(value))
	runtime.KeepAlive(name)
	runtime.KeepAlive(value)
	return bool(ok)
}

// removeHeader removes every value of name.
func removeHeader(filter uintptr, kind int, name string) bool {
	ok := C.envoy_dynamic_module_callback_http_set_header(C.uintptr_t(filter), C.int(kind), buffer(name), C.apimguard_buffer{})
	runtime.KeepAlive(name)
	return bool(ok)
}

// sendResponse answers the client instead of the upstream. The header array
// is Go memory holding pointers to the strings' bytes: they are pinned for
// the call, as cgo requires.
func sendResponse(filter uintptr, status int, headers [][2]string, body string) {
	var pin runtime.Pinner
	defer pin.Unpin()
	raw := make([]C.apimguard_header, len(headers)+1)
	for i, h := range headers {
		k, v := buffer(h[0]), buffer(h[1])
		for _, p := range []*C.char{k.ptr, v.ptr} {
			if p != nil {
				pin.Pin(p)
			}
		}
		raw[i] = C.apimguard_header{key_ptr: k.ptr, key_length: k.length, value_ptr: v.ptr, value_length: v.length}
	}
	C.envoy_dynamic_module_callback_http_send_response(C.uintptr_t(filter), C.uint32_t(status), &raw[0], C.size_t(len(headers)),
		buffer(body), buffer("apimguard"))
	runtime.KeepAlive(headers)
	runtime.KeepAlive(body)
}

// attribute reads a string attribute of the stream.
func attribute(filter uintptr, id int) (string, bool) {
	var v C.apimguard_buffer
	if !C.envoy_dynamic_module_callback_http_filter_get_attribute_string(C.uintptr_t(filter), C.int(id), &v) {
		return "", false
	}
	return str(v), true
}

// logf writes one line to Envoy's log (the dynamic_modules logger).
func log(level int, msg string) {
	C.envoy_dynamic_module_callback_log(C.int(level), buffer(msg))
	runtime.KeepAlive(msg)
}
