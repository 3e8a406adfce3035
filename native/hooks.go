package main

// The event hooks Envoy 1.40 resolves when it loads the library: all twenty
// HTTP filter hooks must exist, or Envoy refuses the module. The host uses
// the configuration, request-headers, response-headers, stream-complete and
// destroy hooks; the others (bodies, trailers, callouts, streams, timers,
// watermarks) let the stream go on, as this build makes no call and reads
// no body.

/*
#include "abi.h"
*/
import "C"

// Header and body statuses (the ABI's _status enums, Envoy's
// FilterHeadersStatus and FilterDataStatus).
const (
	statusContinue      = 0
	statusStopIteration = 1
)

// abiVersionC is abiVersion as Envoy reads it; never freed.
var abiVersionC = C.CString(abiVersion)

//export envoy_dynamic_module_on_program_init
func envoy_dynamic_module_on_program_init() *C.char { return abiVersionC }

//export envoy_dynamic_module_on_http_filter_config_new
func envoy_dynamic_module_on_http_filter_config_new(envoyConfig C.uintptr_t, name, config C.apimguard_buffer) C.uintptr_t {
	return C.uintptr_t(newConfig(str(name), []byte(str(config))))
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(config C.uintptr_t) {
	configs.take(uintptr(config))
}

//export envoy_dynamic_module_on_http_filter_new
func envoy_dynamic_module_on_http_filter_new(config, envoyFilter C.uintptr_t) C.uintptr_t {
	return C.uintptr_t(newFilter(uintptr(config)))
}

//export envoy_dynamic_module_on_http_filter_request_headers
func envoy_dynamic_module_on_http_filter_request_headers(envoyFilter, filter C.uintptr_t, endOfStream C.bool) C.int {
	f := filters.get(uintptr(filter))
	if f == nil {
		// No filter of ours (its configuration is gone): fail closed.
		sendResponse(uintptr(envoyFilter), 500, internalError, internalErrorBody)
		return statusStopIteration
	}
	return C.int(f.requestHeaders(uintptr(envoyFilter)))
}

//export envoy_dynamic_module_on_http_filter_response_headers
func envoy_dynamic_module_on_http_filter_response_headers(envoyFilter, filter C.uintptr_t, endOfStream C.bool) C.int {
	return C.int(filters.get(uintptr(filter)).responseHeaders(uintptr(envoyFilter)))
}

//export envoy_dynamic_module_on_http_filter_stream_complete
func envoy_dynamic_module_on_http_filter_stream_complete(envoyFilter, filter C.uintptr_t) {
	filters.get(uintptr(filter)).complete()
}

//export envoy_dynamic_module_on_http_filter_destroy
func envoy_dynamic_module_on_http_filter_destroy(filter C.uintptr_t) {
	filters.release(uintptr(filter))
}

//export envoy_dynamic_module_on_http_filter_request_body
func envoy_dynamic_module_on_http_filter_request_body(envoyFilter, filter C.uintptr_t, endOfStream C.bool) C.int {
	return statusContinue
}

//export envoy_dynamic_module_on_http_filter_request_trailers
func envoy_dynamic_module_on_http_filter_request_trailers(envoyFilter, filter C.uintptr_t) C.int {
	return statusContinue
}

//export envoy_dynamic_module_on_http_filter_response_body
func envoy_dynamic_module_on_http_filter_response_body(envoyFilter, filter C.uintptr_t, endOfStream C.bool) C.int {
	return statusContinue
}

//export envoy_dynamic_module_on_http_filter_response_trailers
func envoy_dynamic_module_on_http_filter_response_trailers(envoyFilter, filter C.uintptr_t) C.int {
	return statusContinue
}

// The hooks below are for features this build does not use (it starts no
// callout, stream or timer); Envoy calls them only for those.

//export envoy_dynamic_module_on_http_filter_http_callout_done
func envoy_dynamic_module_on_http_filter_http_callout_done() {}

//export envoy_dynamic_module_on_http_filter_http_stream_headers
func envoy_dynamic_module_on_http_filter_http_stream_headers() {}

//export envoy_dynamic_module_on_http_filter_http_stream_data
func envoy_dynamic_module_on_http_filter_http_stream_data() {}

//export envoy_dynamic_module_on_http_filter_http_stream_trailers
func envoy_dynamic_module_on_http_filter_http_stream_trailers() {}

//export envoy_dynamic_module_on_http_filter_http_stream_complete
func envoy_dynamic_module_on_http_filter_http_stream_complete() {}

//export envoy_dynamic_module_on_http_filter_http_stream_reset
func envoy_dynamic_module_on_http_filter_http_stream_reset() {}

//export envoy_dynamic_module_on_http_filter_scheduled
func envoy_dynamic_module_on_http_filter_scheduled() {}

//export envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark
func envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark() {}

//export envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark
func envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark() {}
